package metrics

import (
	"cmp"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

// setup serves the fixture with minute(20) as "now" and returns the base URL
// of the Prometheus API for org "personal".
func setup(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(newFixture(t).Handler(func() time.Time { return minute(20) }))
	t.Cleanup(srv.Close)

	return srv.URL + "/prometheus/personal/api/v1"
}

// apiResult is a Prometheus answer decoded the way a client decodes it.
type apiResult struct {
	Status string `json:"status"`
	Data   struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
}

// do sends the request and decodes the answer, checking the status code and
// the content type.
func do(t *testing.T, req *http.Request, wantStatus int) (apiResult, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}

	if resp.StatusCode != wantStatus {
		t.Errorf("%s %s: status %d, want %d; body %s",
			req.Method, req.URL, resp.StatusCode, wantStatus, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var res apiResult
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}

	return res, body
}

func get(t *testing.T, u string, params url.Values) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u+"?"+params.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}

	return req
}

func post(t *testing.T, u string, params url.Values) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, u,
		strings.NewReader(params.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")

	return req
}

func TestHandler_query(t *testing.T) {
	t.Parallel()
	base := setup(t)
	const q = `sum by (instance) (rate(fly_instance_net_recv_bytes{device="eth0"}[10m]))`

	tests := []struct {
		name     string
		req      func(t *testing.T) *http.Request
		wantTime model.Time
		want     []string
	}{
		{
			name: "GET with default time",
			req: func(t *testing.T) *http.Request {
				return get(t, base+"/query", url.Values{"query": {q}})
			},
			wantTime: model.Time(minute(20).UnixMilli()),
			want: []string{
				`{instance="i1"} 16.666666666666668`,
				`{instance="i2"} 0.8333333333333334`,
				`{instance="i3"} 1.5833333333333333`,
			},
		},
		{
			name: "POST form with unix float time",
			req: func(t *testing.T) *http.Request {
				at := float64(minute(4).Unix()) + 0.25
				return post(t, base+"/query", url.Values{
					"query": {`fly_app_concurrency{app="api"}`},
					"time":  {strconvFloat(at)},
				})
			},
			wantTime: model.Time(minute(4).UnixMilli() + 250),
			want:     []string{`fly_app_concurrency{app="api", instance="i4"} 2`},
		},
		{
			name: "GET with RFC 3339 time",
			req: func(t *testing.T) *http.Request {
				return get(t, base+"/query", url.Values{
					"query": {`fly_app_concurrency{app="api"}`},
					"time":  {"2025-01-01T00:03:00.5Z"},
				})
			},
			wantTime: model.Time(minute(3).UnixMilli() + 500),
			want:     []string{`fly_app_concurrency{app="api", instance="i4"} 2`},
		},
		{
			name: "GET with integer unix seconds",
			req: func(t *testing.T) *http.Request {
				return get(t, base+"/query", url.Values{
					"query": {`fly_app_concurrency{app="api"}`},
					"time":  {"1735689780"},
				})
			},
			wantTime: model.Time(minute(3).UnixMilli()),
			want:     []string{`fly_app_concurrency{app="api", instance="i4"} 2`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, _ := do(t, tt.req(t), http.StatusOK)
			if res.Status != "success" || res.Data.ResultType != "vector" {
				t.Fatalf("status %q, resultType %q", res.Status, res.Data.ResultType)
			}
			var vec model.Vector
			if err := json.Unmarshal(res.Data.Result, &vec); err != nil {
				t.Fatal(err)
			}
			if lines := format(t, vec); !slices.Equal(lines, tt.want) {
				t.Errorf("got %q, want %q", lines, tt.want)
			}
			for _, s := range vec {
				if s.Timestamp != tt.wantTime {
					t.Errorf("timestamp %v, want %v", s.Timestamp, tt.wantTime)
				}
			}
		})
	}
}

func strconvFloat(f float64) string {
	b, _ := json.Marshal(f)

	return string(b)
}

// TestHandler_rawJSON checks the exact keys and value encodings a client
// without the model package relies on.
func TestHandler_rawJSON(t *testing.T) {
	t.Parallel()
	base := setup(t)

	tests := []struct {
		name   string
		path   string
		args   url.Values
		status int // 200 when zero
		want   string
	}{
		{
			name: "vector",
			path: "/query",
			args: url.Values{
				"query": {`fly_app_concurrency{instance="i1"}`},
				"time":  {"1735690800.5"},
			},
			want: `{"status":"success","data":{"resultType":"vector","result":[` +
				`{"metric":{"__name__":"fly_app_concurrency","app":"web","instance":"i1"},` +
				`"value":[1735690800.5,"3"]}]}}`,
		},
		{
			name: "empty vector is an empty list",
			path: "/query",
			args: url.Values{"query": {`nope`}},
			want: `{"status":"success","data":{"resultType":"vector","result":[]}}`,
		},
		{
			name: "scalar",
			path: "/query",
			args: url.Values{"query": {`1 / 4`}, "time": {"1735690800"}},
			want: `{"status":"success","data":{"resultType":"scalar",` +
				`"result":[1735690800,"0.25"]}}`,
		},
		{
			name: "matrix",
			path: "/query_range",
			args: url.Values{
				"query": {`sum(fly_app_concurrency{app="web"})`},
				"start": {"1735690680"}, "end": {"1735690800"}, "step": {"1m"},
			},
			want: `{"status":"success","data":{"resultType":"matrix","result":[` +
				`{"metric":{},"values":[[1735690680,"8"],[1735690740,"8"],[1735690800,"8"]]}]}}`,
		},
		{
			name: "empty matrix is an empty list",
			path: "/query_range",
			args: url.Values{"query": {`nope`}, "start": {"0"}, "end": {"60"}, "step": {"15"}},
			want: `{"status":"success","data":{"resultType":"matrix","result":[]}}`,
		},
		{
			name: "special values",
			path: "/query",
			args: url.Values{
				"query": {`fly_app_concurrency{instance="i1"} / 0`},
				"time":  {"1735690800"},
			},
			want: `{"status":"success","data":{"resultType":"vector","result":[` +
				`{"metric":{"app":"web","instance":"i1"},"value":[1735690800,"+Inf"]}]}}`,
		},
		{
			name:   "bad data",
			path:   "/query",
			args:   url.Values{"query": {"x offset 5m"}},
			status: http.StatusBadRequest,
			want: `{"status":"error","errorType":"bad_data","error":"invalid parameter ` +
				`\"query\": 1:3: parse error: the offset modifier is not supported by flylocal"}`,
		},
		{
			name:   "not implemented",
			path:   "/series",
			status: http.StatusNotImplemented,
			want: `{"status":"error","errorType":"not_implemented","error":` +
				`"/prometheus/personal/api/v1/series is not implemented by flylocal; ` +
				`it serves only /prometheus/<org>/api/v1/query and /api/v1/query_range"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			status := cmp.Or(tt.status, http.StatusOK)
			_, body := do(t, get(t, base+tt.path, tt.args), status)
			if got := strings.TrimSpace(string(body)); got != tt.want {
				t.Errorf("body\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestHandler_queryRange(t *testing.T) {
	t.Parallel()
	base := setup(t)
	args := url.Values{
		"query": {`increase(fly_instance_net_recv_bytes{instance="i2"}[10m])`},
		"start": {"2025-01-01T00:10:00Z"},
		"end":   {strconvFloat(float64(minute(20).Unix()))},
		"step":  {"300"},
	}

	for _, req := range []*http.Request{
		get(t, base+"/query_range", args),
		post(t, base+"/query_range", args),
	} {
		res, body := do(t, req, http.StatusOK)
		if res.Data.ResultType != "matrix" {
			t.Fatalf("resultType %q in %s", res.Data.ResultType, body)
		}
		var m model.Matrix
		if err := json.Unmarshal(res.Data.Result, &m); err != nil {
			t.Fatal(err)
		}
		want := []string{`{app="web", device="eth0", instance="i2"} 0@900 500@1200`}
		if lines := format(t, m); !slices.Equal(lines, want) {
			t.Errorf("%s: got %q, want %q", req.Method, lines, want)
		}
	}
}

func TestHandler_errors(t *testing.T) {
	t.Parallel()
	base := setup(t)
	root := strings.TrimSuffix(base, "/prometheus/personal/api/v1")
	rangeArgs := func(step, start string) url.Values {
		return url.Values{"query": {"x"}, "start": {start}, "end": {"1"}, "step": {step}}
	}

	tests := []struct {
		name          string
		method        string // GET when empty
		path          string // under /prometheus/personal/api/v1 unless it starts there
		args          url.Values
		wantStatus    int
		wantErrorType string
		wantError     string
	}{
		{
			name:       "parse error",
			path:       "/query",
			args:       url.Values{"query": {"topk(3, x)"}},
			wantStatus: http.StatusBadRequest, wantErrorType: "bad_data",
			wantError: `invalid parameter "query": 1:1: parse error: ` +
				"aggregation topk is not supported",
		},
		{
			name:       "missing query",
			path:       "/query",
			wantStatus: http.StatusBadRequest, wantErrorType: "bad_data",
			wantError: `invalid parameter "query": 1:1: parse error: no expression found in input`,
		},
		{
			name:       "bad time",
			path:       "/query",
			args:       url.Values{"query": {"x"}, "time": {"yesterday"}},
			wantStatus: http.StatusBadRequest, wantErrorType: "bad_data",
			wantError: `invalid parameter "time": cannot parse "yesterday" to a valid timestamp`,
		},
		{
			name:       "execution error",
			method:     http.MethodPost,
			path:       "/query",
			args:       url.Values{"query": {`rate({__name__=~".+"}[5m])`}},
			wantStatus: http.StatusUnprocessableEntity, wantErrorType: "execution",
			wantError: "vector cannot contain metrics with the same labelset",
		},
		{
			name:       "missing start",
			path:       "/query_range",
			args:       rangeArgs("1", ""),
			wantStatus: http.StatusBadRequest, wantErrorType: "bad_data",
			wantError: `invalid parameter "start": cannot parse "" to a valid timestamp`,
		},
		{
			name:       "bad step",
			path:       "/query_range",
			args:       rangeArgs("often", "0"),
			wantStatus: http.StatusBadRequest, wantErrorType: "bad_data",
			wantError: `invalid parameter "step": cannot parse "often" to a valid duration`,
		},
		{
			name:       "negative step",
			path:       "/query_range",
			args:       rangeArgs("-1", "0"),
			wantStatus: http.StatusBadRequest, wantErrorType: "bad_data",
			wantError: "zero or negative query resolution step widths are not accepted",
		},
		{
			name:       "end before start",
			path:       "/query_range",
			args:       rangeArgs("1", "100"),
			wantStatus: http.StatusBadRequest, wantErrorType: "bad_data",
			wantError: "end timestamp must not be before start time",
		},
		{
			name:       "method not allowed",
			method:     http.MethodDelete,
			path:       "/query",
			wantStatus: http.StatusMethodNotAllowed, wantErrorType: "bad_data",
			wantError: "method DELETE not allowed; use GET or POST",
		},
		{
			name:       "series endpoint",
			path:       "/series",
			args:       url.Values{"match[]": {"x"}},
			wantStatus: http.StatusNotImplemented, wantErrorType: "not_implemented",
			wantError: "/prometheus/personal/api/v1/series is not implemented by flylocal",
		},
		{
			name:       "label values endpoint",
			path:       "/label/app/values",
			wantStatus: http.StatusNotImplemented, wantErrorType: "not_implemented",
			wantError: "/prometheus/personal/api/v1/label/app/values is not implemented",
		},
		{
			name:       "federate",
			path:       "/prometheus/personal/federate",
			wantStatus: http.StatusNotImplemented, wantErrorType: "not_implemented",
			wantError: "/prometheus/personal/federate is not implemented by flylocal",
		},
		{
			name:       "outside /prometheus/",
			path:       "/v1/apps",
			wantStatus: http.StatusNotFound, wantErrorType: "not_found",
			wantError: "/v1/apps not found",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u := base + tt.path
			if strings.HasPrefix(tt.path, "/prometheus/") || strings.HasPrefix(tt.path, "/v1/") {
				u = root + tt.path
			}
			var req *http.Request
			switch tt.method {
			case "":
				req = get(t, u, tt.args)
			case http.MethodPost:
				req = post(t, u, tt.args)
			default:
				r, err := http.NewRequestWithContext(t.Context(), tt.method, u, nil)
				if err != nil {
					t.Fatal(err)
				}
				req = r
			}

			res, body := do(t, req, tt.wantStatus)
			if res.Status != "error" || res.ErrorType != tt.wantErrorType {
				t.Errorf("status %q, errorType %q; want error, %q", res.Status, res.ErrorType,
					tt.wantErrorType)
			}
			if !strings.Contains(res.Error, tt.wantError) {
				t.Errorf("error %q does not contain %q", res.Error, tt.wantError)
			}

			var keys map[string]any
			if err := json.Unmarshal(body, &keys); err != nil {
				t.Fatal(err)
			}
			want := []string{"error", "errorType", "status"}
			if got := slices.Sorted(maps.Keys(keys)); !slices.Equal(got, want) {
				t.Errorf("error JSON keys %v, want %v", got, want)
			}
		})
	}
}

func TestParseTime(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		in   string
		want time.Time
	}{
		{"integer seconds", "1735689600", t0},
		{"fractional seconds", "1735689600.123", t0.Add(123 * time.Millisecond)},
		{"sub-millisecond rounds", "1735689600.0006", t0.Add(time.Millisecond)},
		{"RFC 3339", "2025-01-01T00:00:00Z", t0},
		{"RFC 3339 with offset", "2025-01-01T02:00:00.5+02:00", t0.Add(500 * time.Millisecond)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseTime(tt.in)
			if err != nil || !got.Equal(tt.want) {
				t.Errorf("parseTime(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}

	for _, bad := range []string{"", "NaN", "Inf", "1e300", "2025-01-01"} {
		if got, err := parseTime(bad); err == nil {
			t.Errorf("parseTime(%q) = %v, want an error", bad, got)
		}
	}
}

func TestParseStep(t *testing.T) {
	t.Parallel()

	tests := []struct {
		in   string
		want time.Duration
	}{
		{"15", 15 * time.Second},
		{"0.5", 500 * time.Millisecond},
		{"15s", 15 * time.Second},
		{"1m30s", 90 * time.Second},
		{"1h", time.Hour},
		{"250ms", 250 * time.Millisecond},
	}
	for _, tt := range tests {
		if got, err := parseStep(tt.in); err != nil || got != tt.want {
			t.Errorf("parseStep(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "1.5m", "NaN", "1e20", "m"} {
		if got, err := parseStep(bad); err == nil {
			t.Errorf("parseStep(%q) = %v, want an error", bad, got)
		}
	}
}
