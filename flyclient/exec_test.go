package flyclient

import (
	"errors"
	"testing"
	"time"
)

func TestClient_Exec(t *testing.T) {
	t.Parallel()
	f, c := newFake(t, always(reply{fixture: "exec.json"}))

	resp, err := c.Exec(t.Context(), testApp, testMachine, ExecRequest{
		Command: []string{"sh", "-c", "uname -a; df -h >&2; exit 3"},
		Timeout: 30,
		Stdin:   "input",
	}, LeaseNonce("5c35f65c9f95"))
	if err != nil {
		t.Fatal(err)
	}

	if resp.ExitCode != 3 || resp.Stdout != "Linux sb-alice 6.1.0 x86_64\n" ||
		resp.Stderr != "warning: low disk\n" {
		t.Errorf("resp = %+v", resp)
	}
	wantRequest{
		method: "POST",
		path:   machineURL + "/exec",
		nonce:  "5c35f65c9f95",
		body: `{"command":["sh","-c","uname -a; df -h >&2; exit 3"],
			"timeout":30,"stdin":"input"}`,
	}.check(t, f.last())
}

// Exec is not idempotent: only failures that prove the command never ran are
// retried.
func TestClient_ExecRetry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		first     reply
		wantCalls int
		wantErr   error
	}{
		{name: "429 is retried", first: reply{status: 429}, wantCalls: 2},
		{name: "503 is not", first: reply{status: 503}, wantCalls: 1},
		{name: "408 is not", first: reply{status: 408, body: `{"error":"deadline_exceeded"}`},
			wantCalls: 1, wantErr: ErrTimeout},
		{name: "reset is not", first: reply{reset: true}, wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, c := newFake(t, script(tt.first, reply{fixture: "exec.json"}))

			req := ExecRequest{Command: []string{"date"}}
			_, err := c.Exec(t.Context(), testApp, testMachine, req)

			if (err != nil) != (tt.wantCalls == 1) {
				t.Errorf("err = %v", err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if n := len(f.requests()); n != tt.wantCalls {
				t.Errorf("requests = %d, want %d", n, tt.wantCalls)
			}
		})
	}
}

// With a short request timeout, an exec still gets its command's time.
func TestClient_ExecOutlivesRequestTimeout(t *testing.T) {
	t.Parallel()
	slow := reply{fixture: "exec.json", hold: 400 * time.Millisecond}
	f, c := newFake(t, always(slow), WithRequestTimeout(200*time.Millisecond))

	req := ExecRequest{Command: []string{"sleep", "0.4"}, Timeout: 5}
	if _, err := c.Exec(t.Context(), testApp, testMachine, req); err != nil {
		t.Fatal(err)
	}

	if n := len(f.requests()); n != 1 {
		t.Errorf("requests = %d, want 1", n)
	}
}

func TestExecHold(t *testing.T) {
	t.Parallel()
	if got := execHold(0); got != defaultExecHold+execGrace {
		t.Errorf("execHold(0) = %v", got)
	}
	if got := execHold(120); got != 120*time.Second+execGrace {
		t.Errorf("execHold(120) = %v", got)
	}
}
