package flyclient

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

const volumeURL = "/v1/apps/sb-alice/volumes/vol_9vw681egy1jj5xm4"

func TestClient_Volumes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		reply reply
		// listing answers the GET a create makes first, when set.
		listing string
		call    func(ctx context.Context, c *Client) error
		want    wantRequest
		wantErr error
	}{
		{
			name:    "create volume",
			reply:   reply{fixture: "volume.json"},
			listing: "[]",
			call: func(ctx context.Context, c *Client) error {
				enc := true
				v, err := c.CreateVolume(ctx, testApp, CreateVolumeRequest{
					Name: "data", Region: "ord", SizeGB: 3, Encrypted: &enc,
				})
				if err == nil && (v.ID != "vol_9vw681egy1jj5xm4" || v.AttachedMachineID != nil ||
					v.SizeGB != 3 || v.Zone != "d8bb") {
					err = fmt.Errorf("decoded %+v", v)
				}

				return err
			},
			want: wantRequest{method: "POST", path: "/v1/apps/sb-alice/volumes",
				body: `{"name":"data","region":"ord","size_gb":3,"encrypted":true}`},
		},
		{
			name:  "get volume",
			reply: reply{fixture: "volume.json"},
			call: func(ctx context.Context, c *Client) error {
				v, err := c.GetVolume(ctx, testApp, "vol_9vw681egy1jj5xm4")
				if err == nil && (v.State != VolumeCreated || !v.AutoBackupEnabled) {
					err = fmt.Errorf("decoded %+v", v)
				}

				return err
			},
			want: wantRequest{method: "GET", path: volumeURL},
		},
		{
			name:  "list volumes",
			reply: reply{fixture: "volumes_list.json"},
			call: func(ctx context.Context, c *Client) error {
				list, err := c.ListVolumes(ctx, testApp)
				if err == nil && (len(list) != 2 || list[0].AttachedMachineID == nil ||
					*list[0].AttachedMachineID != testMachine || list[0].BytesUsed != 52428800) {
					err = fmt.Errorf("decoded %+v", list)
				}

				return err
			},
			want: wantRequest{method: "GET", path: "/v1/apps/sb-alice/volumes"},
		},
		{
			name:  "delete volume",
			reply: reply{body: `{"id":"vol_9vw681egy1jj5xm4","state":"pending_destroy"}`},
			call: func(ctx context.Context, c *Client) error {
				v, err := c.DeleteVolume(ctx, testApp, "vol_9vw681egy1jj5xm4")
				if err == nil && v.State != "pending_destroy" {
					err = fmt.Errorf("decoded %+v", v)
				}

				return err
			},
			want: wantRequest{method: "DELETE", path: volumeURL},
		},
		{
			name:  "delete attached volume",
			reply: reply{status: 409, body: `{"error":"volume is attached to a machine"}`},
			call: func(ctx context.Context, c *Client) error {
				_, err := c.DeleteVolume(ctx, testApp, "vol_9vw681egy1jj5xm4")

				return err
			},
			want:    wantRequest{method: "DELETE", path: volumeURL},
			wantErr: ErrConflict,
		},
		{
			name:  "extend volume",
			reply: reply{fixture: "volume_extend.json"},
			call: func(ctx context.Context, c *Client) error {
				r, err := c.ExtendVolume(ctx, testApp, "vol_9vw681egy1jj5xm4", 10)
				if err == nil && (!r.NeedsRestart || r.Volume.SizeGB != 10) {
					err = fmt.Errorf("decoded %+v", r)
				}

				return err
			},
			want: wantRequest{method: "PUT", path: volumeURL + "/extend", body: `{"size_gb":10}`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, c := newFake(t, func(_ int, r recorded) reply {
				if tt.listing != "" && r.Method == "GET" {
					return reply{body: tt.listing}
				}

				return tt.reply
			})

			err := tt.call(t.Context(), c)

			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			tt.want.check(t, f.last())
		})
	}
}

func TestClient_CreateVolumeAmbiguous(t *testing.T) {
	t.Parallel()
	vol := func(id, name, state, region string) string {
		return fmt.Sprintf(`{"id":%q,"name":%q,"state":%q,"region":%q}`, id, name, state, region)
	}
	old := vol("vol_old", "data", "created", "ord")
	tests := []struct {
		name      string
		before    string
		after     string
		wantPosts int
		wantID    string
		wantErr   bool
	}{
		{
			name:      "found",
			before:    "[" + old + "]",
			after:     "[" + old + "," + vol("vol_new", "data", "created", "ord") + "]",
			wantPosts: 1,
			wantID:    "vol_new",
		},
		{
			// Regression: a namesake that existed before the call was once
			// taken for the result of the lost attempt.
			name:   "namesakes from before and other regions ignored",
			before: "[" + old + "]",
			after: "[" + old + "," + vol("vol_ams", "data", "created", "ams") + "," +
				vol("vol_gone", "data", "pending_destroy", "ord") + "]",
			wantPosts: 2,
			wantID:    "vol_9vw681egy1jj5xm4",
		},
		{
			name:   "two candidates",
			before: "[]",
			after: "[" + vol("vol_a", "data", "created", "ord") + "," +
				vol("vol_b", "data", "creating", "ord") + "]",
			wantPosts: 1,
			wantErr:   true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, c := newFake(t, createScript(tt.before, tt.after,
				failFirst(reply{status: 504}, reply{fixture: "volume.json"})), WithRetries(2))

			req := CreateVolumeRequest{Name: "data", Region: "ord"}
			v, err := c.CreateVolume(t.Context(), testApp, req)

			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && v.ID != tt.wantID {
				t.Errorf("id = %q, want %q", v.ID, tt.wantID)
			}
			if n := f.count("POST", "/v1/apps/sb-alice/volumes"); n != tt.wantPosts {
				t.Errorf("POSTs = %d, want %d", n, tt.wantPosts)
			}
		})
	}
}
