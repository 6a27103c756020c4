package flyclient

import (
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

const promQueryURL = "/prometheus/personal/api/v1/query"

// formOf returns the parameters of a query request, from the body or the URL.
func formOf(t *testing.T, r recorded) url.Values {
	t.Helper()
	if r.Method == http.MethodGet {
		return r.Query
	}
	if ct := r.Header.Get("Content-Type"); ct != formContentType {
		t.Errorf("Content-Type = %q, want %q", ct, formContentType)
	}
	form, err := url.ParseQuery(string(r.Body))
	if err != nil {
		t.Fatal(err)
	}

	return form
}

func TestClient_Query(t *testing.T) {
	t.Parallel()
	f, c := newFake(t, always(reply{fixture: "prometheus_vector.json"}))
	at := time.UnixMilli(1712345678123)
	q := `sum by (instance) (rate(fly_instance_net_recv_bytes{app="sb-alice",device="eth0"}[5m]))`

	v, err := c.Query(t.Context(), "personal", q, at)
	if err != nil {
		t.Fatal(err)
	}

	vec, ok := v.(model.Vector)
	if !ok || len(vec) != 2 {
		t.Fatalf("value = %#v, want a vector of 2", v)
	}
	if vec[0].Metric["instance"] != "1857156b526dd8" || vec[0].Value != 1532.5 ||
		vec[0].Timestamp != model.TimeFromUnixNano(at.UnixNano()) {
		t.Errorf("sample = %v", vec[0])
	}
	r := f.last()
	if r.Method != "POST" || r.Path != promQueryURL {
		t.Errorf("request = %s %s", r.Method, r.Path)
	}
	if h := r.Header.Get("Authorization"); h != "FlyV1 "+testToken {
		t.Errorf("Authorization = %q", h)
	}
	form := formOf(t, r)
	if form.Get("query") != q || form.Get("time") != "1712345678.123" {
		t.Errorf("form = %v", form)
	}
}

func TestClient_QueryRange(t *testing.T) {
	t.Parallel()
	f, c := newFake(t, always(reply{fixture: "prometheus_matrix.json"}))
	start := time.Unix(1712345600, 0)

	v, err := c.QueryRange(t.Context(), "personal", "fly_instance_net_sent_bytes", Range{
		Start: start, End: start.Add(2 * time.Minute), Step: 90 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}

	m, ok := v.(model.Matrix)
	if !ok || len(m) != 1 || len(m[0].Values) != 3 || m[0].Values[1].Value != 12.5 {
		t.Fatalf("value = %#v", v)
	}
	r := f.last()
	if r.Path != "/prometheus/personal/api/v1/query_range" {
		t.Errorf("path = %s", r.Path)
	}
	form := formOf(t, r)
	if form.Get("start") != "1712345600" || form.Get("end") != "1712345720" ||
		form.Get("step") != "90" {
		t.Errorf("form = %v", form)
	}
}

func TestClient_QueryResults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		reply    reply
		wantType model.ValueType
		wantErr  bool
		wantCode string
	}{
		{name: "vector", reply: reply{fixture: "prometheus_vector.json"}, wantType: model.ValVector},
		{name: "matrix", reply: reply{fixture: "prometheus_matrix.json"}, wantType: model.ValMatrix},
		{name: "scalar", reply: reply{fixture: "prometheus_scalar.json"}, wantType: model.ValScalar},
		{
			name: "string",
			reply: reply{
				body: `{"status":"success","data":{"resultType":"string","result":[1,"hi"]}}`,
			},
			wantType: model.ValString,
		},
		{
			name:     "error status 400",
			reply:    reply{status: 400, fixture: "prometheus_error.json"},
			wantErr:  true,
			wantCode: "bad_data",
		},
		{
			name:     "error status 200",
			reply:    reply{fixture: "prometheus_error.json"},
			wantErr:  true,
			wantCode: "bad_data",
		},
		{
			name: "unknown result type",
			reply: reply{
				body: `{"status":"success","data":{"resultType":"histogram","result":[]}}`,
			},
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, c := newFake(t, always(tt.reply))

			v, err := c.Query(t.Context(), "personal", "up", time.Time{})

			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && v.Type() != tt.wantType {
				t.Errorf("type = %v, want %v", v.Type(), tt.wantType)
			}
			var apiErr *APIError
			if tt.wantCode != "" && (!errors.As(err, &apiErr) || apiErr.Code != tt.wantCode ||
				apiErr.Message == "" || apiErr.Path != promQueryURL) {
				t.Errorf("err = %v, want an APIError with code %s", err, tt.wantCode)
			}
		})
	}
}

func TestClient_QueryFallsBackToGet(t *testing.T) {
	t.Parallel()
	f, c := newFake(t, func(_ int, r recorded) reply {
		if r.Method == http.MethodPost {
			return reply{status: http.StatusMethodNotAllowed}
		}

		return reply{fixture: "prometheus_vector.json"}
	})

	if _, err := c.Query(t.Context(), "personal", "up", time.Time{}); err != nil {
		t.Fatal(err)
	}

	r := f.last()
	if r.Method != "GET" || r.Query.Get("query") != "up" || r.Query.Has("time") ||
		len(r.Body) != 0 {
		t.Errorf("fallback = %s %v body %q", r.Method, r.Query, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		t.Errorf("Content-Type = %q on a GET", ct)
	}
}

func TestClient_QueryRangeInvalid(t *testing.T) {
	t.Parallel()
	f, c := newFake(t, always(reply{fixture: "prometheus_matrix.json"}))
	now := time.Now()

	for _, r := range []Range{
		{Start: now, End: now.Add(time.Minute)},
		{Start: now, End: now.Add(-time.Minute), Step: time.Second},
		{End: now, Step: time.Second},
	} {
		if _, err := c.QueryRange(t.Context(), "personal", "up", r); err == nil {
			t.Errorf("range %+v accepted", r)
		}
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("requests = %d, want none", n)
	}
}
