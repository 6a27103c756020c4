package metrics

import (
	"regexp"
	"time"
)

// valueType is the static type of an expression.
type valueType int

const (
	typeScalar valueType = iota
	typeVector
	typeMatrix
)

// String names the type as Prometheus error messages do.
func (t valueType) String() string {
	switch t {
	case typeScalar:
		return "scalar"
	case typeVector:
		return "instant vector"
	default:
		return "range vector"
	}
}

// node is a parsed expression.
type node interface {
	valueType() valueType
}

// numberLit is a number literal.
type numberLit struct {
	v float64
}

// vectorSel is an instant vector selector such as x{a="b"}.
type vectorSel struct {
	matchers []*matcher
	name     string // fixed metric name, or "" when the name is not pinned
}

// matrixSel is a range vector selector such as x{a="b"}[5m].
type matrixSel struct {
	sel *vectorSel
	rng time.Duration
}

// call applies a range function to a range vector selector.
type call struct {
	name string
	fn   rangeFunc
	arg  *matrixSel
}

// aggregate is an aggregation such as sum by (a) (expr).
type aggregate struct {
	op       aggOp
	without  bool
	grouping []string // sorted, without duplicates
	expr     node
}

// binary is arithmetic between two expressions.
type binary struct {
	op       byte // + - * /
	lhs, rhs node
}

// negation is a unary minus.
type negation struct {
	expr node
}

func (*numberLit) valueType() valueType { return typeScalar }
func (*vectorSel) valueType() valueType { return typeVector }
func (*matrixSel) valueType() valueType { return typeMatrix }
func (*call) valueType() valueType      { return typeVector }
func (*aggregate) valueType() valueType { return typeVector }
func (n *negation) valueType() valueType {
	return n.expr.valueType()
}

func (b *binary) valueType() valueType {
	if b.lhs.valueType() == typeScalar && b.rhs.valueType() == typeScalar {
		return typeScalar
	}

	return typeVector
}

// matchType is the operator of a label matcher.
type matchType int

const (
	matchEqual matchType = iota
	matchNotEqual
	matchRegexp
	matchNotRegexp
)

// matcher is one label matcher of a selector.
type matcher struct {
	name  string
	typ   matchType
	value string
	re    *regexp.Regexp // anchored; set for the regexp types
}

// matches reports whether a label value (or "" when absent) satisfies m.
func (m *matcher) matches(v string) bool {
	switch m.typ {
	case matchEqual:
		return v == m.value
	case matchNotEqual:
		return v != m.value
	case matchRegexp:
		return m.re.MatchString(v)
	default:
		return !m.re.MatchString(v)
	}
}
