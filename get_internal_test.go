package sandstorm

import "testing"

func TestInteractiveLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		spec Spec
		want string
	}{
		{name: "no agent", spec: Spec{}, want: ""},
		{
			name: "claude code in a clone",
			spec: Spec{Agent: "claude-code", Repo: &RepoSpec{Path: "/data/my repo"}},
			want: "mkdir -p '/data/my repo' && cd '/data/my repo' && env " +
				"CLAUDE_CONFIG_DIR=/data/.sandstorm/agents/claude-code/state " +
				`PATH="$PATH:/data/.sandstorm/agents/claude-code/bin" claude`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := interactiveLine(tt.spec); got != tt.want {
				t.Errorf("interactiveLine = %q\nwant              %q", got, tt.want)
			}
		})
	}
}

func TestShellQuote(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"plain/word-1.2": "plain/word-1.2",
		"":               "''",
		"two words":      "'two words'",
		"it's":           `'it'\''s'`,
		"$(rm -rf /)":    "'$(rm -rf /)'",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
