package sandstorm_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/longrun/sandstorm"
	"github.com/longrun/sandstorm/flyclient"
	"github.com/longrun/sandstorm/flyclient/flylocal"
	"github.com/longrun/sandstorm/flyclient/flylocal/machine"
	"github.com/longrun/sandstorm/store"
)

// gitRepo makes a repository with one commit on branch main, in a directory a
// machine can see: machines have a private /tmp, so it lives under /var/tmp.
func gitRepo(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	dir, err := os.MkdirTemp("/var/tmp", "sandstorm-repo-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
			"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q", "-b", "main")
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte("hello repo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git("add", "README.md")
	git("commit", "-q", "-m", "first")

	return dir
}

func TestManager_CreateClonesRepoWithoutKeepingToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	repo := gitRepo(t)
	const token = "ghp_SECRETtoken1234567890"

	sb, err := e.m.Create(t.Context(), sandstorm.CreateRequest{Name: "clone", MemoryMB: 256,
		CPUs: 1, Repo: &sandstorm.RepoRequest{URL: repo, Token: token}})
	if err != nil {
		t.Fatal(err)
	}
	if sb.Repo == nil || sb.Repo.Path != "/data/project" || sb.Repo.Branch != "main" {
		t.Errorf("repo = %+v", sb.Repo)
	}
	res := e.exec(t, "clone", "cat /data/project/README.md; cat /data/project/.git/config")
	if !strings.HasPrefix(res.Stdout, "hello repo\n") {
		t.Errorf("clone content = %q", res.Stdout)
	}
	if strings.Contains(res.Stdout, token) {
		t.Error(".git/config holds the token")
	}
	events, err := e.store.Events(t.Context(), store.EventFilter{Sandbox: "clone"})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range events {
		if strings.Contains(string(ev.Args), token) || strings.Contains(ev.Error, token) {
			t.Errorf("audit event %s holds the token", ev.Operation)
		}
	}
	rec, _ := e.store.GetSandbox(t.Context(), "clone")
	if strings.Contains(string(rec.Spec), token) {
		t.Error("stored spec holds the token")
	}
}

func TestManager_CreateWithBadRepoRemovesEverything(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, err := e.m.Create(t.Context(), sandstorm.CreateRequest{Name: "badrepo", MemoryMB: 256,
		CPUs: 1, Repo: &sandstorm.RepoRequest{URL: "/var/tmp/does-not-exist.git"}})
	var stepErr *sandstorm.StepError
	if !errors.As(err, &stepErr) || stepErr.Step != "clone repository" {
		t.Fatalf("err = %v, want a step error at clone repository", err)
	}
	if apps, _ := e.client.ListApps(t.Context(), "personal"); len(apps) != 0 {
		t.Errorf("apps left after failed create: %v", apps)
	}
	if _, err := e.m.Get(t.Context(), "badrepo"); !errors.Is(err, sandstorm.ErrNotFound) {
		t.Errorf("record left after failed create: %v", err)
	}
}

func TestManager_PauseKeepsMachineWhenSnapshotFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createWithMarker(t)
	before, _ := e.m.Get(t.Context(), "f")

	e.fly.FailSnapshots(1)
	_, err := e.m.Pause(t.Context(), "f", nil)
	var stepErr *sandstorm.StepError
	if !errors.As(err, &stepErr) || stepErr.Step != "snapshot volume" ||
		!strings.Contains(err.Error(), "machine was left running") {
		t.Fatalf("pause err = %v, want a snapshot step error saying the machine runs", err)
	}
	after, err := e.m.Get(t.Context(), "f")
	if err != nil || after.Status != sandstorm.StatusRunning || after.MachineID != before.MachineID {
		t.Fatalf("after failed pause: %+v, %v; want the same machine running", after, err)
	}
	checkData(t, e, "pause", err)
}

func TestManager_ResumeOlderSnapshot(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	write := func(content string) {
		t.Helper()
		_, err := e.m.WriteFile(ctx, sandstorm.WriteFileRequest{Sandbox: "old", Path: marker,
			Content: []byte(content)})
		if err != nil {
			t.Fatal(err)
		}
	}
	e.create(t, "old")
	write("first")
	first, err := e.m.Pause(ctx, "old", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.Resume(ctx, sandstorm.ResumeRequest{Name: "old"}); err != nil {
		t.Fatal(err)
	}
	write("second")
	if _, err := e.m.Pause(ctx, "old", nil); err != nil {
		t.Fatal(err)
	}
	sb, err := e.m.Resume(ctx, sandstorm.ResumeRequest{Name: "old",
		SnapshotID: first.Snapshot.ID})
	if err != nil {
		t.Fatal(err)
	}
	if sb.VolumeID == first.Snapshot.VolumeID {
		t.Error("resume from an older snapshot kept the old volume")
	}
	if got := e.exec(t, "old", "cat "+marker).Stdout; got != "first" {
		t.Errorf("marker after restoring the first snapshot = %q, want first", got)
	}
	vols, err := e.client.ListVolumes(ctx, "t-old")
	if err != nil {
		t.Fatal(err)
	}
	live := 0
	for _, v := range vols {
		if v.State != flyclient.VolumeDestroyed {
			live++
		}
	}
	if live != 1 {
		t.Errorf("%d live volumes after restore, want 1 (the old one removed)", live)
	}
}

func TestManager_UpdateEnv(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	if _, err := e.m.Create(ctx, sandstorm.CreateRequest{Name: "envy", MemoryMB: 256, CPUs: 1,
		Env: map[string]string{"KEEP": "k", "DROP": "d"}}); err != nil {
		t.Fatal(err)
	}
	sb, err := e.m.UpdateEnv(ctx, sandstorm.UpdateEnvRequest{Name: "envy",
		Set: map[string]string{"NEW": "n"}, Unset: []string{"DROP"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(sb.EnvNames, ","); got != "KEEP,NEW" {
		t.Errorf("env names = %s, want KEEP,NEW", got)
	}
	const show = `echo "$KEEP-$NEW-$DROP"`
	if got := e.exec(t, "envy", show).Stdout; got != "k--d\n" {
		t.Errorf("before restart = %q, want the old env k--d", got)
	}
	if _, err := e.m.UpdateEnv(ctx, sandstorm.UpdateEnvRequest{Name: "envy",
		Restart: true}); err != nil {
		t.Fatal(err)
	}
	if got := e.exec(t, "envy", show).Stdout; got != "k-n-\n" {
		t.Errorf("after restart = %q, want k-n-", got)
	}
	_, err = e.m.UpdateEnv(ctx, sandstorm.UpdateEnvRequest{Name: "envy"})
	if !errors.Is(err, sandstorm.ErrInvalidInput) {
		t.Errorf("empty update: err = %v, want ErrInvalidInput", err)
	}
}

func TestManager_ExecLimits(t *testing.T) {
	t.Parallel()
	e := newEnvTimeout(t, 3*time.Second, func(c *sandstorm.Config) { c.ExecWindow = 2 * time.Second })
	e.create(t, "ex")
	ctx := t.Context()
	run := func(cmd string, timeout time.Duration) *sandstorm.ExecResult {
		t.Helper()
		res, err := e.m.Exec(ctx, sandstorm.ExecRequest{Sandbox: "ex", Command: cmd,
			Workdir: "/tmp", Env: map[string]string{"W": "w"}, Timeout: timeout})
		if err != nil {
			t.Fatalf("exec %q: %v", cmd, err)
		}

		return res
	}

	big := run(`head -c 300000 /dev/zero | tr '\0' a; printf END`, 2*time.Second)
	if !big.StdoutTruncated || len(big.Stdout) != sandstorm.MaxOutputBytes ||
		!strings.HasSuffix(big.Stdout, "aEND") || big.StderrTruncated {
		t.Errorf("big output: truncated=%v len=%d", big.StdoutTruncated, len(big.Stdout))
	}

	slow := run("echo started; sleep 30", time.Second)
	if !slow.TimedOut || slow.Detached || slow.Stdout != "started\n" || slow.DurationMS > 8000 {
		t.Errorf("timed-out direct exec = %+v", slow)
	}

	long := run(`pwd; echo "$W"; echo oops >&2; sleep 1; exit 7`, 10*time.Second)
	if !long.Detached || long.ExitCode != 7 || long.Stdout != "/tmp\nw\n" || long.Stderr != "oops\n" {
		t.Errorf("detached exec = %+v", long)
	}

	longSlow := run("sleep 60", 3*time.Second)
	if !longSlow.Detached || !longSlow.TimedOut {
		t.Errorf("timed-out detached exec = %+v", longSlow)
	}
	// With a short timeout the check itself runs direct, not as a job.
	if n := run("ls /data/.sandstorm/jobs | wc -l", time.Second).Stdout; n != "0\n" {
		t.Errorf("detached job directories left behind: %s", n)
	}
}

func TestManager_AuditAndHistory(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	e.create(t, "aud")
	if _, err := e.m.Exec(ctx, sandstorm.ExecRequest{Sandbox: "aud", Command: ""}); err == nil {
		t.Fatal("empty command succeeded")
	}
	if _, err := e.m.Pause(ctx, "aud", nil); err != nil {
		t.Fatal(err)
	}
	events, err := e.store.Events(ctx, store.EventFilter{Sandbox: "aud"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range events {
		got = append(got, ev.Operation+":"+ev.Outcome)
	}
	if want := "pause:ok exec:error create:ok"; strings.Join(got, " ") != want {
		t.Errorf("audit trail = %v, want %s", got, want)
	}
	hist, err := e.store.StatusHistory(ctx, "aud", 10)
	if err != nil {
		t.Fatal(err)
	}
	var moves []string
	for _, h := range hist {
		moves = append(moves, h.From+">"+h.To)
	}
	if want := "running>paused creating>running >creating"; strings.Join(moves, " ") != want {
		t.Errorf("status history = %v, want %s", moves, want)
	}
}

// TestManager_CloneTokenInNoArgvOrLog pins that a repository token never
// appears in the argument list of any command the Manager runs in the
// machine, nor in any log line of the Manager or the Fly client at debug
// level: it travels only in exec's stdin.
func TestManager_CloneTokenInNoArgvOrLog(t *testing.T) {
	t.Parallel()
	if err := machine.Supported(); err != nil {
		t.Skipf("machines cannot run here: %v", err)
	}
	repo := gitRepo(t)
	const token = "ghp_ARGVtoken0987654321"
	dir := t.TempDir()
	fl, err := flylocal.New(flylocal.Options{StateDir: filepath.Join(dir, "fly")})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var argvs [][]string
	record := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/exec") {
			body, _ := io.ReadAll(r.Body)
			var req struct {
				Command []string `json:"command"`
			}
			_ = json.Unmarshal(body, &req)
			mu.Lock()
			argvs = append(argvs, req.Command)
			mu.Unlock()
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		fl.ServeHTTP(w, r)
	})
	ts := httptest.NewServer(record)
	t.Cleanup(func() { ts.Close(); _ = fl.Close() })
	var logs bytes.Buffer
	var logMu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &logMu},
		&slog.HandlerOptions{Level: slog.LevelDebug}))
	st, err := store.OpenSQLite(t.Context(), filepath.Join(dir, "sandstorm.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	m, err := sandstorm.New(flyclient.New("t", flyclient.WithBaseURL(ts.URL),
		flyclient.WithLogger(logger)), st, sandstorm.Config{Prefix: "t-", Logger: logger,
		PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}

	if _, err := m.Create(t.Context(), sandstorm.CreateRequest{Name: "argv", MemoryMB: 256,
		CPUs: 1, Repo: &sandstorm.RepoRequest{URL: repo, Token: token}}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(argvs) == 0 {
		t.Fatal("no exec was recorded")
	}
	for _, argv := range argvs {
		if strings.Contains(strings.Join(argv, "\x00"), token) {
			t.Errorf("an exec's argv holds the token: %q", argv)
		}
	}
	logMu.Lock()
	defer logMu.Unlock()
	if logs.Len() == 0 {
		t.Fatal("nothing was logged at debug level")
	}
	if strings.Contains(logs.String(), token) {
		t.Error("a log line holds the token")
	}
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()

	return l.w.Write(p)
}
