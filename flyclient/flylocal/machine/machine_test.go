//go:build linux

package machine

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// newMachine starts a machine for the test, filling in ID and RunDir when unset, and
// kills it at cleanup, checking that its run dir is gone afterwards.
func newMachine(t *testing.T, spec Spec) *Machine {
	t.Helper()
	if err := Supported(); err != nil {
		t.Skipf("machines cannot run here: %v", err)
	}
	if spec.ID == "" {
		spec.ID = "m-test"
	}
	if spec.RunDir == "" {
		spec.RunDir = filepath.Join(t.TempDir(), "run")
	}

	m, err := Start(spec)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := m.Kill(); err != nil {
			t.Errorf("Kill: %v", err)
		}
		if _, err := os.Stat(spec.RunDir); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("run dir after exit: got %v, want it removed", err)
		}
	})

	return m
}

// run execs req in m and fails the test on an error.
func run(t *testing.T, m *Machine, req ExecRequest) ExecResult {
	t.Helper()
	res, err := m.Exec(t.Context(), req)
	if err != nil {
		t.Fatalf("Exec %q: %v", req.Argv, err)
	}

	return res
}

// sh runs script with sh -c in m, passing args as $0, $1 and so on.
func sh(t *testing.T, m *Machine, script string, args ...string) ExecResult {
	t.Helper()

	return run(t, m, ExecRequest{Argv: append([]string{"sh", "-c", script}, args...)})
}

// machineProcesses returns the host pids of the processes in m's PID namespace.
func machineProcesses(t *testing.T, m *Machine) []int {
	t.Helper()
	if m.pidNS == "" {
		t.Fatal("machine has no recorded PID namespace")
	}

	return namespacePids(m.pidNS, 0)
}

// waitDone waits for m to exit, failing the test after limit.
func waitDone(t *testing.T, m *Machine, limit time.Duration) {
	t.Helper()
	select {
	case <-m.Done():
	case <-time.After(limit):
		t.Fatalf("machine still running after %v", limit)
	}
}

// assertGone checks that no process of m is left on the host.
func assertGone(t *testing.T, m *Machine) {
	t.Helper()
	if pids := machineProcesses(t, m); len(pids) > 0 {
		t.Errorf("processes left in the machine's PID namespace: %v", pids)
	}
}

func TestStart_RejectsBadSpec(t *testing.T) {
	t.Parallel()
	vol := t.TempDir()
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	runDir := filepath.Join(t.TempDir(), "run")

	tests := []struct {
		name string
		spec Spec
		want string
	}{
		{"no id", Spec{RunDir: runDir}, "machine id is empty"},
		{"long id", Spec{ID: strings.Repeat("x", 65), RunDir: runDir}, "not a valid hostname"},
		{"no run dir", Spec{ID: "m"}, "run dir is empty"},
		{"run dir in use", Spec{ID: "m", RunDir: full}, "is in use"},
		{
			"relative mount path",
			Spec{ID: "m", RunDir: runDir, Mounts: []Mount{{HostDir: vol, Path: "data"}}},
			"not absolute",
		},
		{
			"mount on /proc",
			Spec{ID: "m", RunDir: runDir, Mounts: []Mount{{HostDir: vol, Path: "/proc/x"}}},
			"reserved",
		},
		{
			"missing host dir",
			Spec{ID: "m", RunDir: runDir, Mounts: []Mount{{HostDir: vol + "/nope", Path: "/d"}}},
			"no such file",
		},
		{
			"same path twice",
			Spec{ID: "m", RunDir: runDir, Mounts: []Mount{
				{HostDir: vol, Path: "/d"}, {HostDir: vol, Path: "/d/"},
			}},
			"used twice",
		},
		{
			"bad env",
			Spec{ID: "m", RunDir: runDir, Env: map[string]string{"A=B": "1"}},
			"not valid",
		},
		{"nul in argv", Spec{ID: "m", RunDir: runDir, Argv: []string{"a\x00b"}}, "NUL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Start(tt.spec)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Start: got %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if _, err := os.Stat(runDir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("run dir after failed starts: got %v, want none created", err)
	}
	if _, err := os.Stat(filepath.Join(full, "f")); err != nil {
		t.Errorf("file in a run dir already in use: %v, want it left alone", err)
	}
}

func TestStart_MainNotFound(t *testing.T) {
	t.Parallel()
	if err := Supported(); err != nil {
		t.Skipf("machines cannot run here: %v", err)
	}
	runDir := filepath.Join(t.TempDir(), "run")

	_, err := Start(Spec{ID: "m", RunDir: runDir, Argv: []string{"no-such-command-x"}})
	if err == nil || !strings.Contains(err.Error(), "no-such-command-x") {
		t.Fatalf("Start: got %v, want an error naming the command", err)
	}
	if _, err := os.Stat(runDir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("run dir after failed start: got %v, want it removed", err)
	}
}

// TestStart_ReusesLeftoverRunDir pins a restart failure: a flylocal process killed
// before its machines exited leaves their run dirs behind holding an empty root,
// and starting the machine again must not refuse that dir.
func TestStart_ReusesLeftoverRunDir(t *testing.T) {
	t.Parallel()
	runDir := filepath.Join(t.TempDir(), "run")
	if err := os.MkdirAll(filepath.Join(runDir, "root"), 0o700); err != nil {
		t.Fatal(err)
	}

	m := newMachine(t, Spec{RunDir: runDir})
	if res := sh(t, m, "true"); res.ExitCode != 0 {
		t.Fatalf("exec: code %d, stderr %q", res.ExitCode, res.Stderr)
	}
}

func TestMachine_MainExitEndsMachine(t *testing.T) {
	t.Parallel()
	// The detached sleep must die with the machine even though the main process
	// did not wait for it.
	m := newMachine(t, Spec{Argv: []string{
		"sh", "-c", "nohup sleep 1000 >/dev/null 2>&1 & sleep 0.2; exit 7",
	}})

	waitDone(t, m, 10*time.Second)
	if code, sig := m.ExitStatus(); code != 7 || sig != 0 {
		t.Errorf("ExitStatus: got %d, %d; want 7, 0", code, sig)
	}
	assertGone(t, m)
	if _, err := m.Exec(t.Context(), ExecRequest{Argv: []string{"true"}}); !errors.Is(
		err, ErrNotRunning) {
		t.Errorf("Exec after exit: got %v, want ErrNotRunning", err)
	}
}

func TestMachine_MainKilledBySignal(t *testing.T) {
	t.Parallel()
	m := newMachine(t, Spec{Argv: []string{"sh", "-c", "kill -KILL $$"}})

	waitDone(t, m, 10*time.Second)
	if code, sig := m.ExitStatus(); code != 137 || sig != 9 {
		t.Errorf("ExitStatus: got %d, %d; want 137, 9", code, sig)
	}
}

func TestMachine_Stop(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		argv     []string
		sig      syscall.Signal
		grace    time.Duration
		wantCode int
		wantSig  int
		minTime  time.Duration // Stop must wait out the grace period
		maxTime  time.Duration
	}{
		{
			name:     "main handles the signal",
			argv:     []string{"sh", "-c", `trap "exit 42" TERM; while :; do sleep 0.05; done`},
			sig:      syscall.SIGTERM,
			grace:    10 * time.Second,
			wantCode: 42,
			maxTime:  5 * time.Second,
		},
		{
			name:     "main ignores the signal",
			argv:     []string{"sh", "-c", `trap "" TERM; while :; do sleep 0.05; done`},
			sig:      syscall.SIGTERM,
			grace:    300 * time.Millisecond,
			wantCode: 137,
			wantSig:  9,
			minTime:  300 * time.Millisecond,
			maxTime:  5 * time.Second,
		},
		{
			name:     "no main process",
			sig:      syscall.SIGUSR1,
			grace:    10 * time.Second,
			wantCode: 138,
			wantSig:  10,
			maxTime:  5 * time.Second,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := newMachine(t, Spec{Argv: tt.argv})
			sh(t, m, "nohup sleep 1000 >/dev/null 2>&1 &")
			if n := len(machineProcesses(t, m)); n < 2 {
				t.Fatalf("machine processes before Stop: got %d, want at least 2", n)
			}
			// Let the shell install its trap before the signal arrives.
			time.Sleep(100 * time.Millisecond)

			start := time.Now()
			if err := m.Stop(tt.sig, tt.grace); err != nil {
				t.Fatalf("Stop: %v", err)
			}
			took := time.Since(start)
			if took < tt.minTime || took > tt.maxTime {
				t.Errorf("Stop took %v, want between %v and %v", took, tt.minTime, tt.maxTime)
			}
			if code, sig := m.ExitStatus(); code != tt.wantCode || sig != tt.wantSig {
				t.Errorf("ExitStatus: got %d, %d; want %d, %d",
					code, sig, tt.wantCode, tt.wantSig)
			}
			assertGone(t, m)
			if err := m.Stop(tt.sig, tt.grace); err != nil {
				t.Errorf("second Stop: got %v, want nil", err)
			}
		})
	}
}

// TestHelperParentProcess is not a test: TestMachine_DiesWithParent runs the test
// binary with FLYLOCAL_MACHINE_HELPER_RUN set, and then this starts a machine, prints
// its init's pid and waits to be killed.
func TestHelperParentProcess(t *testing.T) {
	runDir := os.Getenv("FLYLOCAL_MACHINE_HELPER_RUN")
	if runDir == "" {
		return
	}
	m, err := Start(Spec{ID: "orphan", RunDir: runDir})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println(m.Pid())
	time.Sleep(time.Minute)
	os.Exit(1)
}

func TestMachine_DiesWithParent(t *testing.T) {
	t.Parallel()
	if err := Supported(); err != nil {
		t.Skipf("machines cannot run here: %v", err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperParentProcess$")
	cmd.Env = append(os.Environ(), "FLYLOCAL_MACHINE_HELPER_RUN="+t.TempDir()+"/run")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("read init pid from helper: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper said %q, want the init's pid", line)
	}
	ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid))
	if err != nil {
		t.Fatalf("read init's PID namespace: %v", err)
	}

	cmd.Process.Kill()
	cmd.Wait()
	// The dead init stays a zombie until the host's init reaps the orphan, which
	// can take a second; a zombie runs nothing, so only living processes count.
	deadline := time.Now().Add(5 * time.Second)
	for {
		alive := livingPids(namespacePids(ns, 0))
		if len(alive) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("machine processes alive 5s after the parent died: %v", alive)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// livingPids returns the pids that exist and are not zombies.
func livingPids(pids []int) []int {
	var alive []int
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 || i+2 >= len(b) || b[i+2] != 'Z' {
			alive = append(alive, pid)
		}
	}

	return alive
}

func BenchmarkStart(b *testing.B) {
	if err := Supported(); err != nil {
		b.Skipf("machines cannot run here: %v", err)
	}
	dir := b.TempDir()

	for i := 0; b.Loop(); i++ {
		m, err := Start(Spec{ID: "bench", RunDir: filepath.Join(dir, strconv.Itoa(i))})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		m.Kill()
		b.StartTimer()
	}
}

func BenchmarkExec(b *testing.B) {
	if err := Supported(); err != nil {
		b.Skipf("machines cannot run here: %v", err)
	}
	m, err := Start(Spec{ID: "bench", RunDir: filepath.Join(b.TempDir(), "run")})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Kill()

	for b.Loop() {
		res, err := m.Exec(b.Context(), ExecRequest{Argv: []string{"true"}})
		if err != nil || res.ExitCode != 0 {
			b.Fatalf("Exec: %+v, %v", res, err)
		}
	}
}
