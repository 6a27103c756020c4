package metrics

import (
	"math"
	"slices"
)

// aggOp is an aggregation operator.
type aggOp int

const (
	aggSum aggOp = iota
	aggMin
	aggMax
	aggAvg
	aggCount
)

// aggOps maps the supported aggregation names to their operators.
var aggOps = map[string]aggOp{
	"sum": aggSum, "min": aggMin, "max": aggMax, "avg": aggAvg, "count": aggCount,
}

// group accumulates the samples of one output element of an aggregation.
type group struct {
	lbls  labels
	val   float64
	count int
}

// apply aggregates in into one sample per group, in order of first appearance.
func (a *aggregate) apply(in vector) vector {
	index := make(map[string]int)
	var groups []group
	var buf []byte
	for _, s := range in {
		buf = a.appendKey(buf[:0], s.lbls)
		i, ok := index[string(buf)]
		if !ok {
			i = len(groups)
			index[string(buf)] = i
			groups = append(groups, group{lbls: a.groupLabels(s.lbls), val: s.v})
		} else {
			groups[i].add(a.op, s.v)
		}
		groups[i].count++
	}

	out := make(vector, len(groups))
	for i, g := range groups {
		out[i] = sample{lbls: g.lbls, v: g.result(a.op)}
	}

	return out
}

// add folds v into the group; the first value is set when the group is made.
func (g *group) add(op aggOp, v float64) {
	switch op {
	case aggSum, aggAvg:
		g.val += v
	case aggMin:
		if v < g.val || math.IsNaN(g.val) {
			g.val = v
		}
	case aggMax:
		if v > g.val || math.IsNaN(g.val) {
			g.val = v
		}
	}
}

// result is the group's output value.
func (g *group) result(op aggOp) float64 {
	switch op {
	case aggAvg:
		return g.val / float64(g.count)
	case aggCount:
		return float64(g.count)
	}

	return g.val
}

// keeps reports whether the output of the aggregation keeps label name.
func (a *aggregate) keeps(name string) bool {
	_, listed := slices.BinarySearch(a.grouping, name)
	if a.without {
		return !listed && name != nameLabel
	}

	return listed
}

// appendKey appends the encoding of the group a sample with ls belongs to.
func (a *aggregate) appendKey(b []byte, ls labels) []byte {
	for _, l := range ls {
		if a.keeps(l.name) {
			b = l.appendKey(b)
		}
	}

	return b
}

// groupLabels returns the labels of the group a sample with ls belongs to.
func (a *aggregate) groupLabels(ls labels) labels {
	var out labels
	for _, l := range ls {
		if a.keeps(l.name) {
			out = append(out, l)
		}
	}

	return out
}
