package main

import (
	"strings"
	"testing"

	"github.com/longrun/sandstorm/internal/stubagent"
)

type sessionOut struct {
	ID       string  `json:"session_id"`
	Status   string  `json:"status"`
	Running  bool    `json:"running"`
	ExitCode *int    `json:"exit_code"`
	Result   string  `json:"result"`
	CostUSD  float64 `json:"cost_usd"`
}

type logsOut struct {
	Text       string `json:"text"`
	Cursor     int64  `json:"cursor"`
	NextCursor int64  `json:"next_cursor"`
	Running    bool   `json:"running"`
	More       bool   `json:"more"`
}

// follow reads a session's log through session_logs from cursor, with waits,
// until the session has ended and everything is read; it returns the text
// and the final cursor.
func (c *client) follow(sandbox, id string, cursor int64, maxBytes int) (string, int64) {
	c.t.Helper()
	var out strings.Builder
	for i := 0; i < 2000; i++ {
		var l logsOut
		c.ok("session_logs", map[string]any{"sandbox": sandbox, "session_id": id,
			"cursor": cursor, "max_bytes": maxBytes, "wait_ms": 5000}, &l)
		if l.Cursor != cursor {
			c.t.Fatalf("chunk starts at %d, want %d", l.Cursor, cursor)
		}
		out.WriteString(l.Text)
		cursor = l.NextCursor
		if !l.Running && !l.More {
			return out.String(), cursor
		}
	}
	c.t.Fatal("session never ended")

	return "", 0
}

func checkStubLines(t *testing.T, text string, n int) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) != n+3 {
		t.Fatalf("log has %d lines, want %d", len(lines), n+3)
	}
	for i := 1; i <= n; i++ {
		if lines[i] != stubagent.Line(i) {
			t.Fatalf("line %d = %q, want %q", i, lines[i], stubagent.Line(i))
		}
	}
}

func TestStdio_Sessions(t *testing.T) {
	c := startBinary(t, t.TempDir(), "SANDSTORM_AGENTS="+stubagent.Config())
	var sb sandboxOut
	c.ok("sandbox_create", map[string]any{"name": "agent", "memory_mb": 256, "cpus": 1,
		"agent": stubagent.ID,
		"persona": map[string]any{"files": map[string]any{
			"CLAUDE.md": "Work on {{project}}.", ".claude/settings.json": `{"model":"x"}`}},
		"persona_vars": map[string]any{"project": "sandstorm"}}, &sb)
	var ex struct{ Stdout string }
	c.ok("sandbox_exec", map[string]any{"sandbox": "agent",
		"command": "cat /data/project/AGENT.md /data/project/.claude/settings.json"}, &ex)
	if ex.Stdout != `Work on sandstorm.{"model":"x"}` {
		t.Errorf("persona in sandbox = %q", ex.Stdout)
	}
	c.ok("sandbox_sync_persona", map[string]any{"sandbox": "agent",
		"persona":      map[string]any{"files": map[string]any{"CLAUDE.md": "Now {{project}}."}},
		"persona_vars": map[string]any{"project": "flylocal"}}, nil)
	c.ok("sandbox_exec", map[string]any{"sandbox": "agent",
		"command": "cat /data/project/AGENT.md"}, &ex)
	if ex.Stdout != "Now flylocal." {
		t.Errorf("persona after sync = %q", ex.Stdout)
	}
	c.fails("sandbox_sync_persona", map[string]any{"sandbox": "agent",
		"persona": map[string]any{"files": map[string]any{"CLAUDE.md": "{{who}}"}}}, "who")

	var s sessionOut
	c.ok("session_start", map[string]any{"sandbox": "agent", "identifier": "build",
		"prompt": "make it so", "env": map[string]any{"STUB_LINES": "3000",
			"STUB_DELAY": "0.002"}}, &s)
	if !s.Running || s.ID == "" {
		t.Fatalf("session_start = %+v", s)
	}
	text, _ := c.follow("agent", s.ID, 0, 32768)
	checkStubLines(t, text, 3000)
	c.ok("session_status", map[string]any{"sandbox": "agent", "identifier": "build"}, &s)
	if s.Status != "finished" || s.Result != "done" || s.CostUSD != 0.5 || *s.ExitCode != 0 {
		t.Errorf("session_status = %+v", s)
	}
	var tail logsOut
	c.ok("session_logs", map[string]any{"sandbox": "agent", "identifier": "build",
		"lines": 1}, &tail)
	if !strings.Contains(tail.Text, `"type":"result"`) {
		t.Errorf("last line = %q", tail.Text)
	}

	var long sessionOut
	c.ok("session_start", map[string]any{"sandbox": "agent", "identifier": "slow",
		"prompt": "wait", "env": map[string]any{"STUB_LINES": "100", "STUB_DELAY": "1"}}, &long)
	c.ok("session_stop", map[string]any{"sandbox": "agent", "session_id": long.ID}, &long)
	if long.Status != "stopped" {
		t.Errorf("session_stop = %+v", long)
	}
	var list struct{ Sessions []sessionOut }
	c.ok("session_list", map[string]any{"sandbox": "agent"}, &list)
	if len(list.Sessions) != 2 || list.Sessions[0].ID != long.ID {
		t.Errorf("session_list = %+v", list.Sessions)
	}
	c.fails("session_logs", map[string]any{"sandbox": "agent", "session_id": "nope"},
		"no session")
	c.fails("session_start", map[string]any{"sandbox": "agent", "identifier": "x",
		"prompt": "p", "agent": "nobody"}, "unknown agent")
}

// TestStdio_SessionOutlivesServer starts a session through one server process,
// ends that process, and follows the same session to its end through a second
// one. Both talk to a standalone flylocal, as two deployments of the server
// would talk to Fly.
func TestStdio_SessionOutlivesServer(t *testing.T) {
	_, url := startFlylocal(t, "tok")
	state := t.TempDir()
	env := []string{"SANDSTORM_AGENTS=" + stubagent.Config(), "FLY_API_TOKEN=tok",
		"FLY_FLAPS_BASE_URL=" + url, "FLY_PROMETHEUS_URL=" + url + "/prometheus"}

	first := startBinary(t, state, env...)
	first.ok("sandbox_create", map[string]any{"name": "keep", "memory_mb": 256, "cpus": 1,
		"agent": stubagent.ID}, nil)
	var s sessionOut
	first.ok("session_start", map[string]any{"sandbox": "keep", "identifier": "long",
		"prompt": "go", "env": map[string]any{"STUB_LINES": "40", "STUB_DELAY": "0.1"}}, &s)
	var l logsOut
	first.ok("session_logs", map[string]any{"sandbox": "keep", "session_id": s.ID,
		"cursor": 0, "max_bytes": 200, "wait_ms": 3000}, &l)
	if l.Text == "" || !l.Running {
		t.Fatalf("first read = %+v", l)
	}
	if err := first.cs.Close(); err != nil {
		t.Logf("close first server: %v", err)
	}

	second := startBinary(t, state, env...)
	text, _ := second.follow("keep", s.ID, l.NextCursor, 1024)
	checkStubLines(t, l.Text+text, 40)
	second.ok("session_status", map[string]any{"sandbox": "keep", "session_id": s.ID}, &s)
	if s.Status != "finished" || s.Result != "done" {
		t.Errorf("status through the second server = %+v", s)
	}
}
