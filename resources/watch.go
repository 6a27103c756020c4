package resources

import (
	"context"
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/longrun/sandstorm"
)

// Session states as SessionProbe reports them.
const (
	stateRunning = "running"
	stateLost    = "lost"
)

// watcher follows one sandbox's sessions for the subscribers of its sessions
// and log resources. It lists the sessions when it starts and whenever it is
// nudged or a watched session changes state, takes a baseline probe of the
// running sessions it watches, and then holds one exec at a time open in the
// machine (WatchSessions), which returns as soon as a watched log grows or a
// session's state changes.
type watcher struct {
	p    *Poller
	name string
	l    *loop
	bo   backoff
	fl   failureLog

	// known is each session's status at the last listing; nil before it.
	known map[string]string
	// probes is the baseline of the running sessions being watched.
	probes map[string]sandstorm.SessionProbe
	// ended holds the watched sessions whose end was already reported.
	ended map[string]bool
	// suspect holds the watched sessions seen lost once, to look at again.
	suspect map[string]bool
	// last is when the last watch began.
	last time.Time
}

// watchLoop runs a watcher until ctx ends.
func (p *Poller) watchLoop(ctx context.Context, name string, l *loop) {
	w := &watcher{p: p, name: name, l: l,
		bo:    backoff{min: time.Second, max: p.opts.MaxBackoff},
		fl:    failureLog{log: p.log, what: "watch sessions", sandbox: name},
		ended: make(map[string]bool), suspect: make(map[string]bool)}
	refresh := true
	for ctx.Err() == nil {
		in, gen, nudged := l.take()
		if nudged || refresh {
			if err := w.refresh(ctx, in); err != nil {
				refresh = true
				l.wait(ctx, w.failed(ctx, err))
				continue
			}
			refresh = false
			l.markReady(gen)
		}
		if len(w.probes) == 0 {
			// Nothing watched runs. A session started here arrives as a
			// nudge. Listing again finds one started elsewhere, and costs
			// no exec while nothing runs; ended sessions never change.
			idle := time.Duration(1<<63 - 1)
			if in.sessions {
				idle = p.opts.IdleRetry
			}
			l.wait(ctx, idle)
			refresh = true
			continue
		}
		if d := p.opts.WatchSpacing - time.Since(w.last); d > 0 {
			l.wait(ctx, d)
			continue
		}
		cur, cut, err := w.watch(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case cut:
			// Nudged during the call; the next take sees it.
		case err != nil:
			refresh = true
			l.wait(ctx, w.failed(ctx, err))
		default:
			w.fl.ok()
			w.bo.reset()
			refresh = w.compare(in, cur)
		}
	}
}

// refresh lists the sessions, marks the sessions and log URIs whose sessions
// started or ended since the last listing, and takes a baseline of the
// running sessions newly watched.
func (w *watcher) refresh(ctx context.Context, in interest) error {
	list, err := w.p.m.ListSessions(ctx, w.name, "")
	if err != nil {
		return err
	}
	cur := make(map[string]string, len(list))
	var ids []string
	logs := make(map[string]bool, len(in.logs))
	for _, id := range in.logs {
		logs[id] = true
	}
	for _, s := range list {
		cur[s.ID] = s.Status
		if s.Running && (in.sessions || logs[s.ID]) {
			ids = append(ids, s.ID)
		}
	}
	if w.known != nil {
		if in.sessions && !maps.Equal(w.known, cur) {
			w.p.thr.mark(SessionsURI(w.name))
		}
		for id := range logs {
			if w.known[id] != cur[id] && !w.ended[id] {
				w.p.thr.mark(LogURI(w.name, id))
			}
		}
	}
	w.known = cur
	gone := func(id string, _ bool) bool { return !slices.Contains(ids, id) }
	maps.DeleteFunc(w.ended, gone)
	maps.DeleteFunc(w.suspect, gone)

	// Keep the baselines of sessions still watched, so no change since is
	// lost, and probe only the sessions new to the watch.
	probes := make(map[string]sandstorm.SessionProbe, len(ids))
	var fresh []string
	for _, id := range ids {
		if pr, ok := w.probes[id]; ok {
			probes[id] = pr
		} else {
			fresh = append(fresh, id)
		}
	}
	w.probes = probes
	if len(fresh) == 0 {
		return nil
	}
	got, err := w.p.m.ProbeSessions(ctx, w.name, fresh)
	if err != nil {
		return err
	}
	maps.Copy(w.probes, got)

	return nil
}

// watch waits in the machine for a watched session to change. A nudge cuts
// it short and sets cut.
func (w *watcher) watch(ctx context.Context,
) (probes map[string]sandstorm.SessionProbe, cut bool, err error) {
	callCtx, done := w.l.call(ctx)
	defer done()
	w.last = time.Now()
	probes, err = w.p.m.WatchSessions(callCtx, w.name, w.probes, w.p.opts.MaxWatch)

	return probes, err != nil && callCtx.Err() != nil && ctx.Err() == nil, err
}

// compare marks the log URIs of subscribed sessions whose log grew or whose
// state changed since the baseline, makes cur the baseline, and reports
// whether any session changed state.
//
// A session being stopped reads as lost for a moment, between the end of
// its processes and the writing of its exit code, and listing the sessions
// then would record it as lost for good. So a session first seen lost is
// looked at again at the next watch, a second later, before it counts.
func (w *watcher) compare(in interest, cur map[string]sandstorm.SessionProbe) bool {
	changed := false
	for id, c := range cur {
		prev, ok := w.probes[id]
		if !ok {
			continue
		}
		if c.State == stateLost && prev.State == stateRunning && !w.suspect[id] {
			w.suspect[id] = true
			c.State, c.ExitCode = prev.State, prev.ExitCode
			cur[id] = c
		}
		moved := c.State != prev.State
		if moved {
			changed = true
			w.ended[id] = true
			delete(w.suspect, id)
		}
		if (moved || c.LogSize != prev.LogSize) && slices.Contains(in.logs, id) {
			w.p.thr.mark(LogURI(w.name, id))
		}
	}
	w.probes = cur

	return changed
}

// failed logs a failure and returns how long to wait before trying again. A
// sandbox that is not running, or no longer exists, is not a fault: its
// sessions cannot change until it runs again, so the watcher only checks
// now and then, which costs no Fly request.
func (w *watcher) failed(ctx context.Context, err error) time.Duration {
	if ctx.Err() != nil {
		return 0
	}
	if errors.Is(err, sandstorm.ErrState) || errors.Is(err, sandstorm.ErrNotFound) {
		w.p.log.Debug("sandbox is not running; sessions not watched", keySandbox, w.name,
			keyError, err)
		// Its sessions have ended; list them again to report that.
		w.probes = nil

		return w.p.opts.IdleRetry
	}
	w.fl.fail(err)

	return w.bo.next()
}
