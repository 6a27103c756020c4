package metrics

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/common/model"
)

// Prometheus errorType values. notImplemented is flylocal's own, for the
// endpoints Fly serves and flylocal does not.
const (
	errorBadData        = "bad_data"
	errorExecution      = "execution"
	errorNotFound       = "not_found"
	errorNotImplemented = "not_implemented"
)

// response is the Prometheus HTTP API envelope.
type response struct {
	Status    string     `json:"status"`
	Data      *queryData `json:"data,omitempty"`
	ErrorType string     `json:"errorType,omitempty"`
	Error     string     `json:"error,omitempty"`
}

// queryData is the data of a query answer.
type queryData struct {
	ResultType model.ValueType `json:"resultType"`
	Result     model.Value     `json:"result"`
}

// handler serves the Prometheus query API from a Store.
type handler struct {
	store *Store
	now   func() time.Time
}

// Handler serves /prometheus/{org}/api/v1/query and /query_range (GET with a
// query string, or POST form), parameters query, time, start, end, step as in
// the Prometheus HTTP API (time as unix float seconds or RFC3339; step as a
// duration like 15s or float seconds). The org path segment is accepted as
// given (flylocal has one org per server). Anything else under /prometheus/
// answers 501 with a Prometheus-style error JSON saying it is not implemented
// by flylocal, and paths outside it answer 404. now supplies the default
// evaluation time; nil means time.Now.
func (s *Store) Handler(now func() time.Time) http.Handler {
	if now == nil {
		now = time.Now
	}
	h := &handler{store: s, now: now}

	mux := http.NewServeMux()
	mux.HandleFunc("/prometheus/{org}/api/v1/query", h.query)
	mux.HandleFunc("/prometheus/{org}/api/v1/query_range", h.queryRange)
	mux.HandleFunc("/prometheus/", h.notImplemented)
	mux.HandleFunc("/", h.notFound)

	return mux
}

// query serves an instant query.
func (h *handler) query(w http.ResponseWriter, r *http.Request) {
	if !readForm(w, r) {
		return
	}
	at := h.now()
	if v := r.Form.Get("time"); v != "" {
		t, err := parseTime(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, errorBadData, paramError("time", err))

			return
		}
		at = t
	}

	val, err := h.store.Query(r.Form.Get("query"), at)
	answer(w, val, err)
}

// queryRange serves a range query.
func (h *handler) queryRange(w http.ResponseWriter, r *http.Request) {
	if !readForm(w, r) {
		return
	}
	start, err := parseTime(r.Form.Get("start"))
	if err != nil {
		writeError(w, http.StatusBadRequest, errorBadData, paramError("start", err))

		return
	}
	end, err := parseTime(r.Form.Get("end"))
	if err != nil {
		writeError(w, http.StatusBadRequest, errorBadData, paramError("end", err))

		return
	}
	step, err := parseStep(r.Form.Get("step"))
	if err != nil {
		writeError(w, http.StatusBadRequest, errorBadData, paramError("step", err))

		return
	}

	val, err := h.store.QueryRange(r.Form.Get("query"), start, end, step)
	answer(w, val, err)
}

func (h *handler) notImplemented(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotImplemented, errorNotImplemented, fmt.Sprintf(
		"%s is not implemented by flylocal; it serves only "+
			"/prometheus/<org>/api/v1/query and /api/v1/query_range", r.URL.Path))
}

func (h *handler) notFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotFound, errorNotFound, fmt.Sprintf(
		"%s not found; the Prometheus API is under /prometheus/<org>/api/v1/", r.URL.Path))
}

// readForm accepts GET and POST and parses the query string and form body.
// It answers the request itself and returns false when it cannot.
func readForm(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		writeError(w, http.StatusMethodNotAllowed, errorBadData,
			fmt.Sprintf("method %s not allowed; use GET or POST", r.Method))

		return false
	}
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, errorBadData, fmt.Sprintf("parse form: %v", err))

		return false
	}

	return true
}

// answer writes a query result, or maps err to a Prometheus error answer.
func answer(w http.ResponseWriter, val model.Value, err error) {
	var parseErr *ParseError
	var execErr *ExecutionError
	switch {
	case errors.As(err, &parseErr):
		writeError(w, http.StatusBadRequest, errorBadData, paramError("query", err))
	case errors.As(err, &execErr):
		writeError(w, http.StatusUnprocessableEntity, errorExecution, err.Error())
	case err != nil:
		writeError(w, http.StatusBadRequest, errorBadData, err.Error())
	default:
		data := &queryData{ResultType: val.Type(), Result: val}
		writeJSON(w, http.StatusOK, response{Status: "success", Data: data})
	}
}

func paramError(name string, err error) string {
	return fmt.Sprintf("invalid parameter %q: %v", name, err)
}

func writeError(w http.ResponseWriter, status int, errorType, msg string) {
	writeJSON(w, status, response{Status: "error", ErrorType: errorType, Error: msg})
}

// writeJSON writes resp with the given status. Like Prometheus, it leaves <,
// > and & unescaped, since the answer is never embedded in HTML.
func writeJSON(w http.ResponseWriter, status int, resp response) {
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(resp); err != nil {
		status = http.StatusInternalServerError
		body.Reset()
		_ = enc.Encode(response{
			Status:    "error",
			ErrorType: "internal",
			Error:     fmt.Sprintf("encode response: %v", err),
		})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body.Bytes())
}

// maxSeconds bounds float times and steps so that they convert to integers
// safely; it is about 280,000 years.
const maxSeconds = 1 << 43

// maxStepSeconds is the longest step time.Duration holds, about 292 years.
const maxStepSeconds = math.MaxInt64 / float64(time.Second)

// parseTime reads unix seconds (possibly fractional, kept to the
// millisecond) or an RFC 3339 timestamp.
func parseTime(s string) (time.Time, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil && math.Abs(f) < maxSeconds {
		sec, frac := math.Modf(f)

		return time.Unix(int64(sec), int64(math.Round(frac*1e3))*1e6).UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}

	return time.Time{}, fmt.Errorf("cannot parse %q to a valid timestamp", s)
}

// parseStep reads float seconds or a Prometheus duration such as 15s or 1m30s.
func parseStep(s string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil && math.Abs(f) < maxStepSeconds {
		return time.Duration(math.Round(f * float64(time.Second))), nil
	}
	if d, err := model.ParseDuration(s); err == nil {
		return time.Duration(d), nil
	}

	return 0, fmt.Errorf("cannot parse %q to a valid duration", s)
}
