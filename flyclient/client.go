package flyclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

const (
	leaseNonceHeader = "fly-machine-lease-nonce"
	requestIDHeader  = "fly-request-id"
	contentTypeJSON  = "application/json"

	// maxResponseBody caps a decoded success body; the largest real answers
	// (machine lists, range queries) stay far below it.
	maxResponseBody = 64 << 20
	// maxDrain is how much of an unread body is discarded so the connection
	// can be reused; a longer remainder costs the connection instead.
	maxDrain = 64 << 10
)

// Log attribute keys.
const (
	logMethod    = "method"
	logPath      = "path"
	logStatus    = "status"
	logDuration  = "duration"
	logRequestID = "request_id"
	logAttempt   = "attempt"
	logDelay     = "delay"
	logError     = "error"
)

// errAttemptTimeout marks an attempt cut short by its own time limit while the
// caller's context was still live. It may have reached Fly.
var errAttemptTimeout = errors.New("no answer within the attempt time limit")

// Client talks to the Fly Machines API and Fly's Prometheus API. It is safe
// for concurrent use. The zero value is not usable; call New.
type Client struct {
	authz       string
	baseURL     string
	promURL     string
	userAgent   string
	http        *http.Client
	log         *slog.Logger
	pacer       *Pacer
	retries     int
	backoffBase time.Duration
	backoffMax  time.Duration
	reqTimeout  time.Duration
}

// New returns a client that authenticates with token, which may be a Fly
// macaroon (fm1r_, fm1a_, fm2_, several comma-joined, with or without a FlyV1
// prefix) or a user token. See AuthorizationHeader. An empty token sends no
// Authorization header.
func New(token string, opts ...Option) *Client {
	c := &Client{
		authz:       AuthorizationHeader(token),
		baseURL:     DefaultBaseURL,
		promURL:     DefaultPrometheusURL,
		userAgent:   defaultUserAgent,
		http:        &http.Client{},
		log:         slog.New(slog.DiscardHandler),
		pacer:       newClientPacer(),
		retries:     defaultRetries,
		backoffBase: defaultBackoffBase,
		backoffMax:  defaultBackoffMax,
	}
	for _, opt := range opts {
		opt(c)
	}

	return c
}

// String describes the client without its token, so printing it is safe.
func (c *Client) String() string {
	return "flyclient.Client(" + c.baseURL + ")"
}

// LogValue keeps the token out of logs when a Client is logged with slog.
func (c *Client) LogValue() slog.Value {
	return slog.StringValue(c.String())
}

// call is one logical API call; do turns it into one or more HTTP attempts.
type call struct {
	method string
	base   string     // scheme, host and any path prefix
	path   string     // escaped path under base; also the pacing key
	query  url.Values // may be nil
	body   []byte     // nil when the request has no body
	ctype  string     // Content-Type of body
	header http.Header
	pace   bool

	// idempotent calls may be repeated after a failure that may have reached
	// Fly. Other calls are repeated only when Fly provably never saw them.
	idempotent bool
	// lookup, on a create, finds the resource that an earlier, uncertain
	// attempt may have made, filling the call's result. Found means done.
	lookup func(ctx context.Context) (found bool, err error)
	// goneIsDone makes a 404 after an uncertain attempt a success: a delete
	// whose first attempt landed finds nothing left to delete.
	goneIsDone bool
	// keep408 returns a 408 to the caller, which loops on it (wait).
	keep408 bool
	// once disables retries, for lookups inside another call's retry loop.
	once bool
	// timeout is how long Fly may legitimately hold this call (wait, exec);
	// each attempt gets at least that, or the client's request timeout.
	timeout time.Duration
}

// newCall returns a paced Machines API call. GET, PUT and DELETE are
// idempotent by HTTP's rules; POSTs are marked idempotent where they are.
func (c *Client) newCall(method, path string) *call {
	return &call{
		method:     method,
		base:       c.baseURL,
		path:       path,
		pace:       true,
		idempotent: method != http.MethodPost,
	}
}

// setJSON marshals v as the request body.
func (cl *call) setJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode request: %w", err)
	}
	cl.body = b
	cl.ctype = contentTypeJSON

	return nil
}

// do sends cl, retrying as its flags allow, and decodes a success body into
// out unless out is nil.
func (c *Client) do(ctx context.Context, cl *call, out any) error {
	uncertain := false // an earlier attempt may have reached Fly
	for n := 1; ; n++ {
		err := c.try(ctx, cl, out, n, uncertain)
		if err == nil {
			return nil
		}
		if uncertain && cl.goneIsDone && errors.Is(err, ErrNotFound) {
			return nil
		}

		retry, reached := decide(cl, err)
		uncertain = uncertain || reached
		if !retry || cl.once || n > c.retries {
			return err
		}

		d := c.delay(n, err)
		c.log.LogAttrs(ctx, slog.LevelDebug, "fly request retry",
			slog.String(logMethod, cl.method),
			slog.String(logPath, cl.path),
			slog.Int(logAttempt, n),
			slog.Duration(logDelay, d),
			slog.String(logError, logSafe(err)),
		)
		if serr := sleep(ctx, d); serr != nil {
			if errors.Is(serr, errNoTimeLeft) {
				return err
			}

			return fmt.Errorf("stop retrying: %w; last attempt: %w", serr, err)
		}
	}
}

// try runs one attempt, first looking for the result of an earlier uncertain
// attempt when the call is a create.
func (c *Client) try(ctx context.Context, cl *call, out any, n int, uncertain bool) error {
	if uncertain && cl.lookup != nil {
		found, err := cl.lookup(ctx)
		if err != nil {
			return fmt.Errorf("look for result of earlier attempt: %w", err)
		}
		if found {
			return nil
		}
	}

	return c.attempt(ctx, cl, out, n)
}

// attempt sends one HTTP request for cl and decodes its answer.
func (c *Client) attempt(ctx context.Context, cl *call, out any, n int) error {
	if cl.pace && c.pacer != nil {
		if err := c.pacer.Wait(ctx, cl.method, cl.path); err != nil {
			return paceError(ctx, err)
		}
	}
	actx := ctx
	if limit := max(c.reqTimeout, cl.timeout); limit > 0 {
		var cancel context.CancelFunc
		actx, cancel = context.WithTimeout(ctx, limit)
		defer cancel()
	}
	req, err := c.newRequest(actx, cl)
	if err != nil {
		return err
	}

	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() == nil && (actx.Err() != nil || isTimeout(err)) {
			err = fmt.Errorf("%s %s: %w (%v)", cl.method, req.URL.EscapedPath(),
				errAttemptTimeout, err)
		}
		c.logAttempt(ctx, req, n, time.Since(start), nil, err)

		return err
	}
	defer drainClose(resp.Body)
	c.logAttempt(ctx, req, n, time.Since(start), resp, nil)

	if resp.StatusCode >= http.StatusMultipleChoices {
		return newAPIError(cl.method, req.URL.EscapedPath(), resp)
	}

	return decodeBody(resp.Body, out)
}

// newRequest builds the HTTP request for one attempt; the body is rebuilt from
// bytes each time so retries replay it whole.
func (c *Client) newRequest(ctx context.Context, cl *call) (*http.Request, error) {
	u := cl.base + cl.path
	if len(cl.query) > 0 {
		u += "?" + cl.query.Encode()
	}
	var body io.Reader
	if cl.body != nil {
		body = bytes.NewReader(cl.body)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, u, body)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}

	if cl.body != nil {
		req.Header.Set("Content-Type", cl.ctype)
	}
	req.Header.Set("Accept", contentTypeJSON)
	req.Header.Set("User-Agent", c.userAgent)
	if c.authz != "" {
		req.Header.Set("Authorization", c.authz)
	}
	for k, vs := range cl.header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}

	return req, nil
}

// logAttempt writes one debug line per HTTP attempt. It never logs headers or
// bodies: they carry the token, secret values and exec stdin.
func (c *Client) logAttempt(
	ctx context.Context,
	req *http.Request,
	n int,
	took time.Duration,
	resp *http.Response,
	err error,
) {
	if !c.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{
		slog.String(logMethod, req.Method),
		slog.String(logPath, req.URL.EscapedPath()),
		slog.Int(logAttempt, n),
		slog.Duration(logDuration, took),
	}
	if resp != nil {
		attrs = append(attrs,
			slog.Int(logStatus, resp.StatusCode),
			slog.String(logRequestID, resp.Header.Get(requestIDHeader)),
		)
	}
	if err != nil {
		attrs = append(attrs, slog.String(logError, logSafe(err)))
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "fly request", attrs...)
}

// logSafe describes err for a log line. An API error is reduced to its status
// and code, since Fly's message may quote the request, secrets included.
func logSafe(err error) string {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return strings.TrimSpace(fmt.Sprintf("fly answered %d %s", apiErr.StatusCode, apiErr.Code))
	}

	return err.Error()
}

// decodeBody decodes a JSON success body into out. A nil out ignores the body.
func decodeBody(r io.Reader, out any) error {
	if out == nil {
		return nil
	}
	lr := &io.LimitedReader{R: r, N: maxResponseBody + 1}
	if err := json.NewDecoder(lr).Decode(out); err != nil {
		switch {
		case lr.N <= 0:
			return fmt.Errorf("decode response: body exceeds %d bytes", maxResponseBody)
		case errors.Is(err, io.EOF):
			// Not wrapped: an empty answer is not a broken connection.
			return errors.New("decode response: empty body")
		}

		return fmt.Errorf("decode response: %w", err)
	}

	return nil
}

// drainClose discards a little of what is left of body, so the connection can
// be reused, and closes it.
func drainClose(body io.ReadCloser) {
	_, _ = io.CopyN(io.Discard, body, maxDrain)
	_ = body.Close()
}

// paceError reports a Pacer refusal. The limiter refuses up front when the
// wait would outlast ctx's deadline; that is reported as a deadline.
func paceError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("pace request: %w", ctx.Err())
	}

	return fmt.Errorf("pace request: %w (%v)", context.DeadlineExceeded, err)
}

// required returns an error naming the first empty argument; args are
// name, value pairs.
func required(args ...string) error {
	for i := 0; i+1 < len(args); i += 2 {
		if args[i+1] == "" {
			return fmt.Errorf("flyclient: %s is required", args[i])
		}
	}

	return nil
}

// seg escapes one path segment.
func seg(s string) string {
	return url.PathEscape(s)
}
