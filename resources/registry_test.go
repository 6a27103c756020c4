package resources

import (
	"reflect"
	"testing"
)

func TestParseURI(t *testing.T) {
	tests := []struct {
		name string
		uri  string
		want ref
		ok   bool
	}{
		{"status", "sandbox://alice/status", ref{sandbox: "alice", kind: kindStatus}, true},
		{"sessions", "sandbox://alice/sessions", ref{sandbox: "alice", kind: kindSessions}, true},
		{"log", "sandbox://alice/sessions/s1/log",
			ref{sandbox: "alice", kind: kindLog, session: "s1"}, true},
		{"other scheme", "file://alice/status", ref{}, false},
		{"unknown kind", "sandbox://alice/files", ref{}, false},
		{"empty name", "sandbox:///status", ref{}, false},
		{"log without session", "sandbox://alice/sessions//log", ref{}, false},
		{"trailing slash", "sandbox://alice/status/", ref{}, false},
		{"not canonical", "sandbox://%61lice/status", ref{}, false},
		{"bad escape", "sandbox://a%zz/status", ref{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseURI(tt.uri)
			if got != tt.want || ok != tt.ok {
				t.Errorf("parseURI(%q) = %+v, %v; want %+v, %v", tt.uri, got, ok, tt.want, tt.ok)
			}
			if ok && got.uri() != tt.uri {
				t.Errorf("%+v.uri() = %q, want %q", got, got.uri(), tt.uri)
			}
		})
	}
}

func TestRegistry_Legacy(t *testing.T) {
	r := newRegistry()
	changes := 0
	r.changed = func() { changes++ }

	r.subscribe("s1", StatusURI("a"))
	r.subscribe("s1", StatusURI("a")) // again: no change
	r.subscribe("s2", StatusURI("a"))
	r.subscribe("s2", LogURI("a", "x"))
	if changes != 3 {
		t.Errorf("changes = %d, want 3", changes)
	}
	if ids, streams := r.targets(StatusURI("a")); !reflect.DeepEqual(ids, []string{"s1", "s2"}) ||
		len(streams) != 0 {
		t.Errorf("targets = %v, %v", ids, streams)
	}

	r.unsubscribe("s1", StatusURI("a"))
	r.unsubscribe("s1", StatusURI("a")) // never mind
	if ids, _ := r.targets(StatusURI("a")); !reflect.DeepEqual(ids, []string{"s2"}) {
		t.Errorf("after unsubscribe, targets = %v", ids)
	}
	r.dropSession("s2")
	if ids, _ := r.targets(LogURI("a", "x")); len(ids) != 0 {
		t.Errorf("after the session ended, targets = %v", ids)
	}
	if got := r.interests(); len(got) != 0 {
		t.Errorf("interests with no subscriber = %v", got)
	}
	if changes != 5 {
		t.Errorf("changes = %d, want 5", changes)
	}
}

func TestRegistry_Modern(t *testing.T) {
	r := newRegistry()
	// Over stdio every stream shares one session; the request id tells
	// them apart.
	s := newFakeSession("stdio")
	r.listen(s, float64(7), []string{StatusURI("a"), SessionsURI("a")})
	r.listen(s, "8", []string{StatusURI("a")})
	r.listen(s, 9, nil) // list_changed only: nothing to record

	_, streams := r.targets(StatusURI("a"))
	if len(streams) != 2 {
		t.Fatalf("streams for status = %d, want 2", len(streams))
	}
	r.endListen(s, float64(7))
	r.endListen(s, float64(7))
	_, streams = r.targets(StatusURI("a"))
	if len(streams) != 1 || streams[0].id != "8" {
		t.Errorf("after one stream closed, streams = %+v", streams)
	}
	if _, streams := r.targets(SessionsURI("a")); len(streams) != 0 {
		t.Errorf("sessions still has %d streams", len(streams))
	}
	r.endListen(s, "8")
	if got := r.interests(); len(got) != 0 {
		t.Errorf("interests after every stream closed = %v", got)
	}
}

func TestRegistry_Interests(t *testing.T) {
	r := newRegistry()
	r.subscribe("s1", StatusURI("a"))
	r.subscribe("s1", LogURI("a", "y"))
	r.subscribe("s1", "sandbox://a/nonsense")
	r.subscribe("s1", "https://example.com/")
	r.listen(newFakeSession(""), 1, []string{LogURI("a", "x"), SessionsURI("b"),
		LogURI("a", "y")})

	want := map[string]interest{
		"a": {status: true, logs: []string{"x", "y"}},
		"b": {sessions: true},
	}
	if got := r.interests(); !reflect.DeepEqual(got, want) {
		t.Errorf("interests = %+v, want %+v", got, want)
	}
	if !want["a"].watchesSessions() || !want["b"].watchesSessions() ||
		(interest{status: true}).watchesSessions() {
		t.Error("watchesSessions: only sessions and logs need following")
	}
}
