package agents

import (
	"encoding/json"
	"strings"
)

// codexLine is the union of the `codex exec --json` line shapes the parser
// reads, current ({"type":"item.completed",...}) and legacy ({"msg":{...}}).
type codexLine struct {
	Type     string    `json:"type"`
	ThreadID string    `json:"thread_id"`
	Message  string    `json:"message"`
	Item     codexItem `json:"item"`
	Usage    struct {
		InputTokens  int `json:"input_tokens"`
		OutputTokens int `json:"output_tokens"`
	} `json:"usage"`
	Error struct {
		Message string `json:"message"`
	} `json:"error"`
	Msg json.RawMessage `json:"msg"`
}

// codexItem is the union of the thread item shapes.
type codexItem struct {
	Type             string `json:"type"`
	Text             string `json:"text"`
	Message          string `json:"message"`
	Command          string `json:"command"`
	AggregatedOutput string `json:"aggregated_output"`
	ExitCode         *int   `json:"exit_code"`
	Status           string `json:"status"`
	Changes          []struct {
		Path string `json:"path"`
		Kind string `json:"kind"`
	} `json:"changes"`
	Server    string          `json:"server"`
	Tool      string          `json:"tool"`
	Arguments json.RawMessage `json:"arguments"`
	Result    struct {
		Content json.RawMessage `json:"content"`
	} `json:"result"`
	Error *struct {
		Message string `json:"message"`
	} `json:"error"`
	Query string `json:"query"`
	Items []struct {
		Text      string `json:"text"`
		Completed bool   `json:"completed"`
	} `json:"items"`
}

func parseCodexLine(line []byte) []Event {
	var l codexLine
	raw := decodeObject(line, &l)
	if raw == nil {
		return plainEvents(line)
	}

	var events []Event
	if l.Type == "" && len(l.Msg) > 0 {
		events = codexLegacy(l.Msg)
	} else {
		events = codexEvents(&l)
	}
	for i := range events {
		events[i].Raw = raw
	}

	return events
}

// codexEvents maps a current-format line. Streaming updates (item.updated,
// item.plan.delta) yield nothing: the completed item carries the outcome.
func codexEvents(l *codexLine) []Event {
	switch l.Type {
	case "thread.started":
		return []Event{{Kind: KindSystem, Text: l.Type, SessionID: l.ThreadID}}
	case "turn.completed":
		return []Event{{
			Kind:         KindResult,
			InputTokens:  l.Usage.InputTokens,
			OutputTokens: l.Usage.OutputTokens,
		}}
	case "turn.failed":
		return []Event{{Kind: KindResult, IsError: true, Text: orType(l.Error.Message, l.Type)}}
	case "error":
		return []Event{{Kind: KindError, IsError: true, Text: l.Message}}
	case "item.started":
		if ev, ok := codexToolUse(&l.Item); ok {
			return []Event{ev}
		}

		return nil
	case "item.completed":
		return codexCompleted(&l.Item)
	case "item.updated", "item.plan.delta":
		return nil
	}

	return []Event{{Kind: KindSystem, Text: l.Type}}
}

// codexToolUse is the tool_use event of an item that is a tool call. MCP
// tools are named mcp__<server>__<tool>, as Claude Code names them.
func codexToolUse(it *codexItem) (Event, bool) {
	ev := Event{Kind: KindToolUse, Tool: it.Type}
	switch it.Type {
	case "command_execution":
		ev.Text = it.Command
	case "file_change":
		ev.Text = codexChanges(it)
	case "web_search":
		ev.Text = it.Query
	case "mcp_tool_call":
		ev.Tool = "mcp__" + it.Server + "__" + it.Tool
		ev.Text = compactJSON(it.Arguments)
	default:
		return Event{}, false
	}

	return ev, true
}

// codexCompleted maps a finished item. A tool call yields its tool_result;
// a file change, which codex reports only once done, yields its tool_use
// first.
func codexCompleted(it *codexItem) []Event {
	use, isTool := codexToolUse(it)
	if !isTool {
		switch it.Type {
		case "agent_message":
			return []Event{{Kind: KindText, Text: it.Text}}
		case "error":
			return []Event{{Kind: KindError, IsError: true, Text: orType(it.Message, it.Type)}}
		case "todo_list":
			return []Event{{Kind: KindSystem, Text: codexTodos(it)}}
		case "reasoning", "plan":
			return []Event{{Kind: KindSystem, Text: it.Text}}
		}

		return []Event{{Kind: KindSystem, Text: it.Type}}
	}

	res := Event{
		Kind:    KindToolResult,
		Tool:    use.Tool,
		Text:    use.Text,
		IsError: it.Status == "failed" || it.Status == "declined" || it.Error != nil,
	}
	switch it.Type {
	case "command_execution":
		res.Text = it.AggregatedOutput
		res.IsError = res.IsError || (it.ExitCode != nil && *it.ExitCode != 0)
	case "mcp_tool_call":
		res.Text = contentText(it.Result.Content)
		if it.Error != nil {
			res.Text = it.Error.Message
		}
	case "file_change":
		return []Event{use, res}
	}

	return []Event{res}
}

// codexChanges lists a file change item's paths, one "<kind> <path>" a line.
func codexChanges(it *codexItem) string {
	lines := make([]string, len(it.Changes))
	for i, c := range it.Changes {
		lines[i] = c.Kind + " " + c.Path
	}

	return strings.Join(lines, "\n")
}

// codexTodos renders a to-do list item as "[x] done" and "[ ] open" lines.
func codexTodos(it *codexItem) string {
	lines := make([]string, len(it.Items))
	for i, t := range it.Items {
		mark := "[ ] "
		if t.Completed {
			mark = "[x] "
		}
		lines[i] = mark + t.Text
	}

	return strings.Join(lines, "\n")
}

// codexLegacyMsg is the payload of the older {"id":...,"msg":{...}} lines.
type codexLegacyMsg struct {
	Type             string          `json:"type"`
	Message          string          `json:"message"`
	Text             string          `json:"text"`
	SessionID        string          `json:"session_id"`
	Command          json.RawMessage `json:"command"`
	ExitCode         *int            `json:"exit_code"`
	Stdout           string          `json:"stdout"`
	Stderr           string          `json:"stderr"`
	AggregatedOutput string          `json:"aggregated_output"`
	LastAgentMessage string          `json:"last_agent_message"`
	InputTokens      int             `json:"input_tokens"`
	OutputTokens     int             `json:"output_tokens"`
}

// codexLegacy maps the older event stream, best effort: messages, reasoning,
// shell commands, token counts, the end of the task and errors. Everything
// else becomes a system event named by its type.
func codexLegacy(msg json.RawMessage) []Event {
	var m codexLegacyMsg
	if decodeObject(msg, &m) == nil {
		return []Event{{Kind: KindSystem}}
	}

	ev := Event{Kind: KindSystem, Text: m.Type}
	switch m.Type {
	case "session_configured":
		ev.SessionID = m.SessionID
	case "agent_message":
		ev = Event{Kind: KindText, Text: m.Message}
	case "agent_reasoning":
		ev.Text = m.Text
	case "exec_command_begin":
		ev = Event{Kind: KindToolUse, Tool: "command_execution", Text: commandText(m.Command)}
	case "exec_command_end":
		out := m.AggregatedOutput
		if out == "" {
			out = strings.TrimSuffix(m.Stdout+m.Stderr, "\n")
		}
		ev = Event{
			Kind:    KindToolResult,
			Tool:    "command_execution",
			Text:    out,
			IsError: m.ExitCode != nil && *m.ExitCode != 0,
		}
	case "token_count":
		ev.InputTokens, ev.OutputTokens = m.InputTokens, m.OutputTokens
	case "task_complete":
		ev = Event{Kind: KindResult, Text: m.LastAgentMessage}
	case "error", "stream_error":
		ev = Event{Kind: KindError, IsError: true, Text: m.Message}
	}

	return []Event{ev}
}

// commandText reads a command given as an argv list or as one string.
func commandText(raw json.RawMessage) string {
	var argv []string
	if json.Unmarshal(raw, &argv) == nil {
		return strings.Join(argv, " ")
	}

	return contentText(raw)
}

// orType returns s, or the event type t when s is empty, so that an event
// always says something.
func orType(s, t string) string {
	if s == "" {
		return t
	}

	return s
}
