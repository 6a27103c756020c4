package flyclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

const (
	promStatusSuccess = "success"
	formContentType   = "application/x-www-form-urlencoded"
)

// Range is the time span and resolution of a range query.
type Range struct {
	Start, End time.Time
	Step       time.Duration
}

// promResponse is the Prometheus HTTP API envelope. Unknown keys, such as
// VictoriaMetrics' "stats", are ignored.
type promResponse struct {
	Status    string   `json:"status"`
	Data      promData `json:"data"`
	ErrorType string   `json:"errorType"`
	Error     string   `json:"error"`
	Warnings  []string `json:"warnings"`
}

type promData struct {
	ResultType string          `json:"resultType"`
	Result     json.RawMessage `json:"result"`
}

// Query runs an instant PromQL (MetricsQL) query over an organization's
// metrics: POST {prometheus}/{org}/api/v1/query, form-encoded, falling back
// to GET if the server refuses POST. A zero at means now. The result is a
// model.Vector, model.Matrix, *model.Scalar or *model.String. Series that do
// not exist are absent from the result: a stopped machine reports nothing,
// which is not the same as zero.
func (c *Client) Query(ctx context.Context, org, query string, at time.Time) (model.Value, error) {
	if err := required("org slug", org, "query", query); err != nil {
		return nil, fmt.Errorf("query metrics: %w", err)
	}

	params := url.Values{"query": {query}}
	if !at.IsZero() {
		params.Set("time", promTime(at))
	}
	v, err := c.promQuery(ctx, org, "query", params)
	if err != nil {
		return nil, fmt.Errorf("query metrics of %s: %w", org, err)
	}

	return v, nil
}

// QueryRange runs a PromQL query over a span of time: POST
// {prometheus}/{org}/api/v1/query_range with start, end and step, falling
// back to GET like Query. The result is normally a model.Matrix.
func (c *Client) QueryRange(ctx context.Context, org, query string, r Range) (model.Value, error) {
	if err := required("org slug", org, "query", query); err != nil {
		return nil, fmt.Errorf("query metrics range: %w", err)
	}
	if r.Step <= 0 || r.Start.IsZero() || r.End.Before(r.Start) {
		return nil, errors.New("query metrics range: flyclient: need start <= end and step > 0")
	}

	params := url.Values{
		"query": {query},
		"start": {promTime(r.Start)},
		"end":   {promTime(r.End)},
		"step":  {strconv.FormatFloat(r.Step.Seconds(), 'f', -1, 64)},
	}
	v, err := c.promQuery(ctx, org, "query_range", params)
	if err != nil {
		return nil, fmt.Errorf("query metrics range of %s: %w", org, err)
	}

	return v, nil
}

// promQuery posts params to an API endpoint and decodes the result. Queries
// only read, so they are retried like GETs.
func (c *Client) promQuery(
	ctx context.Context,
	org, endpoint string,
	params url.Values,
) (model.Value, error) {
	cl := &call{
		method:     http.MethodPost,
		base:       c.promURL,
		path:       "/" + seg(org) + "/api/v1/" + endpoint,
		body:       []byte(params.Encode()),
		ctype:      formContentType,
		idempotent: true,
	}
	var resp promResponse
	err := c.do(ctx, cl, &resp)
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusMethodNotAllowed {
		cl.method, cl.body, cl.ctype, cl.query = http.MethodGet, nil, "", params
		err = c.do(ctx, cl, &resp)
	}
	if err != nil {
		return nil, err
	}

	if resp.Status != promStatusSuccess {
		path := cl.path
		if u, err := url.Parse(cl.base); err == nil {
			path = u.EscapedPath() + cl.path
		}

		return nil, &APIError{
			StatusCode: http.StatusOK,
			Message:    resp.Error,
			Code:       resp.ErrorType,
			Method:     cl.method,
			Path:       path,
		}
	}
	if len(resp.Warnings) > 0 {
		c.log.LogAttrs(ctx, slog.LevelDebug, "prometheus warnings",
			slog.String(logPath, cl.path),
			slog.String("warnings", strings.Join(resp.Warnings, "; ")),
		)
	}

	return resp.Data.value()
}

// value decodes the result according to its resultType.
func (d promData) value() (model.Value, error) {
	var (
		v   model.Value
		err error
	)
	switch d.ResultType {
	case "vector":
		var vec model.Vector
		err = json.Unmarshal(d.Result, &vec)
		v = vec
	case "matrix":
		var m model.Matrix
		err = json.Unmarshal(d.Result, &m)
		v = m
	case "scalar":
		s := new(model.Scalar)
		err = json.Unmarshal(d.Result, s)
		v = s
	case "string":
		s := new(model.String)
		err = json.Unmarshal(d.Result, s)
		v = s
	default:
		return nil, fmt.Errorf("flyclient: unknown prometheus result type %q", d.ResultType)
	}
	if err != nil {
		return nil, fmt.Errorf("decode %s result: %w", d.ResultType, err)
	}

	return v, nil
}

// promTime formats t as Prometheus wants it: Unix seconds with milliseconds.
func promTime(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', -1, 64)
}
