package flylocal

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestApps(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})

	var created map[string]any
	e.call("POST", "/v1/apps", map[string]any{"name": "alpha", "org_slug": "personal"}, 201, &created)
	if id, _ := created["id"].(string); len(id) != 16 || created["created_at"] == nil ||
		created["name"] != "alpha" {
		t.Errorf("create answered %v", created)
	}
	e.call("POST", "/v1/apps", map[string]any{"app_name": "beta", "org_slug": "personal"}, 201, nil)

	resp := e.send(request{method: "POST", path: "/v1/apps",
		body: map[string]any{"name": "alpha", "org_slug": "personal"}})
	if resp.status != 422 || string(resp.body) !=
		`{"error":"Validation failed: Name has already been taken","status":"name_taken"}`+"\n" {
		t.Errorf("duplicate: %d %s", resp.status, resp.body)
	}
	for _, name := range []string{"", "Upper", "under_score", "-lead", strings.Repeat("a", 63)} {
		resp := e.send(request{method: "POST", path: "/v1/apps",
			body: map[string]any{"name": name, "org_slug": "personal"}})
		want := "Validation failed: Name under 63 chars using numbers, lowercase letters and dashes"
		if resp.status != 422 || errorText(t, resp) != want {
			t.Errorf("name %q: %d %s", name, resp.status, resp.body)
		}
	}
	if resp := e.send(request{method: "POST", path: "/v1/apps",
		body: map[string]any{"name": "gamma"}}); resp.status != 400 {
		t.Errorf("no org_slug: %d", resp.status)
	}

	var list struct {
		Total int              `json:"total_apps"`
		Apps  []map[string]any `json:"apps"`
	}
	e.call("GET", "/v1/apps?org_slug=personal", nil, 200, &list)
	if list.Total != 2 || list.Apps[0]["name"] != "alpha" || list.Apps[1]["name"] != "beta" {
		t.Errorf("list answered %+v", list)
	}
	var app map[string]any
	e.call("GET", "/v1/apps/beta", nil, 200, &app)
	org, _ := app["organization"].(map[string]any)
	if org["slug"] != "personal" || app["machine_count"] != 0.0 {
		t.Errorf("get answered %v", app)
	}
	if resp := e.send(request{method: "GET", path: "/v1/apps/nope"}); resp.status != 404 ||
		errorText(t, resp) != "app not found" {
		t.Errorf("unknown app: %d %s", resp.status, resp.body)
	}
}

func TestApps_DeleteRemovesEverything(t *testing.T) {
	t.Parallel()
	requireMachines(t)
	e := newEnv(t, Options{ScrapeInterval: 50 * time.Millisecond})
	e.createApp("doomed")
	e.createApp("bystander")
	v := e.createVolume("doomed", map[string]any{"name": "data"})
	must(t, os.WriteFile(filepath.Join(e.dir, "volumes", v.ID, "f"), []byte("x"), 0o644))
	e.call("POST", "/v1/apps/doomed/volumes/"+v.ID+"/snapshots", nil, 200, nil)
	snap := e.waitSnapshot("doomed", v.ID, "created")
	m := e.createMachine("doomed", map[string]any{
		"mounts": []any{map[string]any{"volume": v.ID, "path": "/data"}},
	}, nil)
	e.waitState("doomed", m.ID, "started")
	e.call("POST", "/v1/apps/doomed/secrets", map[string]any{"values": map[string]any{"K": "v"}},
		200, nil)
	e.call("POST", "/v1/apps/doomed/ip_assignments", map[string]any{"type": "v6"}, 200, nil)
	waitSeries(t, e, `fly_instance_up{app="doomed"}`)

	resp := e.call("DELETE", "/v1/apps/doomed", nil, 202, nil)
	if len(resp.body) != 0 {
		t.Errorf("delete answered a body: %s", resp.body)
	}
	for _, path := range []string{"/v1/apps/doomed", "/v1/apps/doomed/machines",
		"/v1/apps/doomed/volumes", "/v1/apps/doomed/secrets", "/v1/apps/doomed/ip_assignments"} {
		if resp := e.send(request{method: "GET", path: path}); resp.status != 404 {
			t.Errorf("GET %s after delete: %d", path, resp.status)
		}
	}
	gone := []string{
		filepath.Join("volumes", v.ID),
		filepath.Join("snapshots", snap.ID+".tar"),
		filepath.Join("db", "machines", m.ID+".json"),
		filepath.Join("db", "volumes", v.ID+".json"),
		filepath.Join("db", "snapshots", snap.ID+".json"),
		filepath.Join("db", "secrets", "doomed.json"),
		filepath.Join("db", "apps", "doomed.json"),
	}
	for _, p := range gone {
		if _, err := os.Stat(filepath.Join(e.dir, p)); !os.IsNotExist(err) {
			t.Errorf("%s still exists: %v", p, err)
		}
	}
	if n := len(querySeries(t, e, `fly_instance_up{app="doomed"}`)); n != 0 {
		t.Errorf("%d metric series left", n)
	}
	e.call("GET", "/v1/apps/bystander", nil, 200, nil)
	// The name is free again.
	e.createApp("doomed")
}
