package sandstorm_test

import (
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/longrun/sandstorm"
	"github.com/longrun/sandstorm/agents"
	"github.com/longrun/sandstorm/internal/stubagent"
	"github.com/longrun/sandstorm/persona"
)

var registerStub = sync.OnceValue(func() error {
	a, err := stubagent.Agent()
	if err != nil {
		return err
	}

	return agents.Register(a)
})

// stubEnv is an env with the stub agent registered and a sandbox "s" made
// with it.
func stubEnv(t *testing.T, req sandstorm.CreateRequest) *env {
	t.Helper()
	if err := registerStub(); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	req.Name, req.Agent, req.MemoryMB, req.CPUs = "s", "stub", 256, 1
	if _, err := e.m.Create(t.Context(), req); err != nil {
		t.Fatal(err)
	}

	return e
}

func (e *env) start(t *testing.T, ident, prompt string, env map[string]string) *sandstorm.Session {
	t.Helper()
	s, err := e.m.StartAgentSession(t.Context(), sandstorm.StartSessionRequest{Sandbox: "s",
		Identifier: ident, Prompt: prompt, Env: env})
	if err != nil {
		t.Fatalf("start session %q: %v", ident, err)
	}

	return s
}

// readAllLogs reads a session's log by cursor, max bytes at a time, waiting
// for output, until the session has ended and everything is read.
func (e *env) readAllLogs(t *testing.T, id string, max int) string {
	t.Helper()
	var out strings.Builder
	var cursor int64
	for i := 0; ; i++ {
		c := cursor
		chunk, err := e.m.GetSessionLogs(t.Context(), sandstorm.LogsRequest{Sandbox: "s",
			SessionID: id, Cursor: &c, MaxBytes: max, Wait: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if chunk.Cursor != cursor {
			t.Fatalf("chunk starts at %d, want %d", chunk.Cursor, cursor)
		}
		out.WriteString(chunk.Text)
		cursor = chunk.NextCursor
		if !chunk.Running && !chunk.More {
			return out.String()
		}
		if i > 10000 {
			t.Fatal("log never ended")
		}
	}
}

func TestSessions_RunReadAndResult(t *testing.T) {
	t.Parallel()
	e := stubEnv(t, sandstorm.CreateRequest{})
	s := e.start(t, "fix-bug", "do the thing", map[string]string{"STUB_LINES": "3000",
		"STUB_DELAY": "0.002"})
	if !s.Running || !strings.HasSuffix(s.LogPath, "/fix-bug/"+s.ID+".log") ||
		s.LatestLogPath != "/data/.sandstorm/sessions/fix-bug/latest.log" {
		t.Fatalf("started = %+v", s)
	}

	// Read in chunks much smaller than the log while it grows: every line
	// exactly once, in order.
	text := e.readAllLogs(t, s.ID, 20000)
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) != 3003 {
		t.Fatalf("read %d lines, want 3003", len(lines))
	}
	for i := 1; i <= 3000; i++ {
		if want := stubagent.Line(i); lines[i] != want {
			t.Fatalf("line %d = %q, want %q", i, lines[i], want)
		}
	}

	st, err := e.m.SessionStatus(t.Context(), "s", "fix-bug", "")
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != "finished" || st.Running || st.ExitCode == nil || *st.ExitCode != 0 ||
		st.Result != "done" || st.CostUSD != 0.5 || st.OutputTokens != 4 ||
		st.AgentSessionID != "stub-1" {
		t.Errorf("status = %+v", st)
	}
	tail, err := e.m.GetSessionLogs(t.Context(), sandstorm.LogsRequest{Sandbox: "s",
		Identifier: "fix-bug", Lines: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tail.Text, "prompt-hex ") || strings.Count(tail.Text, "\n") != 2 {
		t.Errorf("last 2 lines = %q", tail.Text)
	}
	running, err := e.m.IsAgentRunning(t.Context(), "s", "fix-bug")
	if err != nil || running {
		t.Errorf("IsAgentRunning = %v, %v; want false", running, err)
	}
}

func TestSessions_WatchLogs(t *testing.T) {
	t.Parallel()
	e := stubEnv(t, sandstorm.CreateRequest{})
	s := e.start(t, "w", "watch me", map[string]string{"STUB_LINES": "200",
		"STUB_DELAY": "0.01"})
	var lines []string
	end, err := e.m.WatchLogs(t.Context(), "s", s.ID, 0, func(line string) error {
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 203 || lines[200] != stubagent.Line(200) {
		t.Fatalf("watched %d lines; line 200 = %q", len(lines), lines[min(200, len(lines)-1)])
	}
	tail, err := e.m.GetSessionLogs(t.Context(), sandstorm.LogsRequest{Sandbox: "s",
		SessionID: s.ID, Lines: 1})
	if err != nil || end != tail.Size {
		t.Errorf("WatchLogs ended at %d, log size %d (%v)", end, tail.Size, err)
	}
}

func TestSessions_FailedAndStopped(t *testing.T) {
	t.Parallel()
	e := stubEnv(t, sandstorm.CreateRequest{})
	failed := e.start(t, "a", "p", map[string]string{"STUB_EXIT": "3"})
	e.readAllLogs(t, failed.ID, 1<<16)
	long := e.start(t, "b", "p", map[string]string{"STUB_LINES": "1000", "STUB_DELAY": "1"})

	stopped, err := e.m.StopSession(t.Context(), "s", "b", "")
	if err != nil {
		t.Fatal(err)
	}
	if stopped.ID != long.ID || stopped.Status != "stopped" || stopped.Running {
		t.Errorf("stopped = %+v", stopped)
	}
	list, err := e.m.ListSessions(t.Context(), "s", "")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, s := range list {
		got[s.Identifier] = s.Status
	}
	if got["a"] != "failed" || got["b"] != "stopped" || len(list) != 2 {
		t.Errorf("sessions = %v", got)
	}
	if out := e.exec(t, "s", "ps -eo args= | grep -cx 'sleep 1'").Stdout; out != "0\n" {
		t.Errorf("stopped session left processes: %s", out)
	}
	_, err = e.m.SessionStatus(t.Context(), "s", "", "nope")
	if !errors.Is(err, sandstorm.ErrNotFound) {
		t.Errorf("unknown session: err = %v, want ErrNotFound", err)
	}
}

// TestSessions_CallerTextNeverReachesAShell starts sessions whose identifiers
// and prompts are random strings full of shell metacharacters, quotes and
// newlines, and checks that the agent received each prompt byte for byte and
// that the identifier could not escape its directory.
func TestSessions_CallerTextNeverReachesAShell(t *testing.T) {
	t.Parallel()
	e := stubEnv(t, sandstorm.CreateRequest{})
	rng := rand.New(rand.NewPCG(7, 11))
	const alphabet = "ab $`\"'\\;|&<>(){}[]*?~#!\n\t%=-./\u00e9\u4e16"
	random := func(n int) string {
		r := []rune(alphabet)
		var b strings.Builder
		for range n {
			b.WriteRune(r[rng.IntN(len(r))])
		}
		return b.String()
	}
	cases := []struct{ ident, prompt string }{
		{"$(touch /data/pwned)", "`touch /data/pwned`; $(touch /data/pwned)"},
		{"../../../etc", "'; rm -rf /data; echo '"},
		{"x\ny", "line1\nline2\n\n"},
	}
	for range 7 {
		cases = append(cases, struct{ ident, prompt string }{random(1 + rng.IntN(20)),
			random(1 + rng.IntN(300))})
	}
	for _, c := range cases {
		s := e.start(t, c.ident, c.prompt, nil)
		text := e.readAllLogs(t, s.ID, 1<<16)
		want := "prompt-hex " + hex.EncodeToString([]byte(c.prompt)) + "\n"
		if !strings.Contains(text, want) {
			t.Errorf("identifier %q: the agent did not receive the prompt %q exactly; log:\n%s",
				c.ident, c.prompt, text)
		}
		if !strings.HasPrefix(s.LogPath, "/data/.sandstorm/sessions/") ||
			strings.Contains(strings.TrimPrefix(s.LogPath, "/data/.sandstorm/sessions/"), "..") {
			t.Errorf("identifier %q gave log path %q", c.ident, s.LogPath)
		}
	}
	if out := e.exec(t, "s", "ls /data/pwned /etc/pwned 2>&1 | grep -c 'No such'").Stdout; out != "2\n" {
		t.Errorf("a caller's text ran as shell code: %s", out)
	}
}

func TestSessions_Persona(t *testing.T) {
	t.Parallel()
	files := persona.Files{"CLAUDE.md": "You review {{project}} for {{owner}}.",
		"notes/style.md": "Be brief."}
	e := stubEnv(t, sandstorm.CreateRequest{Persona: &persona.Source{Files: files},
		PersonaVars: map[string]string{"project": "sandstorm", "owner": "ops"}})
	got := e.exec(t, "s", "cat /data/project/AGENT.md; echo; cat /data/project/notes/style.md")
	if got.Stdout != "You review sandstorm for ops.\nBe brief." {
		t.Errorf("deployed persona = %q", got.Stdout)
	}
	sb, err := e.m.Get(t.Context(), "s")
	if err != nil || sb.Agent != "stub" || !strings.HasPrefix(sb.PersonaVersion, "sha256:") {
		t.Errorf("sandbox = %+v, %v; want agent stub and a persona version", sb, err)
	}

	res, err := e.m.SyncSandbox(t.Context(), sandstorm.SyncPersonaRequest{Sandbox: "s",
		Source: &persona.Source{Files: files},
		Vars:   map[string]string{"project": "flylocal", "owner": "ops"}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Changed || !strings.HasPrefix(res.Version, "sha256:") {
		t.Errorf("sync = %+v", res)
	}
	if got := e.exec(t, "s", "cat /data/project/AGENT.md").Stdout; got != "You review flylocal for ops." {
		t.Errorf("after sync = %q", got)
	}
	_, err = e.m.SyncSandbox(t.Context(), sandstorm.SyncPersonaRequest{Sandbox: "s",
		Source: &persona.Source{Files: files}, Vars: map[string]string{"project": "x"}})
	if !errors.Is(err, sandstorm.ErrInvalidInput) || !strings.Contains(err.Error(), "owner") {
		t.Errorf("sync with a missing var: err = %v, want it to name owner", err)
	}
}
