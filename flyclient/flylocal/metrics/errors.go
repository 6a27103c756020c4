package metrics

import (
	"fmt"
	"strings"
)

// ParseError reports a query that flylocal cannot parse, either because it is
// malformed or because it uses PromQL that flylocal does not implement. The
// HTTP handler answers it with 400 and errorType bad_data.
type ParseError struct {
	Line   int // 1-based
	Column int // 1-based, in bytes
	Msg    string
}

// Error formats the error the way Prometheus does: "1:7: parse error: ...".
func (e *ParseError) Error() string {
	return fmt.Sprintf("%d:%d: parse error: %s", e.Line, e.Column, e.Msg)
}

// newParseError returns a ParseError at byte offset pos of input.
func newParseError(input string, pos int, format string, args ...any) *ParseError {
	pos = min(max(pos, 0), len(input))
	before := input[:pos]
	line := strings.Count(before, "\n") + 1
	col := pos - strings.LastIndexByte(before, '\n')

	return &ParseError{Line: line, Column: col, Msg: fmt.Sprintf(format, args...)}
}

// ExecutionError reports a well-formed query whose evaluation failed, for
// example arithmetic between vectors whose label sets repeat on one side. The
// HTTP handler answers it with 422 and errorType execution.
type ExecutionError struct {
	Msg string
}

// Error returns the message.
func (e *ExecutionError) Error() string {
	return e.Msg
}
