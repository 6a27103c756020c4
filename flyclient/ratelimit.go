package flyclient

import (
	"context"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limit is the request budget Fly grants one action on one resource.
type Limit struct {
	PerSecond float64
	Burst     int
}

// Fly's documented limits: about one request per second per action per machine
// (or app) with a burst of three, and five per second with a burst of ten for
// GET machine.
var (
	ActionLimit     = Limit{PerSecond: 1, Burst: 3}
	GetMachineLimit = Limit{PerSecond: 5, Burst: 10}
)

// RateKey names the bucket Fly counts a Machines API request against and the
// limit of that bucket. Requests outside /v1/apps have no bucket and return "".
func RateKey(method, path string) (string, Limit) {
	rest, ok := strings.CutPrefix(strings.TrimSuffix(path, "/"), "/v1/apps/")
	if !ok {
		return "", Limit{}
	}
	parts := strings.Split(rest, "/")
	switch {
	case len(parts) == 1:
		return method + " app " + parts[0], ActionLimit
	case len(parts) == 2:
		return method + " " + parts[1] + " " + parts[0], ActionLimit
	case parts[1] == "machines" && len(parts) == 3 && method == "GET":
		return "GET machine " + parts[2], GetMachineLimit
	default:
		action := strings.Join(parts[3:], "/")
		if len(parts) > 4 && parts[3] == "metadata" {
			action = "metadata"
		}

		return method + " " + parts[1] + "/" + action + " " + parts[2], ActionLimit
	}
}

// Pacer holds one token bucket per RateKey. Buckets that have refilled are
// dropped on a periodic sweep, so its size follows the set of busy resources.
type Pacer struct {
	mu        sync.Mutex
	buckets   map[string]*rate.Limiter
	lastSweep time.Time
	// share is the fraction of each limit's sustained rate the Pacer uses.
	share float64
}

// NewPacer returns an empty Pacer that enforces Fly's limits exactly, as the
// server does.
func NewPacer() *Pacer {
	return &Pacer{buckets: make(map[string]*rate.Limiter), share: 1}
}

// clientShare is the part of Fly's sustained rate a client paces itself to.
// Requests that leave exactly a second apart can arrive a little closer
// together; the tenth in reserve keeps that jitter from meeting a 429.
const clientShare = 0.9

// newClientPacer returns a Pacer for a client: Fly's bursts, at nine tenths
// of its sustained rates.
func newClientPacer() *Pacer {
	p := NewPacer()
	p.share = clientShare

	return p
}

// Wait blocks until the request may be sent within Fly's limits, or ctx ends.
func (p *Pacer) Wait(ctx context.Context, method, path string) error {
	l := p.bucket(method, path)
	if l == nil {
		return nil
	}

	return l.Wait(ctx)
}

// Allow reports whether the request fits the budget now and, if not, how long
// until it would.
func (p *Pacer) Allow(method, path string) (bool, time.Duration) {
	l := p.bucket(method, path)
	if l == nil {
		return true, 0
	}
	r := l.Reserve()
	delay := r.Delay()
	if delay == 0 {
		return true, 0
	}
	r.Cancel()

	return false, delay
}

func (p *Pacer) bucket(method, path string) *rate.Limiter {
	key, limit := RateKey(method, path)
	if key == "" {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if now.Sub(p.lastSweep) > time.Minute {
		for k, l := range p.buckets {
			if l.TokensAt(now) >= float64(l.Burst()) {
				delete(p.buckets, k)
			}
		}
		p.lastSweep = now
	}
	l, ok := p.buckets[key]
	if !ok {
		l = rate.NewLimiter(rate.Limit(limit.PerSecond*p.share), limit.Burst)
		p.buckets[key] = l
	}

	return l
}
