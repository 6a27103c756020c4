package store

import (
	"encoding/json"
	"fmt"
	"slices"
)

var (
	statuses = []string{
		StatusCreating, StatusRunning, StatusStopped, StatusPaused, StatusError, StatusDeleting,
	}
	actors          = []string{ActorUser, ActorPolicy, ActorAgent, ActorSystem}
	snapshotReasons = []string{SnapshotPause, SnapshotManual}
	outcomes        = []string{OutcomeOK, OutcomeError}
	phases          = []string{PhaseActive, PhaseWarned, PhasePaused, PhaseDeleted}
)

// oneOf reports ErrInvalid unless v is one of allowed.
func oneOf(field, v string, allowed []string) error {
	if !slices.Contains(allowed, v) {
		return fmt.Errorf("%w: %s %q is not one of %q", ErrInvalid, field, v, allowed)
	}

	return nil
}

// validJSON reports ErrInvalid unless doc is empty or a valid JSON document.
func validJSON(field string, doc json.RawMessage) error {
	if len(doc) > 0 && !json.Valid(doc) {
		return fmt.Errorf("%w: %s is not valid JSON", ErrInvalid, field)
	}

	return nil
}

func validateSandbox(sb Sandbox) error {
	if sb.Name == "" {
		return fmt.Errorf("%w: empty sandbox name", ErrInvalid)
	}
	if err := oneOf("status", sb.Status, statuses); err != nil {
		return err
	}

	return validJSON("spec", sb.Spec)
}

func validateSnapshot(s Snapshot) error {
	if s.ID == "" {
		return fmt.Errorf("%w: empty snapshot id", ErrInvalid)
	}
	if s.Sandbox == "" {
		return fmt.Errorf("%w: empty sandbox name", ErrInvalid)
	}
	if s.SizeBytes < 0 {
		return fmt.Errorf("%w: negative snapshot size", ErrInvalid)
	}

	return oneOf("reason", s.Reason, snapshotReasons)
}

func validateStatusChange(c StatusChange) error {
	if c.Sandbox == "" {
		return fmt.Errorf("%w: empty sandbox name", ErrInvalid)
	}
	if c.From != "" {
		if err := oneOf("from status", c.From, statuses); err != nil {
			return err
		}
	}
	if err := oneOf("to status", c.To, statuses); err != nil {
		return err
	}

	return oneOf("actor", c.Actor, actors)
}

func validateEvent(e Event) error {
	if e.Operation == "" {
		return fmt.Errorf("%w: empty operation", ErrInvalid)
	}
	if err := oneOf("actor", e.Actor, actors); err != nil {
		return err
	}
	if err := oneOf("outcome", e.Outcome, outcomes); err != nil {
		return err
	}
	if e.Duration < 0 {
		return fmt.Errorf("%w: negative duration", ErrInvalid)
	}

	return validJSON("args", e.Args)
}

// validateLifecycle checks what fn made of a lifecycle record: it must still belong to
// the same sandbox.
func validateLifecycle(old, lc Lifecycle) error {
	if lc.Sandbox != old.Sandbox {
		return fmt.Errorf("%w: sandbox cannot change (to %q)", ErrInvalid, lc.Sandbox)
	}
	if err := oneOf("phase", lc.Phase, phases); err != nil {
		return err
	}
	if lc.Hold != nil {
		if lc.Hold.Until.IsZero() {
			return fmt.Errorf("%w: hold has no until time", ErrInvalid)
		}
		if err := oneOf("hold actor", lc.Hold.Actor, actors); err != nil {
			return err
		}
	}

	return validJSON("policy", lc.Policy)
}

func validateTransition(t Transition) error {
	if t.Sandbox == "" {
		return fmt.Errorf("%w: empty sandbox name", ErrInvalid)
	}
	if err := oneOf("from phase", t.From, phases); err != nil {
		return err
	}
	if err := oneOf("to phase", t.To, phases); err != nil {
		return err
	}

	return oneOf("actor", t.Actor, actors)
}

// clampLimit applies DefaultLimit and MaxLimit to a requested row count.
func clampLimit(n int) int {
	if n <= 0 {
		return DefaultLimit
	}

	return min(n, MaxLimit)
}
