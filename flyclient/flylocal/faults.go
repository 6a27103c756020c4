package flylocal

import (
	"io"
	mathrand "math/rand/v2"
	"net"
	"net/http"
	"slices"
)

// Fault is a failure injected into the requests of one route, for tests of
// retries and error handling. A fault applies before authentication and rate
// limits, and the request still counts in RequestCounts.
type Fault struct {
	// Route is the route pattern to hit, in the form RequestCounts uses,
	// e.g. "GET /v1/apps/{app_name}/machines/{machine_id}". Empty matches
	// every request.
	Route string

	// Status and Body form the answer. Status defaults to 500 and Body to
	// {"error":"injected fault"}.
	Status int
	Body   string

	// Reset drops the connection without an answer: the client sees a
	// connection reset.
	Reset bool

	// Hang blocks the request until the client gives up or the server closes,
	// then drops the connection.
	Hang bool

	// Nth limits the fault to the nth matching request, counted from 1 since
	// the fault was injected. Zero means every matching request.
	Nth int

	// Probability is the chance that a matching request fails. Zero means
	// always.
	Probability float64

	// Times caps how often the fault fires. Zero means no cap.
	Times int
}

// faultState is an injected Fault and its counters, guarded by Server.knobMu.
type faultState struct {
	Fault
	matched int
	fired   int
}

// InjectFault adds f and returns a function that removes it. When several
// faults match a request, the earliest injected one that fires wins.
func (s *Server) InjectFault(f Fault) (remove func()) {
	fs := &faultState{Fault: f}
	s.knobMu.Lock()
	s.faults = append(s.faults, fs)
	s.knobMu.Unlock()

	return func() {
		s.knobMu.Lock()
		defer s.knobMu.Unlock()
		s.faults = slices.DeleteFunc(s.faults, func(x *faultState) bool { return x == fs })
	}
}

// pickFault returns the fault that fires for a request to pattern, or nil.
// Every matching fault counts the request, whether or not it fires.
func (s *Server) pickFault(pattern string) *Fault {
	s.knobMu.Lock()
	defer s.knobMu.Unlock()

	var chosen *Fault
	for _, fs := range s.faults {
		if fs.Route != "" && fs.Route != pattern {
			continue
		}
		fs.matched++
		switch {
		case chosen != nil:
		case fs.Nth > 0 && fs.matched != fs.Nth:
		case fs.Times > 0 && fs.fired >= fs.Times:
		case fs.Probability > 0 && mathrand.Float64() >= fs.Probability:
		default:
			fs.fired++
			f := fs.Fault
			chosen = &f
		}
	}

	return chosen
}

// applyFault injects the fault that fires for this request, if any, and
// reports whether it did.
func (s *Server) applyFault(pattern string, w http.ResponseWriter, r *http.Request) bool {
	f := s.pickFault(pattern)
	if f == nil {
		return false
	}
	s.log.Debug("injecting fault", "route", pattern, "path", r.URL.Path)

	switch {
	case f.Hang:
		// Reading the whole body lets net/http notice when the client hangs
		// up; a handler that leaves a body unread never sees the disconnect.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-s.done:
		}
		panic(http.ErrAbortHandler)
	case f.Reset:
		resetConnection(w)
	default:
		status, body := f.Status, f.Body
		if status == 0 {
			status = http.StatusInternalServerError
		}
		if body == "" {
			body = `{"error":"injected fault"}`
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}

	return true
}

// resetConnection closes the client's connection with a TCP reset where it
// can, and aborts the request otherwise.
func resetConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	_ = conn.Close()
}
