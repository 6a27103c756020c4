// Package agents knows the CLI coding agents Sandstorm runs in sandboxes:
// Claude Code (the default), OpenAI Codex and any other CLI described by an
// argv template. For each it knows how to install it, where persona files
// go, which argv runs one prompt unattended, how to spot its process and how
// to read its output. It knows nothing of Fly, MCP or the store, and runs
// nothing: it returns programs and argv, and the Manager runs them.
//
// Nothing a caller supplies is ever shell code. Install programs are fixed
// text with positional arguments, run as `sh -c PROGRAM sh ARGS...`; a
// prompt is one argv element, for the built-in agents after "--" so it cannot
// read as an option.
// Command.Script wraps a Command the same way for a Manager that only runs
// scripts.
//
// # What the Manager does with an agent
//
//  1. Run Install in the sandbox before the agent's first command, with a
//     timeout of a few minutes; it also creates the agent's state directory.
//     Its stdout is read with ParseInstallOutput; exit code ExitNeedsRuntime
//     means the image lacks Node.js and npm (or the agent's program), which
//     the user fixes by choosing another image.
//  2. Run a Command in the project directory with Env set and ExtraPath
//     appended to the machine's PATH. For the built-in agents ExtraPath is
//     DefaultRoot/<id>/bin, where npm installs them; it goes after the
//     image's own directories, so an agent the image ships wins, as it does
//     in Install.
//  3. Feed each line of the headless command's stdout to ParseLine.
//
// On the volume, DefaultRoot/<id> is the agent's npm prefix (bin/, lib/) and
// DefaultRoot/<id>/state is its config and session store: Claude Code gets
// CLAUDE_CONFIG_DIR and Codex gets CODEX_HOME pointing there, so sessions
// survive pause and resume and can be resumed, and so the CLIs have a
// writable home even where HOME is read-only.
//
// # Output formats
//
// Claude Code writes stream-json: system init, assistant messages holding
// text and tool_use blocks, user messages holding tool_result blocks, and a
// final result carrying the session id, cost, duration and usage. Codex exec
// --json writes thread.started (with the session id), turn.started,
// item.started and item.completed for agent messages, reasoning, commands,
// file changes, MCP tool calls, web searches and to-do lists, then
// turn.completed with usage or turn.failed; a top-level error event reports
// stream trouble. Older Codex releases wrote {"id":...,"msg":{"type":...}}
// lines; those are read best effort, from their documented shapes rather
// than a live binary: messages, reasoning, shell commands, token counts,
// task_complete and errors, with anything else a system event.
//
// # Known limitations
//
//   - The parsers follow the formats as of late 2026 and are lenient: a line
//     shape they do not know becomes a system event, never an error, and a
//     line that is not JSON becomes a text event, or an error event when it
//     starts like an error message (a heuristic).
//   - Install needs Node.js 18 or later, npm and access to the npm registry,
//     and it installs the latest release, unpinned, so two sandboxes set up
//     on different days may run different versions.
//   - A prompt travels as one argument, so it is limited to 128 KiB less one
//     byte (Linux's MAX_ARG_STRLEN) and cannot contain NUL. Fly's exec API
//     carries argv as JSON strings, so a prompt arrives byte for byte only
//     when it is valid UTF-8, which MCP strings always are.
//   - Codex has no turn limit (MaxTurns is ErrUnsupported), reports its
//     session id only on thread.started and not on the final event, and
//     reports no cost or duration. A prompt of "-" is refused, since codex
//     would read the prompt from stdin.
//   - ProcessPattern matches command lines, so it also matches an unrelated
//     process whose arguments contain the agent's path; the pid the Manager
//     started is the better handle when it has one.
//   - With CLAUDE_CONFIG_DIR and CODEX_HOME on the volume, a login kept in
//     the image's ~/.claude or ~/.codex is not seen: give the agents their
//     API keys as sandbox env (ANTHROPIC_API_KEY; OPENAI_API_KEY or
//     CODEX_API_KEY).
package agents
