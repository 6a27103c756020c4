package main

import (
	"bufio"
	"errors"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/longrun/sandstorm/flyclient"
)

// startFlylocal runs `sandstorm-mcp flylocal` with token and returns the
// process and the base URL it printed.
func startFlylocal(t *testing.T, token string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(binary, "flylocal", "--listen", "127.0.0.1:0",
		"--state-dir", t.TempDir(), "--token", token)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &testWriter{t: t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("read base URL: %v", err)
	}
	url := strings.TrimSpace(line)
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("printed %q, want the base URL", line)
	}

	return cmd, url
}

// TestFlylocal_Standalone runs `sandstorm-mcp flylocal`, reads the base URL it
// prints, drives it with the Fly client, and stops it with SIGTERM.
func TestFlylocal_Standalone(t *testing.T) {
	cmd, url := startFlylocal(t, "sekrit")

	ctx := t.Context()
	wrong := flyclient.New("nope", flyclient.WithBaseURL(url), flyclient.WithRetries(0))
	if _, err := wrong.ListApps(ctx, "personal"); !errors.Is(err, flyclient.ErrUnauthorized) {
		t.Errorf("wrong token: err = %v, want unauthorized", err)
	}
	c := flyclient.New("FlyV1 sekrit", flyclient.WithBaseURL(url))
	if _, err := c.CreateApp(ctx, flyclient.CreateAppRequest{Name: "standalone",
		OrgSlug: "personal"}); err != nil {
		t.Fatal(err)
	}
	apps, err := c.ListApps(ctx, "personal")
	if err != nil || len(apps) != 1 || apps[0].Name != "standalone" {
		t.Errorf("apps = %+v, %v", apps, err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("flylocal exited with %v after SIGTERM, want success", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("flylocal did not stop within 10s of SIGTERM")
	}
}
