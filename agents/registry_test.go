package agents

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestRegistry_Get(t *testing.T) {
	t.Parallel()
	r := NewRegistry()
	tests := []struct {
		name       string
		id         string
		wantID     string
		wantInMsg  []string
		wantAdvice bool
	}{
		{name: "claude-code", id: "claude-code", wantID: "claude-code"},
		{name: "codex", id: "codex", wantID: "codex"},
		{
			name:      "unknown",
			id:        "cursor",
			wantInMsg: []string{`"cursor"`, "claude-code, codex"},
		},
		{
			name:       "command without a template",
			id:         "command",
			wantInMsg:  []string{"claude-code, codex", "NewCommandAgent", "Register"},
			wantAdvice: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, err := r.Get(tt.id)
			if tt.wantID != "" {
				if err != nil || a.ID() != tt.wantID {
					t.Fatalf("Get(%q) = %v, %v", tt.id, a, err)
				}

				return
			}
			var unknown *UnknownAgentError
			if !errors.As(err, &unknown) || !errors.Is(err, ErrUnknownAgent) {
				t.Fatalf("err = %v, want an *UnknownAgentError", err)
			}
			for _, want := range tt.wantInMsg {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if (unknown.Advice != "") != tt.wantAdvice {
				t.Errorf("Advice = %q, want advice %v", unknown.Advice, tt.wantAdvice)
			}
		})
	}
}

func TestRegistry_Register(t *testing.T) {
	t.Parallel()
	r := NewRegistry()
	cmd, err := NewCommandAgent("command", []string{"my-agent", "{prompt}"})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Register(cmd); err != nil {
		t.Fatalf("Register: %v", err)
	}
	if got, err := r.Get("command"); err != nil || got != CodingAgent(cmd) {
		t.Fatalf("Get(command) = %v, %v; want the registered agent", got, err)
	}
	if got, want := r.Known(), []string{"claude-code", "codex", "command"}; !slices.Equal(got, want) {
		t.Errorf("Known() = %q, want %q", got, want)
	}

	tests := []struct {
		name  string
		agent CodingAgent
	}{
		{name: "duplicate", agent: cmd},
		{name: "built-in id", agent: ClaudeCode{Root: "/elsewhere"}},
		{name: "nil", agent: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := r.Register(tt.agent); !errors.Is(err, ErrInvalidInput) {
				t.Errorf("Register = %v, want ErrInvalidInput", err)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	if id := DefaultCodingAgent().ID(); id != "claude-code" {
		t.Errorf("DefaultCodingAgent().ID() = %q, want claude-code", id)
	}
	a, err := GetCodingAgent("codex")
	if err != nil || a.ID() != "codex" {
		t.Errorf("GetCodingAgent(codex) = %v, %v", a, err)
	}
	if _, err := GetCodingAgent("nope"); !errors.Is(err, ErrUnknownAgent) {
		t.Errorf("GetCodingAgent(nope) = %v, want ErrUnknownAgent", err)
	}
	if known := Known(); !slices.Contains(known, "claude-code") || !slices.Contains(known, "codex") {
		t.Errorf("Known() = %q, want the built-ins", known)
	}
}
