package resources

import (
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"
)

// fakeClock runs AfterFunc callbacks when advanced past their time.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	at      time.Time
	f       func()
	stopped bool
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()

	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)

	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		was := !t.stopped
		t.stopped = true

		return was
	}
}

// advance moves the clock and runs the timers that came due, in order.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	sort.Slice(c.timers, func(i, j int) bool { return c.timers[i].at.Before(c.timers[j].at) })
	var due []*fakeTimer
	rest := c.timers[:0]
	for _, t := range c.timers {
		switch {
		case t.stopped:
		case !t.at.After(c.now):
			t.stopped = true
			due = append(due, t)
		default:
			rest = append(rest, t)
		}
	}
	c.timers = rest
	c.mu.Unlock()
	for _, t := range due {
		t.f()
	}
}

func TestThrottle(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1000, 0)}
	var sent []string
	th := newThrottle(250*time.Millisecond, clock, func(k string) { sent = append(sent, k) })
	expect := func(want ...string) {
		t.Helper()
		if !reflect.DeepEqual(sent, want) {
			t.Fatalf("sent %v, want %v", sent, want)
		}
	}

	th.mark("a")
	expect("a") // the first goes at once
	th.mark("a")
	th.mark("a")
	th.mark("b") // other keys are not held back
	expect("a", "b")
	clock.advance(249 * time.Millisecond)
	expect("a", "b")
	clock.advance(time.Millisecond)
	expect("a", "b", "a") // the marks inside the gap go once, when it ends

	th.mark("a") // within the gap after that send: held
	expect("a", "b", "a")
	clock.advance(250 * time.Millisecond)
	expect("a", "b", "a", "a")
	clock.advance(time.Second)
	th.mark("a") // long after: at once
	expect("a", "b", "a", "a", "a")

	th.mark("a")
	th.close()
	clock.advance(time.Second)
	th.mark("b")
	expect("a", "b", "a", "a", "a") // closed: pending and new marks are dropped
}
