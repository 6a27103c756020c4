package sandstorm

import (
	"errors"
	"fmt"
)

// Sentinels for failures a caller can act on; errors.Is works through every
// *Error the Manager returns.
var (
	ErrNotFound     = errors.New("sandbox not found")
	ErrExists       = errors.New("sandbox already exists")
	ErrInvalidInput = errors.New("invalid input")
	ErrState        = errors.New("sandbox is not in a state that allows this")
)

// Error is a failure the caller can fix. Message says what went wrong and
// Advice what to do next; Kind is one of the sentinels above.
type Error struct {
	Kind    error
	Message string
	Advice  string
}

func (e *Error) Error() string {
	if e.Advice == "" {
		return e.Message
	}

	return e.Message + ". " + e.Advice
}

// Is reports whether target is the error's Kind.
func (e *Error) Is(target error) bool { return e.Kind == target }

func invalidf(advice, format string, args ...any) error {
	return &Error{Kind: ErrInvalidInput, Message: fmt.Sprintf(format, args...), Advice: advice}
}

func notFound(name string) error {
	return &Error{
		Kind:    ErrNotFound,
		Message: fmt.Sprintf("no sandbox named %q", name),
		Advice:  "Call sandbox_list to see the sandboxes that exist.",
	}
}

func stateError(advice, format string, args ...any) error {
	return &Error{Kind: ErrState, Message: fmt.Sprintf(format, args...), Advice: advice}
}

// StepError reports which step of a multi-step operation failed and what was
// done about the steps before it.
type StepError struct {
	Op   string
	Step string
	Err  error
	// Outcome says what state the sandbox was left in, for the caller.
	Outcome string
}

func (e *StepError) Error() string {
	msg := fmt.Sprintf("%s failed at step %q: %v", e.Op, e.Step, e.Err)
	if e.Outcome != "" {
		msg += "; " + e.Outcome
	}

	return msg
}

func (e *StepError) Unwrap() error { return e.Err }
