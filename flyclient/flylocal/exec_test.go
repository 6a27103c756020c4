package flylocal

import (
	"strings"
	"testing"
	"time"
)

// execResult is the exec answer.
type execResult struct {
	Stdout     string `json:"stdout"`
	Stderr     string `json:"stderr"`
	ExitCode   int    `json:"exit_code"`
	ExitSignal int    `json:"exit_signal"`
}

// exec runs argv in machine id of app and returns the answer, which must be 200.
func (e *env) exec(app, id string, body map[string]any) execResult {
	e.t.Helper()
	var res execResult
	e.call("POST", "/v1/apps/"+app+"/machines/"+id+"/exec", body, 200, &res)

	return res
}

func TestExec(t *testing.T) {
	t.Parallel()
	requireMachines(t)
	e := newEnv(t, Options{})
	e.createApp("execs")
	m := e.createMachine("execs", map[string]any{"env": map[string]any{"GREETING": "hi"}}, nil)
	e.waitState("execs", m.ID, "started")

	tests := []struct {
		name string
		body map[string]any
		want execResult
	}{
		{
			name: "argv with env",
			body: map[string]any{"command": []string{"sh", "-c", `echo "$GREETING"; echo oops >&2`}},
			want: execResult{Stdout: "hi\n", Stderr: "oops\n"},
		},
		{
			name: "exit code",
			body: map[string]any{"command": []string{"sh", "-c", "exit 7"}},
			want: execResult{ExitCode: 7},
		},
		{
			name: "deprecated cmd string",
			body: map[string]any{"cmd": "echo  split   words"},
			want: execResult{Stdout: "split words\n"},
		},
		{
			name: "stdin",
			body: map[string]any{"command": []string{"cat"}, "stdin": "fed in"},
			want: execResult{Stdout: "fed in"},
		},
		{
			name: "killed by a signal",
			body: map[string]any{"command": []string{"sh", "-c", "kill -9 $$"}},
			want: execResult{ExitCode: 137, ExitSignal: 9},
		},
		{
			name: "command not found",
			body: map[string]any{"command": []string{"no-such-command-here"}},
			want: execResult{ExitCode: 127},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := e.exec("execs", m.ID, tt.body)
			if tt.want.ExitCode == 127 {
				got.Stderr = "" // the shell-like message varies
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}

	t.Run("timeout", func(t *testing.T) {
		start := time.Now()
		resp := e.send(request{method: "POST", path: "/v1/apps/execs/machines/" + m.ID + "/exec",
			body: map[string]any{"command": []string{"sleep", "30"}, "timeout": 1}})
		if resp.status != 408 || !strings.HasPrefix(errorText(t, resp), "deadline_exceeded: ") {
			t.Errorf("got %d %s, want 408 deadline_exceeded", resp.status, resp.body)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("answered after %v", d)
		}
	})
	t.Run("empty command", func(t *testing.T) {
		resp := e.send(request{method: "POST", path: "/v1/apps/execs/machines/" + m.ID + "/exec",
			body: map[string]any{"command": []string{}}})
		if resp.status != 400 {
			t.Errorf("got %d %s", resp.status, resp.body)
		}
	})
}

func TestExec_NotStarted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.createApp("idle")
	m := e.createMachine("idle", nil, map[string]any{"skip_launch": true})
	resp := e.send(request{method: "POST", path: "/v1/apps/idle/machines/" + m.ID + "/exec",
		body: map[string]any{"command": []string{"true"}}})
	if resp.status != 412 || !strings.HasPrefix(errorText(t, resp), "failed_precondition: ") {
		t.Errorf("exec on a created machine: %d %s", resp.status, resp.body)
	}
}
