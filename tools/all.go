package tools

import (
	"github.com/mark3labs/mcp-go/server"

	"github.com/longrun/sandstorm"
)

// All returns every tool for m, sorted by name as tools/list shows them.
func All(m *sandstorm.Manager) []server.ServerTool {
	return []server.ServerTool{
		Create(m), Delete(m), Exec(m), Get(m), List(m), ListFiles(m), Pause(m),
		ReadFile(m), Resume(m), SyncPersona(m), UpdateEnv(m), WriteFile(m),
		SessionList(m), SessionLogs(m), SessionStart(m), SessionStatus(m), SessionStop(m),
	}
}
