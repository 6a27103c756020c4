package flylocal

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The shape tests hold flylocal to the fixtures in ../testdata, which are
// shaped like Fly's documented answers, over raw HTTP with no flyclient in
// between. A field flyclient ignores would otherwise go unchecked, yet
// another Fly client may read it.
//
// Each case makes the call Fly documents for its fixture and checks the
// status code and the shape of the answer: every key of the fixture present,
// recursively, with the same JSON kind. Keys flylocal adds are fine. What the
// reference promises and no fixture shows is checked too: a fly-request-id
// header, a JSON content type, and an "error" text on every error.
//
// The file is in package flylocal for newEnv and the metrics store, which
// the Prometheus cases fill directly; every call goes over HTTP.

// shapeToken is the only token the shape server accepts.
const shapeToken = "test"

// shapeOrg is the org every shape call names.
const shapeOrg = "personal"

// shapeWait bounds each poll a shape case makes for a state to settle.
const shapeWait = 15 * time.Second

// shapeEnv is the flylocal server the shape cases share. Each case works in
// an app of its own, so the cases can run in parallel.
type shapeEnv struct {
	url string
	srv *Server
}

// shapeRequest is one raw HTTP call. header replaces the default headers
// (Authorization: Bearer test); an empty value removes the header.
type shapeRequest struct {
	method, path string
	body         any // marshalled as JSON unless nil
	header       map[string]string
}

// shapeResponse is what came back.
type shapeResponse struct {
	status int
	header http.Header
	body   []byte
}

// shapeCase is one fixture checked against one call.
type shapeCase struct {
	name    string
	fixture string // file under ../testdata
	status  int    // the code Fly documents for the call
	// same names values, as dotted paths, that must equal the fixture's and
	// not only share its kind: the values clients switch on.
	same []string
	// prefix asks for the fixture's gRPC-style code before the first colon
	// of "error", such as "aborted" or "deadline_exceeded".
	prefix bool
	// optional names top-level keys of the fixture that the reference says
	// a server may or may not send, which flylocal need not answer.
	optional []string
	// machines marks cases that run a machine process.
	machines bool
	// prepare builds the state the call needs and returns the call.
	prepare func(t *testing.T, s *shapeEnv) shapeRequest
}

func TestContract_Shapes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{Token: shapeToken})
	s := &shapeEnv{url: e.ts.URL, srv: e.srv}

	for _, tt := range shapeCases() {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.machines {
				requireMachines(t)
			}
			want := decodeShape(t, "fixture "+tt.fixture, readFixture(t, tt.fixture))
			req := tt.prepare(t, s)

			resp := s.do(t, req)
			if resp.status != tt.status {
				t.Fatalf("%s %s: status %d, want %d; body %s",
					req.method, req.path, resp.status, tt.status, resp.body)
			}
			checkShapeHeaders(t, req, resp)
			got := decodeShape(t, "answer", resp.body)
			for _, k := range tt.optional {
				if m, ok := got.(map[string]any); ok && m[k] == nil {
					delete(want.(map[string]any), k)
				}
			}
			sameShape(t, "$", want, got)
			checkShapeValues(t, tt, req, want, got)
		})
	}
}

// checkShapeValues checks the values a case pins beyond their kind, and that
// a Machines API error carries Fly's {"error": "..."} text, which clients
// report.
func checkShapeValues(t *testing.T, tt shapeCase, req shapeRequest, want, got any) {
	t.Helper()
	for _, p := range tt.same {
		w, g := shapeAt(want, p), shapeAt(got, p)
		if fmt.Sprint(w) != fmt.Sprint(g) {
			t.Errorf("$.%s: flylocal answers %s, fixture has %s", p, brief(g), brief(w))
		}
	}
	msg, _ := shapeAt(got, "error").(string)
	if tt.prefix {
		w, _ := shapeAt(want, "error").(string)
		code, _, _ := strings.Cut(w, ":")
		if !strings.HasPrefix(msg, code+": ") {
			t.Errorf("$.error: flylocal answers %q, want the prefix %q of %q",
				msg, code+": ", w)
		}
	}
	if tt.status >= 400 && strings.HasPrefix(req.path, "/v1/") && msg == "" {
		t.Errorf("$.error: flylocal answers no error text: %s", brief(got))
	}
}

// sameShape reports, as errors naming the JSON path, where got lacks a key of
// want or holds a value of another JSON kind. A null in want matches
// anything; a want integer needs an integer; keys only got has are fine. An
// array is a list, each element of got held to want's first element, unless
// want's elements differ in kind: then it is a tuple, like Prometheus's
// [time, "value"], held to want position by position.
func sameShape(t *testing.T, path string, want, got any) {
	t.Helper()
	if want == nil {
		return
	}
	if wk, gk := jsonKind(want), jsonKind(got); wk != gk {
		t.Errorf("%s: flylocal answers %s %s, fixture has %s %s",
			path, gk, brief(got), wk, brief(want))

		return
	}
	switch w := want.(type) {
	case map[string]any:
		g := got.(map[string]any)
		for _, k := range sortedKeys(w) {
			gv, ok := g[k]
			if !ok {
				t.Errorf("%s: flylocal answers no %q key (fixture: %s)", path, k, brief(w[k]))

				continue
			}
			sameShape(t, path+"."+k, w[k], gv)
		}
	case []any:
		g := got.([]any)
		if isTuple(w) {
			if len(g) != len(w) {
				t.Errorf("%s: flylocal answers %d elements, fixture has %d: %s",
					path, len(g), len(w), brief(w))

				return
			}
			for i := range w {
				sameShape(t, fmt.Sprintf("%s[%d]", path, i), w[i], g[i])
			}

			return
		}
		if len(w) == 0 {
			return
		}
		if len(g) == 0 {
			t.Errorf("%s: flylocal answers an empty array, fixture has elements like %s",
				path, brief(w[0]))
		}
		for i, gv := range g {
			sameShape(t, fmt.Sprintf("%s[%d]", path, i), w[0], gv)
		}
	case json.Number:
		if isInteger(w) && !isInteger(got.(json.Number)) {
			t.Errorf("%s: flylocal answers %s, fixture has an integer (%s)", path, got, w)
		}
	}
}

// jsonKind names the JSON kind of a value decoded with UseNumber.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "bool"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// isTuple reports whether the elements of a differ in JSON kind.
func isTuple(a []any) bool {
	for _, v := range a {
		if jsonKind(v) != jsonKind(a[0]) {
			return true
		}
	}

	return false
}

// isInteger reports whether n is written as an integer.
func isInteger(n json.Number) bool { return !strings.ContainsAny(string(n), ".eE") }

// sortedKeys returns the keys of m in order, so errors come in a stable order.
func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)

	return keys
}

// brief renders v as JSON, cut to a length that fits an error line.
func brief(v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if s := string(data); len(s) > 60 {
		return s[:57] + "..."
	}

	return string(data)
}

// shapeAt returns the value at a dotted path of object keys and array
// indexes ("data.resultType", "0.status"), or nil.
func shapeAt(v any, path string) any {
	for part := range strings.SplitSeq(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[part]
		case []any:
			var i int
			if _, err := fmt.Sscan(part, &i); err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}

	return v
}

// checkShapeHeaders checks what the reference promises of every answer and
// the fixtures cannot show: a fly-request-id on Machines API answers, which
// clients put in their errors, and a JSON content type.
func checkShapeHeaders(t *testing.T, req shapeRequest, resp shapeResponse) {
	t.Helper()
	if strings.HasPrefix(req.path, "/v1/") && resp.header.Get("fly-request-id") == "" {
		t.Errorf("%s %s: no fly-request-id header", req.method, req.path)
	}
	if ct := resp.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s %s: Content-Type %q, want application/json", req.method, req.path, ct)
	}
}

// readFixture returns a file of ../testdata.
func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}

	return data
}

// decodeShape decodes JSON keeping numbers as written.
func decodeShape(t *testing.T, what string, data []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %s %q: %v", what, data, err)
	}

	return v
}

// fixtureConfig returns the config of machine.json, mounting volume vol in
// place of the fixture's and carrying the metadata of metadata.json.
func fixtureConfig(t *testing.T, vol string) map[string]any {
	t.Helper()
	m, _ := decodeShape(t, "machine.json", readFixture(t, "machine.json")).(map[string]any)
	cfg, _ := m["config"].(map[string]any)
	mounts, _ := cfg["mounts"].([]any)
	if len(mounts) != 1 {
		t.Fatalf("machine.json mounts %v, want one", cfg["mounts"])
	}
	mounts[0].(map[string]any)["volume"] = vol
	cfg["metadata"] = decodeShape(t, "metadata.json", readFixture(t, "metadata.json"))

	return cfg
}

// setSecretsRequest sets the two secrets of secrets.json in app.
func setSecretsRequest(app string) shapeRequest {
	return shapeRequest{method: "POST", path: "/v1/apps/" + app + "/secrets",
		body: map[string]any{"values": map[string]any{
			"GITHUB_TOKEN": "ghp_example", "OPENAI_API_KEY": "sk-example",
		}}}
}

// machinePath is the path of machine id of app.
func machinePath(app, id string) string { return "/v1/apps/" + app + "/machines/" + id }

// do sends req and returns the answer; transport errors fail the test.
func (s *shapeEnv) do(t *testing.T, req shapeRequest) shapeResponse {
	t.Helper()
	var body io.Reader
	if req.body != nil {
		data, err := json.Marshal(req.body)
		if err != nil {
			t.Fatalf("marshal body: %v", err)
		}
		body = bytes.NewReader(data)
	}
	hr, err := http.NewRequestWithContext(t.Context(), req.method, s.url+req.path, body)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	hr.Header.Set("Authorization", "Bearer "+shapeToken)
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	for k, v := range req.header {
		if v == "" {
			hr.Header.Del(k)
		} else {
			hr.Header.Set(k, v)
		}
	}

	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatalf("%s %s: %v", req.method, req.path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s %s: %v", req.method, req.path, err)
	}

	return shapeResponse{status: resp.StatusCode, header: resp.Header, body: data}
}

// mustCall sends a setup call, fails the test unless it answers status, and
// returns the decoded answer (nil when empty).
func (s *shapeEnv) mustCall(t *testing.T, req shapeRequest, status int) any {
	t.Helper()
	resp := s.do(t, req)
	if resp.status != status {
		t.Fatalf("setup %s %s: status %d, want %d; body %s",
			req.method, req.path, resp.status, status, resp.body)
	}
	if len(bytes.TrimSpace(resp.body)) == 0 {
		return nil
	}

	return decodeShape(t, "setup answer", resp.body)
}

// poll repeats req until done accepts its answer, or fails the test.
func (s *shapeEnv) poll(t *testing.T, req shapeRequest, done func(any) bool) {
	t.Helper()
	deadline := time.Now().Add(shapeWait)
	for {
		v := s.mustCall(t, req, 200)
		if done(v) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %s: still %s after %v", req.method, req.path, brief(v), shapeWait)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fixtureApp creates the app called name and returns its name.
func (s *shapeEnv) fixtureApp(t *testing.T, name string) string {
	t.Helper()
	s.mustCall(t, shapeRequest{method: "POST", path: "/v1/apps",
		body: map[string]any{"name": name, "org_slug": shapeOrg}}, 201)

	return name
}

// fixtureVolume creates a volume like volume.json's in app and returns its id.
func (s *shapeEnv) fixtureVolume(t *testing.T, app string) string {
	t.Helper()
	v := s.mustCall(t, shapeRequest{method: "POST", path: "/v1/apps/" + app + "/volumes",
		body: map[string]any{"name": "data", "size_gb": 3}}, 200)
	id, _ := shapeAt(v, "id").(string)
	if id == "" {
		t.Fatalf("created volume has no id: %s", brief(v))
	}

	return id
}

// fixtureMachine creates, in app, a machine on the config of machine.json
// with a fresh volume mounted, and returns the ids of both. With launch the
// machine is started, and started by the time fixtureMachine returns; without
// it, it rests "created".
func (s *shapeEnv) fixtureMachine(t *testing.T, app string, launch bool) (string, string) {
	t.Helper()
	vol := s.fixtureVolume(t, app)
	m := s.mustCall(t, shapeRequest{method: "POST", path: "/v1/apps/" + app + "/machines",
		body: map[string]any{"config": fixtureConfig(t, vol), "skip_launch": !launch}}, 200)
	id, _ := shapeAt(m, "id").(string)
	if id == "" {
		t.Fatalf("created machine has no id: %s", brief(m))
	}
	if launch {
		s.mustCall(t, shapeRequest{method: "GET",
			path: machinePath(app, id) + "/wait?state=started&timeout=30"}, 200)
	}

	return id, vol
}

// acquireLease leases machine id of app for a minute and returns the nonce.
func (s *shapeEnv) acquireLease(t *testing.T, app, id string) string {
	t.Helper()
	v := s.mustCall(t, shapeRequest{method: "POST", path: machinePath(app, id) + "/lease?ttl=60"},
		201)
	nonce, _ := shapeAt(v, "data.nonce").(string)
	if nonce == "" {
		t.Fatalf("lease answer has no nonce: %s", brief(v))
	}

	return nonce
}
