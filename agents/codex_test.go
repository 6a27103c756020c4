package agents

import (
	"errors"
	"reflect"
	"testing"
)

func TestCodex_ParseLine_Fixtures(t *testing.T) {
	t.Parallel()
	const goTest = "bash -lc 'go test ./...'"
	tests := []struct {
		name string
		file string
		want []Event
	}{
		{
			name: "successful run",
			file: "codex_exec.jsonl",
			want: []Event{
				{
					Kind:      KindSystem,
					Text:      "thread.started",
					SessionID: "0199a213-81c0-7800-8aa1-bbab2a035a53",
				},
				{Kind: KindSystem, Text: "turn.started"},
				{Kind: KindSystem, Text: "**Running the tests to find the failure**"},
				{Kind: KindToolUse, Tool: "command_execution", Text: goTest},
				{
					Kind:    KindToolResult,
					Tool:    "command_execution",
					Text:    "--- FAIL: TestSum (0.00s)\nFAIL\tgithub.com/example/calc\t0.003s\n",
					IsError: true,
				},
				{Kind: KindToolUse, Tool: "file_change", Text: "update /data/project/sum.go"},
				{Kind: KindToolResult, Tool: "file_change", Text: "update /data/project/sum.go"},
				{Kind: KindToolUse, Tool: "command_execution", Text: goTest},
				{
					Kind: KindToolResult,
					Tool: "command_execution",
					Text: "ok  \tgithub.com/example/calc\t0.002s\n",
				},
				{Kind: KindToolUse, Tool: "mcp__docs__search", Text: `{"q":"sum"}`},
				{Kind: KindToolResult, Tool: "mcp__docs__search", Text: "no matches"},
				{Kind: KindSystem, Text: "[x] Fix Sum\n[ ] Add a test"},
				{Kind: KindText, Text: "Fixed Sum in sum.go; the tests pass."},
				{Kind: KindResult, InputTokens: 24763, OutputTokens: 1220},
			},
		},
		{
			name: "failed turn",
			file: "codex_error.jsonl",
			want: []Event{
				{
					Kind:      KindSystem,
					Text:      "thread.started",
					SessionID: "0199b000-0000-7000-8000-000000000001",
				},
				{Kind: KindSystem, Text: "turn.started"},
				{Kind: KindError, Text: "Reconnecting... 1/5", IsError: true},
				{Kind: KindError, Text: "model gpt-9 is not available", IsError: true},
				{Kind: KindResult, Text: "stream disconnected before completion", IsError: true},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := parseFile(t, tt.file, Codex{}.ParseLine)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("events:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestCodex_ParseLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		line string
		want []Event
	}{
		{
			name: "declined command",
			line: `{"type":"item.completed","item":{"type":"command_execution","command":"rm -rf /",` +
				`"aggregated_output":"","exit_code":null,"status":"declined"}}`,
			want: []Event{{Kind: KindToolResult, Tool: "command_execution", IsError: true}},
		},
		{
			name: "failed mcp call",
			line: `{"type":"item.completed","item":{"type":"mcp_tool_call","server":"s","tool":"t",` +
				`"result":null,"error":{"message":"timeout"},"status":"failed"}}`,
			want: []Event{{Kind: KindToolResult, Tool: "mcp__s__t", Text: "timeout", IsError: true}},
		},
		{
			name: "web search",
			line: `{"type":"item.started","item":{"id":"ws","type":"web_search","query":"go 1.26"}}`,
			want: []Event{{Kind: KindToolUse, Tool: "web_search", Text: "go 1.26"}},
		},
		{
			name: "started message is not a tool",
			line: `{"type":"item.started","item":{"type":"agent_message","text":""}}`,
			want: nil,
		},
		{
			name: "unknown item",
			line: `{"type":"item.completed","item":{"type":"collab_tool_call"}}`,
			want: []Event{{Kind: KindSystem, Text: "collab_tool_call"}},
		},
		{
			name: "unknown event",
			line: `{"type":"request_user_input","id":"1"}`,
			want: []Event{{Kind: KindSystem, Text: "request_user_input"}},
		},
		{
			name: "plain stderr line",
			line: "Error: stdin is not a terminal",
			want: []Event{{Kind: KindError, Text: "Error: stdin is not a terminal", IsError: true}},
		},
		{
			name: "legacy session",
			line: `{"id":"0","msg":{"type":"session_configured","session_id":"abc","model":"o4"}}`,
			want: []Event{{Kind: KindSystem, Text: "session_configured", SessionID: "abc"}},
		},
		{
			name: "legacy message",
			line: `{"id":"1","msg":{"type":"agent_message","message":"done"}}`,
			want: []Event{{Kind: KindText, Text: "done"}},
		},
		{
			name: "legacy command",
			line: `{"id":"1","msg":{"type":"exec_command_begin","call_id":"c",` +
				`"command":["bash","-lc","ls"]}}`,
			want: []Event{{Kind: KindToolUse, Tool: "command_execution", Text: "bash -lc ls"}},
		},
		{
			name: "legacy failed command",
			line: `{"id":"1","msg":{"type":"exec_command_end","stdout":"","stderr":"no\n","exit_code":2}}`,
			want: []Event{{
				Kind:    KindToolResult,
				Tool:    "command_execution",
				Text:    "no",
				IsError: true,
			}},
		},
		{
			name: "legacy tokens",
			line: `{"id":"1","msg":{"type":"token_count","input_tokens":10,"output_tokens":3}}`,
			want: []Event{{Kind: KindSystem, Text: "token_count", InputTokens: 10, OutputTokens: 3}},
		},
		{
			name: "legacy completion",
			line: `{"id":"1","msg":{"type":"task_complete","last_agent_message":"all good"}}`,
			want: []Event{{Kind: KindResult, Text: "all good"}},
		},
		{
			name: "legacy error",
			line: `{"id":"1","msg":{"type":"stream_error","message":"retrying"}}`,
			want: []Event{{Kind: KindError, Text: "retrying", IsError: true}},
		},
		{
			name: "legacy config summary without type",
			line: `{"model":"o4-mini","sandbox":"read-only"}`,
			want: []Event{{Kind: KindSystem}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := stripRaw(Codex{}.ParseLine([]byte(tt.line)))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseLine(%q):\n got %+v\nwant %+v", tt.line, got, tt.want)
			}
		})
	}
}

func TestCodex_HeadlessCommand(t *testing.T) {
	t.Parallel()
	base := []string{
		"codex", "exec", "--json",
		"--dangerously-bypass-approvals-and-sandbox", "--skip-git-repo-check",
	}
	with := func(extra ...string) []string { return append(base[:len(base):len(base)], extra...) }
	tests := []struct {
		name    string
		prompt  string
		opts    HeadlessOptions
		want    []string
		wantErr error
	}{
		{name: "defaults", prompt: "fix it", want: with("--", "fix it")},
		{
			// Without "--" codex would take this prompt for its subcommand.
			name:   "prompt naming a subcommand",
			prompt: "resume",
			want:   with("--", "resume"),
		},
		{
			name:   "model and resume",
			prompt: "-v",
			opts:   HeadlessOptions{Model: "gpt-5-codex", ResumeSessionID: "0199a213"},
			want:   with("--model=gpt-5-codex", "resume", "--", "0199a213", "-v"),
		},
		{name: "max turns", prompt: "x", opts: HeadlessOptions{MaxTurns: 3}, wantErr: ErrUnsupported},
		{name: "stdin prompt", prompt: "-", wantErr: ErrInvalidInput},
		{name: "empty prompt", prompt: "", wantErr: ErrInvalidInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cmd, err := Codex{Root: "/r"}.HeadlessCommand(tt.prompt, tt.opts)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				return
			}
			if !reflect.DeepEqual(cmd.Argv, tt.want) {
				t.Errorf("Argv:\n got %q\nwant %q", cmd.Argv, tt.want)
			}
			if want := map[string]string{"CODEX_HOME": "/r/codex/state"}; !reflect.DeepEqual(cmd.Env, want) {
				t.Errorf("Env = %v, want %v", cmd.Env, want)
			}
			if want := []string{"/r/codex/bin"}; !reflect.DeepEqual(cmd.ExtraPath, want) {
				t.Errorf("ExtraPath = %q, want %q", cmd.ExtraPath, want)
			}
		})
	}
}
