package flylocal

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// maxBodyBytes bounds request bodies. Exec stdin is the largest legitimate one.
const maxBodyBytes = 64 << 20

// apiError is a failure answered to the client as Fly's ErrorResponse,
// {"error": "...", "status": "..."}, with an HTTP status.
type apiError struct {
	status int    // HTTP status code
	msg    string // the "error" field, often with a gRPC-style prefix
	code   string // the optional "status" field, e.g. name_taken
}

// Error returns the message sent to the client.
func (e *apiError) Error() string { return e.msg }

// errorBody is the JSON shape of every error answer.
type errorBody struct {
	Error  string `json:"error"`
	Status string `json:"status,omitempty"`
}

// newError returns an apiError with a formatted message.
func newError(status int, format string, args ...any) *apiError {
	return &apiError{status: status, msg: fmt.Sprintf(format, args...)}
}

// errNotFound is Fly's plain "<what> not found", e.g. "machine not found".
func errNotFound(what string) *apiError {
	return &apiError{status: http.StatusNotFound, msg: what + " not found"}
}

// errInvalid is a 400 with Fly's invalid_argument prefix.
func errInvalid(format string, args ...any) *apiError {
	return newError(http.StatusBadRequest, "invalid_argument: "+format, args...)
}

// errPrecondition is a 412 with Fly's failed_precondition prefix.
func errPrecondition(format string, args ...any) *apiError {
	return newError(http.StatusPreconditionFailed, "failed_precondition: "+format, args...)
}

// errConflict is a 409 with the given message.
func errConflict(format string, args ...any) *apiError {
	return newError(http.StatusConflict, format, args...)
}

// errValidation is a 422 with Rails' "Validation failed: " prefix, which Fly
// uses for app names.
func errValidation(code, format string, args ...any) *apiError {
	e := newError(http.StatusUnprocessableEntity, "Validation failed: "+format, args...)
	e.code = code

	return e
}

// errDeadline is a 408 with Fly's deadline_exceeded prefix.
func errDeadline(format string, args ...any) *apiError {
	return newError(http.StatusRequestTimeout, "deadline_exceeded: "+format, args...)
}

// writeJSON answers status with v encoded as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		data, status = []byte(`{"error":"encode response"}`), http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
}

// writeError answers err. An *apiError goes out as is; anything else is a fault
// of flylocal and becomes a 500 that names it.
func writeError(w http.ResponseWriter, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = &apiError{status: http.StatusInternalServerError, msg: "internal: " + err.Error()}
	}
	writeJSON(w, ae.status, errorBody{Error: ae.msg, Status: ae.code})
}

// ok is the body of the calls that answer {"ok": true}.
type ok struct {
	OK bool `json:"ok"`
}

// readBody reads the whole request body, which MaxBytesReader bounds.
func readBody(r *http.Request) ([]byte, error) {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, newError(http.StatusRequestEntityTooLarge, "request body too large")
		}

		return nil, errInvalid("read body: %v", err)
	}

	return data, nil
}

// decodeBody decodes the JSON request body into v; see decodeJSON.
func decodeBody(r *http.Request, v any, optional bool) error {
	data, err := readBody(r)
	if err != nil {
		return err
	}

	return decodeJSON(data, v, optional)
}

// decodeJSON decodes a request body into v. An empty body leaves v untouched
// when optional is true and is an error otherwise. Malformed JSON is a 400
// carrying encoding/json's message, as Fly's Go server answers.
func decodeJSON(data []byte, v any, optional bool) error {
	if strings.TrimSpace(string(data)) == "" {
		if optional {
			return nil
		}

		return errInvalid("request body is required")
	}
	if err := json.Unmarshal(data, v); err != nil {
		return newError(http.StatusBadRequest, "%s", err.Error())
	}

	return nil
}
