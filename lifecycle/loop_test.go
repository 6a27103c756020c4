package lifecycle_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/longrun/sandstorm/lifecycle"
)

// waitLimit bounds every wait for the loop goroutine; nothing in these tests
// sleeps for the loop's own intervals.
const waitLimit = 5 * time.Second

// fakeClock is a Clock whose time moves only in Advance.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	tickers []*fakeTicker
	created chan *fakeTicker
}

func newFakeClock() *fakeClock {
	return &fakeClock{
		now:     time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC),
		created: make(chan *fakeTicker, 8),
	}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()

	return c.now
}

func (c *fakeClock) NewTicker(d time.Duration) lifecycle.Ticker {
	t := &fakeTicker{clock: c, c: make(chan time.Time, 1),
		resets: make(chan time.Duration, 64), period: d}
	c.mu.Lock()
	t.next = c.now.Add(d)
	c.tickers = append(c.tickers, t)
	c.mu.Unlock()
	c.created <- t

	return t
}

// Advance moves time on by d and fires every ticker that is due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for _, t := range c.tickers {
		if t.stopped || c.now.Before(t.next) {
			continue
		}
		select {
		case t.c <- c.now:
		default:
		}
		t.next = c.now.Add(t.period)
	}
}

// fakeTicker is a Ticker of a fakeClock; each Reset is reported on resets.
type fakeTicker struct {
	clock  *fakeClock
	c      chan time.Time
	resets chan time.Duration

	period  time.Duration // guarded by clock.mu
	next    time.Time
	stopped bool
}

func (t *fakeTicker) C() <-chan time.Time { return t.c }

func (t *fakeTicker) Reset(d time.Duration) {
	t.clock.mu.Lock()
	t.period, t.next = d, t.clock.now.Add(d)
	select {
	case <-t.c:
	default:
	}
	t.clock.mu.Unlock()
	t.resets <- d
}

func (t *fakeTicker) Stop() {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	t.stopped = true
}

// recordHandler keeps every log record.
type recordHandler struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, r.Clone())

	return nil
}

func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordHandler) WithGroup(string) slog.Handler      { return h }

// records returns the records at level, each as its message and attributes.
func (h *recordHandler) records(level slog.Level) []map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []map[string]string
	for _, r := range h.recs {
		if r.Level != level {
			continue
		}
		m := map[string]string{"msg": r.Message}
		r.Attrs(func(a slog.Attr) bool {
			m[a.Key] = a.Value.String()
			return true
		})
		out = append(out, m)
	}

	return out
}

// loopHarness runs a Loop on a fake clock; each Check call waits for the test
// to hand it a result.
type loopHarness struct {
	clock  *fakeClock
	ticker *fakeTicker
	calls  chan chan error
	log    *recordHandler
	loop   *lifecycle.Loop
	// inCheck counts Check calls that have not returned.
	inCheck atomic.Int32
}

func newLoopHarness(t *testing.T, configure func(*lifecycle.Loop)) *loopHarness {
	t.Helper()
	h := &loopHarness{clock: newFakeClock(), calls: make(chan chan error), log: &recordHandler{}}
	h.loop = &lifecycle.Loop{
		Name:     "idle",
		Interval: 10 * time.Second,
		Clock:    h.clock,
		Logger:   slog.New(h.log),
		Check: func(ctx context.Context) error {
			h.inCheck.Add(1)
			defer h.inCheck.Add(-1)
			reply := make(chan error)
			select {
			case h.calls <- reply:
			case <-ctx.Done():
				return ctx.Err()
			}
			select {
			case err := <-reply:
				return err
			case <-ctx.Done():
				return ctx.Err()
			}
		},
	}
	if configure != nil {
		configure(h.loop)
	}
	if err := h.loop.Start(t.Context()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(h.loop.Stop)
	select {
	case h.ticker = <-h.clock.created:
	case <-time.After(waitLimit):
		t.Fatalf("the loop made no ticker")
	}

	return h
}

// cycle advances the clock by d, answers the check it triggers with result,
// and returns the delay the loop chose next.
func (h *loopHarness) cycle(t *testing.T, d time.Duration, result error) time.Duration {
	t.Helper()
	h.clock.Advance(d)
	select {
	case reply := <-h.calls:
		reply <- result
	case <-time.After(waitLimit):
		t.Fatalf("no check ran after %s", d)
	}
	select {
	case next := <-h.ticker.resets:
		return next
	case <-time.After(waitLimit):
		t.Fatalf("the loop did not schedule the next check")
	}

	return 0
}

func TestLoop_Backoff(t *testing.T) {
	t.Parallel()
	h := newLoopHarness(t, nil)
	fail := errors.New("store down")
	const s = time.Second
	steps := []struct {
		result error
		next   time.Duration
	}{
		{nil, 10 * s},
		{fail, 10 * s},
		{fail, 20 * s},
		{fail, 40 * s},
		{fail, 80 * s},
		{fail, 100 * s},
		{fail, 100 * s},
		{nil, 10 * s},
		{fail, 10 * s},
		{nil, 10 * s},
	}

	wait := h.loop.Interval
	for i, st := range steps {
		got := h.cycle(t, wait, st.result)
		if got != st.next {
			t.Fatalf("step %d (%v): next check in %s, want %s", i, st.result, got, st.next)
		}
		wait = got
	}
}

func TestLoop_ThrottledLogs(t *testing.T) {
	t.Parallel()
	h := newLoopHarness(t, func(l *lifecycle.Loop) { l.MaxBackoff = l.Interval })
	fail := errors.New("store down")

	// Ten failures ten seconds apart, from t=10s to t=100s, then a success.
	for range 10 {
		h.cycle(t, 10*time.Second, fail)
	}
	h.cycle(t, 10*time.Second, nil)

	warns := h.log.records(slog.LevelWarn)
	if len(warns) != 2 {
		t.Fatalf("got %d failure lines for 10 failures in 100s, want 2: %v", len(warns), warns)
	}
	want := []map[string]string{
		{"failures": "1", "suppressed": "0", "error": "store down", "loop": "idle"},
		{"failures": "7", "suppressed": "5", "error": "store down", "loop": "idle"},
	}
	for i, w := range want {
		for k, v := range w {
			if warns[i][k] != v {
				t.Errorf("failure line %d: %s=%q, want %q (%v)", i, k, warns[i][k], v, warns[i])
			}
		}
	}
	infos := h.log.records(slog.LevelInfo)
	if len(infos) != 1 {
		t.Fatalf("got %d info lines, want one on recovery: %v", len(infos), infos)
	}
	for k, v := range map[string]string{"failures": "10", "suppressed": "3",
		"down_for": "1m40s"} {
		if infos[0][k] != v {
			t.Errorf("recovery line: %s=%q, want %q (%v)", k, infos[0][k], v, infos[0])
		}
	}
	if errs := h.log.records(slog.LevelError); len(errs) != 0 {
		t.Errorf("error-level lines: %v", errs)
	}
}

func TestLoop_StopDuringCheck(t *testing.T) {
	t.Parallel()
	h := newLoopHarness(t, nil)

	// The harness Check blocks until answered or cancelled: run one cycle
	// but do not answer, then Stop.
	h.clock.Advance(h.loop.Interval)
	select {
	case <-h.calls:
	case <-time.After(waitLimit):
		t.Fatalf("no check ran")
	}
	done := make(chan struct{})
	go func() {
		h.loop.Stop()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(waitLimit):
		t.Fatalf("Stop did not return while a check was running")
	}

	if n := h.inCheck.Load(); n != 0 {
		t.Errorf("Stop returned with %d check(s) still running", n)
	}

	if len(h.log.records(slog.LevelWarn)) != 0 || len(h.log.records(slog.LevelError)) != 0 {
		t.Errorf("cancellation was logged: %v", h.log.records(slog.LevelWarn))
	}
	h.loop.Stop() // a second Stop is harmless
}

func TestLoop_ContextCancel(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	var ran atomic.Bool
	l := &lifecycle.Loop{
		Interval: time.Hour,
		Check:    func(context.Context) error { ran.Store(true); return nil },
		Clock:    newFakeClock(),
	}
	if err := l.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	cancel()

	stopped := make(chan struct{})
	go func() { l.Stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(waitLimit):
		t.Fatalf("Stop did not return after the context was cancelled")
	}
	if ran.Load() {
		t.Errorf("a check ran before its first interval")
	}
}

func TestLoop_CheckTimeoutAndPanic(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		check func(ctx context.Context) error
		want  string
	}{
		{
			name: "own timeout is a failure",
			check: func(ctx context.Context) error {
				<-ctx.Done()
				return ctx.Err()
			},
			want: "context deadline exceeded",
		},
		{
			name:  "panic is a failure",
			check: func(context.Context) error { panic("bad cycle") },
			want:  "check panicked: bad cycle",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			log := &recordHandler{}
			clock := newFakeClock()
			l := &lifecycle.Loop{Name: "x", Interval: time.Minute, Timeout: 10 * time.Millisecond,
				Check: tt.check, Clock: clock, Logger: slog.New(log)}
			if err := l.Start(t.Context()); err != nil {
				t.Fatalf("Start: %v", err)
			}
			defer l.Stop()
			ticker := <-clock.created
			clock.Advance(time.Minute)
			select {
			case next := <-ticker.resets:
				if next != time.Minute {
					t.Errorf("next check in %s after one failure, want the interval", next)
				}
			case <-time.After(waitLimit):
				t.Fatalf("the loop did not go on after the failure")
			}
			warns := log.records(slog.LevelWarn)
			if len(warns) != 1 || !strings.Contains(warns[0]["error"], tt.want) {
				t.Errorf("failure lines %v, want one saying %q", warns, tt.want)
			}
		})
	}
}

func TestLoop_Start(t *testing.T) {
	t.Parallel()
	ok := func(context.Context) error { return nil }
	tests := []struct {
		name string
		loop *lifecycle.Loop
		want string
	}{
		{"no check", &lifecycle.Loop{Interval: time.Second}, "Check is required"},
		{"no interval", &lifecycle.Loop{Check: ok}, "Interval must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.loop.Start(t.Context())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Start: %v, want an error saying %q", err, tt.want)
			}
		})
	}

	t.Run("twice, then again after Stop", func(t *testing.T) {
		t.Parallel()
		l := &lifecycle.Loop{Interval: time.Hour, Check: ok, Clock: newFakeClock()}
		if err := l.Start(t.Context()); err != nil {
			t.Fatalf("Start: %v", err)
		}
		if err := l.Start(t.Context()); err == nil {
			t.Errorf("a second Start succeeded")
		}
		l.Stop()
		if err := l.Start(t.Context()); err != nil {
			t.Errorf("Start after Stop: %v", err)
		}
		l.Stop()
	})
}

// TestLoop_SystemClock runs the loop on real time with a short interval: the
// one test that checks the wiring to time.Ticker.
func TestLoop_SystemClock(t *testing.T) {
	t.Parallel()
	ran := make(chan struct{}, 8)
	l := &lifecycle.Loop{
		Interval: 5 * time.Millisecond,
		Check: func(context.Context) error {
			select {
			case ran <- struct{}{}:
			default:
			}

			return nil
		},
	}
	if err := l.Start(t.Context()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer l.Stop()
	for i := range 3 {
		select {
		case <-ran:
		case <-time.After(waitLimit):
			t.Fatalf("check %d did not run", i+1)
		}
	}
}
