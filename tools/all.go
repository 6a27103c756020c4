package tools

import (
	"github.com/mark3labs/mcp-go/server"

	"github.com/longrun/sandstorm"
)

// All returns every tool for m, sorted by name as tools/list shows them.
func All(m *sandstorm.Manager) []server.ServerTool {
	return []server.ServerTool{
		LifecycleCheck(m),
		Create(m), Delete(m), Exec(m), FindIdle(m), Get(m), KeepAlive(m), List(m),
		ListFiles(m), Pause(m), ReadFile(m), Resume(m), SyncPersona(m), UpdateEnv(m),
		WriteFile(m),
		SessionList(m), SessionLogs(m), SessionStart(m), SessionStatus(m), SessionStop(m),
	}
}
