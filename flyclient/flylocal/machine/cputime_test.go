//go:build linux

package machine

import (
	"testing"
	"time"
)

func TestMachine_CPUTime(t *testing.T) {
	t.Parallel()
	m := newMachine(t, Spec{})
	// A CPU limit, not a wall-clock timeout, bounds the busy loops, so that the
	// test measures about the same work however loaded the host is. On a busy
	// virtual machine the tick-sampled times in /proc fall short of the precise
	// count the limit uses, by 15% seen here, hence the loose lower bound; the
	// upper bound catches counting a reaped process twice.
	const spin = "ulimit -t 1; exec sh -c 'while :; do :; done'"

	before := m.CPUTime()
	res := run(t, m, ExecRequest{Argv: []string{"sh", "-c", spin}, Timeout: time.Minute})
	if res.Signal == 0 {
		t.Fatalf("busy loop was not stopped by its CPU limit: %+v", res)
	}
	exited := m.CPUTime()
	if grew := exited - before; grew < 500*time.Millisecond || grew > 1500*time.Millisecond {
		t.Errorf("CPU time after an exec that used 1s of CPU: grew by %v", grew)
	}

	sh(t, m, "nohup sh -c \"$0\" >/dev/null 2>&1 &", spin)
	var live time.Duration
	for deadline := time.Now().Add(10 * time.Second); ; {
		live = m.CPUTime()
		if live-exited >= 300*time.Millisecond {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("CPU time with a live busy process: grew by %v in 10s", live-exited)
		}
		time.Sleep(20 * time.Millisecond)
	}

	if err := m.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if final := m.CPUTime(); final < live {
		t.Errorf("CPU time after exit: got %v, below the %v seen while running", final, live)
	}
}

func TestParseStatTicks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		stat string
		want uint64
	}{
		{
			name: "plain",
			stat: "42 (sh) S 1 42 42 0 -1 4194560 100 0 0 0 7 5 3 2 20 0 1 0 100 1000",
			want: 17,
		},
		{
			name: "name with spaces and parentheses",
			stat: "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 7 5 3 2 20 0 1 0 100 1000",
			want: 17,
		},
		{name: "truncated", stat: "42 (sh) S 1 42 42 0 -1 4194560 100 0 0 0 7 5", want: 0},
		{name: "no name", stat: "42 sh S 1", want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseStatTicks([]byte(tt.stat)); got != tt.want {
				t.Errorf("parseStatTicks: got %d, want %d", got, tt.want)
			}
		})
	}
}
