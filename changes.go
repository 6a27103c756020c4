package sandstorm

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Kinds of Change.
const (
	ChangeCreated = "created"
	ChangeDeleted = "deleted"
	ChangeStatus  = "status"
	ChangeSession = "session"
	// ChangeLifecycle is an action of the idle policy, described in
	// Change.Lifecycle.
	ChangeLifecycle = "lifecycle"
)

// Change is something the Manager did to a sandbox: created or deleted it,
// moved its status, started or stopped one of its sessions, or acted on it
// by the idle policy.
type Change struct {
	Sandbox   string
	Kind      string
	Status    string
	Lifecycle *LifecycleAction
}

// OnChange registers fn to be called after every change the Manager makes.
// fn runs on the goroutine that made the change and must not block.
func (m *Manager) OnChange(fn func(Change)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.listeners = append(m.listeners, fn)
}

func (m *Manager) notify(c Change) {
	m.mu.Lock()
	ls := m.listeners
	m.mu.Unlock()
	for _, fn := range ls {
		fn(c)
	}
}

// SessionProbe is a session's state as read from its machine.
type SessionProbe struct {
	// State is "running", "exit" or "lost".
	State    string `json:"state"`
	ExitCode int    `json:"exit_code"`
	LogSize  int64  `json:"log_size"`
}

// ProbeSessions reads the state and log size of sessions of one running
// sandbox with a single exec, for watching many logs cheaply.
func (m *Manager) ProbeSessions(ctx context.Context, sandbox string, ids []string,
) (map[string]SessionProbe, error) {
	t, err := m.running(ctx, sandbox)
	if err != nil {
		return nil, err
	}
	known, prefixes := m.sessionFiles(ctx, sandbox, ids)
	if len(known) == 0 {
		return map[string]SessionProbe{}, nil
	}
	text, err := m.plain(ctx, t, probeSessions, prefixes...)
	if err != nil {
		return nil, err
	}

	return probesOf(known, text)
}

// sessionFiles returns the ids among ids that the sandbox has, and the path
// prefixes of their files, in the same order.
func (m *Manager) sessionFiles(ctx context.Context, sandbox string, ids []string,
) (known, prefixes []string) {
	for _, id := range ids {
		rec, err := m.store.GetSession(ctx, sandbox, id)
		if err != nil {
			continue
		}
		known = append(known, id)
		prefixes = append(prefixes, strings.TrimSuffix(rec.LogPath, ".log"))
	}

	return known, prefixes
}

// probesOf reads one state line per session in known from out.
func probesOf(known []string, out string) (map[string]SessionProbe, error) {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(known) {
		return nil, fmt.Errorf("probe sessions: %d answers for %d sessions", len(lines), len(known))
	}
	probes := make(map[string]SessionProbe, len(known))
	for i, line := range lines {
		p, err := parseProbe(line)
		if err != nil {
			return nil, err
		}
		probes[known[i]] = p
	}

	return probes, nil
}

// watchSessions waits up to $1 seconds until the state lines of the session
// prefixes that follow differ from the lines given on stdin, then prints them.
const watchSessions = sessionState + `
w=$1; shift
want=$(cat)
now() { for p in "$@"; do st "$p"; done; }
n=0
cur=$(now "$@")
while [ "$cur" = "$want" ] && [ $n -lt $((w * 5)) ]; do
  sleep 0.2; n=$((n + 1)); cur=$(now "$@")
done
printf '%s\n' "$cur"`

// MaxWatch is the longest WatchSessions holds an exec open, well inside Fly's
// exec window.
const MaxWatch = 20 * time.Second

// WatchSessions waits, inside the machine, until the state or log size of any
// of the sessions differs from last or wait (at most MaxWatch) has passed, and
// returns their current probes. It costs one exec however many sessions are
// watched and however long it waits.
func (m *Manager) WatchSessions(ctx context.Context, sandbox string,
	last map[string]SessionProbe, wait time.Duration,
) (map[string]SessionProbe, error) {
	t, err := m.running(ctx, sandbox)
	if err != nil {
		return nil, err
	}
	known, prefixes := m.sessionFiles(ctx, sandbox, slices.Sorted(maps.Keys(last)))
	if len(known) == 0 {
		return map[string]SessionProbe{}, nil
	}
	var want strings.Builder
	for _, id := range known {
		p := last[id]
		fmt.Fprintf(&want, "%s %d %d\n", p.State, p.ExitCode, p.LogSize)
	}
	wait = min(max(wait, 0), MaxWatch)
	res, err := m.run(ctx, t, script{code: watchSessions,
		args:  append([]string{strconv.Itoa(int(wait / time.Second))}, prefixes...),
		stdin: want.String(), timeout: wait + 15*time.Second})
	if err == nil && res.ExitCode != 0 {
		err = fmt.Errorf("watch sessions: exit %d: %s", res.ExitCode, strings.TrimSpace(res.Stderr))
	}
	if err != nil {
		return nil, err
	}

	return probesOf(known, res.Stdout)
}
