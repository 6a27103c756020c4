//go:build !linux

package machine

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"syscall"
	"time"
)

var errUnsupported = fmt.Errorf(
	"flylocal machines need Linux namespaces; this is %s", runtime.GOOS)

// Supported reports that machines cannot run on this operating system.
func Supported() error { return errUnsupported }

// Start fails: machines run only on Linux.
func Start(spec Spec) (*Machine, error) {
	return nil, fmt.Errorf("start machine %s: %w", spec.ID, errUnsupported)
}

// Machine is a started machine; on this operating system none can exist.
type Machine struct{}

// Exec fails with ErrNotRunning.
func (m *Machine) Exec(ctx context.Context, req ExecRequest) (ExecResult, error) {
	return ExecResult{}, errors.Join(ErrNotRunning, errUnsupported)
}

// Stop does nothing.
func (m *Machine) Stop(sig syscall.Signal, grace time.Duration) error { return nil }

// Kill does nothing.
func (m *Machine) Kill() error { return nil }

// Done returns a closed channel.
func (m *Machine) Done() <-chan struct{} {
	ch := make(chan struct{})
	close(ch)

	return ch
}

// ExitStatus returns zeros.
func (m *Machine) ExitStatus() (code, signal int) { return 0, 0 }

// CPUTime returns 0.
func (m *Machine) CPUTime() time.Duration { return 0 }

// Pid returns 0.
func (m *Machine) Pid() int { return 0 }
