package flyclient

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

const (
	// maxErrorBody caps how much of an error answer is read.
	maxErrorBody = 64 << 10
	// maxErrorText caps a raw (non-JSON) error body kept as the message.
	maxErrorText = 512

	codeNameTaken = "name_taken"
)

// Sentinels matched by errors.Is against an *APIError, by HTTP status.
var (
	// ErrNotFound matches 404: no such app, machine, volume, lease or key.
	ErrNotFound = errors.New("flyclient: not found")
	// ErrConflict matches 409 (lease held by another, busy machine, name race)
	// and 422 with Fly status "name_taken".
	ErrConflict = errors.New("flyclient: conflict")
	// ErrRateLimited matches 429.
	ErrRateLimited = errors.New("flyclient: rate limited")
	// ErrTimeout matches 408, and WaitMachine giving up at its deadline.
	ErrTimeout = errors.New("flyclient: timeout")
	// ErrPrecondition matches 412, such as a start refused in the current state
	// or a stale machine version.
	ErrPrecondition = errors.New("flyclient: failed precondition")
	// ErrUnauthorized matches 401 and 403: a missing, invalid or too narrow
	// token, or an app owned by another organization.
	ErrUnauthorized = errors.New("flyclient: unauthorized")
)

// APIError is a non-2xx answer from Fly. Use errors.Is with the Err sentinels
// to branch on the kind, and errors.As to read the details.
type APIError struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Message is Fly's error text ("message", else "error"), or the raw body
	// truncated when it is not JSON, or the status text when it is empty.
	Message string
	// Code is Fly's "status" field, such as "name_taken" or
	// "insufficient_capacity"; for Prometheus it is the errorType.
	Code string
	// RequestID is the fly-request-id header, which Fly support asks for.
	RequestID string
	// Method and Path name the request that failed.
	Method, Path string

	retryAfter time.Duration // from the Retry-After header, capped
}

// Error reads like
// "flyclient: POST /v1/apps/x/machines: 404 machine not found (request 01J...)".
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("flyclient: ")
	if e.Method != "" || e.Path != "" {
		b.WriteString(e.Method + " " + e.Path + ": ")
	}
	b.WriteString(strconv.Itoa(e.StatusCode))
	if e.Message != "" {
		b.WriteString(" " + e.Message)
	}
	if e.Code != "" && !strings.Contains(e.Message, e.Code) {
		b.WriteString(" [" + e.Code + "]")
	}
	if e.RequestID != "" {
		b.WriteString(" (request " + e.RequestID + ")")
	}

	return b.String()
}

// Is reports whether target is the sentinel for e's status.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrConflict:
		return e.StatusCode == http.StatusConflict ||
			e.StatusCode == http.StatusUnprocessableEntity && e.Code == codeNameTaken
	case ErrRateLimited:
		return e.StatusCode == http.StatusTooManyRequests
	case ErrTimeout:
		return e.StatusCode == http.StatusRequestTimeout
	case ErrPrecondition:
		return e.StatusCode == http.StatusPreconditionFailed
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized ||
			e.StatusCode == http.StatusForbidden
	}

	return false
}

// newAPIError reads a capped part of a non-2xx answer into an *APIError.
func newAPIError(method, path string, resp *http.Response) *APIError {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	msg, code := parseErrorBody(raw)
	if msg == "" {
		msg = strings.ToLower(http.StatusText(resp.StatusCode))
	}

	return &APIError{
		StatusCode: resp.StatusCode,
		Message:    msg,
		Code:       code,
		RequestID:  resp.Header.Get(requestIDHeader),
		Method:     method,
		Path:       path,
		retryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
	}
}

// parseErrorBody reads Fly's {"error", "message", "status"} body, or a
// Prometheus {"errorType", "error"} body. "message" wins over "error". A body
// that is not such JSON is kept as text, whitespace folded and truncated.
func parseErrorBody(raw []byte) (msg, code string) {
	var body struct {
		ErrorBody
		ErrorType string `json:"errorType"`
	}
	if err := json.Unmarshal(raw, &body); err == nil {
		msg = body.Message
		if msg == "" {
			msg = body.Error
		}
		code = body.Status
		if body.ErrorType != "" {
			code = body.ErrorType
		}
		if msg != "" {
			return msg, code
		}
	}

	return truncate(strings.Join(strings.Fields(string(raw)), " "), maxErrorText), code
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}

	return s[:cut] + "…"
}
