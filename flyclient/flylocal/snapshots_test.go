package flylocal

import (
	"bytes"
	"crypto/rand"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// apiSnapshot is a VolumeSnapshot.
type apiSnapshot struct {
	ID        string `json:"id"`
	Status    string `json:"status"`
	Size      int64  `json:"size"`
	Digest    string `json:"digest"`
	CreatedAt string `json:"created_at"`
}

// snapshots lists the snapshots of volume id.
func (e *env) snapshots(app, id string) []apiSnapshot {
	e.t.Helper()
	var list []apiSnapshot
	e.call("GET", "/v1/apps/"+app+"/volumes/"+id+"/snapshots", nil, 200, &list)

	return list
}

// waitSnapshot polls until the newest snapshot of volume id has status.
func (e *env) waitSnapshot(app, id, status string) apiSnapshot {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		list := e.snapshots(app, id)
		if n := len(list); n > 0 && list[n-1].Status == status {
			return list[n-1]
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("snapshots of %s: %+v, want the newest %s", id, list, status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSnapshots_Progression(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{SnapshotDuration: time.Second})
	e.createApp("snaps")
	v := e.createVolume("snaps", map[string]any{"name": "data"})
	base := "/v1/apps/snaps/volumes/" + v.ID + "/snapshots"

	resp := e.call("POST", base, nil, 200, nil)
	if len(bytes.TrimSpace(resp.body)) != 0 {
		t.Errorf("create answered a body: %s", resp.body)
	}
	if list := e.snapshots("snaps", v.ID); len(list) != 1 || list[0].Status != "waiting" ||
		list[0].CreatedAt != "" {
		t.Errorf("right after create: %+v", list)
	}
	if resp := e.send(request{method: "POST", path: base}); resp.status != 409 {
		t.Errorf("second snapshot in progress: %d %s", resp.status, resp.body)
	}
	e.waitSnapshot("snaps", v.ID, "running")
	done := e.waitSnapshot("snaps", v.ID, "created")
	if done.CreatedAt == "" || done.Size == 0 || len(done.Digest) != 64 {
		t.Errorf("created snapshot %+v", done)
	}

	e.srv.FailSnapshots(1)
	e.call("POST", base, nil, 200, nil)
	e.waitSnapshot("snaps", v.ID, "failed")
	e.call("POST", base, nil, 200, nil)
	e.waitSnapshot("snaps", v.ID, "created")
	if list := e.snapshots("snaps", v.ID); len(list) != 3 {
		t.Errorf("%d snapshots, want 3", len(list))
	}
}

// layOutTree lays out a volume with a random binary file, a symlink, a read-only
// directory, an empty directory, a hard link and chosen modes and mtimes.
func layOutTree(t *testing.T, dir string) {
	t.Helper()
	data := make([]byte, 300<<10)
	_, _ = rand.Read(data)
	mtime := time.Date(2021, 3, 4, 5, 6, 7, 890123456, time.UTC)
	files := []struct {
		path string
		mode fs.FileMode
	}{
		{"blob.bin", 0o640},
		{"sub/script.sh", 0o755},
		{"ro/inner.txt", 0o400},
	}
	for _, f := range files {
		p := filepath.Join(dir, f.path)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, data[:len(f.path)*1000], 0o600))
		must(t, os.Chmod(p, f.mode))
		must(t, os.Chtimes(p, mtime, mtime))
	}
	must(t, os.WriteFile(filepath.Join(dir, "blob.bin"), data, 0o640))
	must(t, os.Chtimes(filepath.Join(dir, "blob.bin"), mtime, mtime))
	must(t, os.Symlink("sub/script.sh", filepath.Join(dir, "link")))
	must(t, os.Symlink("/nowhere/at/all", filepath.Join(dir, "dangling")))
	at := unix.NsecToTimespec(mtime.UnixNano())
	ts := []unix.Timespec{at, at}
	must(t, unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(dir, "dangling"), ts,
		unix.AT_SYMLINK_NOFOLLOW))
	must(t, os.Link(filepath.Join(dir, "blob.bin"), filepath.Join(dir, "hard")))
	must(t, os.Mkdir(filepath.Join(dir, "empty"), 0o711))
	must(t, os.Chmod(filepath.Join(dir, "ro"), 0o555))
	must(t, os.Chtimes(filepath.Join(dir, "ro"), mtime, mtime))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// describe returns, for every entry under dir, its mode, mtime, symlink target
// and content.
func describe(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		desc := info.Mode().String()
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			desc += " " + info.ModTime().UTC().Format(time.RFC3339Nano) + " -> " + target
		case info.Mode().IsRegular():
			data, _ := os.ReadFile(p)
			desc += " " + info.ModTime().UTC().Format(time.RFC3339Nano) + " " + string(data)
		case rel != ".":
			desc += " " + info.ModTime().UTC().Format(time.RFC3339Nano)
		}
		out[rel] = desc

		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	return out
}

func TestSnapshots_RestoreByteForByte(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.createApp("restore")
	src := e.createVolume("restore", map[string]any{"name": "data", "size_gb": 2})
	srcDir := filepath.Join(e.dir, "volumes", src.ID)
	layOutTree(t, srcDir)
	want := describe(t, srcDir)

	e.call("POST", "/v1/apps/restore/volumes/"+src.ID+"/snapshots", nil, 200, nil)
	snap := e.waitSnapshot("restore", src.ID, "created")

	// The snapshot outlives its volume.
	e.call("DELETE", "/v1/apps/restore/volumes/"+src.ID, nil, 200, nil)
	dst := e.createVolume("restore", map[string]any{"name": "copy", "snapshot_id": snap.ID})
	if dst.State != "restoring" || dst.SizeGB != 2 {
		t.Errorf("restore answered %+v", dst)
	}
	deadline := time.Now().Add(20 * time.Second)
	for dst.State != "created" && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		e.call("GET", "/v1/apps/restore/volumes/"+dst.ID, nil, 200, &dst)
	}
	if dst.State != "created" {
		t.Fatalf("restored volume stuck in %s", dst.State)
	}

	got := describe(t, filepath.Join(e.dir, "volumes", dst.ID))
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: restored %.80q, want %.80q", name, got[name], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("restored %d entries, want %d", len(got), len(want))
	}
	hard, err1 := os.Stat(filepath.Join(e.dir, "volumes", dst.ID, "hard"))
	blob, err2 := os.Stat(filepath.Join(e.dir, "volumes", dst.ID, "blob.bin"))
	if err1 != nil || err2 != nil || !os.SameFile(hard, blob) {
		t.Errorf("hard link not restored as a link: %v %v", err1, err2)
	}

	// A fork copies a live volume the same way.
	fork := e.createVolume("restore", map[string]any{"name": "fork", "source_volume_id": dst.ID})
	for fork.State != "created" && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		e.call("GET", "/v1/apps/restore/volumes/"+fork.ID, nil, 200, &fork)
	}
	if got := describe(t, filepath.Join(e.dir, "volumes", fork.ID)); len(got) != len(want) ||
		got["blob.bin"] != want["blob.bin"] {
		t.Errorf("fork differs from its source")
	}
}
