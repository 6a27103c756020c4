package flyclient

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestNew_Options(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		opts        []Option
		wantBase    string
		wantRetries int
		wantBackoff [2]time.Duration
		wantPacing  bool
	}{
		{
			name:        "defaults",
			wantBase:    DefaultBaseURL,
			wantRetries: defaultRetries,
			wantBackoff: [2]time.Duration{defaultBackoffBase, defaultBackoffMax},
			wantPacing:  true,
		},
		{
			name: "clamped high",
			opts: []Option{
				WithRetries(99),
				WithBackoff(time.Hour, 2*time.Hour),
				WithBaseURL("http://127.0.0.1:4280/v1/"),
			},
			wantBase:    "http://127.0.0.1:4280",
			wantRetries: maxRetries,
			wantBackoff: [2]time.Duration{maxBackoffBase, maxBackoffCeiling},
			wantPacing:  true,
		},
		{
			name:        "clamped low",
			opts:        []Option{WithRetries(-3), WithBackoff(0, 0), WithoutPacing()},
			wantBase:    DefaultBaseURL,
			wantRetries: 0,
			wantBackoff: [2]time.Duration{minBackoff, minBackoff},
		},
		{
			name:        "empty values ignored",
			opts:        []Option{WithBaseURL(""), WithHTTPClient(nil), WithLogger(nil)},
			wantBase:    DefaultBaseURL,
			wantRetries: defaultRetries,
			wantBackoff: [2]time.Duration{defaultBackoffBase, defaultBackoffMax},
			wantPacing:  true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := New("tok", tt.opts...)
			if c.baseURL != tt.wantBase {
				t.Errorf("base = %q, want %q", c.baseURL, tt.wantBase)
			}
			if c.retries != tt.wantRetries {
				t.Errorf("retries = %d, want %d", c.retries, tt.wantRetries)
			}
			if got := [2]time.Duration{c.backoffBase, c.backoffMax}; got != tt.wantBackoff {
				t.Errorf("backoff = %v, want %v", got, tt.wantBackoff)
			}
			if (c.pacer != nil) != tt.wantPacing {
				t.Errorf("pacing = %v, want %v", c.pacer != nil, tt.wantPacing)
			}
			if c.http == nil || c.log == nil {
				t.Error("nil http client or logger")
			}
		})
	}
}

func TestClient_String(t *testing.T) {
	t.Parallel()
	c := New("fm2_verysecret")
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("client", "c", c)
	for _, s := range []string{c.String(), buf.String()} {
		if strings.Contains(s, "verysecret") {
			t.Errorf("token leaked: %s", s)
		}
	}
}

func TestClient_Headers(t *testing.T) {
	t.Parallel()
	f, c := newFake(t, always(reply{fixture: "machine.json"}), WithUserAgent("sandstorm-test/1"))

	if _, err := c.GetMachine(t.Context(), testApp, testMachine); err != nil {
		t.Fatal(err)
	}

	got := f.last()
	if ua := got.Header.Get("User-Agent"); ua != "sandstorm-test/1" {
		t.Errorf("User-Agent = %q", ua)
	}
	if a := got.Header.Get("Accept"); a != contentTypeJSON {
		t.Errorf("Accept = %q", a)
	}
	wantRequest{method: "GET", path: "/v1/apps/sb-alice/machines/1857156b526dd8"}.check(t, got)
}

func TestClient_ErrorBodyCapped(t *testing.T) {
	t.Parallel()
	huge := strings.Repeat("x", 1<<20)
	_, c := newFake(t, always(reply{status: 404, body: huge}))

	_, err := c.GetVolume(t.Context(), "sb-alice", "vol_1")

	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("err = %v", err)
	}
	if len(apiErr.Message) > maxErrorText+8 {
		t.Errorf("message is %d bytes, want at most about %d", len(apiErr.Message), maxErrorText)
	}
	if apiErr.RequestID == "" {
		t.Error("request id not recorded")
	}
}

func TestClient_Pacing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		opts    []Option
		atLeast time.Duration
		atMost  time.Duration
	}{
		// Four starts of one machine: the fourth waits for the 1/s bucket.
		{name: "paced", atLeast: 800 * time.Millisecond, atMost: 3 * time.Second},
		{name: "unpaced", opts: []Option{WithoutPacing()}, atMost: 700 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				_, _ = w.Write(fixture(t, "start.json"))
			}))
			defer srv.Close()
			c := New(testToken, append([]Option{WithBaseURL(srv.URL)}, tt.opts...)...)

			start := time.Now()
			for range 4 {
				if err := c.StartMachine(t.Context(), testApp, testMachine); err != nil {
					t.Fatal(err)
				}
			}
			took := time.Since(start)

			if took < tt.atLeast || took > tt.atMost {
				t.Errorf("4 starts took %v, want %v..%v", took, tt.atLeast, tt.atMost)
			}
		})
	}
}

// TestClient_LogRedaction checks that debug logs carry the request facts and
// never the token, secret values or exec stdin.
func TestClient_LogRedaction(t *testing.T) {
	t.Parallel()
	const (
		secretValue = "hunter2-secret-value"
		stdin       = "stdin-private-payload"
	)
	var buf syncBuffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f, c := newFake(t, func(n int, r recorded) reply {
		switch {
		case n == 0:
			return reply{status: 503, body: "echo " + string(r.Body)}
		case strings.HasSuffix(r.Path, "/exec"):
			return reply{fixture: "exec.json"}
		}

		return reply{fixture: "secrets_set.json"}
	}, WithLogger(logger))

	secrets := map[string]string{"TOKEN": secretValue}
	if _, err := c.SetSecrets(t.Context(), testApp, secrets); err != nil {
		t.Fatal(err)
	}
	req := ExecRequest{Command: []string{"cat"}, Stdin: stdin}
	if _, err := c.Exec(t.Context(), testApp, testMachine, req); err != nil {
		t.Fatal(err)
	}

	logs := buf.String()
	for _, leak := range []string{testToken, "FlyV1", "Authorization", secretValue, stdin} {
		if strings.Contains(logs, leak) {
			t.Errorf("log contains %q:\n%s", leak, logs)
		}
	}
	for _, want := range []string{`"path":"/v1/apps/sb-alice/secrets"`, `"status":503`,
		`"request_id":"01JNRQ9VVKJ7HZFMJWJB3M3RYN-ord"`, `"attempt":2`, `"duration"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
	if !strings.Contains(string(f.requests()[0].Body), secretValue) {
		t.Error("secret value was not sent at all; the test proves nothing")
	}
}

// syncBuffer is a bytes.Buffer safe for the handler's concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()

	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()

	return b.buf.String()
}

func TestClient_RequiredArgs(t *testing.T) {
	t.Parallel()
	f, c := newFake(t, always(reply{fixture: "ok.json"}))
	ctx := t.Context()
	calls := []struct {
		name string
		call func() error
	}{
		{"get machine", func() error { _, err := c.GetMachine(ctx, "app", ""); return err }},
		{"create app", func() error { _, err := c.CreateApp(ctx, CreateAppRequest{}); return err }},
		{"delete volume", func() error { _, err := c.DeleteVolume(ctx, "", "vol_1"); return err }},
		{"exec", func() error { _, err := c.Exec(ctx, "app", "id", ExecRequest{}); return err }},
		{"set secrets", func() error { _, err := c.SetSecrets(ctx, "app", nil); return err }},
		{"release lease", func() error { return c.ReleaseLease(ctx, "app", "id", "") }},
		{"query", func() error { _, err := c.Query(ctx, "", "up", time.Time{}); return err }},
	}
	for _, tt := range calls {
		if err := tt.call(); err == nil {
			t.Errorf("%s: no error for a missing argument", tt.name)
		}
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests sent with missing arguments", n)
	}
}

func TestClient_RequestTimeout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		d    time.Duration
		want time.Duration
	}{
		{name: "off", d: 0, want: 0},
		{name: "negative is off", d: -time.Second, want: 0},
		{name: "floor", d: time.Millisecond, want: minRequestTimeout},
		{name: "kept", d: 3 * time.Second, want: 3 * time.Second},
		{name: "cap", d: time.Hour, want: maxRequestTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := New("", WithRequestTimeout(tt.d)).reqTimeout; got != tt.want {
				t.Errorf("reqTimeout = %v, want %v", got, tt.want)
			}
		})
	}
}

// A stalled GET is cut at the request timeout and retried; a wait call that
// Fly holds longer than the request timeout is not cut.
func TestClient_RequestTimeoutApplied(t *testing.T) {
	t.Parallel()
	f, c := newFake(t, func(n int, r recorded) reply {
		switch {
		case strings.HasSuffix(r.Path, "/wait"):
			return reply{fixture: "wait.json", hold: 400 * time.Millisecond}
		case n == 0:
			return reply{hang: true}
		}

		return reply{fixture: "machine.json"}
	}, WithRequestTimeout(200*time.Millisecond))
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()

	if _, err := c.GetMachine(ctx, testApp, testMachine); err != nil {
		t.Fatalf("get: %v", err)
	}
	if _, err := c.WaitMachine(ctx, testApp, testMachine, WaitOptions{}); err != nil {
		t.Fatalf("wait: %v", err)
	}

	if n := len(f.requests()); n != 3 {
		t.Errorf("requests = %d, want 3 (get, get retry, wait)", n)
	}
}
