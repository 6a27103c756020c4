package resources

import (
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/mark3labs/mcp-go/server"
)

// registry records who subscribed to which resource URI, in both protocol
// eras: legacy clients by session id through resources/subscribe and
// resources/unsubscribe, modern clients by the subscriptions/listen request
// that carries their URIs. It is safe for concurrent use; changed, when set,
// is called after every change, outside the registry's lock.
type registry struct {
	mu      sync.Mutex
	legacy  map[string]map[string]struct{} // session id -> URIs
	modern  map[listenKey]*listenStream
	changed func()
}

// listenKey identifies one subscriptions/listen stream. Over stdio every
// stream shares the one session, so the request id is part of the key.
type listenKey struct {
	session server.ClientSession
	id      string
}

// listenStream is an open subscriptions/listen request and the URIs it asked
// for. Notifications for it go on its session's channel tagged with id.
type listenStream struct {
	session server.ClientSession
	id      any
	uris    map[string]struct{}
}

// interest is what the subscriptions to one sandbox's resources ask to be
// watched.
type interest struct {
	status   bool
	sessions bool
	logs     []string // session ids, sorted
}

// watchesSessions reports whether the sandbox's sessions need following.
func (in interest) watchesSessions() bool { return in.sessions || len(in.logs) > 0 }

func newRegistry() *registry {
	return &registry{
		legacy: make(map[string]map[string]struct{}),
		modern: make(map[listenKey]*listenStream),
	}
}

func keyOf(session server.ClientSession, id any) listenKey {
	return listenKey{session: session, id: fmt.Sprintf("%T:%v", id, id)}
}

// update runs fn under the lock and reports the change when fn says so.
func (r *registry) update(fn func() bool) {
	r.mu.Lock()
	changed := fn()
	notify := r.changed
	r.mu.Unlock()
	if changed && notify != nil {
		notify()
	}
}

// subscribe records a legacy resources/subscribe.
func (r *registry) subscribe(sessionID, uri string) {
	r.update(func() bool {
		uris := r.legacy[sessionID]
		if uris == nil {
			uris = make(map[string]struct{})
			r.legacy[sessionID] = uris
		}
		if _, ok := uris[uri]; ok {
			return false
		}
		uris[uri] = struct{}{}

		return true
	})
}

// unsubscribe records a legacy resources/unsubscribe.
func (r *registry) unsubscribe(sessionID, uri string) {
	r.update(func() bool {
		uris := r.legacy[sessionID]
		if _, ok := uris[uri]; !ok {
			return false
		}
		delete(uris, uri)
		if len(uris) == 0 {
			delete(r.legacy, sessionID)
		}

		return true
	})
}

// dropSession forgets every legacy subscription of a session that ended.
func (r *registry) dropSession(sessionID string) {
	r.update(func() bool {
		_, ok := r.legacy[sessionID]
		delete(r.legacy, sessionID)

		return ok
	})
}

// listen records a subscriptions/listen stream with the URIs it asked for.
func (r *registry) listen(session server.ClientSession, id any, uris []string) {
	if len(uris) == 0 {
		return
	}
	set := make(map[string]struct{}, len(uris))
	for _, u := range uris {
		set[u] = struct{}{}
	}
	r.update(func() bool {
		r.modern[keyOf(session, id)] = &listenStream{session: session, id: id, uris: set}

		return true
	})
}

// endListen forgets a subscriptions/listen stream that closed. It is safe to
// call more than once.
func (r *registry) endListen(session server.ClientSession, id any) {
	r.update(func() bool {
		k := keyOf(session, id)
		_, ok := r.modern[k]
		delete(r.modern, k)

		return ok
	})
}

// targets returns who subscribed to uri: legacy session ids, sorted, and
// modern listen streams.
func (r *registry) targets(uri string) (sessions []string, streams []*listenStream) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, uris := range r.legacy {
		if _, ok := uris[uri]; ok {
			sessions = append(sessions, id)
		}
	}
	slices.Sort(sessions)
	for _, ls := range r.modern {
		if _, ok := ls.uris[uri]; ok {
			streams = append(streams, ls)
		}
	}

	return sessions, streams
}

// interests returns, per sandbox, what its subscribed resources ask to be
// watched. URIs that name no Sandstorm resource are ignored.
func (r *registry) interests() map[string]interest {
	r.mu.Lock()
	uris := make(map[string]struct{})
	for _, set := range r.legacy {
		maps.Copy(uris, set)
	}
	for _, ls := range r.modern {
		maps.Copy(uris, ls.uris)
	}
	r.mu.Unlock()

	out := make(map[string]interest)
	logs := make(map[string]map[string]struct{})
	for uri := range uris {
		ref, ok := parseURI(uri)
		if !ok {
			continue
		}
		in := out[ref.sandbox]
		switch ref.kind {
		case kindStatus:
			in.status = true
		case kindSessions:
			in.sessions = true
		case kindLog:
			if logs[ref.sandbox] == nil {
				logs[ref.sandbox] = make(map[string]struct{})
			}
			logs[ref.sandbox][ref.session] = struct{}{}
		}
		out[ref.sandbox] = in
	}
	for sb, ids := range logs {
		in := out[sb]
		in.logs = slices.Sorted(maps.Keys(ids))
		out[sb] = in
	}

	return out
}
