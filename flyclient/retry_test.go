package flyclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"syscall"
	"testing"
	"time"
)

// netErr wraps a low-level error the way net/http reports it.
func netErr(op string, err error) error {
	return &url.Error{Op: "Get", URL: "https://api.machines.dev/v1/apps/x",
		Err: &net.OpError{Op: op, Net: "tcp", Err: os.NewSyscallError(op, err)}}
}

func TestIsTransient(t *testing.T) {
	t.Parallel()
	api := func(method string, status int, code string) error {
		return fmt.Errorf("get x: %w", &APIError{StatusCode: status, Code: code, Method: method})
	}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{name: "nil", err: nil, want: false},
		{name: "500", err: api("GET", 500, ""), want: true},
		{name: "502", err: api("POST", 502, ""), want: true},
		{name: "503", err: api("GET", 503, ""), want: true},
		{name: "429", err: api("POST", 429, ""), want: true},
		{name: "408 on get", err: api("GET", 408, ""), want: true},
		{name: "408 on delete", err: api("DELETE", 408, ""), want: true},
		{name: "408 on post", err: api("POST", 408, ""), want: false},
		{name: "capacity 503", err: api("POST", 503, "insufficient_capacity"), want: false},
		{name: "404", err: api("GET", 404, ""), want: false},
		{name: "409", err: api("POST", 409, ""), want: false},
		{name: "412", err: api("POST", 412, ""), want: false},
		{name: "422", err: api("POST", 422, "name_taken"), want: false},
		{name: "connection reset", err: netErr("read", syscall.ECONNRESET), want: true},
		{name: "connection refused", err: netErr("dial", syscall.ECONNREFUSED), want: true},
		{name: "broken pipe", err: netErr("write", syscall.EPIPE), want: true},
		{name: "eof", err: &url.Error{Op: "Post", URL: "u", Err: io.EOF}, want: true},
		{name: "unexpected eof", err: fmt.Errorf("decode: %w", io.ErrUnexpectedEOF), want: true},
		{name: "dns", err: &url.Error{Op: "Get", Err: &net.DNSError{Err: "no such host"}}, want: true},
		{name: "attempt timeout", err: fmt.Errorf("GET /x: %w", errAttemptTimeout), want: true},
		{name: "canceled", err: context.Canceled, want: false},
		{name: "deadline", err: context.DeadlineExceeded, want: false},
		{name: "url deadline", err: &url.Error{Err: context.DeadlineExceeded}, want: false},
		{
			name: "canceled with last 503",
			err:  fmt.Errorf("%w; %w", context.Canceled, api("GET", 503, "")),
			want: false,
		},
		{name: "plain error", err: errors.New("decode response: invalid character"), want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := IsTransient(tt.err); got != tt.want {
				t.Errorf("IsTransient(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestDecide(t *testing.T) {
	t.Parallel()
	var (
		idempotent = &call{method: "GET", idempotent: true}
		plainPost  = &call{method: "POST"}
		lookup     = func(context.Context) (bool, error) { return false, nil }
		create     = &call{method: "POST", lookup: lookup}
		wait       = &call{method: "GET", idempotent: true, keep408: true}
	)
	tests := []struct {
		name        string
		cl          *call
		err         error
		wantRetry   bool
		wantReached bool
	}{
		{"429 never reached", plainPost, &APIError{StatusCode: 429}, true, false},
		{"refused never reached", plainPost, netErr("dial", syscall.ECONNREFUSED), true, false},
		{"503 idempotent", idempotent, &APIError{StatusCode: 503}, true, true},
		{"503 plain post", plainPost, &APIError{StatusCode: 503}, false, true},
		{"503 create looks first", create, &APIError{StatusCode: 503}, true, true},
		{"reset plain post", plainPost, netErr("read", syscall.ECONNRESET), false, true},
		{"reset create", create, netErr("read", syscall.ECONNRESET), true, true},
		{"408 idempotent", idempotent, &APIError{StatusCode: 408}, true, true},
		{"408 kept for wait", wait, &APIError{StatusCode: 408}, false, true},
		{"422 definite", create, &APIError{StatusCode: 422, Code: "name_taken"}, false, true},
		{"capacity", create, &APIError{StatusCode: 503, Code: "insufficient_capacity"}, false, true},
		{"canceled", idempotent, context.Canceled, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			retry, reached := decide(tt.cl, tt.err)
			if retry != tt.wantRetry || reached != tt.wantReached {
				t.Errorf("decide = %v, %v; want %v, %v",
					retry, reached, tt.wantRetry, tt.wantReached)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	date := func(d time.Duration) string { return now.Add(d).Format(http.TimeFormat) }
	tests := []struct {
		name  string
		value string
		want  time.Duration
	}{
		{name: "empty", value: "", want: 0},
		{name: "seconds", value: "3", want: 3 * time.Second},
		{name: "zero", value: "0", want: 0},
		{name: "negative", value: "-5", want: 0},
		{name: "capped seconds", value: "3600", want: maxRetryAfter},
		{name: "http date", value: date(7 * time.Second), want: 7 * time.Second},
		{name: "past date", value: date(-time.Minute), want: 0},
		{name: "capped date", value: date(time.Hour), want: maxRetryAfter},
		{name: "garbage", value: "soon", want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := parseRetryAfter(tt.value, now); got != tt.want {
				t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.value, got, tt.want)
			}
		})
	}
}

func TestClient_Delay(t *testing.T) {
	t.Parallel()
	c := New("", WithBackoff(10*time.Millisecond, 80*time.Millisecond))
	for n := 1; n <= 12; n++ {
		ceiling := min(10*time.Millisecond<<(n-1), 80*time.Millisecond)
		for range 50 {
			if d := c.delay(n, errors.New("x")); d < 0 || d > ceiling {
				t.Fatalf("delay(%d) = %v, want 0..%v", n, d, ceiling)
			}
		}
	}
	withHeader := &APIError{StatusCode: 429, retryAfter: 2 * time.Second}
	if d := c.delay(1, fmt.Errorf("x: %w", withHeader)); d < 2*time.Second {
		t.Errorf("delay = %v, want at least the Retry-After", d)
	}
	// Full jitter: the delays must not all be the same.
	seen := map[time.Duration]bool{}
	for range 20 {
		seen[c.delay(4, nil)] = true
	}
	if len(seen) < 2 {
		t.Error("delays show no jitter")
	}
}

func TestClient_RetryServerError(t *testing.T) {
	t.Parallel()
	f, c := newFake(t, script(
		reply{status: 503, body: "<html>upstream unavailable</html>"},
		reply{status: 502},
		reply{fixture: "machine.json"},
	))

	m, err := c.GetMachine(t.Context(), testApp, testMachine)
	if err != nil {
		t.Fatal(err)
	}

	if m.ID != "1857156b526dd8" {
		t.Errorf("id = %q", m.ID)
	}
	if n := len(f.requests()); n != 3 {
		t.Errorf("requests = %d, want 3", n)
	}
}

func TestClient_RetriesExhausted(t *testing.T) {
	t.Parallel()
	f, c := newFake(t, always(reply{status: 500, body: `{"error":"internal"}`}), WithRetries(2))

	_, err := c.GetApp(t.Context(), "sb-alice")

	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 500 || apiErr.Message != "internal" {
		t.Fatalf("err = %v, want the 500 APIError", err)
	}
	if n := len(f.requests()); n != 3 {
		t.Errorf("requests = %d, want 1 + 2 retries", n)
	}
}

func TestClient_NoRetryOnRejection(t *testing.T) {
	t.Parallel()
	f, c := newFake(t, always(reply{status: 400, body: `{"error":"invalid_argument: bad"}`}))

	err := c.StartMachine(t.Context(), testApp, testMachine)

	if err == nil || IsTransient(err) {
		t.Fatalf("err = %v, want a definite error", err)
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("requests = %d, want 1", n)
	}
}

func TestClient_RetryAfter(t *testing.T) {
	t.Parallel()
	f, c := newFake(t, script(
		reply{status: 429, body: `{"error":"rate limit exceeded"}`,
			header: map[string]string{"Retry-After": "1"}},
		reply{fixture: "machine.json"},
	))

	start := time.Now()
	_, err := c.GetMachine(t.Context(), testApp, testMachine)
	took := time.Since(start)

	if err != nil {
		t.Fatal(err)
	}
	if took < time.Second {
		t.Errorf("retried after %v, want at least the 1s Retry-After", took)
	}
	if n := len(f.requests()); n != 2 {
		t.Errorf("requests = %d, want 2", n)
	}
}

// A Retry-After longer than ctx allows must not be slept through: the client
// returns the 429 at once.
func TestClient_RetryAfterBeyondDeadline(t *testing.T) {
	t.Parallel()
	_, c := newFake(t, always(reply{status: 429, header: map[string]string{"Retry-After": "20"}}))
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()

	start := time.Now()
	_, err := c.GetMachine(ctx, testApp, testMachine)

	if !errors.Is(err, ErrRateLimited) {
		t.Fatalf("err = %v, want ErrRateLimited", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("took %v, want an early return", took)
	}
}

func TestClient_ConnectionReset(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		call      func(ctx context.Context, c *Client) error
		wantCalls int
		wantErr   bool
	}{
		{
			name: "get is retried",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.GetMachine(ctx, testApp, testMachine)

				return err
			},
			wantCalls: 2,
		},
		{
			name: "stop is retried",
			call: func(ctx context.Context, c *Client) error {
				return c.StopMachine(ctx, testApp, testMachine, StopRequest{Signal: "SIGTERM"})
			},
			wantCalls: 2,
		},
		{
			name: "exec is not retried",
			call: func(ctx context.Context, c *Client) error {
				req := ExecRequest{Command: []string{"rm", "x"}}
				_, err := c.Exec(ctx, testApp, testMachine, req)

				return err
			},
			wantCalls: 1,
			wantErr:   true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, c := newFake(t, script(reply{reset: true}, reply{fixture: "machine.json"}))

			err := tt.call(t.Context(), c)

			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil && !IsTransient(err) {
				t.Errorf("reset not reported as transient: %v", err)
			}
			reqs := f.requests()
			if len(reqs) != tt.wantCalls {
				t.Fatalf("requests = %d, want %d", len(reqs), tt.wantCalls)
			}
			if len(reqs) == 2 && !bytes.Equal(reqs[0].Body, reqs[1].Body) {
				t.Errorf("retry body %q differs from first %q", reqs[1].Body, reqs[0].Body)
			}
		})
	}
}

func TestClient_HangHonoursContext(t *testing.T) {
	t.Parallel()
	f, c := newFake(t, always(reply{hang: true}))
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()

	start := time.Now()
	_, err := c.ListMachines(ctx, "sb-alice", ListMachinesOptions{})

	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
	if IsTransient(err) {
		t.Error("an expired context must not be transient")
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("took %v after a 100ms deadline", took)
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("requests = %d, want 1", n)
	}
}

func TestClient_CancelDuringBackoff(t *testing.T) {
	t.Parallel()
	_, c := newFake(t, always(reply{status: 503}), WithBackoff(time.Minute, time.Minute))
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)

	start := time.Now()
	_, err := c.GetApp(ctx, "sb-alice")

	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 503 {
		t.Errorf("err = %v, want the last 503 kept", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %v", took)
	}
}

// An attempt cut off by the HTTP client's own timeout is a transient failure
// to retry, not the caller's deadline.
func TestClient_AttemptTimeoutRetried(t *testing.T) {
	t.Parallel()
	hc := &http.Client{Timeout: 100 * time.Millisecond}
	f, c := newFake(t, script(reply{hang: true}, reply{fixture: "machine.json"}), WithHTTPClient(hc))

	if _, err := c.GetMachine(t.Context(), testApp, testMachine); err != nil {
		t.Fatal(err)
	}

	if n := len(f.requests()); n != 2 {
		t.Errorf("requests = %d, want 2", n)
	}
}
