package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
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
