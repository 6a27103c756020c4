package flylocal

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/longrun/sandstorm/flyclient/flylocal/machine"
)

func TestState_SurvivesRestart(t *testing.T) {
	t.Parallel()
	runtime := machine.Supported() == nil
	dir := t.TempDir()
	first := newEnv(t, Options{StateDir: dir})
	first.createApp("keep")
	first.call("POST", "/v1/apps/keep/secrets",
		map[string]any{"values": map[string]any{"KEPT": "yes"}}, 200, nil)
	first.call("POST", "/v1/apps/keep/ip_assignments", map[string]any{"type": "v6"}, 200, nil)
	v := first.createVolume("keep", map[string]any{"name": "data"})
	data := make([]byte, 64<<10)
	_, _ = rand.Read(data)
	must(t, os.WriteFile(filepath.Join(dir, "volumes", v.ID, "blob"), data, 0o600))
	first.call("POST", "/v1/apps/keep/volumes/"+v.ID+"/snapshots", nil, 200, nil)
	snap := first.waitSnapshot("keep", v.ID, "created")

	idle := first.createMachine("keep", nil, map[string]any{"skip_launch": true, "lease_ttl": 600})
	var running apiMachine
	if runtime {
		running = first.createMachine("keep", map[string]any{
			"mounts": []any{map[string]any{"volume": v.ID, "path": "/data"}},
		}, nil)
		first.waitState("keep", running.ID, "started")
	}
	first.close()

	// A second server cannot share the directory while one is open.
	second := newEnv(t, Options{StateDir: dir})
	_, err := New(Options{StateDir: dir})
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second server on a busy state dir: %v", err)
	}

	second.call("GET", "/v1/apps/keep", nil, 200, nil)
	var secrets secretsAnswer
	second.call("GET", "/v1/apps/keep/secrets", nil, 200, &secrets)
	if len(secrets.Secrets) != 1 {
		t.Errorf("secrets after restart: %+v", secrets)
	}
	var ips struct {
		IPs []map[string]any `json:"ips"`
	}
	second.call("GET", "/v1/apps/keep/ip_assignments", nil, 200, &ips)
	if len(ips.IPs) != 1 {
		t.Errorf("ips after restart: %+v", ips)
	}
	if list := second.snapshots("keep", v.ID); len(list) != 1 || list[0].ID != snap.ID ||
		list[0].Status != "created" {
		t.Errorf("snapshots after restart: %+v", list)
	}
	got, err := os.ReadFile(filepath.Join(dir, "volumes", v.ID, "blob"))
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("volume data changed across restart: %v", err)
	}
	if m := second.getMachine("keep", idle.ID); m.State != "created" {
		t.Errorf("idle machine after restart: %s", m.State)
	}
	if resp := second.send(request{method: "POST",
		path: "/v1/apps/keep/machines/" + idle.ID + "/start"}); resp.status != 409 {
		t.Errorf("lease lost across restart: start answered %d", resp.status)
	}

	if !runtime {
		return
	}
	second.waitState("keep", running.ID, "started")
	res := second.exec("keep", running.ID, map[string]any{
		"command": []string{"sh", "-c", "echo $KEPT; wc -c < /data/blob"},
	})
	if res.Stdout != "yes\n65536\n" {
		t.Errorf("restarted machine sees %q", res.Stdout)
	}
}
