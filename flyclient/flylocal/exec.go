package flylocal

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/longrun/sandstorm/flyclient/flylocal/machine"
)

// maxExecTimeout is Fly's practical exec window: the proxy in front of the
// Machines API gives up on requests at about a minute.
const maxExecTimeout = 60 * time.Second

// execRequest is the body of POST .../exec: an argv in command, or the
// deprecated cmd string, split on whitespace without any shell.
type execRequest struct {
	Command []string `json:"command"`
	Cmd     string   `json:"cmd"`
	Timeout int      `json:"timeout"` // seconds
	Stdin   string   `json:"stdin"`
}

// execResponse is the answer of exec.
type execResponse struct {
	Stdout     string `json:"stdout"`
	Stderr     string `json:"stderr"`
	ExitCode   int    `json:"exit_code"`
	ExitSignal int    `json:"exit_signal"`
}

// execMachine serves POST .../machines/{machine_id}/exec. The machine must be
// started (else 412). The command runs inside the machine with its
// environment; timeout (seconds, default and cap 60) kills it and answers 408
// deadline_exceeded. Output is returned as JSON strings, so bytes that are not
// UTF-8 do not survive: encode binary output inside the command.
func (s *Server) execMachine(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	var req execRequest
	if err := decodeJSON(body, &req, false); err != nil {
		return err
	}
	argv := req.Command
	if len(argv) == 0 {
		argv = strings.Fields(req.Cmd)
	}
	if len(argv) == 0 {
		return errInvalid("command is required")
	}
	if req.Timeout < 0 {
		return errInvalid("timeout must not be negative")
	}
	timeout := maxExecTimeout
	if req.Timeout > 0 {
		timeout = min(time.Duration(req.Timeout)*time.Second, maxExecTimeout)
	}

	s.mu.Lock()
	m, err := s.guardedMachineLocked(r)
	if err != nil {
		s.mu.Unlock()

		return err
	}
	rt := s.runtimeLocked(m.ID)
	proc := rt.proc
	if proc == nil || m.State != stateStarted {
		s.mu.Unlock()

		return errPrecondition("machine %s is %s, exec needs a started machine", m.ID, m.State)
	}
	s.mu.Unlock()

	res, err := proc.Exec(r.Context(), machine.ExecRequest{
		Argv:    argv,
		Stdin:   []byte(req.Stdin),
		Timeout: timeout,
	})
	switch {
	case r.Context().Err() != nil:
		return nil // the client is gone
	case errors.Is(err, machine.ErrNotRunning):
		return errPrecondition("machine %s stopped while the command ran", m.ID)
	case err != nil:
		return errInvalid("%v", err)
	}

	resp := execResponse{
		Stdout:     string(res.Stdout),
		Stderr:     string(res.Stderr),
		ExitCode:   res.ExitCode,
		ExitSignal: res.Signal,
	}
	out, err := json.Marshal(resp)
	if err != nil {
		return err
	}
	recv := len(body) + len(req.Stdin)
	for _, a := range argv {
		recv += len(a)
	}
	s.countBytes(m.ID, recv, len(res.Stdout)+len(res.Stderr)+len(out))

	if res.TimedOut {
		return errDeadline("command did not finish within %s", timeout)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(out, '\n'))

	return nil
}
