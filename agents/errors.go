package agents

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinels for failures a caller can act on; errors.Is works through every
// error the package returns.
var (
	// ErrUnknownAgent marks an id that no registered agent has.
	ErrUnknownAgent = errors.New("unknown coding agent")
	// ErrInvalidInput marks a prompt, option, persona path or agent
	// definition that cannot be used as given.
	ErrInvalidInput = errors.New("invalid input")
	// ErrUnsupported marks a headless option the agent's CLI does not have.
	ErrUnsupported = errors.New("not supported by this agent")
)

// UnknownAgentError reports an id that no registered agent has, with the ids
// that do exist and, where it helps, advice for whoever configures the
// server.
type UnknownAgentError struct {
	ID     string
	Known  []string
	Advice string
}

func (e *UnknownAgentError) Error() string {
	msg := fmt.Sprintf("unknown coding agent %q; known agents: %s",
		e.ID, strings.Join(e.Known, ", "))
	if e.Advice == "" {
		return msg
	}

	return msg + ". " + e.Advice
}

// Is reports whether target is ErrUnknownAgent.
func (e *UnknownAgentError) Is(target error) bool { return target == ErrUnknownAgent }
