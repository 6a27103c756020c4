package resources

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// loop is the handle of one polling goroutine: a way to stop it, to wake it
// (a poke), and, for session watches, the interest it serves. Its methods
// are safe on a nil loop, which does nothing.
type loop struct {
	cancel context.CancelFunc
	poke   chan struct{} // capacity 1

	mu         sync.Mutex
	in         interest
	gen        int                // counts changes of in
	ready      bool               // the first reading for in is taken
	dirty      bool               // poked since the goroutine last looked
	callCancel context.CancelFunc // ends the call in flight, if any
}

// stop ends the goroutine; it returns at its next step.
func (l *loop) stop() {
	if l != nil {
		l.cancel()
	}
}

// nudge tells the goroutine to look again now, cutting short a wait or a
// call in flight.
func (l *loop) nudge() {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.dirty = true
	if l.callCancel != nil {
		l.callCancel()
	}
	l.mu.Unlock()
	select {
	case l.poke <- struct{}{}:
	default:
	}
}

// setInterest changes what the goroutine serves, nudging it when that
// differs from before.
func (l *loop) setInterest(in interest) {
	l.mu.Lock()
	same := l.in.status == in.status && l.in.sessions == in.sessions &&
		slices.Equal(l.in.logs, in.logs)
	if !same {
		l.in, l.ready = in, false
		l.gen++
	}
	l.mu.Unlock()
	if !same {
		l.nudge()
	}
}

// take returns the interest with its generation, and whether the goroutine
// was nudged since the last take.
func (l *loop) take() (in interest, gen int, nudged bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	nudged = l.dirty
	l.dirty = false
	select {
	case <-l.poke:
	default:
	}

	return l.in, l.gen, nudged
}

// serving returns the interest the goroutine serves; zero on a nil loop.
func (l *loop) serving() interest {
	if l == nil {
		return interest{}
	}
	l.mu.Lock()
	defer l.mu.Unlock()

	return l.in
}

// markReady records that the first reading for generation gen of the
// interest is taken, so changes from now on are reported.
func (l *loop) markReady(gen int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if gen == l.gen {
		l.ready = true
	}
}

// isReady reports whether the first reading for the current interest is
// taken; false on a nil loop.
func (l *loop) isReady() bool {
	if l == nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()

	return l.ready
}

// call returns a context for one call that a nudge cancels, and the function
// to call when the call is over.
func (l *loop) call(ctx context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancel(ctx)
	l.mu.Lock()
	if l.dirty {
		cancel()
	}
	l.callCancel = cancel
	l.mu.Unlock()

	return ctx, func() {
		l.mu.Lock()
		l.callCancel = nil
		l.mu.Unlock()
		cancel()
	}
}

// wait blocks for d, until a nudge, or until ctx ends, and reports whether
// it was nudged.
func (l *loop) wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-l.poke:
		return true
	case <-t.C:
		return false
	}
}

// backoff is the delay after consecutive failures: doubling from min up to
// max, with jitter so that many loops do not retry in step.
type backoff struct {
	min, max time.Duration
	n        int
}

func (b *backoff) next() time.Duration {
	d := b.max
	if b.n < 16 {
		d = min(b.min<<b.n, b.max)
	}
	b.n++

	return d/2 + rand.N(d/2+1)
}

func (b *backoff) reset() { b.n = 0 }

// failureLog throttles the logs of a run of failures. A single failure is
// routine, as when a machine stops under a call in flight, and is logged at
// debug level; the second in a row is a warning, later ones are debug again,
// and the end of a run that warned gets one info line. A sandbox that is
// down does not flood the log.
type failureLog struct {
	log     *slog.Logger
	what    string
	sandbox string
	n       int
}

func (f *failureLog) fail(err error) {
	f.n++
	if f.n == 2 {
		f.log.Warn(f.what+" keeps failing; retrying with backoff", keySandbox, f.sandbox,
			keyError, err)
		return
	}
	f.log.Debug(f.what+" failed", keySandbox, f.sandbox, keyError, err, "failures", f.n)
}

func (f *failureLog) ok() {
	if f.n > 1 {
		f.log.Info(f.what+" recovered", keySandbox, f.sandbox, "failures", f.n)
	}
	f.n = 0
}
