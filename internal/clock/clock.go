// Package clock has a clock that moves only when told to, for benchmarks and
// tests of code that reads the time through a func() time.Time, such as the
// Manager's idle policy, where half an hour of quiet must take no time.
package clock

import (
	"sync"
	"time"
)

// Manual is a clock that reads the time it was last set to. It is safe for
// concurrent use.
type Manual struct {
	mu sync.Mutex
	t  time.Time
}

// NewManual returns a clock reading t.
func NewManual(t time.Time) *Manual { return &Manual{t: t} }

// Now returns the time the clock was last set to.
func (c *Manual) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()

	return c.t
}

// Set moves the clock to t.
func (c *Manual) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}
