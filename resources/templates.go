package resources

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/longrun/sandstorm"
)

// TailBytes is how much of a session's log its resource holds: the end of
// the log, from the first line boundary in its last TailBytes bytes.
const TailBytes = 64 << 10

const (
	mimeJSON = "application/json"
	mimeText = "text/plain"
)

// templates returns the resource templates with their read handlers.
func templates(m Manager) []server.ServerResourceTemplate {
	return []server.ServerResourceTemplate{
		{
			Template: mcp.NewResourceTemplate("sandbox://{name}/status", "sandbox-status",
				mcp.WithTemplateTitle("Sandbox status"),
				mcp.WithTemplateDescription("A sandbox's status as sandbox_get reports it: "+
					"status, machine state, resources, env names (never values), latest "+
					"snapshot and times. Subscribe to hear when it changes."),
				mcp.WithTemplateMIMEType(mimeJSON)),
			Handler: server.ResourceTemplateHandlerFunc(readStatus(m)),
		},
		{
			Template: mcp.NewResourceTemplate("sandbox://{name}/sessions", "sandbox-sessions",
				mcp.WithTemplateTitle("Sandbox agent sessions"),
				mcp.WithTemplateDescription("A sandbox's agent sessions, newest first, with "+
					"their status and results, as {\"sandbox\": name, \"sessions\": [...]}. "+
					"Subscribe to hear when a session starts or ends."),
				mcp.WithTemplateMIMEType(mimeJSON)),
			Handler: server.ResourceTemplateHandlerFunc(readSessions(m)),
		},
		{
			Template: mcp.NewResourceTemplate("sandbox://{name}/sessions/{session_id}/log",
				"session-log",
				mcp.WithTemplateTitle("Agent session log"),
				mcp.WithTemplateDescription("The end of an agent session's log: its last 64 KiB, "+
					"starting at a line boundary. The contents' _meta gives byte_start and "+
					"byte_end (the byte range of the text in the log), size (the log's size "+
					"in bytes), running and status. Read on from byte_end with session_logs "+
					"and its cursor argument. Subscribe to hear when the log grows or the "+
					"session ends."),
				mcp.WithTemplateMIMEType(mimeText)),
			Handler: server.ResourceTemplateHandlerFunc(readLog(m)),
		},
	}
}

// statusResource is the concrete status resource of one sandbox, as listed
// by resources/list.
func statusResource(m Manager, name string) server.ServerResource {
	return server.ServerResource{
		Resource: mcp.NewResource(StatusURI(name), name,
			mcp.WithResourceTitle("Sandbox "+name),
			mcp.WithResourceDescription("Status of sandbox "+name+", as sandbox_get reports it."),
			mcp.WithMIMEType(mimeJSON)),
		Handler: readStatus(m),
	}
}

func readStatus(m Manager) server.ResourceHandlerFunc {
	return func(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
		name, err := sandboxArg(req)
		if err != nil {
			return nil, err
		}
		sb, err := m.Get(ctx, name)
		if err != nil {
			return nil, readError(req, err)
		}

		return jsonContents(req, sb)
	}
}

// sessionList is the body of a sessions resource.
type sessionList struct {
	Sandbox  string              `json:"sandbox"`
	Sessions []sandstorm.Session `json:"sessions"`
}

func readSessions(m Manager) server.ResourceHandlerFunc {
	return func(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
		name, err := sandboxArg(req)
		if err != nil {
			return nil, err
		}
		list, err := m.ListSessions(ctx, name, "")
		if err != nil {
			return nil, readError(req, err)
		}
		if list == nil {
			list = []sandstorm.Session{}
		}

		return jsonContents(req, sessionList{Sandbox: name, Sessions: list})
	}
}

func readLog(m Manager) server.ResourceHandlerFunc {
	return func(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
		name, err := sandboxArg(req)
		if err != nil {
			return nil, err
		}
		id := stringArg(req, "session_id")
		if id == "" {
			return nil, fmt.Errorf("read %s: the URI names no session", req.Params.URI)
		}
		c, err := tail(ctx, m, name, id)
		if err != nil {
			return nil, readError(req, err)
		}

		return []mcp.ResourceContents{mcp.TextResourceContents{
			URI:      req.Params.URI,
			MIMEType: mimeText,
			Text:     c.Text,
			Meta: map[string]any{
				"byte_start": c.Cursor,
				"byte_end":   c.NextCursor,
				"size":       max(c.Size, c.NextCursor),
				"running":    c.Running,
				"status":     c.Status,
			},
		}}, nil
	}
}

// tail reads the end of a session's log: its last TailBytes bytes from the
// first line boundary among them. A log that fits takes one exec, a longer
// one two.
func tail(ctx context.Context, m Manager, sandbox, id string) (*sandstorm.LogChunk, error) {
	c, err := m.GetSessionLogs(ctx, sandstorm.LogsRequest{Sandbox: sandbox, SessionID: id,
		MaxBytes: TailBytes})
	if err != nil || !c.More {
		return c, err
	}
	// Start one byte early: when that byte ends a line, the tail starts
	// right after it rather than a whole line later.
	from := max(max(c.Size, c.NextCursor)-TailBytes-1, 0)
	c, err = m.GetSessionLogs(ctx, sandstorm.LogsRequest{Sandbox: sandbox, SessionID: id,
		Cursor: &from, MaxBytes: TailBytes + 1})
	if err != nil {
		return nil, err
	}
	if c.Cursor > 0 {
		if i := strings.IndexByte(c.Text, '\n'); i >= 0 {
			c.Text = c.Text[i+1:]
			c.Cursor += int64(i + 1)
		}
	}

	return c, nil
}

func jsonContents(req mcp.ReadResourceRequest, v any) ([]mcp.ResourceContents, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", req.Params.URI, err)
	}

	return []mcp.ResourceContents{mcp.TextResourceContents{
		URI: req.Params.URI, MIMEType: mimeJSON, Text: string(b),
	}}, nil
}

// readError names the resource in a Manager error, keeping its advice. mcp-go
// reports it to the client as an internal error (-32603) with this text.
func readError(req mcp.ReadResourceRequest, err error) error {
	return fmt.Errorf("read %s: %w", req.Params.URI, err)
}

func sandboxArg(req mcp.ReadResourceRequest) (string, error) {
	if name := stringArg(req, "name"); name != "" {
		return name, nil
	}
	// A concrete resource gets no template arguments; its URI says it all.
	if r, ok := parseURI(req.Params.URI); ok {
		return r.sandbox, nil
	}

	return "", fmt.Errorf("read %s: the URI names no sandbox", req.Params.URI)
}

// stringArg returns a template variable, which mcp-go passes as the
// []string of the URI template matcher.
func stringArg(req mcp.ReadResourceRequest, key string) string {
	switch v := req.Params.Arguments[key].(type) {
	case string:
		return v
	case []string:
		if len(v) == 1 {
			return v[0]
		}
	}

	return ""
}
