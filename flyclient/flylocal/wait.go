package flylocal

import (
	"cmp"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Bounds of a wait's timeout, in seconds, and its default.
const (
	minWaitSeconds     = 1
	maxWaitSeconds     = 60
	defaultWaitSeconds = 60
)

// waitableStates are the states a wait accepts. "settled" matches any state
// that is not transient; "replaced" matches a wait on an older version.
var waitableStates = []string{
	stateStarted, stateStopped, stateSuspended, stateDestroyed, stateFailed,
	"settled", stateReplaced,
}

// settledStates are the states "settled" matches.
var settledStates = []string{
	stateCreated, stateStarted, stateStopped, stateSuspended, stateFailed, stateDestroyed,
}

// waitMachine serves GET .../machines/{machine_id}/wait?state=&timeout=
// &version=. state may repeat or be a comma list (default started); any match
// ends the wait. timeout is whole seconds, 1 to 60 (default 60); past it the
// answer is 408 deadline_exceeded. With version (or its older alias
// instance_id) naming an older instance, the machine counts as "replaced".
func (s *Server) waitMachine(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	states, err := parseWaitStates(q["state"])
	if err != nil {
		return err
	}
	timeout, err := parseWaitTimeout(q.Get("timeout"))
	if err != nil {
		return err
	}
	version := cmp.Or(q.Get("version"), q.Get("instance_id"))

	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		m, err := s.machineLocked(r)
		if err != nil {
			s.mu.Unlock()

			return err
		}
		current := m.State
		if version != "" && version != m.InstanceID {
			current = stateReplaced
		}
		if waitMatches(states, current) {
			resp := map[string]any{"ok": true, "state": current, "version": m.InstanceID}
			if len(m.Events) > 0 {
				resp["event_id"] = m.Events[0].ID
			}
			s.mu.Unlock()
			writeJSON(w, http.StatusOK, resp)

			return nil
		}
		changed := s.changed
		s.mu.Unlock()

		select {
		case <-changed:
		case <-deadline.C:
			return errDeadline("machine failed to reach desired state, %s, currently %s",
				strings.Join(states, ", "), current)
		case <-r.Context().Done():
			return nil
		case <-s.done:
			return newError(http.StatusServiceUnavailable, "flylocal is shut down")
		}
	}
}

// parseWaitStates flattens repeated and comma-separated state values and
// checks each.
func parseWaitStates(values []string) ([]string, error) {
	var states []string
	for _, v := range values {
		for st := range strings.SplitSeq(v, ",") {
			st = strings.TrimSpace(st)
			if st == "" {
				continue
			}
			if !slices.Contains(waitableStates, st) {
				return nil, errInvalid("invalid state %q, want one of %s",
					st, strings.Join(waitableStates, ", "))
			}
			states = append(states, st)
		}
	}
	if len(states) == 0 {
		states = []string{stateStarted}
	}

	return states, nil
}

// parseWaitTimeout reads the timeout query value, in whole seconds.
func parseWaitTimeout(v string) (time.Duration, error) {
	if v == "" {
		return defaultWaitSeconds * time.Second, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < minWaitSeconds || n > maxWaitSeconds {
		return 0, errInvalid("timeout must be an integer number of seconds from %d to %d, got %q",
			minWaitSeconds, maxWaitSeconds, v)
	}

	return time.Duration(n) * time.Second, nil
}

// waitMatches reports whether current satisfies any of the wanted states.
func waitMatches(want []string, current string) bool {
	for _, st := range want {
		if st == current || (st == "settled" && slices.Contains(settledStates, current)) {
			return true
		}
	}

	return false
}
