package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/longrun/sandstorm/flyclient"
	"github.com/longrun/sandstorm/flyclient/flylocal/machine"
)

// updateGolden rewrites the golden files under testdata: UPDATE_GOLDEN=1 go test.
var updateGolden = flag.Bool("update", os.Getenv("UPDATE_GOLDEN") != "",
	"rewrite golden files")

// Protocol versions the go-sdk client can be pinned to. The empty version is
// the client's default: the 2026 revision, with subscriptions/listen.
const (
	legacyProtocol = "2025-11-25"
	modernProtocol = ""
)

// eras are the protocol revisions every resource test runs under.
var eras = []struct{ name, version string }{
	{"legacy", legacyProtocol},
	{"modern", modernProtocol},
}

// watcher is an MCP client that records resource notifications as they come.
type watcher struct {
	*client
	updated     chan string // URIs of notifications/resources/updated
	listChanged chan struct{}
	logs        chan *sdk.LoggingMessageParams
}

func newWatcher() *watcher {
	return &watcher{updated: make(chan string, 100), listChanged: make(chan struct{}, 100),
		logs: make(chan *sdk.LoggingMessageParams, 100)}
}

// startWatcher starts the binary and connects to it with the given protocol
// version, recording resource notifications.
func startWatcher(t *testing.T, stateDir, version string, env ...string) *watcher {
	t.Helper()
	if err := machine.Supported(); err != nil {
		t.Skipf("machines cannot run here: %v", err)
	}
	w := newWatcher()
	cl := sdk.NewClient(&sdk.Implementation{Name: "resources-e2e", Version: "0"},
		w.options())
	cmd := exec.Command(binary)
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"SANDSTORM_STATE_DIR=" + stateDir,
		"SANDSTORM_PREFIX=e2e-",
		"SANDSTORM_LOG_LEVEL=warn",
	}, env...)
	cmd.Stderr = &testWriter{t: t}
	cs, err := cl.Connect(t.Context(), &sdk.CommandTransport{Command: cmd},
		&sdk.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	w.client = &client{t: t, cs: cs}

	return w
}

// options are client options whose handlers feed w's channels.
func (w *watcher) options() *sdk.ClientOptions {
	return &sdk.ClientOptions{
		ResourceUpdatedHandler: func(_ context.Context, r *sdk.ResourceUpdatedNotificationRequest) {
			w.updated <- r.Params.URI
		},
		ResourceListChangedHandler: func(context.Context, *sdk.ResourceListChangedRequest) {
			w.listChanged <- struct{}{}
		},
		LoggingMessageHandler: func(_ context.Context, r *sdk.LoggingMessageRequest) {
			w.logs <- r.Params
		},
	}
}

// drain forgets the notifications received so far.
func (w *watcher) drain() {
	for {
		select {
		case <-w.updated:
		case <-w.listChanged:
		case <-w.logs:
		default:
			return
		}
	}
}

// waitUpdated waits until an update for uri arrives by deadline and returns
// when it did.
func (w *watcher) waitUpdated(uri string, deadline time.Time) (time.Time, bool) {
	w.t.Helper()
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		select {
		case got := <-w.updated:
			if got == uri {
				return time.Now(), true
			}
		case <-timer.C:
			return time.Time{}, false
		}
	}
}

// waitAll waits until updates for all of uris arrive by deadline, in any
// order, and returns those that did not.
func (w *watcher) waitAll(deadline time.Time, uris ...string) (missing []string) {
	w.t.Helper()
	want := make(map[string]bool, len(uris))
	for _, u := range uris {
		want[u] = true
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for len(want) > 0 {
		select {
		case got := <-w.updated:
			delete(want, got)
		case <-timer.C:
			return slices.Sorted(maps.Keys(want))
		}
	}

	return nil
}

func (w *watcher) waitListChanged(within time.Duration) bool {
	select {
	case <-w.listChanged:
		return true
	case <-time.After(within):
		return false
	}
}

// read reads a resource that must exist and returns its one content.
func (w *watcher) read(uri string) *sdk.ResourceContents {
	w.t.Helper()
	res, err := w.cs.ReadResource(w.t.Context(), &sdk.ReadResourceParams{URI: uri})
	if err != nil {
		w.t.Fatalf("read %s: %v", uri, err)
	}
	if len(res.Contents) != 1 {
		w.t.Fatalf("read %s: %d contents, want 1", uri, len(res.Contents))
	}

	return res.Contents[0]
}

// listed returns the URIs resources/list shows.
func (w *watcher) listed() []string {
	w.t.Helper()
	res, err := w.cs.ListResources(w.t.Context(), nil)
	if err != nil {
		w.t.Fatal(err)
	}
	var uris []string
	for _, r := range res.Resources {
		if r.Name != strings.TrimSuffix(strings.TrimPrefix(r.URI, "sandbox://"), "/status") {
			w.t.Errorf("resource %s is named %q, want the sandbox's name", r.URI, r.Name)
		}
		uris = append(uris, r.URI)
	}

	return uris
}

// goldenFile compares got with testdata/name, or rewrites it under -update.
func goldenFile(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *updateGolden {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}

		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (UPDATE_GOLDEN=1 go test ./cmd/sandstorm-mcp creates "+
			"it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s changed; if intended, rerun with UPDATE_GOLDEN=1.\ngot:\n%s", name, got)
	}
}

func indentJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}

	return append(b, '\n')
}

// TestResources_Definitions pins what resources/templates/list and
// prompts/list show the model, the same in both protocol eras.
func TestResources_Definitions(t *testing.T) {
	state := t.TempDir()
	for _, era := range eras {
		t.Run(era.name, func(t *testing.T) {
			w := startWatcher(t, state, era.version)
			tmpl, err := w.cs.ListResourceTemplates(t.Context(), nil)
			if err != nil {
				t.Fatal(err)
			}
			goldenFile(t, "resources_templates.json", indentJSON(t, tmpl.ResourceTemplates))
			prompts, err := w.cs.ListPrompts(t.Context(), nil)
			if err != nil {
				t.Fatal(err)
			}
			goldenFile(t, "prompts.json", indentJSON(t, prompts.Prompts))

			got, err := w.cs.GetPrompt(t.Context(), &sdk.GetPromptParams{
				Name: "investigate_sandbox", Arguments: map[string]string{"sandbox": "alice"}})
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Messages) == 0 {
				t.Fatal("investigate_sandbox returned no messages")
			}
			text := got.Messages[0].Content.(*sdk.TextContent).Text
			for _, want := range []string{"sandbox_get", "session_list", "session_logs", "alice"} {
				if !strings.Contains(text, want) {
					t.Errorf("investigate_sandbox text lacks %q:\n%s", want, text)
				}
			}
			if _, err := w.cs.GetPrompt(t.Context(), &sdk.GetPromptParams{
				Name: "investigate_sandbox"}); err == nil {
				t.Error("investigate_sandbox without its sandbox argument succeeded")
			}
		})
	}
}

// TestResources_ListAndStatus follows a sandbox through resources/list and
// its status resource: listed on create with list_changed, an update within
// two seconds of sandbox_pause, and unlisted on delete.
func TestResources_ListAndStatus(t *testing.T) {
	for _, era := range eras {
		t.Run(era.name, func(t *testing.T) {
			w := startWatcher(t, t.TempDir(), era.version)
			if got := w.listed(); len(got) != 0 {
				t.Fatalf("resources/list of a new server = %v, want none", got)
			}
			uri := "sandbox://r1/status"

			w.ok("sandbox_create", map[string]any{"name": "r1", "memory_mb": 256, "cpus": 1}, nil)
			if !w.waitListChanged(5 * time.Second) {
				t.Error("no notifications/resources/list_changed after sandbox_create")
			}
			if got := w.listed(); len(got) != 1 || got[0] != uri {
				t.Fatalf("resources/list = %v, want [%s]", got, uri)
			}
			var st struct{ Name, Status string }
			if err := json.Unmarshal([]byte(w.read(uri).Text), &st); err != nil {
				t.Fatal(err)
			}
			if st.Name != "r1" || st.Status != "running" {
				t.Errorf("status resource = %+v, want r1 running", st)
			}

			if err := w.cs.Subscribe(t.Context(), &sdk.SubscribeParams{URI: uri}); err != nil {
				t.Fatal(err)
			}
			w.drain()
			w.ok("sandbox_pause", map[string]any{"sandbox": "r1"}, nil)
			if _, ok := w.waitUpdated(uri, time.Now().Add(2*time.Second)); !ok {
				t.Fatal("no notifications/resources/updated within 2s of sandbox_pause")
			}
			content := w.read(uri)
			if err := json.Unmarshal([]byte(content.Text), &st); err != nil {
				t.Fatal(err)
			}
			if st.Status != "paused" || content.MIMEType != "application/json" {
				t.Errorf("status after pause = %+v (%s), want paused", st, content.MIMEType)
			}

			w.drain()
			w.ok("sandbox_delete", map[string]any{"sandbox": "r1"}, nil)
			if !w.waitListChanged(5 * time.Second) {
				t.Error("no notifications/resources/list_changed after sandbox_delete")
			}
			if _, ok := w.waitUpdated(uri, time.Now().Add(2*time.Second)); !ok {
				t.Error("no notifications/resources/updated for the deleted sandbox")
			}
			if got := w.listed(); len(got) != 0 {
				t.Errorf("resources/list after delete = %v, want none", got)
			}
			_, err := w.cs.ReadResource(t.Context(), &sdk.ReadResourceParams{URI: uri})
			if err == nil || !strings.Contains(err.Error(), `no sandbox named "r1"`) {
				t.Errorf("read of a deleted sandbox: err = %v, want no sandbox named", err)
			}
		})
	}
}

// TestResources_StatusSeenChange stops a sandbox's machine behind the
// server's back, as Fly might: a client subscribed to its status hears of
// it within two seconds, in both protocol eras.
func TestResources_StatusSeenChange(t *testing.T) {
	t.Parallel()
	for _, era := range eras {
		t.Run(era.name, func(t *testing.T) {
			t.Parallel()
			p := startInProcess(t, era.version)
			var sb struct {
				App       string `json:"app"`
				MachineID string `json:"machine_id"`
			}
			p.ok("sandbox_create", map[string]any{"name": "seen", "memory_mb": 256, "cpus": 1},
				&sb)
			uri := "sandbox://seen/status"
			if err := p.cs.Subscribe(t.Context(), &sdk.SubscribeParams{URI: uri}); err != nil {
				t.Fatal(err)
			}
			// The first reading after a subscription is the baseline.
			time.Sleep(1500 * time.Millisecond)
			p.drain()

			fly := flyclient.New("t", flyclient.WithBaseURL(p.flyURL))
			if err := fly.StopMachine(t.Context(), sb.App, sb.MachineID,
				flyclient.StopRequest{}); err != nil {
				t.Fatal(err)
			}
			if _, ok := p.waitUpdated(uri, time.Now().Add(2*time.Second)); !ok {
				t.Fatal("no resources/updated within 2s of the machine stopping")
			}
			var status struct{ Status, MachineState string }
			raw := p.read(uri).Text
			if err := json.Unmarshal([]byte(raw), &status); err != nil {
				t.Fatal(err)
			}
			if status.Status != "stopped" && status.MachineState != "stopping" {
				t.Errorf("status after the stop = %s", raw)
			}
		})
	}
}
