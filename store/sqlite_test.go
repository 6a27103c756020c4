package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// openAt opens the SQLite store at path and closes it when the test ends.
func openAt(t *testing.T, path string) *SQLite {
	t.Helper()
	s, err := OpenSQLite(t.Context(), path)
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})

	return s
}

func openTestSQLite(t *testing.T) Store {
	return openAt(t, filepath.Join(t.TempDir(), "store.db"))
}

func TestSQLite_Contract(t *testing.T) {
	t.Parallel()
	testStore(t, openTestSQLite)
}

func TestOpenSQLite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "state", "sandstorm", "store.db")
	s := openAt(t, path)
	mustCreate(t, s, newSandbox("sb-a")) // so the WAL file exists

	for _, tc := range []struct {
		name string
		path string
		mode fs.FileMode
	}{
		{name: "parent directory", path: filepath.Dir(path), mode: fs.ModeDir | 0o700},
		{name: "created ancestor", path: filepath.Join(dir, "state"), mode: fs.ModeDir | 0o700},
		{name: "database file", path: path, mode: 0o600},
		{name: "WAL file", path: path + "-wal", mode: 0o600},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info, err := os.Stat(tc.path)
			if err != nil {
				t.Fatalf("stat: %v", err)
			}
			if info.Mode() != tc.mode {
				t.Errorf("mode = %s, want %s", info.Mode(), tc.mode)
			}
		})
	}

	for _, tc := range []struct {
		name   string
		pragma string
		write  string
		read   string
	}{
		{name: "WAL", pragma: "journal_mode", write: "wal", read: "wal"},
		{name: "foreign keys", pragma: "foreign_keys", write: "1", read: "1"},
		{name: "busy timeout", pragma: "busy_timeout", write: "5000", read: "5000"},
		{name: "read pool is read-only", pragma: "query_only", write: "0", read: "1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var write, read string
			q := "PRAGMA " + tc.pragma
			if err := s.write.QueryRowContext(t.Context(), q).Scan(&write); err != nil {
				t.Fatalf("write pool %s: %v", q, err)
			}
			if err := s.read.QueryRowContext(t.Context(), q).Scan(&read); err != nil {
				t.Fatalf("read pool %s: %v", q, err)
			}
			if write != tc.write || read != tc.read {
				t.Errorf("%s = %s (write), %s (read); want %s, %s",
					tc.pragma, write, read, tc.write, tc.read)
			}
		})
	}
}

func TestOpenSQLite_OddPath(t *testing.T) {
	t.Parallel()
	// Characters that would end a plain path in a DSN or a URI.
	path := filepath.Join(t.TempDir(), "a?b#c%20d", "store.db")
	s := openAt(t, path)
	mustCreate(t, s, newSandbox("sb-a"))

	if _, err := os.Stat(path); err != nil {
		t.Errorf("database not at %s: %v", path, err)
	}
}

// TestSQLite_UpdatedAt uses a fixed clock to check the exact time UpdateSandbox writes.
func TestSQLite_UpdatedAt(t *testing.T) {
	t.Parallel()
	s := openAt(t, filepath.Join(t.TempDir(), "store.db"))
	now := time.Date(2026, 5, 6, 7, 8, 9, 123456789, time.FixedZone("CEST", 2*60*60))
	s.now = func() time.Time { return now }

	mustCreate(t, s, Sandbox{Name: "sb-a", Status: StatusCreating})
	later := now.Add(90 * time.Second)
	s.now = func() time.Time { return later }
	got, err := s.UpdateSandbox(t.Context(), "sb-a", func(sb *Sandbox) error {
		sb.Status = StatusRunning

		return nil
	})
	if err != nil {
		t.Fatalf("UpdateSandbox: %v", err)
	}

	checkTime(t, got.CreatedAt, now)
	checkTime(t, got.UpdatedAt, later)
	stored := mustGet(t, s, "sb-a")
	checkTime(t, stored.CreatedAt, now)
	checkTime(t, stored.UpdatedAt, later)
}

// TestSQLite_LifecycleClock uses a fixed clock to check the times UpdateLifecycle and
// TouchSandbox write when given none.
func TestSQLite_LifecycleClock(t *testing.T) {
	t.Parallel()
	s := openAt(t, filepath.Join(t.TempDir(), "store.db"))
	now := time.Date(2026, 5, 6, 7, 8, 9, 123456789, time.FixedZone("CEST", 2*60*60))
	s.now = func() time.Time { return now }
	mustCreate(t, s, Sandbox{Name: "sb-a", Status: StatusRunning})

	if err := s.TouchSandbox(t.Context(), "sb-a", time.Time{}); err != nil {
		t.Fatalf("TouchSandbox: %v", err)
	}
	got, err := s.UpdateLifecycle(t.Context(), "sb-a", func(lc *Lifecycle) error {
		lc.Hold = &Hold{Until: now.Add(time.Hour), Actor: ActorUser}

		return nil
	})
	if err != nil {
		t.Fatalf("UpdateLifecycle: %v", err)
	}

	want := Lifecycle{
		Sandbox:    "sb-a",
		Phase:      PhaseActive,
		LastUsedAt: now,
		Hold:       &Hold{Until: now.Add(time.Hour), Actor: ActorUser, SetAt: now},
		UpdatedAt:  now,
	}
	checkLifecycle(t, got, want)
	checkLifecycle(t, mustGetLifecycle(t, s, "sb-a"), want)
}

// TestSQLite_TimePrecision checks that SQLite keeps full nanoseconds, finer than the
// contract asks for.
func TestSQLite_TimePrecision(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openAt(t, filepath.Join(t.TempDir(), "store.db"))
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("IST", 19800))

	sb := Sandbox{Name: "sb-a", Status: StatusRunning, CreatedAt: at, UpdatedAt: at.Add(1)}
	mustCreate(t, s, sb)
	got := mustGet(t, s, "sb-a")
	checkTime(t, got.CreatedAt, at)
	checkTime(t, got.UpdatedAt, at.Add(1))

	e := Event{At: at, Operation: "op", Actor: ActorSystem, Outcome: OutcomeOK, Duration: 7}
	if err := s.RecordEvent(ctx, e); err != nil {
		t.Fatalf("RecordEvent: %v", err)
	}
	// One nanosecond after the event must exclude it.
	for _, tc := range []struct {
		name  string
		since time.Time
		want  int
	}{
		{name: "at", since: at, want: 1},
		{name: "one nanosecond later", since: at.Add(1), want: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := s.Events(ctx, EventFilter{Since: tc.since})
			if err != nil || len(evs) != tc.want {
				t.Fatalf("Events(since %s) = %v, %v; want %d", tc.since, evs, err, tc.want)
			}
			if tc.want == 1 {
				checkTime(t, evs[0].At, at)
				if evs[0].Duration != 7 {
					t.Errorf("duration = %s, want 7ns", evs[0].Duration)
				}
			}
		})
	}
}

func TestSQLite_Closed(t *testing.T) {
	t.Parallel()
	s, err := OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "store.db"))
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	if _, err := s.GetSandbox(t.Context(), "sb-a"); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("GetSandbox after Close = %v, want a closed-database error", err)
	}
	if err := s.CreateSandbox(t.Context(), newSandbox("sb-a")); err == nil {
		t.Error("CreateSandbox after Close succeeded")
	}
}

// TestSQLite_TwoHandles writes through two stores on one file at once, as two server
// processes would: neither loses an update nor fails on the other's lock.
func TestSQLite_TwoHandles(t *testing.T) {
	t.Parallel()
	const perHandle = 25
	path := filepath.Join(t.TempDir(), "store.db")
	handles := []*SQLite{openAt(t, path), openAt(t, path)}
	mustCreate(t, handles[0], Sandbox{Name: "sb-shared", Status: StatusRunning, Spec: []byte(`{}`)})

	var wg sync.WaitGroup
	for h, s := range handles {
		for i := range perHandle {
			wg.Go(func() {
				name := fmt.Sprintf("sb-%d-%02d", h, i)
				if err := s.CreateSandbox(t.Context(), newSandbox(name)); err != nil {
					t.Errorf("CreateSandbox(%s): %v", name, err)
				}
				if err := increment(t, s, "sb-shared"); err != nil {
					t.Errorf("increment through handle %d: %v", h, err)
				}
			})
		}
	}
	wg.Wait()

	for h, s := range handles {
		if n := counter(t, s, "sb-shared"); n != 2*perHandle {
			t.Errorf("handle %d: counter = %d, want %d", h, n, 2*perHandle)
		}
		sbs, err := s.ListSandboxes(t.Context())
		if err != nil || len(sbs) != 2*perHandle+1 {
			t.Errorf("handle %d: ListSandboxes = %d, %v; want %d", h, len(sbs), err, 2*perHandle+1)
		}
	}
}

// TestSQLite_ConcurrentOpen opens one new file from several goroutines at once: each
// migration must be applied exactly once and every open must succeed.
func TestSQLite_ConcurrentOpen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "store.db")

	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		stores []*SQLite
	)
	for range 4 {
		wg.Go(func() {
			s, err := OpenSQLite(t.Context(), path)
			if err != nil {
				t.Errorf("OpenSQLite: %v", err)

				return
			}
			mu.Lock()
			stores = append(stores, s)
			mu.Unlock()
		})
	}
	wg.Wait()
	for _, s := range stores {
		t.Cleanup(func() { s.Close() })
	}

	if len(stores) > 0 {
		ms, _ := loadMigrations(migrationFiles)
		if got := versions(t, stores[0]); len(got) != len(ms) {
			t.Errorf("schema_version = %v, want %d rows", got, len(ms))
		}
	}
}

// childDBEnv carries the database path to the copy of the test binary that
// TestSQLite_TwoProcesses starts.
const childDBEnv = "SANDSTORM_STORE_TEST_CHILD_DB"

// TestSQLite_TwoProcesses increments one counter from this process and from a child
// process at the same time. Unlike two handles in one process, this exercises SQLite's
// file locks between processes.
func TestSQLite_TwoProcesses(t *testing.T) {
	const perProcess = 25
	if path := os.Getenv(childDBEnv); path != "" {
		s := openAt(t, path)
		mustCreate(t, s, Sandbox{Name: "sb-child", Status: StatusRunning})
		for range perProcess {
			if err := increment(t, s, "sb-shared"); err != nil {
				t.Fatalf("child increment: %v", err)
			}
		}

		return
	}
	t.Parallel()

	path := filepath.Join(t.TempDir(), "store.db")
	s := openAt(t, path)
	mustCreate(t, s, Sandbox{Name: "sb-shared", Status: StatusRunning, Spec: []byte(`{}`)})

	var out bytes.Buffer
	cmd := exec.CommandContext(t.Context(), os.Args[0],
		"-test.run=^TestSQLite_TwoProcesses$", "-test.count=1")
	cmd.Env = append(os.Environ(), childDBEnv+"="+path)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}

	// Start incrementing once the child is writing, so the two really overlap.
	waitForSandbox(t, s, "sb-child")
	for range perProcess {
		if err := increment(t, s, "sb-shared"); err != nil {
			t.Errorf("parent increment: %v", err)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v\n%s", err, out.String())
	}

	if n := counter(t, s, "sb-shared"); n != 2*perProcess {
		t.Errorf("counter = %d, want %d", n, 2*perProcess)
	}
}

func waitForSandbox(t *testing.T, s *SQLite, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for {
		_, err := s.GetSandbox(ctx, name)
		if err == nil {
			return
		}
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("wait for %s: %v", name, err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("wait for %s: %v", name, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}
