package flylocal

import (
	"strings"
	"testing"
)

func TestIPs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.createApp("addr")
	base := "/v1/apps/addr/ip_assignments"

	type ip struct {
		IP     string         `json:"ip"`
		Shared bool           `json:"shared"`
		Net    map[string]any `json:"network"`
	}
	var v6, shared, again, private ip
	e.call("POST", base, map[string]any{"type": "v6"}, 200, &v6)
	e.call("POST", base, map[string]any{"type": "shared_v4"}, 200, &shared)
	e.call("POST", base, map[string]any{"type": "shared_v4"}, 200, &again)
	e.call("POST", base, map[string]any{"type": "private_v6"}, 200, &private)
	if !strings.HasPrefix(v6.IP, "2a09:8280:1::") || v6.Shared {
		t.Errorf("v6 %+v", v6)
	}
	if shared.IP != sharedIPv4 || !shared.Shared || again.IP != shared.IP {
		t.Errorf("shared_v4 %+v then %+v", shared, again)
	}
	if !strings.HasPrefix(private.IP, "fdaa:") || private.Net["name"] != "default" {
		t.Errorf("private_v6 %+v", private)
	}
	if resp := e.send(request{method: "POST", path: base,
		body: map[string]any{"type": "egress_v4"}}); resp.status != 400 {
		t.Errorf("egress_v4: %d", resp.status)
	}

	var list struct {
		IPs []ip `json:"ips"`
	}
	e.call("GET", base, nil, 200, &list)
	if len(list.IPs) != 3 {
		t.Errorf("list %+v", list)
	}
	e.call("DELETE", base+"/"+v6.IP, nil, 204, nil)
	if resp := e.send(request{method: "DELETE", path: base + "/" + v6.IP}); resp.status != 404 {
		t.Errorf("second delete: %d", resp.status)
	}
	e.call("GET", base, nil, 200, &list)
	if len(list.IPs) != 2 {
		t.Errorf("after delete %+v", list)
	}
}
