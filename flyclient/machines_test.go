package flyclient

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"testing"
	"time"
)

const (
	testApp     = "sb-alice"
	testMachine = "1857156b526dd8"
	machineURL  = "/v1/apps/sb-alice/machines/1857156b526dd8"
)

func TestClient_Machines(t *testing.T) {
	t.Parallel()
	cfg := MachineConfig{Image: "ubuntu:24.04", Init: MachineInit{SwapSizeMB: 512}}
	tests := []struct {
		name    string
		reply   reply
		call    func(ctx context.Context, c *Client) error
		want    wantRequest
		wantErr error
	}{
		{
			name:  "create machine",
			reply: reply{fixture: "machine.json"},
			call: func(ctx context.Context, c *Client) error {
				m, err := c.CreateMachine(ctx, testApp, CreateMachineRequest{
					Name: "sb-alice", Region: "ord", Config: cfg, SkipLaunch: true,
				})
				if err == nil && (m.ID != testMachine || m.Config.Init.SwapSizeMB != 512) {
					err = fmt.Errorf("decoded %+v", m)
				}

				return err
			},
			want: wantRequest{method: "POST", path: "/v1/apps/sb-alice/machines",
				body: `{"name":"sb-alice","region":"ord","skip_launch":true,
					"config":{"image":"ubuntu:24.04","init":{"swap_size_mb":512}}}`},
		},
		{
			name:  "get machine",
			reply: reply{fixture: "machine.json"},
			call: func(ctx context.Context, c *Client) error {
				m, err := c.GetMachine(ctx, testApp, testMachine)
				switch {
				case err != nil:
				case m.State != StateStarted || m.InstanceID != "01HQ73A7BFFDF1B6WMGHFZZ4E7":
					err = fmt.Errorf("decoded %+v", m)
				case len(m.Events) != 2 || m.Events[0].Timestamp != 1708620353829:
					err = fmt.Errorf("events %+v", m.Events)
				case m.Config.Mounts[0].Volume != "vol_9vw681egy1jj5xm4",
					m.ImageRef.Tag != "latest":
					err = fmt.Errorf("config %+v", m.Config)
				case m.Config.Metadata["sandstorm_sandbox"] != "alice":
					err = fmt.Errorf("metadata %+v", m.Config.Metadata)
				}

				return err
			},
			want: wantRequest{method: "GET", path: machineURL},
		},
		{
			name:  "list machines",
			reply: reply{fixture: "machines_list.json"},
			call: func(ctx context.Context, c *Client) error {
				list, err := c.ListMachines(ctx, testApp, ListMachinesOptions{
					IncludeDeleted: true,
					Region:         "ord",
					States:         []string{StateStarted, StateStopped},
					Summary:        true,
					Metadata: map[string]string{
						"sandstorm_owner":  "alice",
						"sandstorm_parent": "root",
					},
				})
				if err == nil && (len(list) != 2 || list[1].State != StateStopped) {
					err = fmt.Errorf("decoded %+v", list)
				}

				return err
			},
			want: wantRequest{method: "GET", path: "/v1/apps/sb-alice/machines", query: url.Values{
				"include_deleted":           {"true"},
				"region":                    {"ord"},
				"state":                     {"started,stopped"},
				"summary":                   {"true"},
				"metadata.sandstorm_owner":  {"alice"},
				"metadata.sandstorm_parent": {"root"},
			}},
		},
		{
			name:  "list machines without filters",
			reply: reply{body: `[]`},
			call: func(ctx context.Context, c *Client) error {
				list, err := c.ListMachines(ctx, testApp, ListMachinesOptions{})
				if err == nil && len(list) != 0 {
					err = fmt.Errorf("decoded %+v", list)
				}

				return err
			},
			want: wantRequest{method: "GET", path: "/v1/apps/sb-alice/machines",
				query: url.Values{}},
		},
		{
			name:  "update machine with nonce",
			reply: reply{fixture: "machine.json"},
			call: func(ctx context.Context, c *Client) error {
				_, err := c.UpdateMachine(ctx, testApp, testMachine, UpdateMachineRequest{
					Config: cfg, CurrentVersion: "01HQ73A7BFFDF1B6WMGHFZZ4E7",
				}, LeaseNonce("5c35f65c9f95"))

				return err
			},
			want: wantRequest{method: "POST", path: machineURL, nonce: "5c35f65c9f95",
				body: `{"config":{"image":"ubuntu:24.04","init":{"swap_size_mb":512}},
					"current_version":"01HQ73A7BFFDF1B6WMGHFZZ4E7"}`},
		},
		{
			name:  "start machine",
			reply: reply{fixture: "start.json"},
			call: func(ctx context.Context, c *Client) error {
				return c.StartMachine(ctx, testApp, testMachine, LeaseNonce("n1"))
			},
			want: wantRequest{method: "POST", path: machineURL + "/start", nonce: "n1"},
		},
		{
			name:  "stop machine without body",
			reply: reply{fixture: "ok.json"},
			call: func(ctx context.Context, c *Client) error {
				return c.StopMachine(ctx, testApp, testMachine, StopRequest{})
			},
			want: wantRequest{method: "POST", path: machineURL + "/stop"},
		},
		{
			name:  "stop machine with signal",
			reply: reply{fixture: "ok.json"},
			call: func(ctx context.Context, c *Client) error {
				req := StopRequest{Signal: "SIGTERM", Timeout: "30s"}

				return c.StopMachine(ctx, testApp, testMachine, req, LeaseNonce("n1"))
			},
			want: wantRequest{method: "POST", path: machineURL + "/stop", nonce: "n1",
				body: `{"signal":"SIGTERM","timeout":"30s"}`},
		},
		{
			name:  "restart machine",
			reply: reply{fixture: "ok.json"},
			call: func(ctx context.Context, c *Client) error {
				return c.RestartMachine(ctx, testApp, testMachine)
			},
			want: wantRequest{method: "POST", path: machineURL + "/restart"},
		},
		{
			name:  "delete machine",
			reply: reply{fixture: "ok.json"},
			call: func(ctx context.Context, c *Client) error {
				return c.DeleteMachine(ctx, testApp, testMachine, true, LeaseNonce("n1"))
			},
			want: wantRequest{method: "DELETE", path: machineURL, nonce: "n1",
				query: url.Values{"force": {"true"}}},
		},
		{
			name:  "start refused by lease",
			reply: reply{status: 409, fixture: "error_lease_held.json"},
			call: func(ctx context.Context, c *Client) error {
				return c.StartMachine(ctx, testApp, testMachine)
			},
			want:    wantRequest{method: "POST", path: machineURL + "/start"},
			wantErr: ErrConflict,
		},
		{
			name: "start refused in state",
			reply: reply{status: 412,
				body: `{"error":"failed_precondition: machine getting replaced, refusing to start"}`},
			call: func(ctx context.Context, c *Client) error {
				return c.StartMachine(ctx, testApp, testMachine)
			},
			want:    wantRequest{method: "POST", path: machineURL + "/start"},
			wantErr: ErrPrecondition,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, c := newFake(t, always(tt.reply))

			err := tt.call(t.Context(), c)

			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if n := len(f.requests()); n != 1 {
				t.Errorf("requests = %d, want 1", n)
			}
			tt.want.check(t, f.last())
		})
	}
}

// TestClient_CreateMachineAmbiguous pins the double-create bug: a create
// that failed with a 500 after Fly made the machine must not be sent again.
func TestClient_CreateMachineAmbiguous(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		first     reply
		machName  string
		wantPosts int
		wantErr   bool
	}{
		{name: "500 then found", first: reply{status: 500}, machName: "sb-alice", wantPosts: 1},
		{name: "reset then found", first: reply{reset: true}, machName: "sb-alice", wantPosts: 1},
		{name: "408 then found", first: reply{status: 408}, machName: "sb-alice", wantPosts: 1},
		{name: "500 and not there", first: reply{status: 500}, machName: "sb-carol", wantPosts: 2},
		{name: "no name cannot be checked", first: reply{status: 500}, wantPosts: 1, wantErr: true},
		{name: "429 is resent", first: reply{status: 429}, machName: "sb-alice", wantPosts: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			posts := 0
			f, c := newFake(t, func(_ int, r recorded) reply {
				if r.Method == "GET" {
					return reply{fixture: "machines_list.json"}
				}
				posts++
				if posts == 1 {
					return tt.first
				}

				return reply{fixture: "machine.json"}
			})

			req := CreateMachineRequest{Name: tt.machName, Config: MachineConfig{Image: "ubuntu"}}
			m, err := c.CreateMachine(t.Context(), testApp, req)

			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && m.ID == "" {
				t.Error("no machine returned")
			}
			if n := f.count("POST", "/v1/apps/sb-alice/machines"); n != tt.wantPosts {
				t.Errorf("POSTs = %d, want %d", n, tt.wantPosts)
			}
		})
	}
}

func TestClient_CreateMachineFoundSkipsDestroyed(t *testing.T) {
	t.Parallel()
	f, c := newFake(t, func(n int, r recorded) reply {
		switch {
		case r.Method == "GET":
			return reply{body: `[{"id":"old","name":"sb-alice","state":"destroyed"}]`}
		case n == 0:
			return reply{status: 502}
		}

		return reply{fixture: "machine.json"}
	})

	req := CreateMachineRequest{Name: "sb-alice", Config: MachineConfig{Image: "ubuntu"}}
	m, err := c.CreateMachine(t.Context(), testApp, req)
	if err != nil {
		t.Fatal(err)
	}

	if m.ID != testMachine {
		t.Errorf("id = %q: a destroyed namesake was taken for the new machine", m.ID)
	}
	if n := f.count("POST", "/v1/apps/sb-alice/machines"); n != 2 {
		t.Errorf("POSTs = %d, want 2", n)
	}
}

func TestClient_DeleteMachineGoneOnRetry(t *testing.T) {
	t.Parallel()
	f, c := newFake(t, script(
		reply{status: 503},
		reply{status: 404, fixture: "error_not_found.json"},
	))

	err := c.DeleteMachine(t.Context(), testApp, testMachine, true)

	if err != nil {
		t.Errorf("err = %v, want success: the first attempt may have deleted it", err)
	}
	if n := len(f.requests()); n != 2 {
		t.Errorf("requests = %d, want 2", n)
	}
}

func TestClient_DeleteMachineMissing(t *testing.T) {
	t.Parallel()
	_, c := newFake(t, always(reply{status: 404, fixture: "error_not_found.json"}))

	err := c.DeleteMachine(t.Context(), testApp, testMachine, false)

	if !errors.Is(err, ErrNotFound) {
		t.Errorf("err = %v, want ErrNotFound on a first-attempt 404", err)
	}
}

func TestClient_CapacityNotRetried(t *testing.T) {
	t.Parallel()
	f, c := newFake(t, always(reply{status: 503, fixture: "error_capacity.json"}))
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()

	req := CreateMachineRequest{Name: "sb-alice", Config: MachineConfig{Image: "ubuntu"}}
	_, err := c.CreateMachine(ctx, testApp, req)

	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Code != "insufficient_capacity" {
		t.Fatalf("err = %v", err)
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("requests = %d, want 1", n)
	}
}
