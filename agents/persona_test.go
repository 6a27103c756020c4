package agents

import (
	"errors"
	"reflect"
	"testing"
)

func TestPersonaPaths(t *testing.T) {
	t.Parallel()
	gemini, err := NewCommandAgent("gemini", []string{"gemini", "-p", "{prompt}"},
		WithInstructionsFile("GEMINI.md"))
	if err != nil {
		t.Fatal(err)
	}
	plain := printfAgent(t)

	tests := []struct {
		name    string
		agent   CodingAgent
		dir     string
		files   map[string]string
		want    map[string]string
		wantErr bool
	}{
		{
			name:  "claude layout",
			agent: ClaudeCode{},
			dir:   "/data/project/",
			files: map[string]string{
				"CLAUDE.md":                   "be brief",
				".claude/settings.json":       "{}",
				".claude/agents/reviewer.md":  "review",
				".claude/commands/release.md": "release",
			},
			want: map[string]string{
				"/data/project/CLAUDE.md":                   "be brief",
				"/data/project/.claude/settings.json":       "{}",
				"/data/project/.claude/agents/reviewer.md":  "review",
				"/data/project/.claude/commands/release.md": "release",
			},
		},
		{
			name:  "claude takes AGENTS.md as CLAUDE.md",
			agent: ClaudeCode{},
			dir:   "/p",
			files: map[string]string{"AGENTS.md": "rules"},
			want:  map[string]string{"/p/CLAUDE.md": "rules"},
		},
		{
			name:  "claude keeps both when both are given",
			agent: ClaudeCode{},
			dir:   "/p",
			files: map[string]string{"AGENTS.md": "a", "CLAUDE.md": "c"},
			want:  map[string]string{"/p/AGENTS.md": "a", "/p/CLAUDE.md": "c"},
		},
		{
			name:  "codex takes CLAUDE.md as AGENTS.md",
			agent: Codex{},
			dir:   "/p",
			files: map[string]string{"CLAUDE.md": "rules", "docs/CLAUDE.md": "nested"},
			want:  map[string]string{"/p/AGENTS.md": "rules", "/p/docs/CLAUDE.md": "nested"},
		},
		{
			name:  "command agent with its own file name",
			agent: gemini,
			dir:   "/p",
			files: map[string]string{"CLAUDE.md": "rules"},
			want:  map[string]string{"/p/GEMINI.md": "rules"},
		},
		{
			name:  "command agent keeps names",
			agent: plain,
			dir:   "/p",
			files: map[string]string{"CLAUDE.md": "rules"},
			want:  map[string]string{"/p/CLAUDE.md": "rules"},
		},
		{name: "empty persona", agent: ClaudeCode{}, dir: "/p", files: nil, want: map[string]string{}},
		{
			name:    "parent",
			agent:   ClaudeCode{},
			dir:     "/p",
			files:   map[string]string{"../x": ""},
			wantErr: true,
		},
		{
			name:    "absolute",
			agent:   ClaudeCode{},
			dir:     "/p",
			files:   map[string]string{"/etc/x": ""},
			wantErr: true,
		},
		{
			name:    "climbs after a dir",
			agent:   Codex{},
			dir:     "/p",
			files:   map[string]string{"a/../../x": ""},
			wantErr: true,
		},
		{
			name:    "unclean",
			agent:   ClaudeCode{},
			dir:     "/p",
			files:   map[string]string{"./CLAUDE.md": ""},
			wantErr: true,
		},
		{
			name:    "dot",
			agent:   ClaudeCode{},
			dir:     "/p",
			files:   map[string]string{".": ""},
			wantErr: true,
		},
		{
			name:    "empty path",
			agent:   ClaudeCode{},
			dir:     "/p",
			files:   map[string]string{"": ""},
			wantErr: true,
		},
		{
			name:    "NUL",
			agent:   ClaudeCode{},
			dir:     "/p",
			files:   map[string]string{"a\x00b": ""},
			wantErr: true,
		},
		{
			name:    "relative project dir",
			agent:   ClaudeCode{},
			dir:     "p",
			files:   map[string]string{"CLAUDE.md": ""},
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.agent.PersonaPaths(tt.dir, tt.files)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidInput) {
					t.Fatalf("err = %v, want ErrInvalidInput", err)
				}

				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("PersonaPaths:\n got %v\nwant %v", got, tt.want)
			}
		})
	}
}
