package flyclient

import (
	"errors"
	"testing"
)

const ipsURL = "/v1/apps/sb-alice/ip_assignments"

func TestClient_ListIPAssignments(t *testing.T) {
	t.Parallel()
	f, c := newFake(t, always(reply{fixture: "ip_assignments.json"}))

	ips, err := c.ListIPAssignments(t.Context(), testApp)
	if err != nil {
		t.Fatal(err)
	}

	if len(ips) != 3 || ips[1].IP != "66.241.124.7" || !ips[1].Shared || ips[0].Region != "global" {
		t.Errorf("ips = %+v", ips)
	}
	wantRequest{method: "GET", path: ipsURL}.check(t, f.last())
}

func TestClient_AssignIP(t *testing.T) {
	t.Parallel()
	f, c := newFake(t, always(reply{fixture: "ip_assigned.json"}))

	ip, err := c.AssignIP(t.Context(), testApp, AssignIPRequest{Type: IPv6, OrgSlug: "personal"})
	if err != nil {
		t.Fatal(err)
	}

	if ip.IP != "2a09:8280:1::3c:9d5e" || ip.Shared {
		t.Errorf("ip = %+v", ip)
	}
	want := wantRequest{method: "POST", path: ipsURL, body: `{"type":"v6","org_slug":"personal"}`}
	want.check(t, f.last())
}

func TestClient_DeleteIPAssignment(t *testing.T) {
	t.Parallel()
	f, c := newFake(t, always(reply{status: 204}))

	if err := c.DeleteIPAssignment(t.Context(), testApp, "2a09:8280:1::3c:9d5e"); err != nil {
		t.Fatal(err)
	}

	wantRequest{method: "DELETE", path: ipsURL + "/2a09:8280:1::3c:9d5e"}.check(t, f.last())
}

func TestIPType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ip   IPAssignment
		want string
	}{
		{name: "v6", ip: IPAssignment{IP: "2a09:8280:1::3c:9d5e"}, want: IPv6},
		{name: "shared v4", ip: IPAssignment{IP: "66.241.124.7", Shared: true}, want: IPSharedV4},
		{name: "dedicated v4", ip: IPAssignment{IP: "137.66.1.2"}, want: IPv4},
		{name: "flycast", ip: IPAssignment{IP: "fdaa:0:18:0:1::7"}, want: IPPrivate6},
		{name: "garbage", ip: IPAssignment{IP: "nope"}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := ipType(tt.ip); got != tt.want {
				t.Errorf("ipType(%s) = %q, want %q", tt.ip.IP, got, tt.want)
			}
		})
	}
}

func TestClient_AssignIPAmbiguous(t *testing.T) {
	t.Parallel()
	const none = `{"ips":[]}`
	sharedNow := `{"ips":[{"ip":"66.241.124.7","shared":true}]}`
	oldV6 := `{"ips":[{"ip":"2a09:8280:1::1"}]}`
	tests := []struct {
		name      string
		req       AssignIPRequest
		before    string
		list      string
		wantPosts int
		wantIP    string
		wantErr   bool
	}{
		{
			name:      "new shared v4 found",
			req:       AssignIPRequest{Type: IPSharedV4},
			before:    none,
			list:      sharedNow,
			wantPosts: 1,
			wantIP:    "66.241.124.7",
		},
		{
			name:      "only an address of that type from before",
			req:       AssignIPRequest{Type: IPv6},
			before:    oldV6,
			list:      oldV6,
			wantPosts: 2,
			wantIP:    "2a09:8280:1::3c:9d5e",
		},
		{
			name:      "wrong type",
			req:       AssignIPRequest{Type: IPv6},
			before:    none,
			list:      sharedNow,
			wantPosts: 2,
			wantIP:    "2a09:8280:1::3c:9d5e",
		},
		{
			name:      "egress type cannot be checked",
			req:       AssignIPRequest{Type: "egress_v4"},
			before:    none,
			list:      none,
			wantPosts: 1,
			wantErr:   true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, c := newFake(t, createScript(tt.before, tt.list,
				failFirst(reply{status: 500}, reply{fixture: "ip_assigned.json"})))

			ip, err := c.AssignIP(t.Context(), testApp, tt.req)

			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && ip.IP != tt.wantIP {
				t.Errorf("ip = %q, want %q", ip.IP, tt.wantIP)
			}
			var apiErr *APIError
			if tt.wantErr && !errors.As(err, &apiErr) {
				t.Errorf("err = %v, want the 500 kept", err)
			}
			if n := f.count("POST", ipsURL); n != tt.wantPosts {
				t.Errorf("POSTs = %d, want %d", n, tt.wantPosts)
			}
		})
	}
}
