package agents

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestNewCommandAgent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		id       string
		template []string
		opts     []CommandOption
		wantErr  bool
	}{
		{name: "minimal", id: "aider", template: []string{"aider", "--message", "{prompt}"}},
		{
			name:     "stdin",
			id:       "x",
			template: []string{"x", "--stdin"},
			opts:     []CommandOption{WithPromptOnStdin()},
		},
		{name: "bad id", id: "My Agent", template: []string{"x", "{prompt}"}, wantErr: true},
		{name: "no template", id: "x", wantErr: true},
		{name: "empty program", id: "x", template: []string{"", "{prompt}"}, wantErr: true},
		{name: "prompt as program", id: "x", template: []string{"{prompt}"}, wantErr: true},
		{name: "program like a flag", id: "x", template: []string{"-x", "{prompt}"}, wantErr: true},
		{name: "no placeholder", id: "x", template: []string{"x", "--run"}, wantErr: true},
		{
			name:     "placeholder and stdin",
			id:       "x",
			template: []string{"x", "{prompt}"},
			opts:     []CommandOption{WithPromptOnStdin()},
			wantErr:  true,
		},
		{
			name:     "unknown parse mode",
			id:       "x",
			template: []string{"x", "{prompt}"},
			opts:     []CommandOption{WithParseMode("xml")},
			wantErr:  true,
		},
		{
			name:     "relative extra path",
			id:       "x",
			template: []string{"x", "{prompt}"},
			opts:     []CommandOption{WithExtraPath("bin")},
			wantErr:  true,
		},
		{
			name:     "extra path with colon",
			id:       "x",
			template: []string{"x", "{prompt}"},
			opts:     []CommandOption{WithExtraPath("/a:/b")},
			wantErr:  true,
		},
		{
			name:     "instructions file outside",
			id:       "x",
			template: []string{"x", "{prompt}"},
			opts:     []CommandOption{WithInstructionsFile("../GEMINI.md")},
			wantErr:  true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewCommandAgent(tt.id, tt.template, tt.opts...)
			if tt.wantErr != (err != nil) {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrInvalidInput) {
				t.Errorf("err = %v, want ErrInvalidInput", err)
			}
		})
	}
}

func TestCommandAgent_HeadlessCommand(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		template []string
		opts     []CommandOption
		prompt   string
		hopts    HeadlessOptions
		want     Command
		wantErr  error
	}{
		{
			name:     "inside an element",
			template: []string{"agent", "--prompt={prompt}", "{prompt}!"},
			prompt:   "a b",
			want:     Command{Argv: []string{"agent", "--prompt=a b", "a b!"}},
		},
		{
			// The replacement runs over the template, not over the result.
			name:     "prompt holding the placeholder",
			template: []string{"agent", "{prompt}"},
			prompt:   "say {prompt}",
			want:     Command{Argv: []string{"agent", "say {prompt}"}},
		},
		{
			name:     "stdin",
			template: []string{"agent", "-"},
			opts:     []CommandOption{WithPromptOnStdin()},
			prompt:   "hi",
			want:     Command{Argv: []string{"agent", "-"}, Stdin: "hi"},
		},
		{
			name:     "env and path",
			template: []string{"agent", "{prompt}"},
			opts: []CommandOption{
				WithEnv(map[string]string{"A": "1"}),
				WithExtraPath("/opt/agent/bin"),
			},
			prompt: "hi",
			want: Command{
				Argv:      []string{"agent", "hi"},
				Env:       map[string]string{"A": "1"},
				ExtraPath: []string{"/opt/agent/bin"},
			},
		},
		{
			name:     "options unsupported",
			template: []string{"agent", "{prompt}"},
			prompt:   "hi",
			hopts:    HeadlessOptions{Model: "m"},
			wantErr:  ErrUnsupported,
		},
		{
			name:     "element too long with the prompt",
			template: []string{"agent", "--prompt={prompt}"},
			prompt:   strings.Repeat("x", maxArgBytes-3),
			wantErr:  ErrInvalidInput,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, err := NewCommandAgent("agent", tt.template, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			got, err := a.HeadlessCommand(tt.prompt, tt.hopts)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("HeadlessCommand = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// Commands must not share the agent's slices and maps with callers.
func TestCommandAgent_CommandsAreCopies(t *testing.T) {
	t.Parallel()
	a, err := NewCommandAgent("agent", []string{"agent", "{prompt}"},
		WithEnv(map[string]string{"A": "1"}), WithInteractive("agent", "--tui"))
	if err != nil {
		t.Fatal(err)
	}
	cmd, err := a.HeadlessCommand("hi", HeadlessOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cmd.Env["A"] = "changed"
	i := a.InteractiveCommand()
	i.Argv[1] = "changed"

	if got := a.InteractiveCommand(); got.Argv[1] != "--tui" || got.Env["A"] != "1" {
		t.Errorf("InteractiveCommand() = %+v after callers changed earlier results", got)
	}
}

func TestCommandAgent_ParseLine(t *testing.T) {
	t.Parallel()
	textAgent := printfAgent(t)
	jsonAgent, err := NewCommandAgent("wrapped", []string{"w", "{prompt}"},
		WithParseMode(ParseStreamJSON))
	if err != nil {
		t.Fatal(err)
	}
	result := `{"type":"result","subtype":"success","result":"ok"}`
	tests := []struct {
		name  string
		agent CodingAgent
		line  string
		want  []Event
	}{
		{"text", textAgent, "  hello\n", []Event{{Kind: KindText, Text: "  hello"}}},
		{"text error", textAgent, "fatal: not a git repository", []Event{{
			Kind: KindError, Text: "fatal: not a git repository", IsError: true,
		}}},
		{"text keeps json as text", textAgent, result, []Event{{Kind: KindText, Text: result}}},
		{"text blank", textAgent, "\r\n", nil},
		{"stream-json", jsonAgent, result, []Event{{Kind: KindResult, Text: "ok"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := stripRaw(tt.agent.ParseLine([]byte(tt.line)))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseLine(%q) = %+v, want %+v", tt.line, got, tt.want)
			}
		})
	}
}
