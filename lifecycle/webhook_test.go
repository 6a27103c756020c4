package lifecycle_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/longrun/sandstorm/lifecycle"
)

const testSecret = "s3cret"

// delivered is one request the test receiver saw.
type delivered struct {
	header http.Header
	body   []byte
}

// receiver is an httptest server answering each request with the next of
// statuses (the last one repeats) and recording what it got.
type receiver struct {
	*httptest.Server

	mu   sync.Mutex
	got  []delivered
	next func(n int) int // status for the nth request, from 1
}

func newReceiver(t *testing.T, statuses ...int) *receiver {
	t.Helper()
	r := &receiver{next: func(n int) int {
		return statuses[min(n, len(statuses))-1]
	}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, delivered{header: req.Header.Clone(), body: body})
		n := len(r.got)
		r.mu.Unlock()
		status := r.next(n)
		if status == http.StatusFound {
			w.Header().Set("Location", "/elsewhere")
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, http.StatusText(status))
	}))
	t.Cleanup(r.Close)

	return r
}

func (r *receiver) requests() []delivered {
	r.mu.Lock()
	defer r.mu.Unlock()

	return slices.Clone(r.got)
}

func testEvent() lifecycle.Event {
	return lifecycle.Event{
		Type: lifecycle.ActionPause, Sandbox: "alice", App: "sb-alice",
		PhaseFrom: lifecycle.PhaseWarned, PhaseTo: lifecycle.PhasePaused,
		Reasons: []string{"idle for 1h"},
		At:      time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
	}
}

func webhook(url string) *lifecycle.Webhook {
	return &lifecycle.Webhook{URL: url, Secret: testSecret, MaxAttempts: 4,
		Backoff: time.Millisecond}
}

func TestWebhook_SignedDelivery(t *testing.T) {
	t.Parallel()
	r := newReceiver(t, http.StatusNoContent)

	if err := webhook(r.URL).Send(t.Context(), testEvent()); err != nil {
		t.Fatalf("Send: %v", err)
	}

	got := r.requests()
	if len(got) != 1 {
		t.Fatalf("receiver got %d requests, want 1", len(got))
	}
	h, body := got[0].header, got[0].body
	if !lifecycle.Verify(testSecret, body, h.Get(lifecycle.HeaderSignature)) {
		t.Errorf("signature %q does not verify", h.Get(lifecycle.HeaderSignature))
	}
	if ct := h.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if ev := h.Get(lifecycle.HeaderEvent); ev != "pause" {
		t.Errorf("%s %q, want pause", lifecycle.HeaderEvent, ev)
	}
	if h.Get(lifecycle.HeaderDelivery) == "" {
		t.Errorf("no %s header", lifecycle.HeaderDelivery)
	}
	want := `{"type":"pause","sandbox":"alice","app":"sb-alice","phase_from":"warned",` +
		`"phase_to":"paused","reasons":["idle for 1h"],"at":"2026-03-01T12:00:00Z",` +
		`"dry_run":false}`
	if string(body) != want {
		t.Errorf("body\n got %s\nwant %s", body, want)
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	body := []byte(`{"type":"warn"}`)
	good := lifecycle.Sign(testSecret, body)
	tests := []struct {
		name   string
		secret string
		body   []byte
		header string
		want   bool
	}{
		{"valid", testSecret, body, good, true},
		{"surrounding space", testSecret, body, " " + good + " ", true},
		{"wrong secret", "other", body, good, false},
		{"tampered body", testSecret, []byte(`{"type":"pause"}`), good, false},
		{"no prefix", testSecret, body, strings.TrimPrefix(good, "sha256="), false},
		{"other algorithm", testSecret, body, "sha1=" + good[len("sha256="):], false},
		{"not hex", testSecret, body, "sha256=zz", false},
		{"truncated", testSecret, body, good[:len(good)-2], false},
		{"empty header", testSecret, body, "", false},
		{"empty secret", "", body, lifecycle.Sign("", body), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := lifecycle.Verify(tt.secret, tt.body, tt.header); got != tt.want {
				t.Errorf("Verify = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestWebhook_Retries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		statuses []int
		attempts int // requests the receiver should see
		wantErr  int // status of the final DeliveryError, 0 for success
	}{
		{"503 then success", []int{503, 503, 200}, 3, 0},
		{"429 then success", []int{429, 202}, 2, 0},
		{"no retry on 400", []int{400, 200}, 1, 400},
		{"no retry on 404", []int{404}, 1, 404},
		{"gives up after MaxAttempts", []int{500}, 4, 500},
		{"redirect is not followed", []int{302, 200}, 1, 302},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newReceiver(t, tt.statuses...)

			err := webhook(r.URL).Send(t.Context(), testEvent())

			got := r.requests()
			if len(got) != tt.attempts {
				t.Errorf("receiver got %d requests, want %d", len(got), tt.attempts)
			}
			for _, d := range got[1:] {
				if id := d.header.Get(lifecycle.HeaderDelivery); id !=
					got[0].header.Get(lifecycle.HeaderDelivery) {
					t.Errorf("delivery id changed across retries: %q then %q",
						got[0].header.Get(lifecycle.HeaderDelivery), id)
				}
				if string(d.body) != string(got[0].body) {
					t.Errorf("body changed across retries")
				}
			}
			if tt.wantErr == 0 {
				if err != nil {
					t.Errorf("Send: %v", err)
				}

				return
			}
			var de *lifecycle.DeliveryError
			if !errors.As(err, &de) {
				t.Fatalf("Send: %v, want a *DeliveryError", err)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("status %d", tt.wantErr)) {
				t.Errorf("error %q does not name the status", err)
			}
			if de.StatusCode != tt.wantErr || de.Attempts != tt.attempts || de.Body == "" ||
				de.Delivery != got[0].header.Get(lifecycle.HeaderDelivery) {
				t.Errorf("DeliveryError %+v, want status %d after %d attempt(s) with a body",
					de, tt.wantErr, tt.attempts)
			}
		})
	}
}

func TestWebhook_RetryAfter(t *testing.T) {
	t.Parallel()
	var first time.Time
	var mu sync.Mutex
	var gaps []time.Duration
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if first.IsZero() {
			first = time.Now()
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)

			return
		}
		gaps = append(gaps, time.Since(first))
	}))
	t.Cleanup(srv.Close)

	if err := webhook(srv.URL).Send(t.Context(), testEvent()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(gaps) != 1 || gaps[0] < time.Second {
		t.Errorf("retry came after %v, want one retry after at least the 1s Retry-After", gaps)
	}
}

func TestWebhook_NetworkError(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // connections are now refused

	err := webhook(url).Send(t.Context(), testEvent())

	var de *lifecycle.DeliveryError
	if !errors.As(err, &de) || de.Err == nil || de.StatusCode != 0 || de.Attempts != 4 {
		t.Errorf("Send: %#v, want a DeliveryError with a transport error after 4 attempts", err)
	}
}

func TestWebhook_ContextCancel(t *testing.T) {
	t.Parallel()
	t.Run("during backoff", func(t *testing.T) {
		t.Parallel()
		r := newReceiver(t, http.StatusServiceUnavailable)
		ctx, cancel := context.WithCancel(t.Context())
		w := webhook(r.URL)
		w.Backoff = time.Hour
		r.next = func(int) int { cancel(); return http.StatusServiceUnavailable }

		start := time.Now()
		err := w.Send(ctx, testEvent())
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Send: %v, want context.Canceled", err)
		}
		if d := time.Since(start); d > waitLimit {
			t.Errorf("Send took %s after cancel", d)
		}
		if n := len(r.requests()); n != 1 {
			t.Errorf("receiver got %d requests, want 1", n)
		}
	})
	t.Run("during a hanging request", func(t *testing.T) {
		t.Parallel()
		arrived := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			// Only a handler that has read the body notices the client leave.
			_, _ = io.Copy(io.Discard, r.Body)
			close(arrived)
			<-r.Context().Done()
		}))
		t.Cleanup(srv.Close)
		ctx, cancel := context.WithCancel(t.Context())
		go func() { <-arrived; cancel() }()

		err := webhook(srv.URL).Send(ctx, testEvent())
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Send: %v, want context.Canceled", err)
		}
	})
}

func TestWebhook_BadInput(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	if err := webhook("http://127.0.0.1:1").Send(ctx, map[string]string{}); err == nil ||
		!strings.Contains(err.Error(), "no EventType") {
		t.Errorf("Send of an untyped event: %v", err)
	}
	w := webhook("http://127.0.0.1:1")
	w.Secret = ""
	if err := w.Send(ctx, testEvent()); err == nil || !strings.Contains(err.Error(), "Secret") {
		t.Errorf("Send without a secret: %v", err)
	}
	if err := webhook("http://127.0.0.1:1").Send(ctx, lifecycle.Event{}); err == nil {
		t.Errorf("Send of an event with no type succeeded")
	}
}

func TestNewEvent(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.FixedZone("x", 3600))
	v := lifecycle.Verdict{Sandbox: "alice", App: "sb-alice", Kind: lifecycle.Idle}
	d := lifecycle.Decide(lifecycle.State{IdleSince: now.Add(-time.Hour)}, v,
		lifecycle.Policy{WarnAfter: 30 * time.Minute, PauseAfter: 2 * time.Hour}, now)

	e := lifecycle.NewEvent(v, lifecycle.State{}, d, now, true)

	want := lifecycle.Event{Type: lifecycle.ActionWarn, Sandbox: "alice", App: "sb-alice",
		PhaseFrom: lifecycle.PhaseActive, PhaseTo: lifecycle.PhaseWarned, Reasons: d.Reasons,
		At: now.UTC(), DryRun: true}
	gotJSON, _ := json.Marshal(e)
	wantJSON, _ := json.Marshal(want)
	if string(gotJSON) != string(wantJSON) {
		t.Errorf("NewEvent\n got %s\nwant %s", gotJSON, wantJSON)
	}
}
