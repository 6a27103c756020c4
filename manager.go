package sandstorm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/longrun/sandstorm/flyclient"
	"github.com/longrun/sandstorm/store"
)

// Manager runs every sandbox operation against Fly and records what it did in
// the store. It is safe for concurrent use; operations on one sandbox are
// serialised within the process.
type Manager struct {
	fly   *flyclient.Client
	store store.Store
	cfg   Config
	log   *slog.Logger
	now   func() time.Time

	mu        sync.Mutex
	locks     map[string]*sandboxLock
	listeners []func(Change)
}

type sandboxLock struct {
	mu   sync.Mutex
	refs int
}

// New returns a Manager that drives fly and records state in st.
func New(fly *flyclient.Client, st store.Store, cfg Config) (*Manager, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("configure manager: %w", err)
	}

	return &Manager{
		fly:   fly,
		store: st,
		cfg:   cfg,
		log:   cfg.Logger,
		now:   cfg.Now,
		locks: make(map[string]*sandboxLock),
	}, nil
}

// Config returns the Manager's configuration with defaults applied.
func (m *Manager) Config() Config { return m.cfg }

// lock serialises operations on one sandbox and returns the unlock function.
func (m *Manager) lock(name string) func() {
	m.mu.Lock()
	l, ok := m.locks[name]
	if !ok {
		l = &sandboxLock{}
		m.locks[name] = l
	}
	l.refs++
	m.mu.Unlock()
	l.mu.Lock()

	return func() {
		l.mu.Unlock()
		m.mu.Lock()
		l.refs--
		if l.refs == 0 {
			delete(m.locks, name)
		}
		m.mu.Unlock()
	}
}

// audit records one operation a user asked for in the store's audit trail,
// and counts it as use of the sandbox. args must already be free of secret
// values.
func (m *Manager) audit(op, sandbox string, args any, start time.Time, err error) {
	m.auditAs(store.ActorUser, op, sandbox, args, start, err)
	if sandbox != "" && op != "delete" && op != "pause" {
		m.touch(sandbox, start)
	}
}

// auditAs records one operation by actor in the store's audit trail.
func (m *Manager) auditAs(actor, op, sandbox string, args any, start time.Time, err error) {
	raw, mErr := json.Marshal(args)
	if mErr != nil {
		raw = nil
	}
	ev := store.Event{
		At:        start,
		Sandbox:   sandbox,
		Operation: op,
		Actor:     actor,
		Args:      raw,
		Outcome:   store.OutcomeOK,
		Duration:  max(m.now().Sub(start), 0),
	}
	if err != nil {
		ev.Outcome, ev.Error = store.OutcomeError, err.Error()
	}
	// The audit write must not be lost because the caller's context ended.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if wErr := m.store.RecordEvent(ctx, ev); wErr != nil {
		m.log.Warn("record audit event", "op", op, "sandbox", sandbox, "error", wErr)
	}
}

// touch records that a tool call used the sandbox at, which keeps the idle
// policy away from it. A sandbox that does not exist (a failed create) is
// not an error.
func (m *Manager) touch(sandbox string, at time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := m.store.TouchSandbox(ctx, sandbox, at)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		m.log.Warn("record sandbox use", "sandbox", sandbox, "error", err)
	}
}

// setStatus moves a sandbox to status at a user's request and records the
// change with its reason.
func (m *Manager) setStatus(ctx context.Context, name, status, reason string) error {
	return m.setStatusBy(ctx, store.ActorUser, name, status, reason)
}

// setStatusBy is setStatus for a change made by actor.
func (m *Manager) setStatusBy(ctx context.Context, actor, name, status, reason string) error {
	var from string
	_, err := m.store.UpdateSandbox(ctx, name, func(sb *store.Sandbox) error {
		from = sb.Status
		sb.Status = status
		if status != StatusError {
			sb.LastError = ""
		} else {
			sb.LastError = reason
		}

		return nil
	})
	if err != nil {
		return fmt.Errorf("set status of %s: %w", name, err)
	}
	if from == status {
		return nil
	}
	m.notify(Change{Sandbox: name, Kind: ChangeStatus, Status: status})

	return m.store.RecordStatus(ctx, store.StatusChange{
		Sandbox: name, From: from, To: status, Actor: actor, Reason: reason, At: m.now(),
	})
}

// poll calls check until it reports done or ctx ends, waiting first, then
// half as long again each time, up to max, between calls.
func (m *Manager) poll(ctx context.Context, first, max time.Duration,
	check func() (bool, error),
) error {
	delay := first
	for {
		done, err := check()
		if err != nil || done {
			return err
		}
		if err := sleepCtx(ctx, delay); err != nil {
			return err
		}
		delay = min(delay*3/2, max)
	}
}

// sleepCtx waits for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// cleanupContext is a context for undoing work after the caller's context
// may already have ended.
func cleanupContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 2*time.Minute)
}
