package flylocal

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// states returns the state of every event of m, oldest first.
func states(events []eventRecord) []string {
	var out []string
	for i := len(events) - 1; i >= 0; i-- {
		out = append(out, events[i].Type+"/"+events[i].Status)
	}

	return out
}

func TestMachines_Lifecycle(t *testing.T) {
	t.Parallel()
	requireMachines(t)
	e := newEnv(t, Options{BootDuration: 500 * time.Millisecond})
	e.createApp("life")
	base := "/v1/apps/life/machines/"

	m := e.createMachine("life", nil, nil)
	if m.State != "created" || len(m.ID) != 14 || len(m.InstanceID) != 26 {
		t.Fatalf("create answered %+v", m)
	}
	if got := e.getMachine("life", m.ID).State; got != "starting" {
		t.Errorf("during boot: state %q, want starting", got)
	}
	e.waitState("life", m.ID, "started")

	// Start of a started machine is refused.
	resp := e.send(request{method: "POST", path: base + m.ID + "/start"})
	if resp.status != 412 || !strings.HasPrefix(errorText(t, resp), "failed_precondition: ") {
		t.Errorf("start while started: %d %s", resp.status, resp.body)
	}

	e.call("POST", base+m.ID+"/stop", map[string]any{"signal": "SIGTERM", "timeout": "0s"}, 200, nil)
	e.waitState("life", m.ID, "stopped")

	var started map[string]any
	e.call("POST", base+m.ID+"/start", nil, 200, &started)
	if started["previous_state"] != "stopped" {
		t.Errorf("start answered %v", started)
	}
	e.waitState("life", m.ID, "started")

	before := e.getMachine("life", m.ID)
	e.call("POST", base+m.ID+"/restart?signal=SIGTERM&timeout=1", nil, 200, nil)
	if got := e.getMachine("life", m.ID).State; got == "started" {
		t.Errorf("right after restart: state %q", got)
	}
	e.waitState("life", m.ID, "started")

	e.call("POST", base+m.ID+"/suspend", nil, 200, nil)
	e.waitState("life", m.ID, "suspended")
	e.call("POST", base+m.ID+"/start", nil, 200, nil)
	e.waitState("life", m.ID, "started")

	// Deleting a running machine needs force.
	resp = e.send(request{method: "DELETE", path: base + m.ID})
	if resp.status != 412 || !strings.HasPrefix(errorText(t, resp), "failed_precondition: ") {
		t.Fatalf("delete without force: %d %s", resp.status, resp.body)
	}
	e.call("DELETE", base+m.ID+"?kill=true", nil, 200, nil)
	after := e.getMachine("life", m.ID)
	if after.State != "destroyed" {
		t.Errorf("after delete: state %q", after.State)
	}
	if before.InstanceID != after.InstanceID {
		t.Errorf("instance_id changed without an update")
	}
	want := []string{"launch/created", "start/starting", "start/started", "stop/stopping",
		"exit/stopped", "start/starting", "start/started", "restart/restarting"}
	if got := states(after.Events); strings.Join(got[:len(want)], " ") != strings.Join(want, " ") {
		t.Errorf("events %v, want a start like %v", got, want)
	}

	var list []apiMachine
	e.call("GET", "/v1/apps/life/machines", nil, 200, &list)
	if len(list) != 0 {
		t.Errorf("list shows destroyed machines: %+v", list)
	}
	e.call("GET", "/v1/apps/life/machines?include_deleted=true", nil, 200, &list)
	if len(list) != 1 {
		t.Errorf("include_deleted lists %d machines", len(list))
	}
	if resp := e.send(request{method: "POST", path: base + m.ID + "/start"}); resp.status != 404 {
		t.Errorf("start of a destroyed machine: %d", resp.status)
	}
}

func TestMachines_CreateWithoutLaunch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.createApp("quiet")

	cfg := map[string]any{
		"image":     "ubuntu",
		"guest":     map[string]any{"cpus": 2, "memory_mb": 512, "cpu_kind": "shared"},
		"metadata":  map[string]any{"role": "worker", "team": "a"},
		"x_unknown": map[string]any{"kept": []any{1, "two"}},
	}
	m := e.createMachine("quiet", cfg, map[string]any{"skip_launch": true, "name": "one"})
	e.createMachine("quiet", map[string]any{"metadata": map[string]any{"role": "web"}},
		map[string]any{"skip_launch": true, "region": "ams"})
	time.Sleep(50 * time.Millisecond)
	got := e.getMachine("quiet", m.ID)
	if got.State != "created" || got.Name != "one" || got.Region != "lcl" {
		t.Errorf("skip_launch machine %+v", got)
	}

	var echoed map[string]any
	if err := json.Unmarshal(got.Config, &echoed); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(echoed["x_unknown"]) != "map[kept:[1 two]]" || echoed["guest"] == nil {
		t.Errorf("config did not round-trip: %s", got.Config)
	}

	tests := []struct {
		query string
		want  int
	}{
		{"", 2},
		{"?metadata.role=worker", 1},
		{"?metadata.role=worker&metadata.team=b", 0},
		{"?region=ams", 1},
		{"?state=created,started", 2},
		{"?state=started", 0},
	}
	for _, tt := range tests {
		var list []apiMachine
		e.call("GET", "/v1/apps/quiet/machines"+tt.query, nil, 200, &list)
		if len(list) != tt.want {
			t.Errorf("list%s: %d machines, want %d", tt.query, len(list), tt.want)
		}
	}
	var summary []map[string]any
	e.call("GET", "/v1/apps/quiet/machines?summary=true", nil, 200, &summary)
	if _, hasConfig := summary[0]["config"]; hasConfig {
		t.Errorf("summary list carries config")
	}

	// Duplicate names are refused; a stale current_version too.
	resp := e.send(request{method: "POST", path: "/v1/apps/quiet/machines",
		body: map[string]any{"name": "one", "config": cfg, "skip_launch": true}})
	if resp.status != 409 {
		t.Errorf("duplicate name: %d %s", resp.status, resp.body)
	}
	resp = e.send(request{method: "POST", path: "/v1/apps/quiet/machines/" + m.ID,
		body: map[string]any{"config": cfg, "current_version": "01STALE"}})
	if resp.status != 412 {
		t.Errorf("stale current_version: %d %s", resp.status, resp.body)
	}
	var updated apiMachine
	e.call("POST", "/v1/apps/quiet/machines/"+m.ID,
		map[string]any{"config": map[string]any{"image": "debian"}, "skip_launch": true,
			"current_version": got.InstanceID}, 200, &updated)
	if updated.InstanceID == got.InstanceID || updated.State != "created" {
		t.Errorf("update answered %+v", updated)
	}
}

func TestMachines_Validation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.createApp("strict")
	var vol struct{ ID string }
	e.call("POST", "/v1/apps/strict/volumes", map[string]any{"name": "data"}, 200, &vol)

	tests := []struct {
		name string
		body string
		want int
		text string
	}{
		{"no image", `{"config":{}}`, 400, "image is required"},
		{"no config", `{}`, 400, "config is required"},
		{"bad json", `{"config":`, 400, "unexpected end"},
		{"two mounts", `{"config":{"image":"x","mounts":[{"volume":"a","path":"/a"},` +
			`{"volume":"b","path":"/b"}]}}`, 400, "at most one volume"},
		{"unknown volume", `{"config":{"image":"x","mounts":[{"volume":"vol_nope",` +
			`"path":"/data"}]}}`, 400, "not found"},
		{"relative mount", `{"config":{"image":"x","mounts":[{"volume":"` + vol.ID +
			`","path":"data"}]}}`, 400, "absolute"},
		{"bad restart policy", `{"config":{"image":"x","restart":{"policy":"sometimes"}}}`,
			400, "restart.policy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.send(request{method: "POST", path: "/v1/apps/strict/machines", body: tt.body})
			if resp.status != tt.want || !strings.Contains(errorText(t, resp), tt.text) {
				t.Errorf("got %d %s, want %d with %q", resp.status, resp.body, tt.want, tt.text)
			}
		})
	}
	resp := e.send(request{method: "GET", path: "/v1/apps/strict/machines/nope"})
	if resp.status != 404 || errorText(t, resp) != "machine not found" {
		t.Errorf("unknown machine: %d %s", resp.status, resp.body)
	}
	resp = e.send(request{method: "GET", path: "/v1/apps/ghost/machines"})
	if resp.status != 404 || errorText(t, resp) != "app not found" {
		t.Errorf("unknown app: %d %s", resp.status, resp.body)
	}
}

func TestMachines_Wait(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.createApp("waits")
	m := e.createMachine("waits", nil, map[string]any{"skip_launch": true})
	wait := "/v1/apps/waits/machines/" + m.ID + "/wait"

	for _, q := range []string{"?timeout=0", "?timeout=61", "?timeout=90", "?timeout=abc",
		"?state=sleeping"} {
		resp := e.send(request{method: "GET", path: wait + q})
		if resp.status != 400 || !strings.HasPrefix(errorText(t, resp), "invalid_argument: ") {
			t.Errorf("wait%s: %d %s, want 400 invalid_argument", q, resp.status, resp.body)
		}
	}

	start := time.Now()
	resp := e.send(request{method: "GET", path: wait + "?state=started&timeout=1"})
	if resp.status != 408 {
		t.Fatalf("wait for started: %d %s", resp.status, resp.body)
	}
	want := "deadline_exceeded: machine failed to reach desired state, started, currently created"
	if got := errorText(t, resp); got != want {
		t.Errorf("408 error %q, want %q", got, want)
	}
	if d := time.Since(start); d < time.Second || d > 5*time.Second {
		t.Errorf("timed out after %v", d)
	}

	// Already there: at once, with the state and version.
	var ok struct {
		OK      bool   `json:"ok"`
		State   string `json:"state"`
		Version string `json:"version"`
	}
	start = time.Now()
	e.call("GET", wait+"?state=stopped&state=settled", nil, 200, &ok)
	if !ok.OK || ok.State != "created" || ok.Version != m.InstanceID {
		t.Errorf("settled wait answered %+v", ok)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("settled wait took %v", d)
	}
	e.call("GET", wait+"?state=destroyed,replaced&version=01OLDVERSION", nil, 200, &ok)
	if ok.State != "replaced" {
		t.Errorf("wait on an old version answered %+v", ok)
	}

	// A wait in progress sees a change.
	done := make(chan response, 1)
	go func() {
		done <- e.send(request{method: "GET", path: wait + "?state=destroyed&timeout=10"})
	}()
	time.Sleep(100 * time.Millisecond)
	e.call("DELETE", "/v1/apps/waits/machines/"+m.ID, nil, 200, nil)
	if resp := <-done; resp.status != 200 {
		t.Errorf("wait for destroyed: %d %s", resp.status, resp.body)
	}
}

func TestMachines_ExitAndRestartPolicy(t *testing.T) {
	t.Parallel()
	requireMachines(t)
	e := newEnv(t, Options{})
	e.createApp("exits")

	crash := e.createMachine("exits", map[string]any{
		"init":    map[string]any{"exec": []string{"sh", "-c", "exit 3"}},
		"restart": map[string]any{"policy": "on-failure", "max_retries": 1},
	}, nil)
	e.waitState("exits", crash.ID, "stopped")
	m := e.getMachine("exits", crash.ID)
	var exits []map[string]any
	for _, ev := range m.Events {
		if ev.Type == "exit" {
			var req struct {
				ExitEvent map[string]any `json:"exit_event"`
			}
			if err := json.Unmarshal(ev.Request, &req); err != nil {
				t.Fatal(err)
			}
			exits = append(exits, req.ExitEvent)
		}
	}
	if len(exits) != 2 || exits[0]["exit_code"] != 3.0 || exits[0]["restarting"] != false ||
		exits[1]["restarting"] != true {
		t.Errorf("exit events %v, want one retry then a final exit with code 3", exits)
	}

	gone := e.createMachine("exits", map[string]any{
		"init":         map[string]any{"cmd": []string{"true"}},
		"restart":      map[string]any{"policy": "no"},
		"auto_destroy": true,
	}, nil)
	e.waitState("exits", gone.ID, "destroyed")
}

func TestMachines_UpdateAndSignal(t *testing.T) {
	t.Parallel()
	requireMachines(t)
	e := newEnv(t, Options{})
	e.createApp("upd")
	cfg := func(v string) map[string]any {
		return map[string]any{
			"image":   "ubuntu",
			"env":     map[string]any{"V": v},
			"init":    map[string]any{"exec": []string{"sleep", "300"}},
			"restart": map[string]any{"policy": "no"},
		}
	}
	m := e.createMachine("upd", cfg("one"), nil)
	e.waitState("upd", m.ID, "started")

	var updated apiMachine
	e.call("POST", "/v1/apps/upd/machines/"+m.ID, map[string]any{"config": cfg("two")}, 200, &updated)
	if updated.InstanceID == m.InstanceID || updated.State != "replacing" {
		t.Fatalf("update answered state %q, instance %q", updated.State, updated.InstanceID)
	}
	e.call("GET", "/v1/apps/upd/machines/"+m.ID+"/wait?state=started&version="+updated.InstanceID,
		nil, 200, nil)
	res := e.exec("upd", m.ID, map[string]any{"command": []string{"sh", "-c", "echo $V"}})
	if res.Stdout != "two\n" {
		t.Errorf("after update the machine runs with V=%q", res.Stdout)
	}

	// A signal that ends the main process is an exit nobody asked for.
	e.call("POST", "/v1/apps/upd/machines/"+m.ID+"/signal", map[string]any{"signal": 15}, 200, nil)
	e.waitState("upd", m.ID, "stopped")
	var events []eventRecord
	e.call("GET", "/v1/apps/upd/machines/"+m.ID+"/events?limit=2", nil, 200, &events)
	if len(events) != 2 || events[0].Type != "exit" ||
		!strings.Contains(string(events[0].Request), `"signal":15`) {
		t.Errorf("latest events %v", events)
	}

	// Updating a stopped machine launches it, unless skip_launch.
	e.call("POST", "/v1/apps/upd/machines/"+m.ID,
		map[string]any{"config": cfg("three"), "skip_launch": true}, 200, &updated)
	if updated.State != "stopped" {
		t.Errorf("update with skip_launch of a stopped machine: %s", updated.State)
	}
	e.call("POST", "/v1/apps/upd/machines/"+m.ID, map[string]any{"config": cfg("four")}, 200, nil)
	e.waitState("upd", m.ID, "started")
}
