package flyclient

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"
)

const testToken = "fm2_testmacaroon"

// recorded is one request as the fake server saw it.
type recorded struct {
	Method string
	Path   string
	Query  url.Values
	Header http.Header
	Body   []byte
}

// reply is one scripted answer of the fake server.
type reply struct {
	status  int
	fixture string // file under testdata
	body    string // literal body when fixture is empty
	header  map[string]string
	reset   bool          // hijack the connection and reset it
	hang    bool          // block until the client gives up
	hold    time.Duration // wait this long before answering
}

// fakeFly is an httptest server answering with a script; handle gets the
// number of earlier requests and the request.
type fakeFly struct {
	t      *testing.T
	mu     sync.Mutex
	reqs   []recorded
	handle func(n int, r recorded) reply
	srv    *httptest.Server
}

// newFake starts a fake Fly and a client pointed at it, with tiny backoff
// and no pacing.
func newFake(
	t *testing.T,
	handle func(n int, r recorded) reply,
	opts ...Option,
) (*fakeFly, *Client) {
	t.Helper()
	f := &fakeFly{t: t, handle: handle}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	base := []Option{
		WithBaseURL(f.srv.URL),
		WithPrometheusURL(f.srv.URL + "/prometheus"),
		WithBackoff(time.Millisecond, 5*time.Millisecond),
		WithoutPacing(),
	}

	return f, New(testToken, append(base, opts...)...)
}

// always answers every request the same way.
func always(rep reply) func(int, recorded) reply {
	return func(int, recorded) reply { return rep }
}

// script answers the n-th request with replies[n], repeating the last.
func script(replies ...reply) func(int, recorded) reply {
	return func(n int, _ recorded) reply {
		return replies[min(n, len(replies)-1)]
	}
}

// createScript answers a create whose result is looked up by listing: GETs
// return before until a POST has been made and after from then on, and the
// n-th POST (from 0) gets post(n).
func createScript(before, after string, post func(n int) reply) func(int, recorded) reply {
	posts := 0

	return func(_ int, r recorded) reply {
		if r.Method == http.MethodGet {
			if posts == 0 {
				return reply{body: before}
			}

			return reply{body: after}
		}
		posts++

		return post(posts - 1)
	}
}

// failFirst answers the first POST with fail and later ones with ok.
func failFirst(fail, ok reply) func(int) reply {
	return func(n int) reply {
		if n == 0 {
			return fail
		}

		return ok
	}
}

func (f *fakeFly) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rec := recorded{
		Method: r.Method,
		Path:   r.URL.EscapedPath(),
		Query:  r.URL.Query(),
		Header: r.Header.Clone(),
		Body:   body,
	}
	f.mu.Lock()
	n := len(f.reqs)
	f.reqs = append(f.reqs, rec)
	rep := f.handle(n, rec) // under the lock: scripts may keep state
	f.mu.Unlock()

	switch {
	case rep.reset:
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			f.t.Errorf("hijack: %v", err)

			return
		}
		_ = conn.(*net.TCPConn).SetLinger(0)
		_ = conn.Close()

		return
	case rep.hang:
		<-r.Context().Done()

		return
	case rep.hold > 0:
		select {
		case <-r.Context().Done():
			return
		case <-time.After(rep.hold):
		}
	}

	w.Header().Set(requestIDHeader, "01JNRQ9VVKJ7HZFMJWJB3M3RYN-ord")
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	out := []byte(rep.body)
	if rep.fixture != "" {
		out = fixture(f.t, rep.fixture)
		w.Header().Set("Content-Type", contentTypeJSON)
	}
	w.WriteHeader(cmpOr(rep.status, http.StatusOK))
	_, _ = w.Write(out)
}

// requests returns what the server saw so far.
func (f *fakeFly) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()

	return append([]recorded(nil), f.reqs...)
}

// count returns how many requests had the method and path.
func (f *fakeFly) count(method, path string) int {
	n := 0
	for _, r := range f.requests() {
		if r.Method == method && r.Path == path {
			n++
		}
	}

	return n
}

// last returns the last request, failing the test if there was none.
func (f *fakeFly) last() recorded {
	f.t.Helper()
	reqs := f.requests()
	if len(reqs) == 0 {
		f.t.Fatal("no request reached the server")
	}

	return reqs[len(reqs)-1]
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}

	return b
}

func cmpOr(v, def int) int {
	if v == 0 {
		return def
	}

	return v
}

// wantRequest is what a table test expects the server to see.
type wantRequest struct {
	method string
	path   string
	query  url.Values // exact match when non-nil
	nonce  string
	body   string // JSON, compared semantically when non-empty
}

// check compares the request the server saw with w.
func (w wantRequest) check(t *testing.T, got recorded) {
	t.Helper()
	if got.Method != w.method || got.Path != w.path {
		t.Errorf("request = %s %s, want %s %s", got.Method, got.Path, w.method, w.path)
	}
	if w.query != nil && got.Query.Encode() != w.query.Encode() {
		t.Errorf("query = %q, want %q", got.Query.Encode(), w.query.Encode())
	}
	if h := got.Header.Get("Authorization"); h != "FlyV1 "+testToken {
		t.Errorf("Authorization = %q, want FlyV1 scheme", h)
	}
	if n := got.Header.Get(leaseNonceHeader); n != w.nonce {
		t.Errorf("lease nonce = %q, want %q", n, w.nonce)
	}
	ct := got.Header.Get("Content-Type")
	switch {
	case len(got.Body) == 0 && ct != "":
		t.Errorf("Content-Type = %q on a request without body", ct)
	case len(got.Body) > 0 && ct != contentTypeJSON:
		t.Errorf("Content-Type = %q, want %q", ct, contentTypeJSON)
	}
	if w.body == "" {
		if len(got.Body) > 0 {
			t.Errorf("unexpected body %s", got.Body)
		}

		return
	}
	if !jsonEqual(t, got.Body, []byte(w.body)) {
		t.Errorf("body = %s, want %s", got.Body, w.body)
	}
}

// jsonEqual compares two JSON documents by value.
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Errorf("bad JSON %s: %v", a, err)

		return false
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Errorf("bad JSON %s: %v", b, err)

		return false
	}

	return reflect.DeepEqual(x, y)
}
