package sandstorm_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/longrun/sandstorm"
	"github.com/longrun/sandstorm/flyclient"
	"github.com/longrun/sandstorm/flyclient/flylocal"
	"github.com/longrun/sandstorm/flyclient/flylocal/machine"
	"github.com/longrun/sandstorm/store"
)

// env is a Manager on a fresh flylocal reached over real HTTP.
type env struct {
	fly      *flylocal.Server
	client   *flyclient.Client
	store    *store.SQLite
	m        *sandstorm.Manager
	stateDir string
}

func newEnv(t *testing.T) *env {
	t.Helper()

	return newEnvTimeout(t, 3*time.Second)
}

// newEnvTimeout is newEnv with the given limit on each HTTP attempt; configure,
// when given, adjusts the Manager's config.
func newEnvTimeout(t *testing.T, attempt time.Duration, configure ...func(*sandstorm.Config)) *env {
	t.Helper()

	return newEnvOpts(t, flylocal.Options{}, attempt, configure...)
}

// newEnvOpts is newEnvTimeout on a flylocal with opts; StateDir is filled in.
func newEnvOpts(t *testing.T, opts flylocal.Options, attempt time.Duration,
	configure ...func(*sandstorm.Config),
) *env {
	t.Helper()
	if err := machine.Supported(); err != nil {
		t.Skipf("machines cannot run here: %v", err)
	}
	dir := t.TempDir()
	opts.StateDir = filepath.Join(dir, "fly")
	fl, err := flylocal.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(fl)
	t.Cleanup(func() {
		ts.Close()
		_ = fl.Close()
	})
	client := flyclient.New("test-token", flyclient.WithBaseURL(ts.URL),
		flyclient.WithPrometheusURL(ts.URL+"/prometheus"),
		flyclient.WithBackoff(5*time.Millisecond, 50*time.Millisecond),
		flyclient.WithRequestTimeout(attempt))
	st, err := store.OpenSQLite(t.Context(), filepath.Join(dir, "sandstorm.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	cfg := sandstorm.Config{
		Prefix:       "t-",
		PollInterval: 10 * time.Millisecond,
		Logger:       slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	for _, c := range configure {
		c(&cfg)
	}
	m, err := sandstorm.New(client, st, cfg)
	if err != nil {
		t.Fatal(err)
	}

	return &env{fly: fl, client: client, store: st, m: m, stateDir: dir}
}

func (e *env) create(t *testing.T, name string) *sandstorm.Sandbox {
	t.Helper()
	sb, err := e.m.Create(t.Context(), sandstorm.CreateRequest{Name: name, MemoryMB: 512, CPUs: 1})
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}

	return sb
}

func (e *env) exec(t *testing.T, name, command string) *sandstorm.ExecResult {
	t.Helper()
	res, err := e.m.Exec(t.Context(), sandstorm.ExecRequest{Sandbox: name, Command: command})
	if err != nil {
		t.Fatalf("exec %q in %s: %v", command, name, err)
	}

	return res
}

func TestManager_Lifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()

	sb, err := e.m.Create(ctx, sandstorm.CreateRequest{Name: "alice", MemoryMB: 512, CPUs: 1,
		Env: map[string]string{"GREETING": "hello world"}})
	if err != nil {
		t.Fatal(err)
	}
	if sb.Status != sandstorm.StatusRunning || sb.MachineID == "" || sb.VolumeID == "" {
		t.Fatalf("created sandbox = %+v, want running with machine and volume", sb)
	}
	if sb.App != "t-alice" || sb.URL != "https://t-alice.fly.dev" || sb.Region != "ord" {
		t.Errorf("app, url, region = %s %s %s", sb.App, sb.URL, sb.Region)
	}
	if got := strings.Join(sb.EnvNames, ","); got != "GREETING" {
		t.Errorf("env names = %q, want GREETING", got)
	}
	ips, err := e.client.ListIPAssignments(ctx, "t-alice")
	if err != nil || len(ips) != 2 {
		t.Errorf("IP assignments = %v, %v; want a v6 and a shared v4", ips, err)
	}

	res := e.exec(t, "alice", `echo "$GREETING"; pwd; echo oops >&2; exit 3`)
	if res.Stdout != "hello world\n/data\n" || res.Stderr != "oops\n" || res.ExitCode != 3 {
		t.Errorf("exec = %+v", res)
	}

	content := make([]byte, 5<<20+17)
	_, _ = rand.Read(content)
	fi, err := e.m.WriteFile(ctx, sandstorm.WriteFileRequest{Sandbox: "alice",
		Path: "/data/dir/sub/blob.bin", Content: content, Mode: 0o600})
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size != int64(len(content)) || fi.Mode != "0600" {
		t.Errorf("write file = %+v", fi)
	}

	snapRes, err := e.m.Pause(ctx, "alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	if snapRes.Sandbox.Status != sandstorm.StatusPaused || snapRes.Snapshot.ID == "" {
		t.Fatalf("pause = %+v", snapRes)
	}
	machines, err := e.client.ListMachines(ctx, "t-alice", flyclient.ListMachinesOptions{})
	if err != nil || len(machines) != 0 {
		t.Fatalf("machines after pause = %v, %v; want none", machines, err)
	}
	again, err := e.m.Pause(ctx, "alice", nil)
	if err != nil || !again.AlreadyPaused || again.Snapshot.ID != snapRes.Snapshot.ID {
		t.Errorf("second pause = %+v, %v; want the same snapshot", again, err)
	}
	if _, err := e.m.Exec(ctx, sandstorm.ExecRequest{Sandbox: "alice", Command: "true"}); !errors.Is(err, sandstorm.ErrState) {
		t.Errorf("exec on paused sandbox: err = %v, want ErrState", err)
	}

	sb, err = e.m.Resume(ctx, sandstorm.ResumeRequest{Name: "alice", MemoryMB: 1024})
	if err != nil {
		t.Fatal(err)
	}
	if sb.Status != sandstorm.StatusRunning || sb.MemoryMB != 1024 {
		t.Errorf("resumed = %+v", sb)
	}
	got := readAll(t, e, "alice", "/data/dir/sub/blob.bin", int64(len(content)))
	if !bytes.Equal(got, content) {
		t.Fatalf("file after resume differs: %d bytes, want %d", len(got), len(content))
	}

	listing, err := e.m.ListFiles(ctx, "alice", "/data", 3)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, en := range listing.Entries {
		paths = append(paths, en.Type+":"+en.Path)
	}
	if !strings.Contains(strings.Join(paths, " "), "file:dir/sub/blob.bin") {
		t.Errorf("listing = %v", paths)
	}

	del, err := e.m.Delete(ctx, "alice")
	if err != nil || del.AppWasGone {
		t.Fatalf("delete = %+v, %v", del, err)
	}
	if _, err := e.client.GetApp(ctx, "t-alice"); !errors.Is(err, flyclient.ErrNotFound) {
		t.Errorf("app after delete: err = %v, want not found", err)
	}
	if _, err := e.m.Get(ctx, "alice"); !errors.Is(err, sandstorm.ErrNotFound) {
		t.Errorf("get after delete: err = %v, want ErrNotFound", err)
	}
	if _, err := e.m.Delete(ctx, "alice"); !errors.Is(err, sandstorm.ErrNotFound) {
		t.Errorf("second delete: err = %v, want ErrNotFound", err)
	}
}

// readAll reads a whole file through ReadFile in ranges.
func readAll(t *testing.T, e *env, name, path string, size int64) []byte {
	t.Helper()
	var out []byte
	for off := int64(0); off < size; {
		fc, err := e.m.ReadFile(t.Context(), sandstorm.ReadFileRequest{Sandbox: name,
			Path: path, Offset: off, MaxBytes: sandstorm.MaxReadBytes})
		if err != nil {
			t.Fatal(err)
		}
		if len(fc.Content) == 0 {
			break
		}
		out = append(out, fc.Content...)
		off += int64(len(fc.Content))
	}

	return out
}
