package lifecycle

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Defaults of Loop.
const (
	// DefaultMaxBackoffFactor caps the delay after failures at this many
	// intervals when Loop.MaxBackoff is zero.
	DefaultMaxBackoffFactor = 10
	// DefaultErrorLogEvery is the least time between two failure lines.
	DefaultErrorLogEvery = time.Minute
)

// Clock is the time source of a Loop; tests inject a fake one.
type Clock interface {
	Now() time.Time
	NewTicker(d time.Duration) Ticker
}

// Ticker is the part of *time.Ticker a Loop uses.
type Ticker interface {
	// C delivers the ticks.
	C() <-chan time.Time
	// Reset sets the period and restarts the count from now; no tick from
	// before the Reset is delivered after it.
	Reset(d time.Duration)
	// Stop turns the ticker off.
	Stop()
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// NewTicker returns a *time.Ticker behind the Ticker interface.
func (SystemClock) NewTicker(d time.Duration) Ticker { return sysTicker{time.NewTicker(d)} }

type sysTicker struct{ t *time.Ticker }

func (s sysTicker) C() <-chan time.Time   { return s.t.C }
func (s sysTicker) Reset(d time.Duration) { s.t.Reset(d) }
func (s sysTicker) Stop()                 { s.t.Stop() }

// Loop runs Check every Interval in a goroutine it owns, from Start until
// Stop or the end of Start's context. The first check runs one interval after
// Start. After n consecutive failures the next check waits Interval·2^(n-1),
// capped at MaxBackoff. Failures are logged at most once per ErrorLogEvery,
// with the number of failures left unlogged in between; the first success
// after failures logs one info line. A check ended by cancellation is not a
// failure and is not logged. Set the fields before Start and leave them.
type Loop struct {
	// Name identifies the loop in logs.
	Name string
	// Check is the work of one cycle. Required.
	Check func(ctx context.Context) error
	// Interval is the time between checks. Required.
	Interval time.Duration
	// MaxBackoff caps the delay after failures. Default 10 intervals.
	MaxBackoff time.Duration
	// Timeout bounds one check. Zero means no bound beyond the context.
	Timeout time.Duration
	// ErrorLogEvery is the least time between failure lines. Default 1m.
	ErrorLogEvery time.Duration
	// Clock is the time source. Default SystemClock.
	Clock Clock
	// Logger receives the loop's lines. Default: none.
	Logger *slog.Logger

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// Start validates the loop and starts its goroutine. It fails if the loop is
// already running. Cancelling ctx stops the loop as Stop does.
func (l *Loop) Start(ctx context.Context) error {
	switch {
	case l.Check == nil:
		return fmt.Errorf("start loop %s: Check is required", l.Name)
	case l.Interval <= 0:
		return fmt.Errorf("start loop %s: Interval must be positive, not %s", l.Name, l.Interval)
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done != nil {
		return fmt.Errorf("start loop %s: already running", l.Name)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	l.cancel, l.done = cancel, done
	go l.run(ctx, done)

	return nil
}

// Stop ends the loop and waits for its goroutine, including a check in
// progress, which sees its context cancelled. Stop on a loop that is not
// running does nothing; a stopped loop may be started again.
func (l *Loop) Stop() {
	l.mu.Lock()
	cancel, done := l.cancel, l.done
	l.cancel, l.done = nil, nil
	l.mu.Unlock()
	if done == nil {
		return
	}
	cancel()
	<-done
}

// run is the loop's goroutine.
func (l *Loop) run(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	clock := l.Clock
	if clock == nil {
		clock = SystemClock{}
	}
	t := clock.NewTicker(l.Interval)
	defer t.Stop()
	fl := failureLog{loop: l, clock: clock, log: orDiscard(l.Logger)}

	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		err := l.runCheck(ctx)
		if ctx.Err() != nil {
			return
		}
		t.Reset(fl.record(ctx, err))
	}
}

// runCheck runs one check under the loop's timeout and turns a panic into an
// error, so one bad cycle does not take the process down.
func (l *Loop) runCheck(ctx context.Context) (err error) {
	if l.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, l.Timeout)
		defer cancel()
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("check panicked: %v", r)
		}
	}()

	return l.Check(ctx)
}

// backoff returns the delay after n consecutive failures: Interval doubled
// n-1 times, capped.
func (l *Loop) backoff(n int) time.Duration {
	ceiling := l.MaxBackoff
	if ceiling <= 0 {
		ceiling = DefaultMaxBackoffFactor * l.Interval
	}
	d := l.Interval
	for i := 1; i < n && d < ceiling; i++ {
		d *= 2
	}

	return min(d, ceiling)
}

// failureLog tracks consecutive failures and throttles their log lines.
type failureLog struct {
	loop  *Loop
	clock Clock
	log   *slog.Logger

	failures   int       // consecutive failures
	since      time.Time // first of them
	lastLogged time.Time
	suppressed int // failures not logged since lastLogged
}

// record notes the outcome of a check, logs what is due, and returns the
// delay before the next check.
func (f *failureLog) record(ctx context.Context, err error) time.Duration {
	now := f.clock.Now()
	if err == nil {
		if f.failures > 0 {
			f.log.LogAttrs(ctx, slog.LevelInfo, "lifecycle check recovered",
				slog.String(logLoop, f.loop.Name), slog.Int(logFailures, f.failures),
				slog.Duration(logDownFor, now.Sub(f.since)),
				slog.Int(logSuppressed, f.suppressed))
		}
		*f = failureLog{loop: f.loop, clock: f.clock, log: f.log}

		return f.loop.Interval
	}

	f.failures++
	if f.failures == 1 {
		f.since = now
	}
	delay := f.loop.backoff(f.failures)
	every := f.loop.ErrorLogEvery
	if every <= 0 {
		every = DefaultErrorLogEvery
	}
	if !f.lastLogged.IsZero() && now.Sub(f.lastLogged) < every {
		f.suppressed++

		return delay
	}
	f.log.LogAttrs(ctx, slog.LevelWarn, "lifecycle check failed",
		slog.String(logLoop, f.loop.Name), slog.String(logError, err.Error()),
		slog.Int(logFailures, f.failures), slog.Int(logSuppressed, f.suppressed),
		slog.Duration(logRetryIn, delay))
	f.lastLogged, f.suppressed = now, 0

	return delay
}
