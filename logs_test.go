package sandstorm_test

import (
	"strings"
	"testing"
	"time"

	"github.com/longrun/sandstorm"
	"github.com/longrun/sandstorm/internal/stubagent"
)

// cursorAfter reads a session's log until it holds n whole lines and returns
// the offset just past them.
func (e *env) cursorAfter(t *testing.T, id string, n int) int64 {
	t.Helper()
	var text string
	for range 50 {
		c := int64(len(text))
		chunk, err := e.m.GetSessionLogs(t.Context(), sandstorm.LogsRequest{Sandbox: "s",
			SessionID: id, Cursor: &c, Wait: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		text += chunk.Text
		if strings.Count(text, "\n") >= n {
			break
		}
	}
	lines := strings.SplitAfter(text, "\n")
	if len(lines) <= n || lines[n] != "" {
		t.Fatalf("log after %d lines = %q, want exactly %d lines", n, text, n)
	}

	return int64(len(text))
}

// TestSessions_LogWaitIsHonoured pins two bugs of session_logs' wait_ms:
// waits were cut to 20 s, so output after a longer silence came back as an
// empty chunk, and waits were rounded to whole seconds, so one under 500 ms
// did not wait at all.
func TestSessions_LogWaitIsHonoured(t *testing.T) {
	t.Parallel()
	e := stubEnv(t, sandstorm.CreateRequest{})
	// Each stub writes its init line and line 1, then is silent for the delay.
	slow := e.start(t, "slow", "p", map[string]string{"STUB_LINES": "2", "STUB_DELAY": "30"})
	silent := e.start(t, "silent", "p", map[string]string{"STUB_LINES": "1",
		"STUB_DELAY": "60"})

	type result struct {
		chunk *sandstorm.LogChunk
		err   error
		took  time.Duration
	}
	long := make(chan result, 1)
	c := e.cursorAfter(t, slow.ID, 2)
	go func() {
		start := time.Now()
		chunk, err := e.m.GetSessionLogs(t.Context(), sandstorm.LogsRequest{Sandbox: "s",
			SessionID: slow.ID, Cursor: &c, Wait: 40 * time.Second})
		long <- result{chunk, err, time.Since(start)}
	}()

	short := e.cursorAfter(t, silent.ID, 2)
	// Execs are paced to Fly's rate of about one a second per machine; a
	// few idle seconds refill the burst, so the pace does not pass for a wait.
	time.Sleep(4 * time.Second)
	start := time.Now()
	chunk, err := e.m.GetSessionLogs(t.Context(), sandstorm.LogsRequest{Sandbox: "s",
		SessionID: silent.ID, Cursor: &short, Wait: 300 * time.Millisecond})
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if chunk.Text != "" || chunk.NextCursor != short || !chunk.Running || chunk.More {
		t.Errorf("300 ms wait: chunk = %+v, want nothing new from %d", chunk, short)
	}
	if took < 250*time.Millisecond || took >= 3*time.Second {
		t.Errorf("a 300 ms wait took %s", took)
	}

	r := <-long
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.chunk.Text != stubagent.Line(2)+"\n" || r.chunk.Cursor != c ||
		r.chunk.NextCursor != c+int64(len(r.chunk.Text)) || !r.chunk.Running {
		t.Errorf("40 s wait, after %s: chunk = %+v, want line 2 from %d", r.took, r.chunk, c)
	}
}
