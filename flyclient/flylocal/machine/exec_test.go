//go:build linux

package machine

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestMachine_Exec(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	script := filepath.Join(data, "noexec.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := newMachine(t, Spec{Mounts: []Mount{{HostDir: data, Path: "/data"}}})

	tests := []struct {
		name       string
		req        ExecRequest
		wantCode   int
		wantSignal int
		wantOut    string
		wantErrOut string // a substring of stderr
	}{
		{
			name:    "stdout",
			req:     ExecRequest{Argv: []string{"echo", "hello", "world"}},
			wantOut: "hello world\n",
		},
		{
			name:     "exit code",
			req:      ExecRequest{Argv: []string{"sh", "-c", "exit 3"}},
			wantCode: 3,
		},
		{
			name:       "stderr",
			req:        ExecRequest{Argv: []string{"sh", "-c", "echo oops >&2; echo out"}},
			wantOut:    "out\n",
			wantErrOut: "oops\n",
		},
		{
			name:    "stdin",
			req:     ExecRequest{Argv: []string{"tr", "a-z", "A-Z"}, Stdin: []byte("shout")},
			wantOut: "SHOUT",
		},
		{
			name:    "no stdin reads as empty",
			req:     ExecRequest{Argv: []string{"wc", "-c"}},
			wantOut: "0\n",
		},
		{
			name:    "working dir",
			req:     ExecRequest{Argv: []string{"pwd"}, Dir: "/data"},
			wantOut: "/data\n",
		},
		{
			name:    "default working dir",
			req:     ExecRequest{Argv: []string{"pwd"}},
			wantOut: "/\n",
		},
		{
			name:    "relative command in working dir",
			req:     ExecRequest{Argv: []string{"./echo", "x"}, Dir: "/usr/bin"},
			wantOut: "x\n",
		},
		{
			name:       "killed by signal",
			req:        ExecRequest{Argv: []string{"sh", "-c", "kill -TERM $$"}},
			wantCode:   143,
			wantSignal: 15,
		},
		{
			name:       "command not found",
			req:        ExecRequest{Argv: []string{"no-such-command-x"}},
			wantCode:   127,
			wantErrOut: "no-such-command-x: command not found",
		},
		{
			name:       "path not found",
			req:        ExecRequest{Argv: []string{"/data/missing"}},
			wantCode:   127,
			wantErrOut: "/data/missing: no such file or directory",
		},
		{
			name:       "not executable",
			req:        ExecRequest{Argv: []string{"/data/noexec.sh"}},
			wantCode:   126,
			wantErrOut: "permission denied",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := run(t, m, tt.req)
			if res.ExitCode != tt.wantCode || res.Signal != tt.wantSignal {
				t.Errorf("exit: got %d, signal %d; want %d, signal %d",
					res.ExitCode, res.Signal, tt.wantCode, tt.wantSignal)
			}
			if string(res.Stdout) != tt.wantOut {
				t.Errorf("stdout: got %q, want %q", res.Stdout, tt.wantOut)
			}
			if !strings.Contains(string(res.Stderr), tt.wantErrOut) ||
				(tt.wantErrOut == "" && len(res.Stderr) > 0) {
				t.Errorf("stderr: got %q, want %q", res.Stderr, tt.wantErrOut)
			}
			if res.TimedOut {
				t.Error("TimedOut set without a timeout")
			}
		})
	}
}

func TestMachine_ExecErrors(t *testing.T) {
	t.Parallel()
	m := newMachine(t, Spec{})

	tests := []struct {
		name string
		req  ExecRequest
		want string
	}{
		{"empty argv", ExecRequest{}, "argv is empty"},
		{"missing working dir", ExecRequest{Argv: []string{"pwd"}, Dir: "/nope"}, "/nope"},
		{"bad env", ExecRequest{Argv: []string{"true"}, Env: map[string]string{"": "x"}}, "valid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := m.Exec(t.Context(), tt.req)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Exec: got %v, want an error containing %q", err, tt.want)
			}
			if errors.Is(err, ErrNotRunning) {
				t.Errorf("Exec: got %v, which wrongly matches ErrNotRunning", err)
			}
		})
	}
}

func TestMachine_ExecWhileStopping(t *testing.T) {
	t.Parallel()
	m := newMachine(t, Spec{})

	errc := make(chan error, 1)
	go func() {
		_, err := m.Exec(t.Context(), ExecRequest{Argv: []string{"sleep", "100"}})
		errc <- err
	}()
	time.Sleep(200 * time.Millisecond)
	if err := m.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, ErrNotRunning) {
			t.Errorf("Exec during Kill: got %v, want ErrNotRunning", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Exec did not return after Kill")
	}
	if _, err := m.Exec(t.Context(), ExecRequest{Argv: []string{"true"}}); !errors.Is(
		err, ErrNotRunning) {
		t.Errorf("Exec after Kill: got %v, want ErrNotRunning", err)
	}
}

func TestMachine_ExecEnv(t *testing.T) {
	t.Setenv("FLYLOCAL_LEAK_CHECK", "leaked")
	data := t.TempDir()
	m := newMachine(t, Spec{
		Env:    map[string]string{"A": "1", "B": "spec"},
		Argv:   []string{"sh", "-c", "env > /data/main.env; exec sleep 1000"},
		Mounts: []Mount{{HostDir: data, Path: "/data"}},
	})

	res := run(t, m, ExecRequest{
		Argv: []string{"env"},
		Env:  map[string]string{"B": "request", "C": "3"},
	})
	want := []string{"A=1", "B=request", "C=3", "HOME=/root", "PATH=" + defaultPath}
	if got := envLines(res.Stdout); !slices.Equal(got, want) {
		t.Errorf("exec env: got %q, want %q", got, want)
	}

	res = run(t, m, ExecRequest{
		Argv: []string{"env"},
		Env:  map[string]string{"HOME": "/data", "PATH": "/bin"},
	})
	want = []string{"A=1", "B=spec", "HOME=/data", "PATH=/bin"}
	if got := envLines(res.Stdout); !slices.Equal(got, want) {
		t.Errorf("exec env with HOME and PATH: got %q, want %q", got, want)
	}

	main, err := waitForFile(filepath.Join(data, "main.env"))
	if err != nil {
		t.Fatal(err)
	}
	// sh adds PWD for the env it runs.
	want = []string{"A=1", "B=spec", "HOME=/root", "PATH=" + defaultPath, "PWD=/"}
	if got := envLines(main); !slices.Equal(got, want) {
		t.Errorf("main process env: got %q, want %q", got, want)
	}
}

// envLines returns env output as sorted lines.
func envLines(out []byte) []string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	slices.Sort(lines)

	return lines
}

// waitForFile returns the contents of path once it exists and is not empty.
func waitForFile(path string) ([]byte, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err == nil && len(b) > 0 {
			return b, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("wait for %s: %v", path, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pidGone is a script that succeeds once the machine pid $0 no longer exists, even
// as a zombie, and fails after about five seconds.
const pidGone = `for i in $(seq 100); do
	kill -0 "$0" 2>/dev/null || exit 0
	sleep 0.05
done
exit 1`

func TestMachine_ExecTimeoutKillsGroup(t *testing.T) {
	t.Parallel()
	m := newMachine(t, Spec{})

	start := time.Now()
	res := run(t, m, ExecRequest{
		Argv:    []string{"sh", "-c", "sleep 300 & echo $! > /tmp/child; echo started; wait"},
		Timeout: 300 * time.Millisecond,
	})
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("timed-out exec returned after %v", took)
	}
	if !res.TimedOut || res.Signal != 9 || res.ExitCode != 137 {
		t.Errorf("result: TimedOut %v, code %d, signal %d; want true, 137, 9",
			res.TimedOut, res.ExitCode, res.Signal)
	}
	if string(res.Stdout) != "started\n" {
		t.Errorf("stdout: got %q, want the output so far", res.Stdout)
	}

	child := strings.TrimSpace(string(sh(t, m, "cat /tmp/child").Stdout))
	if _, err := strconv.Atoi(child); err != nil {
		t.Fatalf("child pid: got %q", child)
	}
	if res := sh(t, m, pidGone, child); res.ExitCode != 0 {
		t.Errorf("child %s of the timed-out command is still alive", child)
	}
}

func TestMachine_ExecCanceled(t *testing.T) {
	t.Parallel()
	m := newMachine(t, Spec{})
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()

	start := time.Now()
	res, err := m.Exec(ctx, ExecRequest{
		Argv: []string{"sh", "-c", "echo $$ > /tmp/pid; echo started; sleep 300"},
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Exec: got %v, want context.DeadlineExceeded", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("canceled exec returned after %v", took)
	}
	if string(res.Stdout) != "started\n" {
		t.Errorf("stdout: got %q, want the output so far", res.Stdout)
	}
	pid := strings.TrimSpace(string(sh(t, m, "cat /tmp/pid").Stdout))
	if res := sh(t, m, pidGone, pid); res.ExitCode != 0 {
		t.Errorf("canceled command %s is still alive", pid)
	}
}

func TestMachine_DetachedProcessOutlivesExec(t *testing.T) {
	t.Parallel()
	m := newMachine(t, Spec{})

	res := sh(t, m, "nohup sleep 100 >/dev/null 2>&1 & echo $!")
	pid := strings.TrimSpace(string(res.Stdout))
	time.Sleep(200 * time.Millisecond)
	if res := sh(t, m, `kill -0 "$0"`, pid); res.ExitCode != 0 {
		t.Fatalf("detached process %s died with its exec: %q", pid, res.Stderr)
	}

	// An orphan that exits must be reaped by the init, not left a zombie.
	sh(t, m, "(sleep 0.1 &)")
	time.Sleep(500 * time.Millisecond)
	if res := sh(t, m, "ps -eo stat= | grep -c '^Z' || true"); string(res.Stdout) != "0\n" {
		t.Errorf("zombies in the machine: %s", res.Stdout)
	}

	if n := len(machineProcesses(t, m)); n != 2 {
		t.Errorf("machine processes: got %d, want the init and the sleep", n)
	}
	if err := m.Stop(0, time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	assertGone(t, m)
}

func TestMachine_ConcurrentExecs(t *testing.T) {
	t.Parallel()
	m := newMachine(t, Spec{})
	const n = 20

	var wg sync.WaitGroup
	results := make([]ExecResult, n)
	errs := make([]error, n)
	start := time.Now()
	for i := range n {
		wg.Go(func() {
			results[i], errs[i] = m.Exec(t.Context(), ExecRequest{
				Argv: []string{"sh", "-c", "sleep 0.3; echo $0; echo $0 >&2", strconv.Itoa(i)},
			})
		})
	}
	wg.Wait()
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("%d execs of 0.3s took %v; they did not run concurrently", n, took)
	}
	for i := range n {
		want := fmt.Sprintf("%d\n", i)
		if errs[i] != nil || string(results[i].Stdout) != want ||
			string(results[i].Stderr) != want {
			t.Errorf("exec %d: stdout %q, stderr %q, err %v; want %q",
				i, results[i].Stdout, results[i].Stderr, errs[i], want)
		}
	}
}

func TestMachine_ExecLargeOutput(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	big := make([]byte, 8<<20)
	rand.Read(big)
	if err := os.WriteFile(filepath.Join(data, "big"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	m := newMachine(t, Spec{Mounts: []Mount{{HostDir: data, Path: "/data"}}})

	res := sh(t, m, "cat /data/big; cat /data/big >&2")
	if !bytes.Equal(res.Stdout, big) || !bytes.Equal(res.Stderr, big) {
		t.Errorf("output: got %d and %d bytes, want both %d bytes intact",
			len(res.Stdout), len(res.Stderr), len(big))
	}

	res = run(t, m, ExecRequest{Argv: []string{"cat"}, Stdin: big})
	if !bytes.Equal(res.Stdout, big) {
		t.Errorf("stdin echoed: got %d bytes, want %d bytes intact", len(res.Stdout), len(big))
	}
}
