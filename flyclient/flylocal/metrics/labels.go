package metrics

import (
	"cmp"
	"slices"
	"strings"

	"github.com/prometheus/common/model"
)

// nameLabel is the label that carries a series' metric name.
const nameLabel = model.MetricNameLabel

// keySep separates names and values in a label key; it cannot occur in valid
// UTF-8 text.
const keySep = '\xff'

// label is one name/value pair of a series.
type label struct {
	name, value string
}

// labels is a label set sorted by name, without empty values. A labels value
// is never modified once built, so evaluation shares slices freely.
type labels []label

// newLabels builds the label set of a series named name. A __name__ entry in
// m is overridden by a non-empty name; empty values are dropped, since
// Prometheus treats an empty label as an absent one.
func newLabels(name string, m map[string]string) labels {
	ls := make(labels, 0, len(m)+1)
	for k, v := range m {
		if v != "" && (k != nameLabel || name == "") {
			ls = append(ls, label{name: k, value: v})
		}
	}
	if name != "" {
		ls = append(ls, label{name: nameLabel, value: name})
	}
	slices.SortFunc(ls, func(a, b label) int { return strings.Compare(a.name, b.name) })

	return ls
}

// get returns the value of the named label, or "" when it is absent.
func (ls labels) get(name string) string {
	for _, l := range ls {
		if l.name == name {
			return l.value
		}
	}

	return ""
}

// withoutName returns ls without __name__, reusing ls when it has none.
func (ls labels) withoutName() labels {
	i := slices.IndexFunc(ls, func(l label) bool { return l.name == nameLabel })
	if i < 0 {
		return ls
	}
	out := make(labels, 0, len(ls)-1)
	out = append(out, ls[:i]...)

	return append(out, ls[i+1:]...)
}

// appendKey appends an encoding of ls that is equal for equal label sets.
func (ls labels) appendKey(b []byte) []byte {
	for _, l := range ls {
		b = l.appendKey(b)
	}

	return b
}

// appendKey appends the encoding of one label used by labels.appendKey.
func (l label) appendKey(b []byte) []byte {
	b = append(b, l.name...)
	b = append(b, keySep)
	b = append(b, l.value...)

	return append(b, keySep)
}

// key returns appendKey's encoding as a string.
func (ls labels) key() string {
	return string(ls.appendKey(make([]byte, 0, 64)))
}

// hasAll reports whether every pair of match is among ls.
func (ls labels) hasAll(match map[string]string) bool {
	for k, v := range match {
		if ls.get(k) != v {
			return false
		}
	}

	return true
}

// metric converts ls to the model type used in results.
func (ls labels) metric() model.Metric {
	m := make(model.Metric, len(ls))
	for _, l := range ls {
		m[model.LabelName(l.name)] = model.LabelValue(l.value)
	}

	return m
}

// compareLabels orders label sets exactly as model.LabelSet.Before does:
// fewer labels first, then by the first differing pair in name order, where
// the set lacking that name sorts first.
func compareLabels(a, b labels) int {
	if len(a) != len(b) {
		return cmp.Compare(len(a), len(b))
	}
	for i := range a {
		switch {
		case a[i].name < b[i].name:
			return 1
		case a[i].name > b[i].name:
			return -1
		}
		if c := strings.Compare(a[i].value, b[i].value); c != 0 {
			return c
		}
	}

	return 0
}
