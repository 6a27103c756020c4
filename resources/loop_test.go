package resources

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	b := backoff{min: time.Second, max: 30 * time.Second}
	for i, want := range []time.Duration{1, 2, 4, 8, 16, 30, 30} {
		want *= time.Second
		got := b.next()
		if got < want/2 || got > want {
			t.Errorf("failure %d: delay %s, want within [%s, %s]", i+1, got, want/2, want)
		}
	}
	b.reset()
	if got := b.next(); got > time.Second {
		t.Errorf("after reset: delay %s, want at most 1s", got)
	}
}

// levels records the levels of the log lines it receives.
type levels struct {
	mu  sync.Mutex
	got []slog.Level
}

func (l *levels) Enabled(context.Context, slog.Level) bool { return true }
func (l *levels) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *levels) WithGroup(string) slog.Handler            { return l }

func (l *levels) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, r.Level)

	return nil
}

func TestFailureLog(t *testing.T) {
	h := &levels{}
	f := failureLog{log: slog.New(h), what: "poll", sandbox: "a"}
	err := errors.New("down")

	f.fail(err)
	f.ok() // one failure: routine, no recovery line
	for range 4 {
		f.fail(err)
	}
	f.ok()
	want := []slog.Level{slog.LevelDebug, slog.LevelDebug, slog.LevelWarn, slog.LevelDebug,
		slog.LevelDebug, slog.LevelInfo}
	if !slices.Equal(h.got, want) {
		t.Errorf("levels = %v, want %v", h.got, want)
	}
}

func TestLoop_NudgeCutsCall(t *testing.T) {
	l := &loop{poke: make(chan struct{}, 1)}
	ctx, done := l.call(t.Context())
	l.nudge()
	select {
	case <-ctx.Done():
	case <-time.After(time.Second):
		t.Fatal("a nudge did not end the call in flight")
	}
	done()
	_, _, nudged := l.take()
	if !nudged {
		t.Error("take after a nudge reports none")
	}
	if l.wait(t.Context(), time.Millisecond) {
		t.Error("take left the poke pending")
	}

	// A nudge between take and call ends the call at once.
	l.nudge()
	ctx, done = l.call(t.Context())
	defer done()
	if ctx.Err() == nil {
		t.Error("a call after an unseen nudge did not end at once")
	}
}
