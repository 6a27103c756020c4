package flylocal

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/longrun/sandstorm/flyclient/flylocal/machine"
)

const testToken = "fm2_test-token"

// env is one flylocal server behind a real HTTP server, and a raw JSON client.
type env struct {
	t   *testing.T
	srv *Server
	ts  *httptest.Server
	dir string
}

// newEnv starts a server on a fresh state dir unless opts names one. The
// token defaults to testToken.
func newEnv(t *testing.T, opts Options) *env {
	t.Helper()
	if opts.StateDir == "" {
		opts.StateDir = t.TempDir()
	}
	if opts.Token == "" {
		opts.Token = testToken
	}

	return startEnv(t, opts)
}

// startEnv starts a server with opts as they are.
func startEnv(t *testing.T, opts Options) *env {
	t.Helper()
	srv, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e := &env{t: t, srv: srv, ts: httptest.NewServer(srv), dir: opts.StateDir}
	t.Cleanup(e.close)

	return e
}

// close stops the HTTP server and the flylocal server; it may run twice.
func (e *env) close() {
	e.ts.Close()
	if err := e.srv.Close(); err != nil {
		e.t.Errorf("Close: %v", err)
	}
}

// requireMachines skips a test that needs to run machine processes on a host
// that cannot.
func requireMachines(t *testing.T) {
	t.Helper()
	if err := machine.Supported(); err != nil {
		t.Skipf("machines cannot run here: %v", err)
	}
}

// request is an HTTP call; the zero header set sends the test token.
type request struct {
	method, path string
	body         any // marshalled as JSON unless a string or nil
	header       map[string]string
}

// response is what came back.
type response struct {
	status int
	body   []byte
	header http.Header
}

// send performs req and returns the response; transport errors fail the test.
func (e *env) send(req request) response {
	e.t.Helper()
	var body io.Reader
	switch b := req.body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			e.t.Fatalf("marshal body: %v", err)
		}
		body = bytes.NewReader(data)
	}
	hr, err := http.NewRequestWithContext(e.t.Context(), req.method, e.ts.URL+req.path, body)
	if err != nil {
		e.t.Fatalf("new request: %v", err)
	}
	hr.Header.Set("Authorization", "Bearer "+testToken)
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	for k, v := range req.header {
		hr.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.method, req.path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("read %s %s: %v", req.method, req.path, err)
	}

	return response{status: resp.StatusCode, body: data, header: resp.Header}
}

// call sends method path with body, checks the status and decodes the answer
// into out unless out is nil.
func (e *env) call(method, path string, body any, want int, out any) response {
	e.t.Helper()
	resp := e.send(request{method: method, path: path, body: body})
	if resp.status != want {
		e.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, resp.status, want,
			resp.body)
	}
	if out != nil {
		if err := json.Unmarshal(resp.body, out); err != nil {
			e.t.Fatalf("%s %s: decode %s: %v", method, path, resp.body, err)
		}
	}

	return resp
}

// errorText returns the "error" field of an error answer.
func errorText(t *testing.T, resp response) string {
	t.Helper()
	var body struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(resp.body, &body); err != nil {
		t.Fatalf("decode error body %s: %v", resp.body, err)
	}

	return body.Error
}

// createApp creates an app in the default org.
func (e *env) createApp(name string) {
	e.t.Helper()
	e.call("POST", "/v1/apps", map[string]any{"name": name, "org_slug": "personal"}, 201, nil)
}

// apiMachine is the part of a Machine the tests read.
type apiMachine struct {
	ID         string          `json:"id"`
	Name       string          `json:"name"`
	State      string          `json:"state"`
	Region     string          `json:"region"`
	InstanceID string          `json:"instance_id"`
	Nonce      string          `json:"nonce"`
	Config     json.RawMessage `json:"config"`
	Events     []eventRecord   `json:"events"`
}

// createMachine creates a machine in app with the given config (image added
// when missing) and extra request fields.
func (e *env) createMachine(app string, cfg map[string]any, extra map[string]any) apiMachine {
	e.t.Helper()
	if cfg == nil {
		cfg = map[string]any{}
	}
	if _, ok := cfg["image"]; !ok {
		cfg["image"] = "registry-1.docker.io/library/ubuntu:24.04"
	}
	body := map[string]any{"config": cfg}
	for k, v := range extra {
		body[k] = v
	}
	var m apiMachine
	e.call("POST", "/v1/apps/"+app+"/machines", body, 200, &m)

	return m
}

// waitState waits, through the wait endpoint, until machine id of app is in
// state.
func (e *env) waitState(app, id, state string) {
	e.t.Helper()
	e.call("GET", "/v1/apps/"+app+"/machines/"+id+"/wait?timeout=30&state="+state, nil, 200, nil)
}

// getMachine reads a machine.
func (e *env) getMachine(app, id string) apiMachine {
	e.t.Helper()
	var m apiMachine
	e.call("GET", "/v1/apps/"+app+"/machines/"+id, nil, 200, &m)

	return m
}

func TestServer_Auth(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	open := startEnv(t, Options{StateDir: t.TempDir()}) // accepts any token

	tests := []struct {
		name   string
		env    *env
		header string
		want   int
	}{
		{"bearer", e, "Bearer " + testToken, 200},
		{"flyv1", e, "FlyV1 " + testToken, 200},
		{"bearer flyv1", e, "Bearer FlyV1 " + testToken, 200},
		{"lower-case scheme", e, "bearer " + testToken, 200},
		{"wrong token", e, "Bearer nope", 401},
		{"missing", e, "", 401},
		{"scheme only", e, "Bearer", 401},
		{"other scheme", e, "Basic " + testToken, 401},
		{"any token when open", open, "FlyV1 whatever", 200},
		{"still needs a header when open", open, "", 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := tt.env.send(request{method: "GET", path: "/v1/apps?org_slug=personal",
				header: map[string]string{"Authorization": tt.header}})
			if resp.status != tt.want {
				t.Fatalf("status %d, want %d: %s", resp.status, tt.want, resp.body)
			}
			if tt.want == 401 && !strings.Contains(errorText(t, resp), "Authenticate") {
				t.Errorf("401 body %s", resp.body)
			}
		})
	}
}

func TestServer_NotImplementedAndRequestID(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.createApp("nimpl")

	resp := e.send(request{method: "POST", path: "/v1/apps/nimpl/machines/abc/cordon"})
	if resp.status != 501 {
		t.Fatalf("status %d, want 501", resp.status)
	}
	want := "flylocal does not implement POST /v1/apps/nimpl/machines/abc/cordon"
	if got := errorText(t, resp); got != want {
		t.Errorf("error %q, want %q", got, want)
	}
	id := resp.header.Get("fly-request-id")
	if len(id) != 32 || !strings.HasSuffix(id, "-local") {
		t.Errorf("fly-request-id %q, want a ULID and -local", id)
	}
	if resp := e.send(request{method: "PATCH", path: "/v1/apps"}); resp.status != 501 {
		t.Errorf("PATCH /v1/apps: status %d, want 501", resp.status)
	}
	// Trailing slashes are tolerated.
	e.call("GET", "/v1/apps/nimpl/", nil, 200, nil)
	e.call("GET", "/v1/apps/nimpl/machines/", nil, 200, nil)
}

func TestServer_RequestCounts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.createApp("counts")
	e.call("GET", "/v1/apps/counts", nil, 200, nil)
	e.call("GET", "/v1/apps/counts/", nil, 200, nil)
	e.send(request{method: "GET", path: "/v1/nothing"})

	got := e.srv.RequestCounts()
	if got["GET /v1/apps/{app_name}"] != 2 || got["POST /v1/apps"] != 1 || got["/"] != 1 {
		t.Errorf("counts %v", got)
	}
	e.srv.ResetCounts()
	if got := e.srv.RequestCounts(); len(got) != 0 {
		t.Errorf("counts after reset %v", got)
	}
}

func TestServer_Faults(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.createApp("faults")
	const route = "GET /v1/apps/{app_name}"
	get := func() response { return e.send(request{method: "GET", path: "/v1/apps/faults"}) }

	t.Run("status and body", func(t *testing.T) {
		remove := e.srv.InjectFault(Fault{Route: route, Status: 503, Body: `{"error":"busy"}`})
		resp := get()
		remove()
		if resp.status != 503 || errorText(t, resp) != "busy" {
			t.Fatalf("got %d %s", resp.status, resp.body)
		}
		if resp := get(); resp.status != 200 {
			t.Fatalf("after remove: %d", resp.status)
		}
	})
	t.Run("nth", func(t *testing.T) {
		remove := e.srv.InjectFault(Fault{Route: route, Nth: 2})
		defer remove()
		var got []int
		for range 3 {
			got = append(got, get().status)
		}
		if got[0] != 200 || got[1] != 500 || got[2] != 200 {
			t.Fatalf("statuses %v, want [200 500 200]", got)
		}
	})
	t.Run("times", func(t *testing.T) {
		remove := e.srv.InjectFault(Fault{Status: 502, Times: 2})
		defer remove()
		var got []int
		for range 3 {
			got = append(got, get().status)
		}
		if got[0] != 502 || got[1] != 502 || got[2] != 200 {
			t.Fatalf("statuses %v, want [502 502 200]", got)
		}
	})
	t.Run("probability", func(t *testing.T) {
		remove := e.srv.InjectFault(Fault{Route: route, Status: 500, Probability: 0.5})
		defer remove()
		failed := 0
		for range 100 {
			if get().status == 500 {
				failed++
			}
		}
		if failed < 15 || failed > 85 {
			t.Fatalf("%d of 100 failed at probability 0.5", failed)
		}
	})
	t.Run("other route untouched", func(t *testing.T) {
		remove := e.srv.InjectFault(Fault{Route: "DELETE /v1/apps/{app_name}"})
		defer remove()
		if resp := get(); resp.status != 200 {
			t.Fatalf("status %d", resp.status)
		}
	})
	t.Run("reset", func(t *testing.T) {
		remove := e.srv.InjectFault(Fault{Route: route, Reset: true, Times: 1})
		defer remove()
		// A fresh connection: Go retries a GET that fails on a reused one.
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		_, err := client.Get(e.ts.URL + "/v1/apps/faults")
		if err == nil {
			t.Fatal("request succeeded, want a connection error")
		}
		if !errors.Is(err, syscall.ECONNRESET) && !strings.Contains(err.Error(), "EOF") {
			t.Logf("connection error: %v", err)
		}
	})
	t.Run("hang", func(t *testing.T) {
		remove := e.srv.InjectFault(Fault{Route: route, Hang: true})
		defer remove()
		client := &http.Client{Timeout: 200 * time.Millisecond}
		start := time.Now()
		_, err := client.Get(e.ts.URL + "/v1/apps/faults")
		if err == nil {
			t.Fatal("request succeeded, want a timeout")
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("gave up after %v", d)
		}
	})
}

func TestServer_RateLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{RateLimits: true})
	e.createApp("limited")

	// Creates of machines in one app soon exceed the burst of three.
	var statuses []int
	var last response
	for len(statuses) < 10 && last.status != 429 {
		last = e.send(request{method: "POST", path: "/v1/apps/limited/machines",
			body: map[string]any{"skip_launch": true, "config": map[string]any{"image": "x"}}})
		statuses = append(statuses, last.status)
	}
	if len(statuses) < 4 || statuses[0] != 200 || last.status != 429 {
		t.Fatalf("statuses %v, want three or more 200s, then 429", statuses)
	}
	if errorText(t, last) != "rate limit exceeded" || last.header.Get("Retry-After") != "1" {
		t.Errorf("429 answer %s, Retry-After %q", last.body, last.header.Get("Retry-After"))
	}

	e.srv.SetRateLimits(false)
	e.call("POST", "/v1/apps/limited/machines",
		map[string]any{"skip_launch": true, "config": map[string]any{"image": "x"}}, 200, nil)
}

func TestServer_LatencyAndClose(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.srv.SetLatency(150 * time.Millisecond)
	start := time.Now()
	e.call("GET", "/v1/apps?org_slug=personal", nil, 200, nil)
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("answered after %v, want at least the latency", d)
	}
	e.srv.SetLatency(0)

	if err := e.srv.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	resp := e.send(request{method: "GET", path: "/v1/apps?org_slug=personal"})
	if resp.status != 503 {
		t.Errorf("after Close: status %d, want 503", resp.status)
	}
}
