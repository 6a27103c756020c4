package metrics

import (
	"math"
	"time"
)

// window is what a range function sees of one series at one evaluation time t
// with range d.
type window struct {
	base *point  // the last sample at or before t-d, or nil when there is none
	pts  []point // the samples in (t-d, t], oldest first, never empty
	rng  time.Duration
}

// rangeFunc computes one value from a window; false means no output element.
type rangeFunc func(w window) (float64, bool)

// rangeFuncs are the functions a query may apply to a range vector.
var rangeFuncs = map[string]rangeFunc{
	"increase":        increase,
	"rate":            rate,
	"irate":           irate,
	"avg_over_time":   avgOverTime,
	"min_over_time":   minOverTime,
	"max_over_time":   maxOverTime,
	"sum_over_time":   sumOverTime,
	"count_over_time": countOverTime,
	"last_over_time":  lastOverTime,
}

// increase returns the counter increase over the window the way
// VictoriaMetrics computes it, without Prometheus's extrapolation to the window
// edges: it starts from the baseline sample when there is one, else from the
// first sample in the window, and treats any drop as a restart from zero, so
// the new value is all increase.
func increase(w window) (float64, bool) {
	prev, rest := w.pts[0], w.pts[1:]
	if w.base != nil {
		prev, rest = *w.base, w.pts
	}

	var inc float64
	for _, p := range rest {
		inc += counterDelta(prev.v, p.v)
		prev = p
	}

	return inc, true
}

// rate is increase per second of the range.
func rate(w window) (float64, bool) {
	inc, _ := increase(w)

	return inc / w.rng.Seconds(), true
}

// irate is the per-second increase between the last two samples, the earlier
// of which may be the baseline. With only one sample there is no output.
func irate(w window) (float64, bool) {
	last := w.pts[len(w.pts)-1]
	var prev point
	switch {
	case len(w.pts) >= 2:
		prev = w.pts[len(w.pts)-2]
	case w.base != nil:
		prev = *w.base
	default:
		return 0, false
	}

	return counterDelta(prev.v, last.v) / last.t.Sub(prev.t).Seconds(), true
}

// counterDelta is how much a counter grew from prev to cur, reading a drop as
// a restart from zero.
func counterDelta(prev, cur float64) float64 {
	if cur < prev {
		return cur
	}

	return cur - prev
}

func sumOverTime(w window) (float64, bool) {
	var sum float64
	for _, p := range w.pts {
		sum += p.v
	}

	return sum, true
}

func avgOverTime(w window) (float64, bool) {
	sum, _ := sumOverTime(w)

	return sum / float64(len(w.pts)), true
}

func countOverTime(w window) (float64, bool) {
	return float64(len(w.pts)), true
}

func lastOverTime(w window) (float64, bool) {
	return w.pts[len(w.pts)-1].v, true
}

func minOverTime(w window) (float64, bool) {
	v := w.pts[0].v
	for _, p := range w.pts[1:] {
		if p.v < v || math.IsNaN(v) {
			v = p.v
		}
	}

	return v, true
}

func maxOverTime(w window) (float64, bool) {
	v := w.pts[0].v
	for _, p := range w.pts[1:] {
		if p.v > v || math.IsNaN(v) {
			v = p.v
		}
	}

	return v, true
}
