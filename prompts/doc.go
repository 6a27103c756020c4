// Package prompts holds Sandstorm's MCP prompts: user-chosen recipes, shown
// by hosts as slash commands, that walk a model through the sandbox and
// session tools for a common job: delegating a task to an agent in a new
// sandbox, investigating a sandbox, and finding idle sandboxes to pause.
//
// Prompts only produce messages; they call nothing. The tool names they
// mention are those of package tools, and a test checks that each exists.
// A missing required argument is reported as an error, which mcp-go v1.2.1
// sends as an internal error (-32603) rather than invalid params.
package prompts
