package tools

import (
	"fmt"
	"strings"

	"github.com/mark3labs/mcp-go/server"
)

// Markdown renders the tools as the README's table: name, what it does, and
// its behaviour hints.
func Markdown(ts []server.ServerTool) string {
	var b strings.Builder
	b.WriteString("| tool | what it does | hints |\n|---|---|---|\n")
	for _, t := range ts {
		a := t.Tool.Annotations
		var hs []string
		if a.ReadOnlyHint != nil && *a.ReadOnlyHint {
			hs = append(hs, "read-only")
		}
		if a.DestructiveHint != nil && *a.DestructiveHint {
			hs = append(hs, "destructive")
		}
		if a.IdempotentHint != nil && *a.IdempotentHint {
			hs = append(hs, "idempotent")
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", t.Tool.Name,
			strings.ReplaceAll(t.Tool.Description, "|", "\\|"), strings.Join(hs, ", "))
	}

	return b.String()
}
