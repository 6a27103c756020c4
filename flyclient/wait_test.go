package flyclient

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"
)

func TestClient_WaitMachine(t *testing.T) {
	t.Parallel()
	timeout := reply{status: 408, fixture: "error_wait_timeout.json"}
	f, c := newFake(t, script(timeout, timeout, reply{fixture: "wait.json"}))

	resp, err := c.WaitMachine(t.Context(), testApp, testMachine, WaitOptions{
		States:  []string{StateStarted, StateStopped},
		Version: "01HQ73A7BFFDF1B6WMGHFZZ4E7",
		Timeout: 5 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}

	if !resp.OK || resp.State != StateStarted || resp.EventID == "" {
		t.Errorf("resp = %+v", resp)
	}
	reqs := f.requests()
	if len(reqs) != 3 {
		t.Fatalf("requests = %d, want 3 (two 408s, then success)", len(reqs))
	}
	want := wantRequest{method: "GET", path: machineURL + "/wait", query: url.Values{
		"state":   {"started", "stopped"},
		"timeout": {"60"},
		"version": {"01HQ73A7BFFDF1B6WMGHFZZ4E7"},
	}}
	for _, r := range reqs {
		want.check(t, r)
	}
}

func TestClient_WaitMachineCallTimeout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		timeout time.Duration
		want    string
	}{
		{name: "default", timeout: 0, want: "60"},
		{name: "above the cap", timeout: 10 * time.Minute, want: "60"},
		{name: "exact", timeout: 30 * time.Second, want: "30"},
		{name: "fraction rounds down", timeout: 2500 * time.Millisecond, want: "2"},
		{name: "below the floor", timeout: 300 * time.Millisecond, want: "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, c := newFake(t, always(reply{fixture: "wait.json"}))

			opts := WaitOptions{Timeout: tt.timeout}
			_, err := c.WaitMachine(t.Context(), testApp, testMachine, opts)
			if err != nil {
				t.Fatal(err)
			}

			q := f.last().Query
			if got := q.Get("timeout"); got != tt.want {
				t.Errorf("timeout = %s, want %s", got, tt.want)
			}
			if got := q["state"]; len(got) != 1 || got[0] != StateStarted {
				t.Errorf("state = %v, want the default [started]", got)
			}
		})
	}
}

func TestWaitCallTimeout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		left time.Duration
		want time.Duration
	}{
		{name: "negative", left: -time.Second, want: time.Second},
		{name: "sub-second", left: 10 * time.Millisecond, want: time.Second},
		{name: "whole", left: 7 * time.Second, want: 7 * time.Second},
		{name: "fraction", left: 7900 * time.Millisecond, want: 7 * time.Second},
		{name: "cap", left: time.Hour, want: 60 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := waitCallTimeout(tt.left); got != tt.want {
				t.Errorf("waitCallTimeout(%v) = %v, want %v", tt.left, got, tt.want)
			}
		})
	}
}

func TestClient_WaitMachineGivesUp(t *testing.T) {
	t.Parallel()
	f, c := newFake(t, always(reply{status: 408, fixture: "error_wait_timeout.json"}))

	start := time.Now()
	opts := WaitOptions{Timeout: 1500 * time.Millisecond}
	_, err := c.WaitMachine(t.Context(), testApp, testMachine, opts)

	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 408 {
		t.Errorf("err = %v, want the last 408 kept", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %v for a 1.5s wait", took)
	}
	if n := len(f.requests()); n < 2 {
		t.Errorf("requests = %d, want the wait to loop", n)
	}
}

func TestClient_WaitMachineContext(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		ctx         func(context.Context) (context.Context, context.CancelFunc)
		wantTimeout bool
		wantCause   error
		wantCall    string // the timeout asked of Fly
	}{
		{
			name: "deadline",
			ctx: func(ctx context.Context) (context.Context, context.CancelFunc) {
				return context.WithTimeout(ctx, 200*time.Millisecond)
			},
			wantTimeout: true,
			wantCause:   context.DeadlineExceeded,
			wantCall:    "1", // within ctx's deadline, not the 1m total
		},
		{
			name: "cancel",
			ctx: func(ctx context.Context) (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(ctx)
				time.AfterFunc(200*time.Millisecond, cancel)

				return ctx, cancel
			},
			wantCause: context.Canceled,
			wantCall:  "60",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, c := newFake(t, always(reply{hang: true}))
			ctx, cancel := tt.ctx(t.Context())
			defer cancel()

			start := time.Now()
			_, err := c.WaitMachine(ctx, testApp, testMachine, WaitOptions{Timeout: time.Minute})

			if errors.Is(err, ErrTimeout) != tt.wantTimeout || !errors.Is(err, tt.wantCause) {
				t.Errorf("err = %v, want timeout %v and %v", err, tt.wantTimeout, tt.wantCause)
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("took %v", took)
			}
			if got := f.last().Query.Get("timeout"); got != tt.wantCall {
				t.Errorf("timeout = %s, want %s", got, tt.wantCall)
			}
		})
	}
}

func TestClient_WaitMachineOtherError(t *testing.T) {
	t.Parallel()
	f, c := newFake(t, always(reply{status: 404, fixture: "error_not_found.json"}))

	_, err := c.WaitMachine(t.Context(), testApp, testMachine, WaitOptions{})

	if !errors.Is(err, ErrNotFound) || errors.Is(err, ErrTimeout) {
		t.Errorf("err = %v, want ErrNotFound only", err)
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("requests = %d, want 1", n)
	}
}

// Each 408 goes back to the wait loop, which counts it against the total;
// the generic retry must not repeat a call that Fly already held.
func TestClient_WaitMachineHeldCalls(t *testing.T) {
	t.Parallel()
	held := reply{status: 408, fixture: "error_wait_timeout.json", hold: time.Second}
	f, c := newFake(t, always(held))

	start := time.Now()
	_, err := c.WaitMachine(t.Context(), testApp, testMachine, WaitOptions{Timeout: time.Second})

	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if took := time.Since(start); took > 1800*time.Millisecond {
		t.Errorf("took %v for a 1s wait", took)
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("requests = %d, want 1", n)
	}
}
