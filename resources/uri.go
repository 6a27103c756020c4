package resources

import (
	"net/url"
	"strings"
)

// scheme is the URI scheme of every Sandstorm resource.
const scheme = "sandbox://"

// Kinds of resource a URI can name.
const (
	kindStatus   = "status"
	kindSessions = "sessions"
	kindLog      = "log"
)

// StatusURI is the URI of a sandbox's status resource.
func StatusURI(sandbox string) string {
	return scheme + url.PathEscape(sandbox) + "/status"
}

// SessionsURI is the URI of a sandbox's session list resource.
func SessionsURI(sandbox string) string {
	return scheme + url.PathEscape(sandbox) + "/sessions"
}

// LogURI is the URI of a session's log resource.
func LogURI(sandbox, sessionID string) string {
	return scheme + url.PathEscape(sandbox) + "/sessions/" + url.PathEscape(sessionID) + "/log"
}

// ref is what a resource URI names.
type ref struct {
	sandbox string
	kind    string
	session string // for kindLog
}

// uri returns the canonical URI of r.
func (r ref) uri() string {
	switch r.kind {
	case kindStatus:
		return StatusURI(r.sandbox)
	case kindSessions:
		return SessionsURI(r.sandbox)
	default:
		return LogURI(r.sandbox, r.session)
	}
}

// parseURI reads a Sandstorm resource URI in its canonical form, as the
// functions above build it; ok is false for anything else.
func parseURI(uri string) (r ref, ok bool) {
	rest, found := strings.CutPrefix(uri, scheme)
	if !found {
		return ref{}, false
	}
	parts := strings.Split(rest, "/")
	for i, p := range parts {
		v, err := url.PathUnescape(p)
		if err != nil || v == "" {
			return ref{}, false
		}
		parts[i] = v
	}
	switch {
	case len(parts) == 2 && parts[1] == kindStatus:
		r = ref{sandbox: parts[0], kind: kindStatus}
	case len(parts) == 2 && parts[1] == kindSessions:
		r = ref{sandbox: parts[0], kind: kindSessions}
	case len(parts) == 4 && parts[1] == kindSessions && parts[3] == kindLog:
		r = ref{sandbox: parts[0], kind: kindLog, session: parts[2]}
	default:
		return ref{}, false
	}

	if r.uri() != uri {
		return ref{}, false
	}

	return r, true
}
