package resources

import (
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/longrun/sandstorm"
)

func listedURIs(s *server.MCPServer) []string {
	var out []string
	for uri := range s.ListResources() {
		out = append(out, uri)
	}
	slices.Sort(out)

	return out
}

func TestPoller_ListFollowsChanges(t *testing.T) {
	m := newFakeManager("a", "b")
	// A Fly app with the prefix but no record: sandbox_list shows it, but
	// its status cannot be read, so it is not listed as a resource.
	m.boxes["orphan"] = sandstorm.Sandbox{Name: "orphan", Status: sandstorm.StatusError}
	h := newHarness(t, m, fastOptions())
	s := h.legacy("s1")
	eventually(t, "seeded from List", func() bool {
		return slices.Equal(listedURIs(h.srv), []string{StatusURI("a"), StatusURI("b")})
	})
	s.drain()

	m.emit(sandstorm.Change{Sandbox: "c", Kind: sandstorm.ChangeCreated})
	s.next(t, mcp.MethodNotificationResourcesListChanged, time.Second)
	m.emit(sandstorm.Change{Sandbox: "a", Kind: sandstorm.ChangeDeleted})
	s.next(t, mcp.MethodNotificationResourcesListChanged, time.Second)
	if got := listedURIs(h.srv); !slices.Equal(got, []string{StatusURI("b"), StatusURI("c")}) {
		t.Errorf("listed = %v", got)
	}
	// Status changes leave the list alone.
	m.emit(sandstorm.Change{Sandbox: "b", Kind: sandstorm.ChangeStatus})
	s.none(t, mcp.MethodNotificationResourcesListChanged, 50*time.Millisecond)
}

func TestPoller_StatusLegacy(t *testing.T) {
	m := newFakeManager("a")
	opts := fastOptions()
	opts.StatusInterval = time.Hour // only nudges read the status
	h := newHarness(t, m, opts)
	s := h.legacy("s1")
	other := h.legacy("s2")
	uri := StatusURI("a")
	h.subscribe(s, uri)
	eventually(t, "following", func() bool { return h.p.Following(uri) })

	// A change the Manager makes is reported at once, to the subscriber only.
	m.setStatus("a", sandstorm.StatusPaused)
	m.emit(sandstorm.Change{Sandbox: "a", Kind: sandstorm.ChangeStatus})
	if got := uriOf(s.next(t, mcp.MethodNotificationResourceUpdated, time.Second)); got != uri {
		t.Errorf("updated %q, want %q", got, uri)
	}
	other.none(t, mcp.MethodNotificationResourceUpdated, 50*time.Millisecond)
	// A nudge that finds nothing changed sends nothing.
	m.emit(sandstorm.Change{Sandbox: "a", Kind: sandstorm.ChangeStatus})
	s.none(t, mcp.MethodNotificationResourceUpdated, 50*time.Millisecond)

	h.unsubscribe(s, uri)
	eventually(t, "polling stops", func() bool { return len(h.p.Polling()) == 0 })
	gets := m.callsOf("Get")
	m.setStatus("a", sandstorm.StatusRunning)
	m.emit(sandstorm.Change{Sandbox: "a", Kind: sandstorm.ChangeStatus})
	s.none(t, mcp.MethodNotificationResourceUpdated, 50*time.Millisecond)
	if n := m.callsOf("Get") - gets; n != 0 {
		t.Errorf("%d reads of the status after unsubscribing", n)
	}
}

func TestPoller_StatusPolled(t *testing.T) {
	m := newFakeManager("a")
	h := newHarness(t, m, fastOptions())
	s := h.legacy("s1")
	uri := StatusURI("a")
	h.subscribe(s, uri)
	eventually(t, "following", func() bool { return h.p.Following(uri) })

	// A change nobody reported, as when Fly stops the machine itself.
	m.setStatus("a", sandstorm.StatusStopped)
	s.next(t, mcp.MethodNotificationResourceUpdated, time.Second)

	// The session ends: its subscriptions go, and with them the polling.
	h.srv.UnregisterSession(t.Context(), "s1")
	eventually(t, "polling stops", func() bool { return len(h.p.Polling()) == 0 })
}

func TestPoller_LogModern(t *testing.T) {
	m := newFakeManager("a")
	m.startSession("a", "x", "one\n")
	h := newHarness(t, m, fastOptions())
	s := newFakeSession("") // a modern stream's session has no id
	logURI, sessionsURI := LogURI("a", "x"), SessionsURI("a")
	closeStream := h.listen(s, logURI, sessionsURI)
	eventually(t, "following", func() bool {
		return h.p.Following(logURI) && h.p.Following(sessionsURI)
	})
	s.next(t, mcp.MethodNotificationSubscriptionsAcknowledged, time.Second)

	m.write("x", "two\n")
	n := s.next(t, mcp.MethodNotificationResourceUpdated, time.Second)
	if uriOf(n) != logURI || n.Params.Meta[mcp.MetaKeySubscriptionID] != float64(1) {
		t.Errorf("update = %+v, want %s tagged with the listen id 1", n.Params, logURI)
	}

	// A session starts: the list changes.
	m.startSession("a", "y", "")
	m.emit(sandstorm.Change{Sandbox: "a", Kind: sandstorm.ChangeSession})
	if got := uriOf(s.next(t, mcp.MethodNotificationResourceUpdated, time.Second)); got !=
		sessionsURI {
		t.Errorf("updated %q, want %q", got, sessionsURI)
	}

	// The subscribed session ends: its log and the list change.
	s.drain()
	m.end("x", "exit")
	got := map[string]bool{}
	for range 2 {
		got[uriOf(s.next(t, mcp.MethodNotificationResourceUpdated, time.Second))] = true
	}
	if !got[logURI] || !got[sessionsURI] {
		t.Errorf("after the session ended, updated %v", got)
	}

	closeStream()
	eventually(t, "polling stops", func() bool { return len(h.p.Polling()) == 0 })
	watches := m.callsOf("WatchSessions")
	m.write("y", "more\n")
	time.Sleep(50 * time.Millisecond) // room for a watch that should not happen
	if n := m.callsOf("WatchSessions") - watches; n != 0 {
		t.Errorf("%d watches after the stream closed", n)
	}
}

// A session that reads as lost for one probe, as while it is being stopped,
// is reported when its exit code shows, not before.
func TestPoller_LostForAMoment(t *testing.T) {
	m := newFakeManager("a")
	m.startSession("a", "x", "")
	opts := fastOptions()
	opts.WatchSpacing = 100 * time.Millisecond
	h := newHarness(t, m, opts)
	s := h.legacy("s1")
	uri := LogURI("a", "x")
	h.subscribe(s, uri)
	eventually(t, "following", func() bool { return h.p.Following(uri) })
	lists := m.callsOf("ListSessions")

	m.end("x", stateLost)
	time.Sleep(20 * time.Millisecond)
	m.end("x", "exit")
	s.next(t, mcp.MethodNotificationResourceUpdated, time.Second)
	eventually(t, "listed again", func() bool { return m.callsOf("ListSessions") > lists })
	s.none(t, mcp.MethodNotificationResourceUpdated, 50*time.Millisecond)
}

// A paused sandbox has no sessions to watch; its status is still polled.
func TestPoller_PausedStopsWatching(t *testing.T) {
	m := newFakeManager("a")
	m.startSession("a", "x", "")
	h := newHarness(t, m, fastOptions())
	s := h.legacy("s1")
	h.subscribe(s, StatusURI("a"))
	h.subscribe(s, LogURI("a", "x"))
	eventually(t, "following", func() bool { return h.p.Following(LogURI("a", "x")) })

	m.pause("a")
	m.emit(sandstorm.Change{Sandbox: "a", Kind: sandstorm.ChangeStatus})
	eventually(t, "watch fails", func() bool { return m.callsOf("WatchSessions") > 0 })
	time.Sleep(50 * time.Millisecond)
	watches, gets := m.callsOf("WatchSessions"), m.callsOf("Get")
	time.Sleep(100 * time.Millisecond)
	if n := m.callsOf("WatchSessions") - watches; n != 0 {
		t.Errorf("%d watches of a paused sandbox", n)
	}
	if n := m.callsOf("Get") - gets; n < 2 {
		t.Errorf("%d status reads of a paused sandbox in 100ms, want it still polled", n)
	}
}

// Changes come from the Manager's goroutine; queueing them never blocks,
// whether or not the Poller runs.
func TestPoller_OnChangeNeverBlocks(t *testing.T) {
	m := newFakeManager()
	hooks := &server.Hooks{}
	srv := server.NewMCPServer("test", "0", server.WithResourceCapabilities(true, true),
		server.WithHooks(hooks))
	p := Register(srv, hooks, m, fastOptions())
	p.Start(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 100_000 {
			m.emit(sandstorm.Change{Sandbox: "a", Kind: sandstorm.ChangeStatus,
				Status: string(rune('a' + i%26))})
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("OnChange blocked")
	}
	p.Stop()
}

func TestPoller_StopLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	m := newFakeManager("a", "b")
	m.startSession("a", "x", "")
	hooks := &server.Hooks{}
	srv := server.NewMCPServer("test", "0", server.WithResourceCapabilities(true, true),
		server.WithHooks(hooks))
	p := Register(srv, hooks, m, fastOptions())
	p.Start(t.Context())
	s := newFakeSession("s1")
	if err := srv.RegisterSession(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, srv: srv, m: m, p: p}
	for _, uri := range []string{StatusURI("a"), LogURI("a", "x"), SessionsURI("b")} {
		h.subscribe(s, uri)
	}
	eventually(t, "polling", func() bool { return len(p.Polling()) == 2 })

	p.Stop()
	p.Stop() // twice is fine
	if got := p.Polling(); len(got) != 0 {
		t.Errorf("after Stop, polling %v", got)
	}
	eventually(t, "goroutines end", func() bool { return runtime.NumGoroutine() <= before })
}
