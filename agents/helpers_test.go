package agents

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// parseFile feeds every line of a testdata file to parse. It checks that each
// event's Raw is the trimmed line for JSON lines and nil otherwise, then
// clears Raw so the caller can compare the rest.
func parseFile(t *testing.T, name string, parse func([]byte) []Event) []Event {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	var events []Event
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		trimmed := bytes.TrimSpace(line)
		for _, ev := range parse(line) {
			isJSON := len(trimmed) > 0 && trimmed[0] == '{'
			if isJSON && !bytes.Equal(ev.Raw, trimmed) {
				t.Errorf("%s:%d: Raw = %q, want the line", name, n, ev.Raw)
			}
			if !isJSON && ev.Raw != nil {
				t.Errorf("%s:%d: Raw = %q, want nil for a plain line", name, n, ev.Raw)
			}
			ev.Raw = nil
			events = append(events, ev)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}

	return events
}

// stripRaw clears Raw in events, for comparisons.
func stripRaw(events []Event) []Event {
	for i := range events {
		events[i].Raw = nil
	}

	return events
}

// toolsDir returns a directory of links to the host commands that scripts
// use, and to nothing else, so a PATH built from it lacks node, npm and the
// agents whatever the host has installed.
func toolsDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"mkdir", "rmdir", "rm", "find", "sleep", "cat", "chmod"} {
		p, err := exec.LookPath(name)
		if err != nil {
			t.Fatalf("host lacks %s: %v", name, err)
		}
		if err := os.Symlink(p, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}

	return dir
}

// writeStub writes an executable sh script named name into dir.
func writeStub(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}

	return p
}

// scriptRun is the outcome of running a Script.
type scriptRun struct {
	stdout, stderr string
	code           int
}

// runScript runs s as `sh -c PROGRAM sh ARGS...` in dir with exactly env,
// killing it after 30 seconds so that a script that hangs fails the test.
func runScript(t *testing.T, s Script, dir string, env map[string]string) scriptRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", append([]string{"-c", s.Program, "sh"}, s.Args...)...)
	cmd.WaitDelay = time.Second
	cmd.Dir = dir
	for _, k := range slices.Sorted(maps.Keys(env)) {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("run script: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("script still running after 30s; stderr: %s", stderr.String())
	}

	return scriptRun{
		stdout: stdout.String(),
		stderr: stderr.String(),
		code:   cmd.ProcessState.ExitCode(),
	}
}
