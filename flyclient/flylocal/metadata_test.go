package flylocal

import (
	"strings"
	"testing"
)

func TestMetadata(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.createApp("meta")
	m := e.createMachine("meta", map[string]any{"metadata": map[string]any{"a": "1"}},
		map[string]any{"skip_launch": true})
	base := "/v1/apps/meta/machines/" + m.ID + "/metadata"

	e.call("POST", base+"/b", map[string]any{"value": "2"}, 204, nil)
	var value map[string]string
	e.call("GET", base+"/b", nil, 200, &value)
	if value["value"] != "2" {
		t.Errorf("GET key answered %v", value)
	}
	e.call("DELETE", base+"/a", nil, 204, nil)
	if resp := e.send(request{method: "GET", path: base + "/a"}); resp.status != 404 {
		t.Errorf("deleted key: %d", resp.status)
	}

	e.call("PATCH", base, map[string]any{"metadata": map[string]any{"c": "3", "b": nil}}, 204, nil)
	var md map[string]string
	e.call("GET", base, nil, 200, &md)
	if len(md) != 1 || md["c"] != "3" {
		t.Errorf("after PATCH: %v", md)
	}
	e.call("PUT", base, map[string]any{"metadata": map[string]any{"d": "4"},
		"machine_version": m.InstanceID}, 204, nil)
	md = nil
	e.call("GET", base, nil, 200, &md)
	if len(md) != 1 || md["d"] != "4" {
		t.Errorf("after PUT: %v", md)
	}
	resp := e.send(request{method: "PUT", path: base,
		body: map[string]any{"metadata": map[string]any{}, "machine_version": "01OLD"}})
	if resp.status != 412 {
		t.Errorf("stale machine_version: %d %s", resp.status, resp.body)
	}

	// Metadata is visible in the config, filterable, and keeps the version.
	after := e.getMachine("meta", m.ID)
	if after.InstanceID != m.InstanceID || !strings.Contains(string(after.Config), `"d":"4"`) {
		t.Errorf("machine after metadata writes: %+v", after)
	}
	var list []apiMachine
	e.call("GET", "/v1/apps/meta/machines?metadata.d=4", nil, 200, &list)
	if len(list) != 1 {
		t.Errorf("metadata filter found %d machines", len(list))
	}
}
