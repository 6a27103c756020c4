package flylocal

import (
	"encoding/json"
	"net/http"
	"syscall"
	"time"
)

// forever is the grace period of a signal that must not turn into a kill.
const forever = time.Duration(1<<63 - 1)

// startMachine serves POST .../machines/{machine_id}/start, from created,
// stopped, suspended or failed. A suspended machine boots afresh: flylocal
// keeps no memory image.
func (s *Server) startMachine(w http.ResponseWriter, r *http.Request) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.guardedMachineLocked(r)
	if err != nil {
		return err
	}
	prev := m.State
	switch prev {
	case stateCreated, stateStopped, stateSuspended, stateFailed:
	case stateStarted:
		return errPrecondition("machine still active, refusing to start")
	case stateReplacing:
		return errPrecondition("machine getting replaced, refusing to start")
	default:
		return errPrecondition("unable to start machine from current state: '%s'", prev)
	}
	if err := s.checkLaunchable(); err != nil {
		return err
	}

	m.RestartCount = 0
	s.launchLocked(m, "user", 0)
	if err := s.db.put(kindMachines, m.ID, m); err != nil {
		return err
	}
	s.notifyLocked()
	writeJSON(w, http.StatusOK, map[string]any{
		"previous_state": prev, "migrated": false, "new_host": "",
	})

	return nil
}

// stopRequest is the optional body of stop. Signal is a name or a number;
// Timeout a Go duration string or a number.
type stopRequest struct {
	Signal  json.RawMessage `json:"signal"`
	Timeout json.RawMessage `json:"timeout"`
}

// stopMachine serves POST .../machines/{machine_id}/stop. It answers once the
// stop is under way ("stopping"); the machine turns "stopped" when its process
// has exited, after the signal or, past the grace period, SIGKILL. Stopping a
// machine that is not running succeeds and changes nothing, except that a
// suspended machine becomes stopped.
func (s *Server) stopMachine(w http.ResponseWriter, r *http.Request) error {
	var req stopRequest
	if err := decodeBody(r, &req, true); err != nil {
		return err
	}
	sig, err := parseSignal(req.Signal)
	if err != nil {
		return err
	}
	grace, err := parseDuration(req.Timeout)
	if err != nil {
		return err
	}

	return s.stopAs(w, r, intentStop, sig, grace)
}

// suspendMachine serves POST .../machines/{machine_id}/suspend. flylocal
// cannot snapshot memory, so a suspend is a stop that ends in "suspended";
// the next start boots afresh.
func (s *Server) suspendMachine(w http.ResponseWriter, r *http.Request) error {
	return s.stopAs(w, r, intentSuspend, 0, 0)
}

// stopAs stops the machine of r with intent intentStop or intentSuspend.
func (s *Server) stopAs(w http.ResponseWriter, r *http.Request, in intent,
	sig syscall.Signal, grace time.Duration,
) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.guardedMachineLocked(r)
	if err != nil {
		return err
	}
	rt := s.runtimeLocked(m.ID)
	typ, transient, final := "stop", stateStopping, stateStopped
	if in == intentSuspend {
		typ, transient, final = "suspend", stateSuspending, stateSuspended
	}

	switch {
	case rt.proc != nil && rt.intent == intentDestroy:
		return errPrecondition("machine is being destroyed")
	case rt.proc != nil:
		rt.intent = in
		s.setStateLocked(m, transient)
		s.addEventLocked(m, typ, transient, "user", nil)
		sig, grace = s.stopSettings(m, sig, grace)
		s.stopProcLocked(rt, sig, grace)
	case m.State == stateStarting:
		rt.gen++
		s.setStateLocked(m, final)
		s.addEventLocked(m, typ, final, "user", nil)
	case in == intentSuspend:
		return errPrecondition("machine is %s, only a started machine can be suspended", m.State)
	case m.State == stateSuspended:
		s.setStateLocked(m, stateStopped)
		s.addEventLocked(m, typ, stateStopped, "user", nil)
	default:
		writeJSON(w, http.StatusOK, ok{OK: true})

		return nil
	}
	if err := s.db.put(kindMachines, m.ID, m); err != nil {
		return err
	}
	s.notifyLocked()
	writeJSON(w, http.StatusOK, ok{OK: true})

	return nil
}

// restartMachine serves POST .../machines/{machine_id}/restart?signal=&timeout=
// &force_stop=: the process is stopped (killed with force_stop=true) and the
// machine boots again, "restarting" then "starting" then "started".
func (s *Server) restartMachine(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	sig, err := parseSignal(json.RawMessage(q.Get("signal")))
	if err != nil {
		return err
	}
	grace, err := parseDuration(json.RawMessage(q.Get("timeout")))
	if err != nil {
		return err
	}
	if q.Get("force_stop") == "true" {
		sig = syscall.SIGKILL
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.guardedMachineLocked(r)
	if err != nil {
		return err
	}
	rt := s.runtimeLocked(m.ID)
	if rt.proc == nil || m.State != stateStarted {
		return errPrecondition("machine is %s, only a started machine can be restarted", m.State)
	}

	rt.intent = intentRelaunch
	m.RestartCount = 0
	s.setStateLocked(m, stateRestarting)
	s.addEventLocked(m, "restart", stateRestarting, "user", nil)
	sig, grace = s.stopSettings(m, sig, grace)
	s.stopProcLocked(rt, sig, grace)
	if err := s.db.put(kindMachines, m.ID, m); err != nil {
		return err
	}
	s.notifyLocked()
	writeJSON(w, http.StatusOK, ok{OK: true})

	return nil
}

// signalMachine serves POST .../machines/{machine_id}/signal with
// {"signal": "SIGUSR1"} or {"signal": 9}. The signal goes to the main
// process; if it ends it, the exit counts as one nobody asked for, so the
// restart policy applies.
func (s *Server) signalMachine(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Signal json.RawMessage `json:"signal"`
	}
	if err := decodeBody(r, &req, false); err != nil {
		return err
	}
	sig, err := parseSignal(req.Signal)
	if err != nil {
		return err
	}
	if sig == 0 {
		return errInvalid("signal is required")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.guardedMachineLocked(r)
	if err != nil {
		return err
	}
	rt := s.runtimeLocked(m.ID)
	if rt.proc == nil {
		return errPrecondition("machine is %s, only a started machine can be signalled", m.State)
	}
	// Stop with an endless grace period delivers the signal and never kills;
	// its goroutine ends when the process does, whatever ends it.
	s.stopProcLocked(rt, sig, forever)
	s.addEventLocked(m, "signal", m.State, "user", map[string]int{"signal": int(sig)})
	s.saveLocked(kindMachines, m.ID, m)
	writeJSON(w, http.StatusOK, ok{OK: true})

	return nil
}
