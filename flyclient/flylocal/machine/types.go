package machine

import (
	"errors"
	"io"
	"time"
)

// ErrNotRunning reports an operation on a machine that has exited or is exiting.
var ErrNotRunning = errors.New("machine not running")

// Mount makes the host directory HostDir writable inside a machine at Path.
type Mount struct {
	HostDir string // existing host directory
	Path    string // absolute path inside the machine, such as /data
}

// Spec describes a machine to start.
type Spec struct {
	ID     string // machine id; the hostname inside and part of error messages
	RunDir string // host dir for private runtime files; created by Start, removed on exit
	Argv   []string
	Env    map[string]string
	Mounts []Mount

	// Stdout and Stderr receive the main process's output. Nil discards it.
	Stdout io.Writer
	Stderr io.Writer
}

// ExecRequest is a command to run inside a running machine.
type ExecRequest struct {
	Argv    []string
	Env     map[string]string // merged over Spec.Env; these values win
	Dir     string            // working directory inside the machine; "/" when empty
	Stdin   []byte
	Timeout time.Duration // 0 runs until ctx ends
}

// ExecResult is how an exec command ended and what it wrote. A command killed by a
// signal has Signal set and ExitCode 128+Signal, as a shell reports it.
type ExecResult struct {
	Stdout, Stderr []byte
	ExitCode       int
	Signal         int  // signal that ended the command, 0 if none
	TimedOut       bool // the timeout expired and the command's process group was killed
}
