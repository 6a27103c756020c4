package metrics

import (
	"fmt"

	"github.com/prometheus/common/model"
)

// arith applies a binary operator to two numbers.
func arith(op byte, a, b float64) float64 {
	switch op {
	case '+':
		return a + b
	case '-':
		return a - b
	case '*':
		return a * b
	default:
		return a / b
	}
}

// binary evaluates arithmetic with at least one vector side.
func (e *evaluator) binary(b *binary, t model.Time) (vector, error) {
	switch {
	case b.lhs.valueType() == typeScalar:
		x := e.scalar(b.lhs)
		in, err := e.vector(b.rhs, t)
		if err != nil {
			return nil, err
		}

		return mapValues(in, func(v float64) float64 { return arith(b.op, x, v) })
	case b.rhs.valueType() == typeScalar:
		x := e.scalar(b.rhs)
		in, err := e.vector(b.lhs, t)
		if err != nil {
			return nil, err
		}

		return mapValues(in, func(v float64) float64 { return arith(b.op, v, x) })
	}

	lhs, err := e.vector(b.lhs, t)
	if err != nil {
		return nil, err
	}
	rhs, err := e.vector(b.rhs, t)
	if err != nil {
		return nil, err
	}

	return matchOneToOne(b.op, lhs, rhs)
}

// matchOneToOne pairs samples whose labels other than __name__ are equal and
// applies op to each pair; unpaired samples are dropped. Output labels are
// the left side's without __name__.
func matchOneToOne(op byte, lhs, rhs vector) (vector, error) {
	right := make(map[string]float64, len(rhs))
	for _, s := range rhs {
		k := s.lbls.withoutName().key()
		if _, dup := right[k]; dup {
			return nil, duplicateError("right", s.lbls)
		}
		right[k] = s.v
	}

	var out vector
	matched := make(map[string]bool)
	for _, s := range lhs {
		ls := s.lbls.withoutName()
		k := ls.key()
		rv, ok := right[k]
		if !ok {
			continue
		}
		if matched[k] {
			return nil, duplicateError("left", s.lbls)
		}
		matched[k] = true
		out = append(out, sample{lbls: ls, v: arith(op, s.v, rv)})
	}

	return out, nil
}

func duplicateError(side string, ls labels) error {
	return &ExecutionError{Msg: fmt.Sprintf("found duplicate series for the match group %s "+
		"on the %s hand-side of the operation; many-to-many matching is not supported",
		ls.withoutName().metric(), side)}
}
