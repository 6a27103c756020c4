package prompts

import (
	"context"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/longrun/sandstorm"
	"github.com/longrun/sandstorm/flyclient"
	"github.com/longrun/sandstorm/store"
	"github.com/longrun/sandstorm/tools"
)

// get runs a prompt's handler and returns its one message's text.
func get(t *testing.T, p server.ServerPrompt, args map[string]string) string {
	t.Helper()
	req := mcp.GetPromptRequest{}
	req.Params.Name = p.Prompt.Name
	req.Params.Arguments = args
	res, err := p.Handler(context.Background(), req)
	if err != nil {
		t.Fatalf("%s(%v): %v", p.Prompt.Name, args, err)
	}
	if len(res.Messages) != 1 || res.Messages[0].Role != mcp.RoleUser {
		t.Fatalf("%s: messages = %+v, want one from the user", p.Prompt.Name, res.Messages)
	}
	text, ok := res.Messages[0].Content.(mcp.TextContent)
	if !ok {
		t.Fatalf("%s: content is %T, want text", p.Prompt.Name, res.Messages[0].Content)
	}

	return text.Text
}

func mustContain(t *testing.T, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("text lacks %q:\n%s", w, text)
		}
	}
}

func TestDelegateTask(t *testing.T) {
	text := get(t, DelegateTask(), map[string]string{"task": "Fix the login bug.\nAdd a test.",
		"repo": "https://github.com/o/r.git", "agent": "codex"})
	mustContain(t, text,
		"> Fix the login bug.\n> Add a test.",
		`sandbox_create`, `repo {"url": "https://github.com/o/r.git"}`, `agent "codex"`,
		`session_start`, `identifier "fix-the-login-bug-add-a-test"`, "word for word",
		"session_logs", "wait_ms", "next_cursor", "cursor", "running is false",
		"session_status", "cost_usd", "sandbox_pause", "/data")

	// Without an agent, the default is installed; sandbox_create installs
	// none unless asked.
	plain := get(t, DelegateTask(), map[string]string{"task": "tidy up"})
	mustContain(t, plain, `agent "claude-code"`, `identifier "tidy-up"`)
	if strings.Contains(plain, "repo {") {
		t.Errorf("without repo, the text still names one:\n%s", plain)
	}
}

func TestInvestigateSandbox(t *testing.T) {
	text := get(t, InvestigateSandbox(), map[string]string{"sandbox": "alice"})
	mustContain(t, text, `"alice"`, "sandbox_get", "session_list", "session_logs",
		"last_error", "next steps")
}

func TestReviewIdleSandboxes(t *testing.T) {
	text := get(t, ReviewIdleSandboxes(), nil)
	mustContain(t, text, "sandbox_find_idle", "dry_run true", "never as idle",
		"sandbox_pause", "sandbox_keepalive", "keeps everything under /data", "ask me before")
}

func TestPrompts_RequiredArguments(t *testing.T) {
	for _, p := range All() {
		for _, arg := range p.Prompt.Arguments {
			if !arg.Required {
				continue
			}
			t.Run(p.Prompt.Name+"/"+arg.Name, func(t *testing.T) {
				req := mcp.GetPromptRequest{}
				req.Params.Arguments = map[string]string{arg.Name: "  "}
				_, err := p.Handler(context.Background(), req)
				if err == nil || !strings.Contains(err.Error(), arg.Name) {
					t.Errorf("blank %s: err = %v, want one naming it", arg.Name, err)
				}
			})
		}
	}
}

// Every tool a prompt mentions exists.
func TestPrompts_NameRealTools(t *testing.T) {
	st, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	m, err := sandstorm.New(flyclient.New("unused",
		flyclient.WithBaseURL("http://127.0.0.1:1")), st, sandstorm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range tools.All(m) {
		names = append(names, tool.Tool.Name)
	}
	mention := regexp.MustCompile(`\b(?:sandbox|session)_[a-z_]+\b`)
	args := map[string]string{"task": "x", "repo": "r", "agent": "a", "sandbox": "s"}
	for _, p := range All() {
		for _, name := range mention.FindAllString(get(t, p, args), -1) {
			if !slices.Contains(names, name) && name != "session_id" {
				t.Errorf("%s mentions %s, which is not a tool", p.Prompt.Name, name)
			}
		}
	}
}

func TestIdentifier(t *testing.T) {
	tests := []struct{ task, want string }{
		{"Fix the login bug", "fix-the-login-bug"},
		{"  Upgrade Go to 1.26, then run `go test ./...`!", "upgrade-go-to-1-26-then-run-go-test"},
		{"Réparer l'été", "r-parer-l-t"},
		{"???", "task"},
		{strings.Repeat("a", 50) + " b", strings.Repeat("a", 40)},
	}
	for _, tt := range tests {
		if got := identifier(tt.task); got != tt.want {
			t.Errorf("identifier(%q) = %q, want %q", tt.task, got, tt.want)
		}
	}
}
