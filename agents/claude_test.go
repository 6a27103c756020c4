package agents

import (
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

const (
	claudeSession = "3f1c9a52-7d4e-4b1a-9c2f-5e8d0a6b7c41"
	claudeErrSess = "c2d4e6f8-1a3b-4c5d-8e9f-0a1b2c3d4e5f"
)

func TestClaudeCode_ParseLine_Fixtures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		file string
		want []Event
	}{
		{
			name: "successful run",
			file: "claude_stream.jsonl",
			want: []Event{
				{Kind: KindSystem, Text: "init", SessionID: claudeSession},
				{Kind: KindText, Text: "I'll run the tests first to see what fails."},
				{
					Kind: KindToolUse,
					Tool: "Bash",
					Text: `{"command":"go test ./...","description":"Run the test suite"}`,
				},
				{
					Kind: KindToolResult,
					Text: "--- FAIL: TestSum (0.00s)\n    sum_test.go:9: Sum(1, 2) = 2, want 3\n" +
						"FAIL\tgithub.com/example/calc\t0.003s",
					IsError: true,
				},
				{Kind: KindSystem, Text: "thinking"},
				{Kind: KindText, Text: "Sum subtracts; fixing it."},
				{
					Kind: KindToolUse,
					Tool: "Edit",
					Text: `{"file_path":"/data/project/sum.go","old_string":"return a - b",` +
						`"new_string":"return a + b"}`,
				},
				{Kind: KindToolResult, Text: "The file /data/project/sum.go has been updated."},
				{
					Kind:         KindResult,
					Text:         "Fixed Sum in sum.go to add its arguments; go test ./... passes.",
					SessionID:    claudeSession,
					CostUSD:      0.04213375,
					InputTokens:  16 + 5522 + 43492,
					OutputTokens: 612,
					DurationMS:   18342,
				},
			},
		},
		{
			// Claude Code reports error_max_turns with is_error false; the
			// result must still be an error.
			name: "max turns",
			file: "claude_error.jsonl",
			want: []Event{
				{Kind: KindSystem, Text: "init", SessionID: claudeErrSess},
				{Kind: KindToolUse, Tool: "Read", Text: `{"file_path":"/data/project/missing.go"}`},
				{
					Kind:    KindToolResult,
					Text:    "<tool_use_error>File does not exist.</tool_use_error>",
					IsError: true,
				},
				{
					Kind:         KindResult,
					Text:         "error_max_turns",
					IsError:      true,
					SessionID:    claudeErrSess,
					CostUSD:      0.0123,
					InputTokens:  7 + 1200 + 3000,
					OutputTokens: 85,
					DurationMS:   9120,
				},
				{Kind: KindError, Text: "Error: Reached max turns (2)", IsError: true},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := parseFile(t, tt.file, ClaudeCode{}.ParseLine)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("events:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestClaudeCode_ParseLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		line string
		want []Event
	}{
		{name: "blank", line: "  \r\n", want: nil},
		{
			name: "plain text keeps indentation",
			line: "  compiling...\r\n",
			want: []Event{{Kind: KindText, Text: "  compiling..."}},
		},
		{
			name: "plain error",
			line: "Error: Invalid API key · Please run /login",
			want: []Event{{
				Kind:    KindError,
				Text:    "Error: Invalid API key · Please run /login",
				IsError: true,
			}},
		},
		{
			name: "broken json",
			line: `{"type":"assistant"`,
			want: []Event{{Kind: KindText, Text: `{"type":"assistant"`}},
		},
		{
			name: "unknown type",
			line: `{"type":"stream_event","event":{}}`,
			want: []Event{{Kind: KindSystem, Text: "stream_event"}},
		},
		{
			name: "other system subtype",
			line: `{"type":"system","subtype":"compact_boundary"}`,
			want: []Event{{Kind: KindSystem, Text: "compact_boundary"}},
		},
		{
			name: "field of unexpected type keeps the rest",
			line: `{"type":"result","subtype":"success","result":"done",` +
				`"duration_ms":"slow","session_id":"s1"}`,
			want: []Event{{Kind: KindResult, Text: "done", SessionID: "s1"}},
		},
		{
			name: "older cost field",
			line: `{"type":"result","subtype":"success","result":"ok","cost_usd":0.5}`,
			want: []Event{{Kind: KindResult, Text: "ok", CostUSD: 0.5}},
		},
		{
			name: "error result with errors list",
			line: `{"type":"result","subtype":"error_during_execution","is_error":true,` +
				`"errors":["boom","bang"]}`,
			want: []Event{{Kind: KindResult, Text: "boom\nbang", IsError: true}},
		},
		{
			name: "user prompt echoed as a string",
			line: `{"type":"user","message":{"role":"user","content":"fix it"}}`,
			want: []Event{{Kind: KindSystem, Text: "fix it"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := stripRaw(ClaudeCode{}.ParseLine([]byte(tt.line)))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseLine(%q):\n got %+v\nwant %+v", tt.line, got, tt.want)
			}
		})
	}
}

func TestClaudeCode_HeadlessCommand(t *testing.T) {
	t.Parallel()
	base := []string{
		"claude", "-p", "--output-format", "stream-json", "--verbose",
		"--permission-mode", "bypassPermissions",
	}
	tests := []struct {
		name    string
		prompt  string
		opts    HeadlessOptions
		want    []string
		wantErr error
	}{
		{name: "defaults", prompt: "fix it", want: append(base[:7:7], "--", "fix it")},
		{
			name:   "all options",
			prompt: "--help",
			opts:   HeadlessOptions{Model: "opus", MaxTurns: 12, ResumeSessionID: claudeSession},
			want: append(base[:7:7], "--model=opus", "--max-turns", "12",
				"--resume="+claudeSession, "--", "--help"),
		},
		{name: "empty prompt", prompt: " \n\t", wantErr: ErrInvalidInput},
		{name: "NUL in prompt", prompt: "a\x00b", wantErr: ErrInvalidInput},
		{name: "prompt too long", prompt: strings.Repeat("x", maxArgBytes+1), wantErr: ErrInvalidInput},
		{name: "longest prompt", prompt: strings.Repeat("x", maxArgBytes), want: append(base[:7:7],
			"--", strings.Repeat("x", maxArgBytes))},
		{
			name:    "negative turns",
			prompt:  "x",
			opts:    HeadlessOptions{MaxTurns: -1},
			wantErr: ErrInvalidInput,
		},
		{
			name:    "model like a flag",
			prompt:  "x",
			opts:    HeadlessOptions{Model: "-rf"},
			wantErr: ErrInvalidInput,
		},
		{
			name:    "session id with space",
			prompt:  "x",
			opts:    HeadlessOptions{ResumeSessionID: "a b"},
			wantErr: ErrInvalidInput,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cmd, err := ClaudeCode{Root: "/r"}.HeadlessCommand(tt.prompt, tt.opts)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				return
			}
			if !reflect.DeepEqual(cmd.Argv, tt.want) {
				t.Errorf("Argv:\n got %q\nwant %q", cmd.Argv, tt.want)
			}
			wantEnv := map[string]string{
				"CLAUDE_CONFIG_DIR": "/r/claude-code/state",
				"IS_SANDBOX":        "1",
			}
			if !reflect.DeepEqual(cmd.Env, wantEnv) {
				t.Errorf("Env = %v, want %v", cmd.Env, wantEnv)
			}
			if want := []string{"/r/claude-code/bin"}; !reflect.DeepEqual(cmd.ExtraPath, want) {
				t.Errorf("ExtraPath = %q, want %q", cmd.ExtraPath, want)
			}
		})
	}
}

func TestClaudeCode_InteractiveCommand(t *testing.T) {
	t.Parallel()
	cmd := ClaudeCode{}.InteractiveCommand()
	want := Command{
		Argv:      []string{"claude"},
		Env:       map[string]string{"CLAUDE_CONFIG_DIR": DefaultRoot + "/claude-code/state"},
		ExtraPath: []string{DefaultRoot + "/claude-code/bin"},
	}
	if !reflect.DeepEqual(cmd, want) {
		t.Errorf("InteractiveCommand() = %+v, want %+v", cmd, want)
	}
}

func TestProcessPattern(t *testing.T) {
	t.Parallel()
	cmdAgent, err := NewCommandAgent("aider", []string{"/opt/bin/aider.py", "{prompt}"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		agent   CodingAgent
		cmdline string
		want    bool
	}{
		{"claude bare", ClaudeCode{}, "claude -p --output-format stream-json", true},
		{"claude on volume", ClaudeCode{}, "/data/.sandstorm/agents/claude-code/bin/claude -p", true},
		{"claude via node", ClaudeCode{}, "node /data/.sandstorm/agents/claude-code/bin/claude -p", true},
		{
			"claude package file", ClaudeCode{},
			"node /usr/lib/node_modules/@anthropic-ai/claude-code/cli.js -p", true,
		},
		{"claude wrapper shell", ClaudeCode{}, "/bin/sh -c exec \"$@\" sh claude -p -- hi", false},
		{"claude other program", ClaudeCode{}, "claudette --run", false},
		{"codex native", Codex{}, "/data/.sandstorm/agents/codex/lib/x/codex exec --json", true},
		{"codex bare", Codex{}, "codex", true},
		{"codex other", Codex{}, "vim codex.md", false},
		{"command agent", cmdAgent, "python3 /opt/bin/aider.py hello", true},
		{"command agent dot is literal", cmdAgent, "python3 /opt/bin/aiderXpy hello", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			re := regexp.MustCompile(tt.agent.ProcessPattern())
			if got := re.MatchString(tt.cmdline); got != tt.want {
				t.Errorf("%s matches %q = %v, want %v", re, tt.cmdline, got, tt.want)
			}
		})
	}
}
