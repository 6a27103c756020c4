package flyclient

import (
	"fmt"
	"testing"
	"time"
)

func TestClient_ListSnapshots(t *testing.T) {
	t.Parallel()
	f, c := newFake(t, always(reply{fixture: "snapshots.json"}))

	list, err := c.ListSnapshots(t.Context(), testApp, "vol_9vw681egy1jj5xm4")
	if err != nil {
		t.Fatal(err)
	}

	if len(list) != 2 {
		t.Fatalf("len = %d", len(list))
	}
	done, running := list[0], list[1]
	if done.ID != "vs_4LNvXLLK0P6tk6KgqoexaBw" || done.Status != SnapshotCreated ||
		done.RetentionDays == nil || *done.RetentionDays != 5 || done.VolumeSize != 3221225472 {
		t.Errorf("first = %+v", done)
	}
	if running.Status != SnapshotRunning || running.CreatedAt != "" ||
		running.RetentionDays != nil {
		t.Errorf("second = %+v", running)
	}
	wantRequest{method: "GET", path: volumeURL + "/snapshots"}.check(t, f.last())
}

func TestClient_CreateSnapshot(t *testing.T) {
	t.Parallel()
	// Fly's answer body is an internal blob the client must ignore.
	f, c := newFake(t, always(reply{body: `{"Msg":{"backup":{"state":"prepare"}}}`}))

	if err := c.CreateSnapshot(t.Context(), testApp, "vol_9vw681egy1jj5xm4"); err != nil {
		t.Fatal(err)
	}

	wantRequest{method: "POST", path: volumeURL + "/snapshots"}.check(t, f.last())
}

func TestClient_CreateSnapshotAmbiguous(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC().Format(time.RFC3339)
	made := func(at string) string {
		return fmt.Sprintf(`[{"id":"vs_1","status":"created","created_at":%q}]`, at)
	}
	tests := []struct {
		name      string
		list      string
		wantPosts int
	}{
		{name: "in progress", list: `[{"id":"vs_1","status":"waiting"}]`, wantPosts: 1},
		{name: "just made", list: made(now), wantPosts: 1},
		{name: "only old ones", list: made("2024-02-23T03:10:12Z"), wantPosts: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, c := newFake(t, func(n int, r recorded) reply {
				switch {
				case r.Method == "GET":
					return reply{body: tt.list}
				case n == 0:
					return reply{reset: true}
				}

				return reply{status: 200}
			})

			if err := c.CreateSnapshot(t.Context(), testApp, "vol_9vw681egy1jj5xm4"); err != nil {
				t.Fatal(err)
			}

			if n := f.count("POST", volumeURL+"/snapshots"); n != tt.wantPosts {
				t.Errorf("POSTs = %d, want %d", n, tt.wantPosts)
			}
		})
	}
}
