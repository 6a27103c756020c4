package flyclient

import (
	"testing"
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
	const old = `{"id":"vs_old","status":"created","created_at":"2024-02-23T03:10:12Z"}`
	// Fly's answer body is an internal blob the client must ignore.
	blob := reply{body: `{"Msg":{"backup":{"state":"prepare"}}}`}
	f, c := newFake(t, createScript("["+old+"]", `[`+old+`,{"id":"vs_new","status":"waiting"}]`,
		failFirst(blob, blob)))

	snap, err := c.CreateSnapshot(t.Context(), testApp, "vol_9vw681egy1jj5xm4")
	if err != nil {
		t.Fatal(err)
	}

	if snap.ID != "vs_new" || snap.Status != SnapshotWaiting {
		t.Errorf("snapshot = %+v, want vs_new waiting", snap)
	}
	if n := f.count("POST", volumeURL+"/snapshots"); n != 1 {
		t.Errorf("POSTs = %d, want 1", n)
	}
}

func TestClient_CreateSnapshotAmbiguous(t *testing.T) {
	t.Parallel()
	const old = `{"id":"vs_old","status":"created","created_at":"2024-02-23T03:10:12Z"}`
	const made = `[` + old + `,{"id":"vs_new","status":"running"}]`
	tests := []struct {
		name string
		// after is what the listing shows once a POST was made; when the lost
		// attempt made nothing, the new snapshot appears only after the second.
		after     func(posts int) string
		wantPosts int
	}{
		{name: "made by the lost attempt", after: func(int) string { return made }, wantPosts: 1},
		{
			// Regression: an older snapshot was once taken for the result of
			// the lost attempt, so no snapshot was made at all.
			name: "lost attempt made nothing",
			after: func(posts int) string {
				if posts < 2 {
					return "[" + old + "]"
				}

				return made
			},
			wantPosts: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			posts := 0
			f, c := newFake(t, func(_ int, r recorded) reply {
				switch {
				case r.Method == "GET" && posts == 0:
					return reply{body: "[" + old + "]"}
				case r.Method == "GET":
					return reply{body: tt.after(posts)}
				}
				posts++
				if posts == 1 {
					return reply{reset: true}
				}

				return reply{status: 200}
			})

			snap, err := c.CreateSnapshot(t.Context(), testApp, "vol_9vw681egy1jj5xm4")
			if err != nil {
				t.Fatal(err)
			}

			if snap.ID != "vs_new" {
				t.Errorf("snapshot = %+v, want vs_new", snap)
			}
			if n := f.count("POST", volumeURL+"/snapshots"); n != tt.wantPosts {
				t.Errorf("POSTs = %d, want %d", n, tt.wantPosts)
			}
		})
	}
}

// TestClient_CreateSnapshotListFails pins that a transient failure to list
// the new snapshot after Fly accepted it is waited out: it was once
// reported as a failed create, leaving a snapshot the caller never learned of.
func TestClient_CreateSnapshotListFails(t *testing.T) {
	t.Parallel()
	const old = `{"id":"vs_old","status":"created","created_at":"2024-02-23T03:10:12Z"}`
	gets := 0
	f, c := newFake(t, func(_ int, r recorded) reply {
		if r.Method != "GET" {
			return reply{status: 200}
		}
		gets++
		switch gets {
		case 1:
			return reply{body: "[" + old + "]"}
		case 2:
			return reply{status: 503, body: `{"error":"busy"}`}
		}

		return reply{body: `[` + old + `,{"id":"vs_new","status":"waiting"}]`}
	})

	snap, err := c.CreateSnapshot(t.Context(), testApp, "vol_9vw681egy1jj5xm4")
	if err != nil {
		t.Fatal(err)
	}

	if snap.ID != "vs_new" {
		t.Errorf("snapshot = %+v, want vs_new", snap)
	}
	if n := f.count("POST", volumeURL+"/snapshots"); n != 1 {
		t.Errorf("POSTs = %d, want 1", n)
	}
}
