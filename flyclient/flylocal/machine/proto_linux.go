package machine

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
)

// The parent and the init talk over two kinds of unix socket. One SOCK_SEQPACKET control
// socket per machine carries ctlMsg values as JSON, one per packet; an exec message also
// carries, as SCM_RIGHTS, one end of a fresh stream socket that serves that exec alone.
// On an exec socket the parent sends one request frame, then nothing until it shuts its
// write side to cancel; the init sends stdout and stderr frames, then one result frame.

// Control operations.
const (
	opReady  = "ready"  // init to parent: mounts ready, main process started
	opFailed = "failed" // init to parent: setup failed, Error says why
	opExit   = "exit"   // init to parent: the main process ended with Code and Signal
	opExec   = "exec"   // parent to init: serve the attached exec socket
	opSignal = "signal" // parent to init: send Signal to the main process
)

// ctlMsg is one control packet.
type ctlMsg struct {
	Op     string `json:"op"`
	Error  string `json:"error,omitempty"`
	Code   int    `json:"code,omitempty"`
	Signal int    `json:"signal,omitempty"`
}

// ctlMsgMax bounds a control packet; messages are small JSON objects.
const ctlMsgMax = 64 << 10

// initConfig is what the parent sends the init over its config pipe.
type initConfig struct {
	ID     string            `json:"id"`
	Root   string            `json:"root"` // host directory to build the new root on
	Argv   []string          `json:"argv"`
	Env    map[string]string `json:"env"`
	Mounts []Mount           `json:"mounts"`
}

// Exec frame kinds.
const (
	frameRequest = 'q' // JSON ExecRequest
	frameStdout  = 'o'
	frameStderr  = 'e'
	frameResult  = 'r' // JSON execOutcome, always last
)

// frameMax bounds a frame; the request frame carries stdin, so it is generous.
const frameMax = 256 << 20

// execOutcome is the result frame. Error reports a request the init could not run,
// such as a missing working directory; the command never started then.
type execOutcome struct {
	ExitCode int    `json:"exit_code"`
	Signal   int    `json:"signal,omitempty"`
	TimedOut bool   `json:"timed_out,omitempty"`
	Canceled bool   `json:"canceled,omitempty"`
	Error    string `json:"error,omitempty"`
}

// writeFrame writes a kind byte, a big-endian length and the payload in one Write.
func writeFrame(w io.Writer, kind byte, payload []byte) error {
	buf := make([]byte, 5+len(payload))
	buf[0] = kind
	binary.BigEndian.PutUint32(buf[1:5], uint32(len(payload)))
	copy(buf[5:], payload)
	_, err := w.Write(buf)

	return err
}

// readFrame reads one frame written by writeFrame.
func readFrame(r *bufio.Reader) (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > frameMax {
		return 0, nil, fmt.Errorf("read frame: %d bytes is over the %d limit", n, frameMax)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, fmt.Errorf("read frame: %w", err)
	}

	return hdr[0], payload, nil
}
