package resources

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// read reads uri through the server as a legacy client and returns the one
// content, or the JSON-RPC error.
func (h *harness) read(uri string) (content map[string]any, rpcErr map[string]any) {
	h.t.Helper()
	resp := h.request(h.t.Context(), newFakeSession("reader"), "resources/read",
		map[string]any{"uri": uri})
	if e, ok := resp["error"].(map[string]any); ok {
		return nil, e
	}
	contents := resp["result"].(map[string]any)["contents"].([]any)
	if len(contents) != 1 {
		h.t.Fatalf("read %s: %d contents", uri, len(contents))
	}

	return contents[0].(map[string]any), nil
}

func TestRead_StatusAndSessions(t *testing.T) {
	m := newFakeManager("a")
	h := newHarness(t, m, fastOptions())

	c, e := h.read(StatusURI("a"))
	if e != nil {
		t.Fatal(e)
	}
	var sb struct{ Name, Status string }
	if err := json.Unmarshal([]byte(c["text"].(string)), &sb); err != nil {
		t.Fatal(err)
	}
	if sb.Name != "a" || sb.Status != "running" || c["mimeType"] != mimeJSON ||
		c["uri"] != StatusURI("a") {
		t.Errorf("status = %v", c)
	}

	c, e = h.read(SessionsURI("a"))
	if e != nil {
		t.Fatal(e)
	}
	if c["text"] != "{\n  \"sandbox\": \"a\",\n  \"sessions\": []\n}" {
		t.Errorf("sessions of a sandbox without any = %q", c["text"])
	}
	m.startSession("a", "x", "")
	c, _ = h.read(SessionsURI("a"))
	var list sessionList
	if err := json.Unmarshal([]byte(c["text"].(string)), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Sessions) != 1 || list.Sessions[0].ID != "x" || !list.Sessions[0].Running {
		t.Errorf("sessions = %+v", list)
	}
}

func TestRead_Errors(t *testing.T) {
	m := newFakeManager("a")
	m.startSession("a", "x", "")
	h := newHarness(t, m, fastOptions())
	tests := []struct {
		name string
		uri  string
		code float64
		want string
	}{
		{"unknown sandbox", StatusURI("zz"), -32603, `read sandbox://zz/status: no sandbox`},
		{"unknown sandbox sessions", SessionsURI("zz"), -32603, "no sandbox"},
		{"unknown session", LogURI("a", "nope"), -32603, "no session"},
		// Only a URI that matches no template gets "resource not found".
		{"no such resource", "sandbox://a/files", -32002, "resource not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, e := h.read(tt.uri)
			if e == nil || e["code"] != tt.code || !strings.Contains(fmt.Sprint(e["message"]),
				tt.want) {
				t.Errorf("read %s: error %v, want code %v mentioning %q", tt.uri, e, tt.code,
					tt.want)
			}
		})
	}
	m.pause("a")
	if _, e := h.read(LogURI("a", "x")); e == nil ||
		!strings.Contains(fmt.Sprint(e["message"]), "paused") {
		t.Errorf("log of a paused sandbox: error %v, want it to say paused", e)
	}
}

// logLines returns n numbered lines of width bytes each, newline included.
func logLines(from, n, width int) string {
	var b strings.Builder
	for i := from; i < from+n; i++ {
		line := fmt.Sprintf("line-%06d ", i)
		b.WriteString(line + strings.Repeat("x", width-len(line)-1) + "\n")
	}

	return b.String()
}

func TestRead_LogTail(t *testing.T) {
	tests := []struct {
		name      string
		log       string
		wantStart int
	}{
		{"empty", "", 0},
		{"short", logLines(0, 3, 20), 0},
		{"exactly the tail", logLines(0, TailBytes/64, 64), 0},
		// The byte before the last TailBytes ends a line: start right there.
		{"boundary before the tail", logLines(0, TailBytes/64+10, 64), 10 * 64},
		// Otherwise skip the partial line.
		{"long", logLines(0, 3000, 50), 3000*50 - (TailBytes/50)*50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newFakeManager("a")
			m.startSession("a", "x", tt.log)
			h := newHarness(t, m, fastOptions())
			c, e := h.read(LogURI("a", "x"))
			if e != nil {
				t.Fatal(e)
			}
			meta := c["_meta"].(map[string]any)
			start, end := int(meta["byte_start"].(float64)), int(meta["byte_end"].(float64))
			if start != tt.wantStart || end != len(tt.log) ||
				meta["size"] != float64(len(tt.log)) || meta["running"] != true ||
				c["text"] != tt.log[start:end] || c["mimeType"] != mimeText {
				t.Errorf("tail = %v bytes %d..%d, want %d..%d", meta, start, end, tt.wantStart,
					len(tt.log))
			}
			if end-start > TailBytes {
				t.Errorf("tail is %d bytes, more than %d", end-start, TailBytes)
			}
		})
	}
}
