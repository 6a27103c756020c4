package metrics

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/prometheus/common/model"
)

// maxPoints is the most steps a range query may have, as in Prometheus.
const maxPoints = 11000

// Query evaluates expr at one instant, as GET /api/v1/query does. It returns a
// model.Vector sorted by label set, a *model.Scalar, or for a bare range
// selector a model.Matrix of the raw samples. Errors are *ParseError for a
// query flylocal cannot parse and *ExecutionError for one that fails.
func (s *Store) Query(expr string, at time.Time) (model.Value, error) {
	n, err := parse(expr)
	if err != nil {
		return nil, err
	}
	t := model.Time(at.UnixMilli())

	s.mu.RLock()
	defer s.mu.RUnlock()
	e := newEvaluator(s)

	switch n.valueType() {
	case typeScalar:
		return &model.Scalar{Value: model.SampleValue(e.scalar(n)), Timestamp: t}, nil
	case typeMatrix:
		return e.raw(n.(*matrixSel), t), nil
	}
	vec, err := e.vector(n, t)
	if err != nil {
		return nil, err
	}

	return toModelVector(vec, t), nil
}

// QueryRange evaluates expr at start, start+step, ... up to end, as GET
// /api/v1/query_range does, and returns a model.Matrix sorted by label set
// with one stream per label set that has a value at any step. A scalar query
// gives one stream with no labels. It rejects a step that is not positive, an
// end before start and more than 11,000 steps, with Prometheus's messages.
func (s *Store) QueryRange(
	expr string,
	start, end time.Time,
	step time.Duration,
) (model.Value, error) {
	from := model.Time(start.UnixMilli())
	to := model.Time(end.UnixMilli())
	stepMs := int64(step / time.Millisecond)
	switch {
	case stepMs <= 0:
		return nil, errors.New("zero or negative query resolution step widths are not " +
			"accepted. Try a positive integer")
	case to < from:
		return nil, errors.New("end timestamp must not be before start time")
	case int64(to-from)/stepMs > maxPoints:
		return nil, errors.New("exceeded maximum resolution of 11,000 points per " +
			"timeseries. Try decreasing the query resolution (?step=XX)")
	}
	n, err := parse(expr)
	if err != nil {
		return nil, err
	}
	if typ := n.valueType(); typ == typeMatrix {
		return nil, fmt.Errorf("invalid expression type %q for range query, "+
			"must be scalar or instant vector", typ)
	}

	s.mu.RLock()
	defer s.mu.RUnlock()

	return newEvaluator(s).steps(n, from, to, stepMs)
}

// stream is one output series of a range query while it is being built.
type stream struct {
	lbls   labels
	values []model.SamplePair
}

// steps evaluates n at every step and collects the values per label set.
func (e *evaluator) steps(n node, from, to model.Time, stepMs int64) (model.Matrix, error) {
	var order []*stream
	streams := make(map[string]*stream)
	var buf []byte
	add := func(ls labels, t model.Time, v float64) {
		buf = ls.appendKey(buf[:0])
		st := streams[string(buf)]
		if st == nil {
			st = &stream{lbls: ls}
			streams[string(buf)] = st
			order = append(order, st)
		}
		pair := model.SamplePair{Timestamp: t, Value: model.SampleValue(v)}
		st.values = append(st.values, pair)
	}

	for t := from; t <= to; t += model.Time(stepMs) {
		if n.valueType() == typeScalar {
			add(nil, t, e.scalar(n))

			continue
		}
		vec, err := e.vector(n, t)
		if err != nil {
			return nil, err
		}
		for _, s := range vec {
			add(s.lbls, t, s.v)
		}
	}

	return toModelMatrix(order), nil
}

// raw returns the samples of each selected series in (t-d, t].
func (e *evaluator) raw(m *matrixSel, t model.Time) model.Matrix {
	var order []*stream
	start := t.Add(-m.rng)
	for _, sr := range e.series(m.sel) {
		pts := sr.points[after(sr.points, start):after(sr.points, t)]
		if len(pts) == 0 {
			continue
		}
		st := &stream{lbls: sr.lbls, values: make([]model.SamplePair, len(pts))}
		for i, p := range pts {
			st.values[i] = model.SamplePair{Timestamp: p.t, Value: model.SampleValue(p.v)}
		}
		order = append(order, st)
	}

	return toModelMatrix(order)
}

// toModelMatrix sorts streams by label set and converts them.
func toModelMatrix(streams []*stream) model.Matrix {
	slices.SortFunc(streams, func(a, b *stream) int { return compareLabels(a.lbls, b.lbls) })
	out := make(model.Matrix, len(streams))
	for i, st := range streams {
		out[i] = &model.SampleStream{Metric: st.lbls.metric(), Values: st.values}
	}

	return out
}

// toModelVector sorts vec by label set and converts it, stamping every
// sample with the evaluation time as Prometheus does.
func toModelVector(vec vector, t model.Time) model.Vector {
	slices.SortFunc(vec, func(a, b sample) int { return compareLabels(a.lbls, b.lbls) })
	out := make(model.Vector, len(vec))
	for i, s := range vec {
		out[i] = &model.Sample{Metric: s.lbls.metric(), Value: model.SampleValue(s.v), Timestamp: t}
	}

	return out
}
