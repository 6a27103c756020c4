package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/invopop/jsonschema"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/longrun/sandstorm"
)

// hints are a tool's annotation hints; every tool states all four.
type hints struct {
	readOnly, destructive, idempotent, openWorld bool
}

var reflector = jsonschema.Reflector{
	ExpandedStruct: true,
	DoNotReference: true,
	Anonymous:      true,
	Mapper: func(t reflect.Type) *jsonschema.Schema {
		if t.Kind() == reflect.Interface {
			return &jsonschema.Schema{}
		}

		return nil
	},
}

// schemaOf reflects the JSON schema of an argument struct.
func schemaOf(args any) json.RawMessage {
	s := reflector.Reflect(args)
	s.Version = ""
	raw, err := json.Marshal(s)
	if err != nil {
		panic(fmt.Sprintf("schema of %T: %v", args, err))
	}

	return raw
}

// define builds a tool whose arguments decode into A. The handler h returns the
// value for structuredContent and a one-line summary; the text content is the
// summary followed by the value as JSON.
func define[A any](name, title, description string, hs hints,
	h func(ctx context.Context, req mcp.CallToolRequest, args A) (any, string, error),
) server.ServerTool {
	var zero A
	schema := schemaOf(&zero)
	valid := newValidator(name, schema)
	tool := mcp.Tool{
		Name:           name,
		Title:          title,
		Description:    description,
		RawInputSchema: schema,
		Annotations: mcp.ToolAnnotation{
			Title:           title,
			ReadOnlyHint:    mcp.ToBoolPtr(hs.readOnly),
			DestructiveHint: mcp.ToBoolPtr(hs.destructive),
			IdempotentHint:  mcp.ToBoolPtr(hs.idempotent),
			OpenWorldHint:   mcp.ToBoolPtr(hs.openWorld),
		},
	}
	handler := func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		raw, err := json.Marshal(req.GetRawArguments())
		if err != nil {
			return nil, fmt.Errorf("encode arguments of %s: %w", name, err)
		}
		if err := valid.check(raw); err != nil {
			return mcp.NewToolResultError(err.Error()), nil
		}
		var args A
		if err := json.Unmarshal(raw, &args); err != nil {
			return mcp.NewToolResultError(fmt.Sprintf("invalid arguments for %s: %v", name, err)), nil
		}
		out, summary, err := h(ctx, req, args)
		if err != nil {
			return failure(ctx, err)
		}

		return mcp.NewToolResultStructured(out, summary+"\n\n"+jsonText(out)), nil
	}

	return server.ServerTool{Tool: tool, Handler: handler}
}

// failure turns a Manager error into an isError result with text the caller
// can act on. Only a cancelled call is returned as a Go error.
func failure(ctx context.Context, err error) (*mcp.CallToolResult, error) {
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return nil, err
	}
	var userErr *sandstorm.Error
	var stepErr *sandstorm.StepError
	switch {
	case errors.As(err, &userErr), errors.As(err, &stepErr):
		return mcp.NewToolResultError(err.Error()), nil
	default:
		return mcp.NewToolResultError("Sandstorm could not complete the call: " + err.Error() +
			". This is usually temporary; try again, and call sandbox_get to check the " +
			"sandbox's state."), nil
	}
}

// progress returns a ProgressFunc that sends MCP progress notifications for the
// request, at most one every 250 ms, or nil when the client asked for none.
func progress(ctx context.Context, req mcp.CallToolRequest) sandstorm.ProgressFunc {
	if req.Params.Meta == nil || req.Params.Meta.ProgressToken == nil {
		return nil
	}
	srv := server.ServerFromContext(ctx)
	if srv == nil {
		return nil
	}
	token := req.Params.Meta.ProgressToken
	var mu sync.Mutex
	var last time.Time

	return func(done, total int, message string) {
		mu.Lock()
		defer mu.Unlock()
		if ctx.Err() != nil || time.Since(last) < 250*time.Millisecond {
			return
		}
		last = time.Now()
		params := map[string]any{"progressToken": token, "progress": done, "message": message}
		if total > 0 {
			params["total"] = total
		}
		_ = srv.SendNotificationToClient(ctx, string(mcp.MethodNotificationProgress), params)
	}
}

// DrainNotifications is tool middleware that holds a result back until the
// session's queued notifications are written, so progress never arrives after
// the result it belongs to. Tools send notifications only as progress, so
// calls without a progress token return at once.
func DrainNotifications(next server.ToolHandlerFunc) server.ToolHandlerFunc {
	return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		res, err := next(ctx, req)
		if req.Params.Meta == nil || req.Params.Meta.ProgressToken == nil {
			return res, err
		}
		if cs := server.ClientSessionFromContext(ctx); cs != nil {
			ch := cs.NotificationChannel()
			deadline := time.Now().Add(500 * time.Millisecond)
			for len(ch) > 0 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			// The writer may still hold the last notification it dequeued.
			time.Sleep(5 * time.Millisecond)
		}

		return res, err
	}
}

// jsonText renders v as indented JSON for the text fallback.
func jsonText(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Sprint(v)
	}

	return string(b)
}
