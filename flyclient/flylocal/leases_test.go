package flylocal

import (
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock for Options.Now.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()

	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// leaseData is the data of a lease envelope.
type leaseData struct {
	Nonce       string `json:"nonce"`
	ExpiresAt   int64  `json:"expires_at"`
	Owner       string `json:"owner"`
	Description string `json:"description"`
	Version     string `json:"version"`
}

func TestLeases(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.Date(2026, 8, 14, 9, 0, 0, 0, time.UTC)}
	e := newEnv(t, Options{Now: clock.Now})
	e.createApp("leased")
	m := e.createMachine("leased", nil, map[string]any{"skip_launch": true})
	base := "/v1/apps/leased/machines/" + m.ID

	if resp := e.send(request{method: "GET", path: base + "/lease"}); resp.status != 404 ||
		errorText(t, resp) != "lease not found" {
		t.Fatalf("no lease: %d %s", resp.status, resp.body)
	}

	var env struct {
		Status string    `json:"status"`
		Data   leaseData `json:"data"`
	}
	e.call("POST", base+"/lease", map[string]any{"ttl": 60, "description": "deploy"}, 201, &env)
	lease := env.Data
	if env.Status != "success" || lease.Nonce == "" || lease.Version != m.InstanceID ||
		lease.Description != "deploy" || lease.ExpiresAt != clock.Now().Unix()+60 ||
		!strings.HasSuffix(lease.Owner, "@tokens.fly.io") {
		t.Fatalf("acquire answered %+v", env)
	}
	e.call("GET", base+"/lease", nil, 200, &env)
	if env.Data.Nonce != lease.Nonce {
		t.Errorf("GET lease answered %+v", env.Data)
	}

	// A second acquire without the nonce conflicts, with Fly's text.
	resp := e.send(request{method: "POST", path: base + "/lease?ttl=30"})
	want := "aborted: machine ID " + m.ID + " lease currently held by " + lease.Owner +
		", expires at 2026-08-14T09:01:00Z"
	if resp.status != 409 || errorText(t, resp) != want {
		t.Fatalf("conflicting acquire: %d %s, want 409 %q", resp.status, resp.body, want)
	}

	// Every guarded call needs the nonce; metadata and reads do not.
	guarded := []request{
		{method: "POST", path: base, body: map[string]any{"config": map[string]any{"image": "x"}}},
		{method: "POST", path: base + "/start"},
		{method: "POST", path: base + "/stop"},
		{method: "POST", path: base + "/restart"},
		{method: "POST", path: base + "/suspend"},
		{method: "POST", path: base + "/signal", body: map[string]any{"signal": "SIGUSR1"}},
		{method: "POST", path: base + "/exec", body: map[string]any{"command": []string{"true"}}},
		{method: "DELETE", path: base},
	}
	for _, req := range guarded {
		resp := e.send(req)
		if resp.status != 409 || !strings.HasPrefix(errorText(t, resp), "aborted:") {
			t.Errorf("%s %s without nonce: %d %s", req.method, req.path, resp.status, resp.body)
		}
	}
	e.call("POST", base+"/metadata/k", map[string]any{"value": "v"}, 204, nil)
	e.call("GET", base, nil, 200, nil)

	withNonce := map[string]string{leaseNonceHeader: lease.Nonce}
	resp = e.send(request{method: "POST", path: base + "/stop", header: withNonce})
	if resp.status != 200 {
		t.Errorf("stop with nonce: %d %s", resp.status, resp.body)
	}

	// Refresh with the nonce extends the same lease.
	clock.Advance(30 * time.Second)
	resp = e.send(request{method: "POST", path: base + "/lease?ttl=120", header: withNonce})
	if resp.status != 201 || !strings.Contains(string(resp.body), lease.Nonce) {
		t.Fatalf("refresh: %d %s", resp.status, resp.body)
	}

	// Release needs the right nonce.
	if resp := e.send(request{method: "DELETE", path: base + "/lease"}); resp.status != 400 {
		t.Errorf("release without nonce: %d", resp.status)
	}
	if resp := e.send(request{method: "DELETE", path: base + "/lease",
		header: map[string]string{leaseNonceHeader: "wrong"}}); resp.status != 400 {
		t.Errorf("release with a wrong nonce: %d", resp.status)
	}
	e.send(request{method: "DELETE", path: base + "/lease", header: withNonce})
	if resp := e.send(request{method: "GET", path: base + "/lease"}); resp.status != 404 {
		t.Errorf("after release: %d", resp.status)
	}

	// A lease stops guarding once it expires by the server's clock.
	e.call("POST", base+"/lease?ttl=10", nil, 201, nil)
	if resp := e.send(request{method: "DELETE", path: base}); resp.status != 409 {
		t.Errorf("delete under lease: %d", resp.status)
	}
	clock.Advance(11 * time.Second)
	e.call("DELETE", base, nil, 200, nil)
}

func TestLeases_OnCreate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.createApp("leasecreate")
	m := e.createMachine("leasecreate", nil, map[string]any{"skip_launch": true, "lease_ttl": 60})
	if m.Nonce == "" {
		t.Fatal("create with lease_ttl answered no nonce")
	}
	base := "/v1/apps/leasecreate/machines/" + m.ID
	if resp := e.send(request{method: "POST", path: base + "/start"}); resp.status != 409 {
		t.Errorf("start without nonce: %d", resp.status)
	}
	var got struct {
		Lease *leaseData `json:"lease"`
		Nonce string     `json:"nonce"`
	}
	e.call("GET", base+"?include_leases=true", nil, 200, &got)
	if got.Lease == nil || got.Lease.Nonce != "" || got.Nonce != "" {
		t.Errorf("include_leases answered %+v", got)
	}
}
