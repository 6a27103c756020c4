package metrics

import (
	"fmt"
	"sort"
	"time"

	"github.com/prometheus/common/model"
)

// lookback is how far back an instant selector looks for a series' latest
// sample: Prometheus's default staleness window.
const lookback = 5 * time.Minute

// sample is one element of an instant vector during evaluation.
type sample struct {
	lbls labels
	v    float64
}

// vector is an instant vector during evaluation.
type vector []sample

// evaluator evaluates expressions against a store whose read lock the caller
// holds. It remembers which series each selector matched, so a range query
// matches labels once rather than at every step.
type evaluator struct {
	store    *Store
	selected map[*vectorSel][]*series
}

func newEvaluator(s *Store) *evaluator {
	return &evaluator{store: s, selected: make(map[*vectorSel][]*series)}
}

// scalar evaluates an expression of scalar type.
func (e *evaluator) scalar(n node) float64 {
	switch n := n.(type) {
	case *numberLit:
		return n.v
	case *negation:
		return -e.scalar(n.expr)
	case *binary:
		return arith(n.op, e.scalar(n.lhs), e.scalar(n.rhs))
	}
	panic(fmt.Sprintf("metrics: scalar evaluation of %T", n))
}

// vector evaluates an expression of instant vector type at t.
func (e *evaluator) vector(n node, t model.Time) (vector, error) {
	switch n := n.(type) {
	case *vectorSel:
		return e.instant(n, t), nil
	case *call:
		return e.rangeCall(n, t)
	case *aggregate:
		in, err := e.vector(n.expr, t)
		if err != nil {
			return nil, err
		}

		return n.apply(in), nil
	case *negation:
		in, err := e.vector(n.expr, t)
		if err != nil {
			return nil, err
		}

		return mapValues(in, func(v float64) float64 { return -v })
	case *binary:
		return e.binary(n, t)
	}
	panic(fmt.Sprintf("metrics: vector evaluation of %T", n))
}

// series returns the series sel matches, in the store's fixed order.
func (e *evaluator) series(sel *vectorSel) []*series {
	if got, ok := e.selected[sel]; ok {
		return got
	}

	var out []*series
	for _, sr := range e.store.candidates(sel.name) {
		if matchesAll(sel.matchers, sr.lbls) {
			out = append(out, sr)
		}
	}
	e.selected[sel] = out

	return out
}

func matchesAll(ms []*matcher, ls labels) bool {
	for _, m := range ms {
		if !m.matches(ls.get(m.name)) {
			return false
		}
	}

	return true
}

// instant takes each selected series' latest sample in (t-lookback, t].
func (e *evaluator) instant(sel *vectorSel, t model.Time) vector {
	var out vector
	oldest := t.Add(-lookback)
	for _, sr := range e.series(sel) {
		i := after(sr.points, t) - 1
		if i >= 0 && sr.points[i].t > oldest {
			out = append(out, sample{lbls: sr.lbls, v: sr.points[i].v})
		}
	}

	return out
}

// rangeCall applies a range function to every selected series that has a
// sample in (t-d, t]; the others produce nothing.
func (e *evaluator) rangeCall(c *call, t model.Time) (vector, error) {
	var out vector
	start := t.Add(-c.arg.rng)
	for _, sr := range e.series(c.arg.sel) {
		lo, hi := after(sr.points, start), after(sr.points, t)
		if lo == hi {
			continue
		}
		w := window{pts: sr.points[lo:hi], rng: c.arg.rng}
		if lo > 0 {
			w.base = &sr.points[lo-1]
		}
		if v, ok := c.fn(w); ok {
			out = append(out, sample{lbls: sr.noName, v: v})
		}
	}

	// Series of one metric stay distinct without __name__; others may not.
	if c.arg.sel.name == "" {
		return out, checkUnique(out)
	}

	return out, nil
}

// after returns the index of the first point later than t.
func after(pts []point, t model.Time) int {
	return sort.Search(len(pts), func(i int) bool { return pts[i].t > t })
}

// mapValues applies f to every value and drops __name__, as Prometheus does
// for arithmetic.
func mapValues(in vector, f func(float64) float64) (vector, error) {
	out := make(vector, len(in))
	mixed := false
	for i, s := range in {
		out[i] = sample{lbls: s.lbls.withoutName(), v: f(s.v)}
		mixed = mixed || s.lbls.get(nameLabel) != in[0].lbls.get(nameLabel)
	}
	if mixed {
		return out, checkUnique(out)
	}

	return out, nil
}

// checkUnique fails when two samples have the same labels, which happens
// when dropping __name__ merges series of different metrics.
func checkUnique(vec vector) error {
	seen := make(map[string]bool, len(vec))
	for _, s := range vec {
		k := s.lbls.key()
		if seen[k] {
			return &ExecutionError{Msg: fmt.Sprintf(
				"vector cannot contain metrics with the same labelset %s", s.lbls.metric())}
		}
		seen[k] = true
	}

	return nil
}
