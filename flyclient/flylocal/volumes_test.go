package flylocal

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// apiVolume is the part of a Volume the tests read.
type apiVolume struct {
	ID                string  `json:"id"`
	Name              string  `json:"name"`
	State             string  `json:"state"`
	SizeGB            int     `json:"size_gb"`
	AttachedMachineID *string `json:"attached_machine_id"`
	BytesTotal        int64   `json:"bytes_total"`
	BytesUsed         int64   `json:"bytes_used"`
}

// createVolume creates a volume with the given request fields.
func (e *env) createVolume(app string, body map[string]any) apiVolume {
	e.t.Helper()
	var v apiVolume
	e.call("POST", "/v1/apps/"+app+"/volumes", body, 200, &v)

	return v
}

func TestVolumes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.createApp("vols")
	base := "/v1/apps/vols/volumes/"

	v := e.createVolume("vols", map[string]any{"name": "data"})
	if v.State != "created" || v.SizeGB != 1 || v.BytesTotal != 1<<30 ||
		v.AttachedMachineID != nil || !strings.HasPrefix(v.ID, "vol_") || len(v.ID) != 20 {
		t.Fatalf("create answered %+v", v)
	}
	dir := filepath.Join(e.dir, "volumes", v.ID)
	if err := os.WriteFile(filepath.Join(dir, "f"), make([]byte, 5000), 0o644); err != nil {
		t.Fatal(err)
	}
	var got apiVolume
	e.call("GET", base+v.ID, nil, 200, &got)
	if got.BytesUsed != 5000 {
		t.Errorf("bytes_used %d, want 5000", got.BytesUsed)
	}

	for _, body := range []map[string]any{{}, {"name": "Bad-Name"}, {"name": "x", "size_gb": 0.5},
		{"name": "x", "size_gb": 9999}} {
		resp := e.send(request{method: "POST", path: "/v1/apps/vols/volumes", body: body})
		if resp.status != 400 {
			t.Errorf("create %v: %d %s", body, resp.status, resp.body)
		}
	}

	// Extend grows only.
	var ext struct {
		Volume       apiVolume `json:"volume"`
		NeedsRestart bool      `json:"needs_restart"`
	}
	e.call("PUT", base+v.ID+"/extend", map[string]any{"size_gb": 3}, 200, &ext)
	if ext.Volume.SizeGB != 3 || ext.NeedsRestart {
		t.Errorf("extend answered %+v", ext)
	}
	if resp := e.send(request{method: "PUT", path: base + v.ID + "/extend",
		body: map[string]any{"size_gb": 2}}); resp.status != 400 {
		t.Errorf("shrink: %d", resp.status)
	}

	// A machine attaches it; nobody else may, and it cannot be deleted.
	mount := map[string]any{"mounts": []any{map[string]any{"volume": v.ID, "path": "/data"}}}
	m := e.createMachine("vols", mount, map[string]any{"skip_launch": true})
	e.call("GET", base+v.ID, nil, 200, &got)
	if got.AttachedMachineID == nil || *got.AttachedMachineID != m.ID {
		t.Errorf("after machine create: attached_machine_id %v", got.AttachedMachineID)
	}
	resp := e.send(request{method: "POST", path: "/v1/apps/vols/machines",
		body: map[string]any{"skip_launch": true, "config": map[string]any{"image": "x",
			"mounts": []any{map[string]any{"volume": v.ID, "path": "/data"}}}}})
	if resp.status != 412 || !strings.Contains(errorText(t, resp), "already attached") {
		t.Errorf("second machine on the volume: %d %s", resp.status, resp.body)
	}
	if resp := e.send(request{method: "DELETE", path: base + v.ID}); resp.status != 409 {
		t.Errorf("delete attached volume: %d %s", resp.status, resp.body)
	}

	// Destroying the machine detaches it; then it can go.
	e.call("DELETE", "/v1/apps/vols/machines/"+m.ID, nil, 200, nil)
	e.call("GET", base+v.ID, nil, 200, &got)
	if got.AttachedMachineID != nil {
		t.Errorf("after machine destroy: attached to %v", *got.AttachedMachineID)
	}
	e.call("DELETE", base+v.ID, nil, 200, &got)
	if got.State != "destroyed" {
		t.Errorf("delete answered state %q", got.State)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("data dir still there: %v", err)
	}
	var list []apiVolume
	e.call("GET", "/v1/apps/vols/volumes", nil, 200, &list)
	if len(list) != 1 || list[0].State != "destroyed" {
		t.Errorf("list after delete: %+v", list)
	}
	if resp := e.send(request{method: "DELETE", path: base + v.ID}); resp.status != 404 {
		t.Errorf("second delete: %d", resp.status)
	}
}

func TestVolumes_MountedInMachine(t *testing.T) {
	t.Parallel()
	requireMachines(t)
	e := newEnv(t, Options{})
	e.createApp("mounted")
	v := e.createVolume("mounted", map[string]any{"name": "data"})
	m := e.createMachine("mounted", map[string]any{
		"mounts": []any{map[string]any{"volume": v.ID, "path": "/data"}},
	}, nil)
	e.waitState("mounted", m.ID, "started")

	res := e.exec("mounted", m.ID, map[string]any{
		"command": []string{"sh", "-c", "echo written > /data/note && cat /data/note"},
	})
	if res.Stdout != "written\n" || res.ExitCode != 0 {
		t.Fatalf("exec answered %+v", res)
	}
	data, err := os.ReadFile(filepath.Join(e.dir, "volumes", v.ID, "note"))
	if err != nil || string(data) != "written\n" {
		t.Errorf("volume dir holds %q, %v", data, err)
	}
}
