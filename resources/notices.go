package resources

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/longrun/sandstorm"
	"github.com/longrun/sandstorm/lifecycle"
)

// noticeLogger names the idle policy's log messages.
const noticeLogger = "sandstorm.lifecycle"

// Notices sends every action of the idle policy to the connected clients as
// a log message (notifications/message), at level warning for a warning, a
// pause or a deletion and notice for a return to active, to each session
// whose logging/setLevel lets it through. The status resource update of the
// same action comes from the Poller.
type Notices struct {
	srv *server.MCPServer

	mu       sync.Mutex
	sessions map[string]server.ClientSession
}

// RegisterNotices starts sending m's lifecycle actions to s's sessions.
func RegisterNotices(s *server.MCPServer, hooks *server.Hooks, m Manager) *Notices {
	n := &Notices{srv: s, sessions: make(map[string]server.ClientSession)}
	hooks.AddOnRegisterSession(func(_ context.Context, cs server.ClientSession) {
		n.mu.Lock()
		defer n.mu.Unlock()
		n.sessions[cs.SessionID()] = cs
	})
	hooks.AddOnUnregisterSession(func(_ context.Context, cs server.ClientSession) {
		n.mu.Lock()
		defer n.mu.Unlock()
		delete(n.sessions, cs.SessionID())
	})
	m.OnChange(n.onChange)

	return n
}

func (n *Notices) onChange(c sandstorm.Change) {
	if c.Kind != sandstorm.ChangeLifecycle || c.Lifecycle == nil {
		return
	}
	level, params := notice(*c.Lifecycle)

	n.mu.Lock()
	sessions := make([]server.ClientSession, 0, len(n.sessions))
	for _, cs := range n.sessions {
		sessions = append(sessions, cs)
	}
	n.mu.Unlock()
	for _, cs := range sessions {
		logging, ok := cs.(server.SessionWithLogging)
		if !ok || !cs.Initialized() || !level.ShouldSendTo(logging.GetLogLevel()) {
			continue
		}
		_ = n.srv.SendNotificationToSpecificClient(cs.SessionID(),
			string(mcp.MethodNotificationMessage), params)
	}
}

// notice renders a lifecycle action as a log message's level and params.
func notice(a sandstorm.LifecycleAction) (mcp.LoggingLevel, map[string]any) {
	level := mcp.LoggingLevelWarning
	var what string
	switch a.Action {
	case lifecycle.ActionWarn:
		what = "is idle and will be paused unless it is used"
	case lifecycle.ActionPause:
		what = "was paused for being idle (snapshot " + a.SnapshotID + "); " +
			"sandbox_resume brings it back"
	case lifecycle.ActionDelete:
		what = "was deleted after being paused too long"
	default:
		level, what = mcp.LoggingLevelNotice, "is in use again"
	}
	message := fmt.Sprintf("Sandbox %s %s. %s", a.Sandbox, what, strings.Join(a.Reasons, "; "))

	return level, map[string]any{
		"level":  level,
		"logger": noticeLogger,
		"data": map[string]any{
			"message": message, "sandbox": a.Sandbox, "action": a.Action, "from": a.From,
			"to": a.To, "actor": a.Actor, "reasons": a.Reasons, "at": a.At,
		},
	}
}
