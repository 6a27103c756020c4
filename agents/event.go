package agents

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
)

// Event kinds.
const (
	// KindText is the agent's own prose, or a line of plain output.
	KindText = "text"
	// KindToolUse is the agent calling a tool; Tool names it and Text holds
	// its input.
	KindToolUse = "tool_use"
	// KindToolResult is a tool's answer; IsError marks a failed call.
	KindToolResult = "tool_result"
	// KindError is an error the agent or its CLI reported mid-run.
	KindError = "error"
	// KindResult ends a run, with its outcome, session id and usage.
	KindResult = "result"
	// KindSystem is anything else: session start, reasoning, progress, and
	// every line shape the parser does not know.
	KindSystem = "system"
)

// Event is one thing an agent reported, read from a line of its output.
type Event struct {
	// Kind is one of the Kind constants.
	Kind string `json:"kind"`
	Text string `json:"text,omitempty"`
	// Tool names the tool of a tool_use, and of a tool_result where the
	// agent says.
	Tool    string `json:"tool,omitempty"`
	IsError bool   `json:"is_error,omitempty"`
	// SessionID is the agent's own session id, for HeadlessOptions'
	// ResumeSessionID. It is set on the events whose lines carry it: Claude
	// Code's init and result, Codex's thread.started.
	SessionID string  `json:"session_id,omitempty"`
	CostUSD   float64 `json:"cost_usd,omitempty"`
	// InputTokens counts every input token the model read, cached ones
	// included, so the figure means the same for every agent.
	InputTokens  int   `json:"input_tokens,omitempty"`
	OutputTokens int   `json:"output_tokens,omitempty"`
	DurationMS   int64 `json:"duration_ms,omitempty"`
	// Raw is the whole line when it was JSON, for callers that want every
	// field; it is nil for plain text.
	Raw json.RawMessage `json:"raw,omitempty"`
}

// decodeObject decodes line into v when it is a JSON object and returns a
// copy of it, without surrounding white space, for Event.Raw. Fields of an
// unexpected type are left at their zero values rather than failing the
// line. It returns nil when line is not a JSON object.
func decodeObject(line []byte, v any) json.RawMessage {
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] != '{' || !json.Valid(line) {
		return nil
	}
	var typeErr *json.UnmarshalTypeError
	if err := json.Unmarshal(line, v); err != nil && !errors.As(err, &typeErr) {
		return nil
	}

	return bytes.Clone(line)
}

// plainEvents turns a line that is not JSON into a text event, or an error
// event when it reads like an error message. Trailing white space, a CR from
// CRLF output included, is dropped; leading indentation is kept. A blank
// line yields nothing.
func plainEvents(line []byte) []Event {
	line = bytes.TrimRight(line, " \t\r\n")
	if len(bytes.TrimSpace(line)) == 0 {
		return nil
	}
	text := string(line)
	if looksLikeError(text) {
		return []Event{{Kind: KindError, Text: text, IsError: true}}
	}

	return []Event{{Kind: KindText, Text: text}}
}

// looksLikeError is a heuristic for plain lines: those that start the way
// CLIs and runtimes start error messages, or carry an "error:" label.
func looksLikeError(s string) bool {
	lower := strings.ToLower(strings.TrimSpace(s))
	for _, p := range []string{"error", "fatal", "panic:", "uncaught", "traceback"} {
		if strings.HasPrefix(lower, p) {
			return true
		}
	}

	return strings.Contains(lower, "error:") || strings.Contains(lower, "exception:")
}

// compactJSON returns raw on one line, or "" when it is empty or null.
func compactJSON(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}

	return b.String()
}

// contentText reads a content field that is either a string or a list of
// blocks such as {"type":"text","text":"..."}, joining the texts with
// newlines. Anything else comes back as compact JSON.
func contentText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var blocks []struct {
		Text string `json:"text"`
	}
	if json.Unmarshal(raw, &blocks) == nil {
		texts := make([]string, 0, len(blocks))
		for _, b := range blocks {
			if b.Text != "" {
				texts = append(texts, b.Text)
			}
		}

		return strings.Join(texts, "\n")
	}

	return compactJSON(raw)
}
