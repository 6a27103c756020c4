package main

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestServe_SaysWhenLocal pins that a server without FLY_API_TOKEN says on
// stderr, even at log level warn, that it runs on the embedded flylocal, and
// writes nothing but protocol to stdout: with no client, nothing at all.
func TestServe_SaysWhenLocal(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(binary)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"SANDSTORM_STATE_DIR=" + t.TempDir(), "SANDSTORM_LOG_LEVEL=warn"}
	cmd.Stdin = strings.NewReader("")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("server exited with %v; stderr:\n%s", err, stderr.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout = %q, want nothing without a client", stdout.String())
	}
	if !strings.Contains(stderr.String(), "running on the embedded flylocal") {
		t.Errorf("stderr does not say the server runs locally:\n%s", stderr.String())
	}
}

// TestServe_LifecycleConfig reads the idle policy's settings from flags and
// the environment, flags winning, and refuses values it cannot use.
func TestServe_LifecycleConfig(t *testing.T) {
	t.Setenv("SANDSTORM_IDLE_PAUSE_AFTER", "45m")
	t.Setenv("SANDSTORM_IDLE_DELETE_AFTER", "72h")
	t.Setenv("SANDSTORM_LIFECYCLE", "off")
	cfg, err := parseServeFlags([]string{"--idle-warn-after", "5m",
		"--lifecycle-interval", "90s", "--idle-threshold-bytes", "2048"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.manager.IdlePolicy
	if p.WarnAfter != 5*time.Minute || p.PauseAfter != 45*time.Minute ||
		p.DeleteAfter != 72*time.Hour {
		t.Errorf("policy = %+v", p)
	}
	if !cfg.lifecycle.disabled || cfg.lifecycle.interval != 90*time.Second ||
		cfg.manager.IdleThresholdBytes != 2048 || cfg.manager.IdleWindow != 30*time.Minute {
		t.Errorf("lifecycle = %+v, threshold %d, window %s", cfg.lifecycle,
			cfg.manager.IdleThresholdBytes, cfg.manager.IdleWindow)
	}

	t.Setenv("SANDSTORM_IDLE_WINDOW", "half an hour")
	if _, err := parseServeFlags(nil, io.Discard); err == nil ||
		!strings.Contains(err.Error(), "SANDSTORM_IDLE_WINDOW") {
		t.Errorf("bad env duration: err = %v, want one naming the variable", err)
	}
	t.Setenv("SANDSTORM_IDLE_WINDOW", "")
	if _, err := parseServeFlags([]string{"--lifecycle-interval", "0s"}, io.Discard); err == nil {
		t.Error("a zero interval was accepted")
	}

	t.Setenv("SANDSTORM_WEBHOOK_URL", "https://hooks.example.com/sandstorm")
	if _, err := webhookFromEnv(slog.New(slog.DiscardHandler)); err == nil ||
		!strings.Contains(err.Error(), "SANDSTORM_WEBHOOK_SECRET") {
		t.Errorf("webhook without a secret: err = %v", err)
	}
}
