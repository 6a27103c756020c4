package resources

import (
	"sync"
	"time"
)

// clock is the time source of the throttle, replaceable in tests.
type clock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func()) func() bool
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}

// throttle passes each key on to send at most once per gap. A key marked
// inside the gap is sent once when the gap ends, however often it was
// marked, so the last change is never lost.
type throttle struct {
	gap   time.Duration
	clock clock
	send  func(key string)

	mu      sync.Mutex
	last    map[string]time.Time
	pending map[string]func() bool // key -> stop of its timer
	closed  bool
}

func newThrottle(gap time.Duration, c clock, send func(string)) *throttle {
	return &throttle{gap: gap, clock: c, send: send, last: make(map[string]time.Time),
		pending: make(map[string]func() bool)}
}

// mark asks for key to be sent.
func (t *throttle) mark(key string) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	if _, ok := t.pending[key]; ok {
		t.mu.Unlock()
		return
	}
	now := t.clock.Now()
	if wait := t.gap - now.Sub(t.last[key]); wait > 0 {
		t.pending[key] = t.clock.AfterFunc(wait, func() { t.fire(key) })
		t.mu.Unlock()
		return
	}
	t.last[key] = now
	t.sweep(now)
	t.mu.Unlock()
	t.send(key)
}

// fire sends a key whose gap has ended.
func (t *throttle) fire(key string) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	delete(t.pending, key)
	t.last[key] = t.clock.Now()
	t.mu.Unlock()
	t.send(key)
}

// sweep forgets keys sent longer than a gap ago, so the map follows the set
// of busy keys. The caller holds mu.
func (t *throttle) sweep(now time.Time) {
	if len(t.last) < 256 {
		return
	}
	for k, at := range t.last {
		if now.Sub(at) >= t.gap {
			delete(t.last, k)
		}
	}
}

// close stops pending sends; marks after close are ignored.
func (t *throttle) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	for k, stop := range t.pending {
		stop()
		delete(t.pending, k)
	}
}
