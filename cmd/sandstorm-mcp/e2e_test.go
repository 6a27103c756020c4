package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/longrun/sandstorm/flyclient/flylocal/machine"
)

// binary is the sandstorm-mcp binary built once for the end-to-end tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sandstorm-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "sandstorm-mcp")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build sandstorm-mcp:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// client is an MCP client session with the binary over stdio, recording the
// notifications it receives in order with the results of tool calls.
type client struct {
	t  *testing.T
	cs *sdk.ClientSession

	mu     sync.Mutex
	calls  int
	events []string
}

func startBinary(t *testing.T, stateDir string, extraEnv ...string) *client {
	t.Helper()
	if err := machine.Supported(); err != nil {
		t.Skipf("machines cannot run here: %v", err)
	}
	c := &client{t: t}
	cmd := exec.Command(binary)
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"SANDSTORM_STATE_DIR=" + stateDir,
		"SANDSTORM_PREFIX=e2e-",
		"SANDSTORM_LOG_LEVEL=warn",
	}, extraEnv...)
	cmd.Stderr = &testWriter{t: t}
	cl := sdk.NewClient(&sdk.Implementation{Name: "e2e", Version: "0"}, &sdk.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, r *sdk.ProgressNotificationClientRequest) {
			c.record(fmt.Sprintf("progress %v %s", r.Params.ProgressToken, r.Params.Message))
		},
	})
	cs, err := cl.Connect(t.Context(), &sdk.CommandTransport{Command: cmd}, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	c.cs = cs

	return c
}

func (c *client) record(ev string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, ev)
}

// call invokes a tool with a progress token and returns the result.
func (c *client) call(name string, args map[string]any) *sdk.CallToolResult {
	c.t.Helper()
	c.mu.Lock()
	c.calls++
	token := fmt.Sprintf("%s#%d", name, c.calls)
	c.mu.Unlock()
	p := &sdk.CallToolParams{Name: name, Arguments: args}
	p.SetProgressToken(token)
	ctx, cancel := context.WithTimeout(c.t.Context(), 3*time.Minute)
	defer cancel()
	res, err := c.cs.CallTool(ctx, p)
	if err != nil {
		c.t.Fatalf("%s: %v", name, err)
	}
	c.record("result " + token)

	return res
}

// ok calls a tool that must succeed and decodes its structured content into out.
func (c *client) ok(name string, args map[string]any, out any) {
	c.t.Helper()
	res := c.call(name, args)
	if res.IsError {
		c.t.Fatalf("%s(%v) failed: %s", name, args, text(res))
	}
	raw, err := json.Marshal(res.StructuredContent)
	if err != nil {
		c.t.Fatal(err)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			c.t.Fatalf("%s: decode %s: %v", name, raw, err)
		}
	}
	if !strings.Contains(text(res), "{") {
		c.t.Errorf("%s: text content %q lacks the JSON rendering", name, text(res))
	}
}

// fails calls a tool that must report an isError result mentioning want.
func (c *client) fails(name string, args map[string]any, want string) {
	c.t.Helper()
	res := c.call(name, args)
	if !res.IsError {
		c.t.Errorf("%s(%v) succeeded, want an error mentioning %q", name, args, want)
		return
	}
	if !strings.Contains(text(res), want) {
		c.t.Errorf("%s(%v) error = %q, want it to mention %q", name, args, text(res), want)
	}
}

func text(res *sdk.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*sdk.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}

	return b.String()
}

type testWriter struct{ t *testing.T }

func (w *testWriter) Write(p []byte) (int, error) {
	w.t.Logf("server: %s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

type sandboxOut struct {
	Name      string   `json:"name"`
	Status    string   `json:"status"`
	MachineID string   `json:"machine_id"`
	EnvNames  []string `json:"env_names"`
	MemoryMB  int      `json:"memory_mb"`
}

func TestStdio_EveryTool(t *testing.T) {
	c := startBinary(t, t.TempDir())

	tools, err := c.cs.ListTools(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(tools.Tools) != 20 {
		t.Errorf("tools/list has %d tools, want 20", len(tools.Tools))
	}

	var sb sandboxOut
	c.ok("sandbox_create", map[string]any{"name": "bob", "memory_mb": 512, "cpus": 1,
		"env": map[string]any{"TOKEN": "s3cret-value"}}, &sb)
	if sb.Status != "running" || sb.MachineID == "" {
		t.Fatalf("create = %+v", sb)
	}
	c.ok("sandbox_get", map[string]any{"sandbox": "bob"}, &sb)
	if strings.Join(sb.EnvNames, ",") != "TOKEN" {
		t.Errorf("env names = %v", sb.EnvNames)
	}
	var list struct{ Sandboxes []sandboxOut }
	c.ok("sandbox_list", map[string]any{}, &list)
	if len(list.Sandboxes) != 1 || list.Sandboxes[0].Name != "bob" {
		t.Errorf("list = %+v", list)
	}

	var ex struct {
		Stdout   string `json:"stdout"`
		ExitCode int    `json:"exit_code"`
	}
	c.ok("sandbox_exec", map[string]any{"sandbox": "bob", "command": "echo $TOKEN $EXTRA",
		"env": map[string]any{"EXTRA": "x"}}, &ex)
	if ex.Stdout != "s3cret-value x\n" || ex.ExitCode != 0 {
		t.Errorf("exec = %+v", ex)
	}
	// Allowed more than Fly's exec window, the command runs detached, polled,
	// with progress while it runs.
	c.ok("sandbox_exec", map[string]any{"sandbox": "bob", "command": "sleep 2; echo long",
		"timeout_seconds": 120}, &ex)
	if ex.Stdout != "long\n" || ex.ExitCode != 0 {
		t.Errorf("detached exec = %+v", ex)
	}

	blob := []byte{0, 1, 2, 0xff, 0xfe, '\n', 'z'}
	c.ok("sandbox_write_file", map[string]any{"sandbox": "bob", "path": "/data/keep/blob",
		"content": base64.StdEncoding.EncodeToString(blob), "encoding": "base64"}, nil)
	c.ok("sandbox_write_file", map[string]any{"sandbox": "bob", "path": "/data/keep/note.txt",
		"content": "héllo\n", "mode": "640"}, nil)
	var ls struct {
		Entries []struct{ Path, Type, Mode string }
	}
	c.ok("sandbox_list_files", map[string]any{"sandbox": "bob", "path": "/data/keep"}, &ls)
	if len(ls.Entries) != 2 {
		t.Errorf("list_files = %+v", ls)
	}

	var paused struct {
		Snapshot struct{ ID string } `json:"snapshot"`
	}
	c.ok("sandbox_pause", map[string]any{"sandbox": "bob"}, &paused)
	if paused.Snapshot.ID == "" {
		t.Fatal("pause returned no snapshot")
	}
	c.fails("sandbox_exec", map[string]any{"sandbox": "bob", "command": "true"}, "paused")
	c.ok("sandbox_update_env", map[string]any{"sandbox": "bob",
		"env": map[string]any{"LATER": "1"}}, &sb)
	c.ok("sandbox_resume", map[string]any{"sandbox": "bob", "memory_mb": 1024}, &sb)
	if sb.Status != "running" || sb.MemoryMB != 1024 {
		t.Errorf("resume = %+v", sb)
	}

	var rf struct {
		Content  string `json:"content"`
		Encoding string `json:"encoding"`
		Size     int64  `json:"size"`
	}
	c.ok("sandbox_read_file", map[string]any{"sandbox": "bob", "path": "/data/keep/blob"}, &rf)
	if rf.Encoding != "base64" || rf.Content != base64.StdEncoding.EncodeToString(blob) {
		t.Errorf("blob after resume = %+v", rf)
	}
	c.ok("sandbox_read_file", map[string]any{"sandbox": "bob", "path": "/data/keep/note.txt",
		"offset": 1}, &rf)
	if rf.Encoding != "text" || rf.Content != "éllo\n" || rf.Size != 7 {
		t.Errorf("note after resume = %+v", rf)
	}
	c.ok("sandbox_exec", map[string]any{"sandbox": "bob", "command": "echo $LATER"}, &ex)
	if ex.Stdout != "1\n" {
		t.Errorf("env set while paused = %q, want 1", ex.Stdout)
	}

	var hold struct {
		Phase string `json:"phase"`
		Hold  struct {
			Active bool   `json:"active"`
			Reason string `json:"reason"`
		} `json:"hold"`
	}
	c.ok("sandbox_keepalive", map[string]any{"sandbox": "bob", "minutes": 90,
		"reason": "nightly build"}, &hold)
	if !hold.Hold.Active || hold.Hold.Reason != "nightly build" || hold.Phase != "active" {
		t.Errorf("keepalive = %+v", hold)
	}
	var idle struct {
		Active    int `json:"active"`
		Sandboxes []struct {
			Sandbox string   `json:"sandbox"`
			Verdict string   `json:"verdict"`
			Reasons []string `json:"reasons"`
		} `json:"sandboxes"`
	}
	c.ok("sandbox_find_idle", map[string]any{"minutes": 5}, &idle)
	if len(idle.Sandboxes) != 1 || idle.Sandboxes[0].Verdict != "active" ||
		!strings.Contains(strings.Join(idle.Sandboxes[0].Reasons, " "), "nightly build") {
		t.Errorf("find_idle = %+v, want bob active by its hold", idle)
	}
	c.ok("sandbox_find_idle", map[string]any{"verdicts": []string{"idle", "unknown"}}, &idle)
	if len(idle.Sandboxes) != 0 || idle.Active != 1 {
		t.Errorf("find_idle of idle and unknown = %+v, want none listed, one counted active",
			idle)
	}
	var plan struct {
		DryRun  bool  `json:"dry_run"`
		Checked int   `json:"checked"`
		Plan    []any `json:"plan"`
	}
	c.ok("lifecycle_check", map[string]any{"dry_run": true, "warn_after_minutes": -1,
		"pause_after_minutes": 1}, &plan)
	if !plan.DryRun || plan.Checked != 1 || len(plan.Plan) != 0 {
		t.Errorf("lifecycle_check dry run = %+v, want nothing planned for a held sandbox", plan)
	}

	c.ok("sandbox_delete", map[string]any{"sandbox": "bob"}, nil)
	c.fails("sandbox_get", map[string]any{"sandbox": "bob"}, "no sandbox named")

	time.Sleep(100 * time.Millisecond)
	checkProgressOrder(t, c.events)
}

// checkProgressOrder fails when a progress notification for a call arrived
// after that call's result, and when long calls sent none.
func checkProgressOrder(t *testing.T, events []string) {
	t.Helper()
	done := map[string]bool{}
	seen := map[string]bool{}
	for _, ev := range events {
		kind, rest, _ := strings.Cut(ev, " ")
		token, _, _ := strings.Cut(rest, " ")
		switch kind {
		case "result":
			done[token] = true
		case "progress":
			name, _, _ := strings.Cut(token, "#")
			seen[name] = true
			if done[token] {
				t.Errorf("progress for %s arrived after its result: %q", token, ev)
			}
		}
	}
	for _, name := range []string{"sandbox_create", "sandbox_pause", "sandbox_resume",
		"sandbox_exec"} {
		if !seen[name] {
			t.Errorf("no progress notification for %s", name)
		}
	}
}

func TestStdio_BadInput(t *testing.T) {
	c := startBinary(t, t.TempDir())
	c.ok("sandbox_create", map[string]any{"name": "keep", "memory_mb": 256, "cpus": 1}, nil)
	c.ok("sandbox_write_file", map[string]any{"sandbox": "keep", "path": "/data/f",
		"content": "original"}, nil)

	tests := []struct {
		name string
		tool string
		args map[string]any
		want string
	}{
		{"uppercase name", "sandbox_create", map[string]any{"name": "Bad_Name"}, "not valid"},
		{"long name", "sandbox_create", map[string]any{"name": strings.Repeat("a", 70)},
			"too long"},
		{"duplicate name", "sandbox_create", map[string]any{"name": "keep"}, "already exists"},
		{"bad memory", "sandbox_create", map[string]any{"name": "m", "memory_mb": 300}, "memory"},
		{"bad env name", "sandbox_create", map[string]any{"name": "e",
			"env": map[string]any{"1X": "v"}}, "env name"},
		{"NUL in env value", "sandbox_update_env", map[string]any{"sandbox": "keep",
			"env": map[string]any{"SECRET": "s3cret\x00tail"}}, "NUL"},
		{"unknown sandbox", "sandbox_exec", map[string]any{"sandbox": "ghost",
			"command": "true"}, "no sandbox named"},
		{"unknown sandbox pause", "sandbox_pause", map[string]any{"sandbox": "ghost"},
			"no sandbox named"},
		{"relative path", "sandbox_write_file", map[string]any{"sandbox": "keep",
			"path": "f", "content": "x"}, "relative"},
		{"NUL in path", "sandbox_read_file", map[string]any{"sandbox": "keep",
			"path": "/data/f\x00x"}, "NUL"},
		{"missing file", "sandbox_read_file", map[string]any{"sandbox": "keep",
			"path": "/data/nope"}, "does not exist"},
		{"bad base64", "sandbox_write_file", map[string]any{"sandbox": "keep",
			"path": "/data/f", "content": "***", "encoding": "base64"}, "base64"},
		{"oversize content", "sandbox_write_file", map[string]any{"sandbox": "keep",
			"path": "/data/f", "content": strings.Repeat("x", 32<<20+1)}, "limit"},
		{"wrong type", "sandbox_exec", map[string]any{"sandbox": "keep",
			"command": 42}, "command"},
		{"unknown argument", "sandbox_get", map[string]any{"sandbox": "keep",
			"verbose": true}, "verbose"},
		{"missing argument", "sandbox_exec", map[string]any{"sandbox": "keep"}, "command"},
		{"timeout too long", "sandbox_exec", map[string]any{"sandbox": "keep",
			"command": "true", "timeout_seconds": 7200}, "timeout"},
		{"unknown snapshot", "sandbox_resume", map[string]any{"sandbox": "keep",
			"snapshot_id": "vs_nope"}, "keep"},
		{"warn after pause", "sandbox_create", map[string]any{"name": "w",
			"idle_policy": map[string]any{"warn_after_minutes": 30,
				"pause_after_minutes": 20}}, "warn after"},
		{"keepalive too long", "sandbox_keepalive", map[string]any{"sandbox": "keep",
			"minutes": 20000}, "minutes"},
		{"keepalive unknown sandbox", "sandbox_keepalive", map[string]any{"sandbox": "ghost",
			"minutes": 5}, "no sandbox named"},
		{"idle window too short", "sandbox_find_idle", map[string]any{"minutes": 0.5},
			"minutes"},
		{"unknown verdict", "sandbox_find_idle", map[string]any{"verdicts": []string{"sleepy"}},
			"verdicts"},
		{"check thresholds out of order", "lifecycle_check", map[string]any{
			"warn_after_minutes": 50, "pause_after_minutes": 40}, "warn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.t = t
			c.fails(tt.tool, tt.args, tt.want)
		})
	}
	c.t = t

	var list struct{ Sandboxes []sandboxOut }
	c.ok("sandbox_list", map[string]any{}, &list)
	if len(list.Sandboxes) != 1 || list.Sandboxes[0].Status != "running" {
		t.Errorf("after bad input, sandboxes = %+v; want only keep, running", list.Sandboxes)
	}
	var rf struct{ Content string }
	c.ok("sandbox_read_file", map[string]any{"sandbox": "keep", "path": "/data/f"}, &rf)
	if rf.Content != "original" {
		t.Errorf("file after bad input = %q, want original", rf.Content)
	}
}
