// Package tools is the MCP tool surface of Sandstorm: one constructor per tool,
// each returning its definition and handler, as thin adapters over the Manager.
//
// Every tool has an input schema generated from its argument struct, all four
// annotation hints set, and returns structuredContent with a text rendering.
// A failure the caller can act on, including a Fly operation that failed and
// was rolled back, comes back as an isError result whose text says what to do;
// a Go error is reserved for faults in the server itself.
package tools
