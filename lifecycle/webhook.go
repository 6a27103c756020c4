package lifecycle

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mathrand "math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Webhook headers.
const (
	// HeaderSignature carries "sha256=" and the hex HMAC-SHA256 of the body.
	HeaderSignature = "X-Sandstorm-Signature"
	// HeaderEvent carries the event type: warn, pause, delete or reactivate.
	HeaderEvent = "X-Sandstorm-Event"
	// HeaderDelivery carries an ID that is the same on every retry of one
	// delivery, for receivers to de-duplicate.
	HeaderDelivery = "X-Sandstorm-Delivery"
)

// signaturePrefix starts every signature header value.
const signaturePrefix = "sha256="

// Webhook defaults and bounds.
const (
	// DefaultWebhookAttempts is how many times a delivery is tried.
	DefaultWebhookAttempts = 5
	// DefaultWebhookBackoff is the delay before the first retry.
	DefaultWebhookBackoff = time.Second

	defaultWebhookTimeout = 10 * time.Second
	maxWebhookBackoff     = 30 * time.Second
	maxRetryAfter         = time.Minute
	maxErrorBody          = 512
)

// Event is the payload of a lifecycle webhook.
type Event struct {
	Type      Action    `json:"type"`
	Sandbox   string    `json:"sandbox"`
	App       string    `json:"app"`
	PhaseFrom Phase     `json:"phase_from"`
	PhaseTo   Phase     `json:"phase_to"`
	Reasons   []string  `json:"reasons"`
	At        time.Time `json:"at"`
	DryRun    bool      `json:"dry_run"`
}

// EventType returns the event's type, sent as X-Sandstorm-Event.
func (e Event) EventType() string { return string(e.Type) }

// NewEvent describes decision d, taken for the sandbox of verdict v in state
// from, as an Event at time at.
func NewEvent(v Verdict, from State, d Decision, at time.Time, dryRun bool) Event {
	phaseFrom := from.Phase
	if phaseFrom == "" {
		phaseFrom = PhaseActive
	}
	reasons := d.Reasons
	if reasons == nil {
		reasons = []string{}
	}

	return Event{
		Type:      d.Action,
		Sandbox:   v.Sandbox,
		App:       v.App,
		PhaseFrom: phaseFrom,
		PhaseTo:   d.Next.Phase,
		Reasons:   reasons,
		At:        at.UTC(),
		DryRun:    dryRun,
	}
}

// Webhook posts signed events to one URL. Set URL and Secret; the other
// fields have defaults. It is safe for concurrent use.
type Webhook struct {
	// URL receives the POSTs.
	URL string
	// Secret keys the HMAC-SHA256 signature. Required; never logged.
	Secret string
	// Client sends the requests. Default: a client with a 10 s timeout that
	// does not follow redirects, so the body goes to URL only.
	Client *http.Client
	// MaxAttempts bounds the tries of one delivery. Default 5.
	MaxAttempts int
	// Backoff is the delay before the first retry; it doubles after each,
	// up to 30 s, with jitter. A Retry-After answer (at most 1 m) wins when
	// longer. Default 1 s.
	Backoff time.Duration
	// Logger receives a debug line per retry. Default: none.
	Logger *slog.Logger
}

// DeliveryError reports a webhook delivery that failed for good.
type DeliveryError struct {
	Event    string
	Delivery string
	Attempts int
	// StatusCode is the last HTTP answer's status, 0 if there was none.
	StatusCode int
	// Body is the start of the last answer's body.
	Body string
	// Err is the last transport error, if the last attempt had no answer.
	Err error
}

func (e *DeliveryError) Error() string {
	what := fmt.Sprintf("deliver %s event %s: %d attempt(s)", e.Event, e.Delivery, e.Attempts)
	if e.Err != nil {
		return what + ": " + e.Err.Error()
	}
	msg := fmt.Sprintf("%s: status %d", what, e.StatusCode)
	if e.Body != "" {
		msg += ": " + e.Body
	}

	return msg
}

// Unwrap returns the transport error, if any.
func (e *DeliveryError) Unwrap() error { return e.Err }

// retryable reports whether the attempt that failed with e may be repeated:
// no answer at all, a 5xx, or a 429.
func (e *DeliveryError) retryable() bool {
	return e.Err != nil || e.StatusCode >= 500 || e.StatusCode == http.StatusTooManyRequests
}

// Send POSTs event as JSON with its signature, type and a delivery ID that
// stays the same across retries. The event must have an EventType() string
// method. Network errors, 5xx and 429 answers are retried with capped,
// jittered backoff; any other non-2xx answer fails at once. A failure is a
// *DeliveryError, or ctx's error when ctx ended first.
func (w *Webhook) Send(ctx context.Context, event any) error {
	typed, ok := event.(interface{ EventType() string })
	if !ok || typed.EventType() == "" {
		return fmt.Errorf("send webhook: event %T has no EventType", event)
	}
	if w.URL == "" || w.Secret == "" {
		return errors.New("send webhook: URL and Secret are required")
	}
	body, err := json.Marshal(event)
	if err != nil {
		return fmt.Errorf("send webhook: encode %s event: %w", typed.EventType(), err)
	}

	d := delivery{
		id:        rand.Text(),
		event:     typed.EventType(),
		body:      body,
		signature: Sign(w.Secret, body),
	}
	attempts := w.MaxAttempts
	if attempts <= 0 {
		attempts = DefaultWebhookAttempts
	}
	for n := 1; ; n++ {
		derr, retryAfter := w.attempt(ctx, d)
		if derr == nil {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("deliver %s event %s: %w", d.event, d.id, err)
		}
		derr.Attempts = n
		if !derr.retryable() || n >= attempts {
			return derr
		}
		delay := max(w.backoff(n), min(retryAfter, maxRetryAfter))
		orDiscard(w.Logger).LogAttrs(ctx, slog.LevelDebug, "webhook retry",
			slog.String(logEvent, d.event), slog.String(logDelivery, d.id),
			slog.Int(logAttempt, n), slog.Int(logStatus, derr.StatusCode),
			slog.Duration(logRetryIn, delay))
		if err := sleep(ctx, delay); err != nil {
			return fmt.Errorf("deliver %s event %s: %w", d.event, d.id, err)
		}
	}
}

// delivery is one event on its way, the same for every attempt.
type delivery struct {
	id, event, signature string
	body                 []byte
}

// attempt POSTs the delivery once. It returns nil on a 2xx answer, else the
// failure and how long the server asked to wait (zero if it did not).
func (w *Webhook) attempt(ctx context.Context, d delivery) (*DeliveryError, time.Duration) {
	fail := &DeliveryError{Event: d.event, Delivery: d.id}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(d.body))
	if err != nil {
		fail.Err = err

		return fail, 0
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "sandstorm-webhook")
	req.Header.Set(HeaderSignature, d.signature)
	req.Header.Set(HeaderEvent, d.event)
	req.Header.Set(HeaderDelivery, d.id)

	resp, err := w.client().Do(req)
	if err != nil {
		fail.Err = err

		return fail, 0
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))

		return nil, 0
	}
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	fail.StatusCode = resp.StatusCode
	fail.Body = strings.TrimSpace(string(snippet))

	return fail, retryAfter(resp.Header.Get("Retry-After"))
}

// client returns the HTTP client to use.
func (w *Webhook) client() *http.Client {
	if w.Client != nil {
		return w.Client
	}

	return defaultWebhookClient
}

// defaultWebhookClient times out and refuses redirects: a signed body goes
// to the configured URL or nowhere.
var defaultWebhookClient = &http.Client{
	Timeout: defaultWebhookTimeout,
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

// backoff returns the jittered delay after the nth failed attempt: the base
// doubled n-1 times, capped, then drawn from its upper half.
func (w *Webhook) backoff(n int) time.Duration {
	d := w.Backoff
	if d <= 0 {
		d = DefaultWebhookBackoff
	}
	for i := 1; i < n && d < maxWebhookBackoff; i++ {
		d *= 2
	}
	d = min(d, maxWebhookBackoff)

	return d/2 + mathrand.N(d/2+1)
}

// retryAfter parses a Retry-After header: seconds or an HTTP date.
func retryAfter(h string) time.Duration {
	if h == "" {
		return 0
	}
	if secs, err := strconv.Atoi(h); err == nil && secs > 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(time.Until(t), 0)
	}

	return 0
}

// sleep waits d or until ctx ends, and returns ctx's error if it ended.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Sign returns the X-Sandstorm-Signature value for body: "sha256=" and the
// hex HMAC-SHA256 of body keyed with secret.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)

	return signaturePrefix + hex.EncodeToString(mac.Sum(nil))
}

// Verify reports whether header, an X-Sandstorm-Signature value, signs body
// with secret. It compares in constant time and refuses an empty secret.
// Receivers must pass the body exactly as received.
func Verify(secret string, body []byte, header string) bool {
	hexSig, ok := strings.CutPrefix(strings.TrimSpace(header), signaturePrefix)
	if secret == "" || !ok {
		return false
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)

	return hmac.Equal(got, mac.Sum(nil))
}
