package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func versions(t *testing.T, s *SQLite) map[int]string {
	t.Helper()
	rows, err := s.read.QueryContext(t.Context(), `SELECT version, applied_at FROM schema_version`)
	if err != nil {
		t.Fatalf("read schema_version: %v", err)
	}
	defer rows.Close()

	got := map[int]string{}
	for rows.Next() {
		var (
			v  int
			at string
		)
		if err := rows.Scan(&v, &at); err != nil {
			t.Fatalf("scan schema_version: %v", err)
		}
		got[v] = at
	}

	return got
}

func TestSQLite_Reopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "store.db")
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatalf("loadMigrations: %v", err)
	}

	first, err := OpenSQLite(t.Context(), path)
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	want := newSandbox("sb-a")
	mustCreate(t, first, want)
	applied := versions(t, first)
	if len(applied) != len(ms) {
		t.Fatalf("schema_version has %d rows, want %d", len(applied), len(ms))
	}
	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	// The migrations create tables without IF NOT EXISTS, so running them again would fail
	// the open; the version rows must also be the ones written the first time.
	second := openAt(t, path)
	checkSandbox(t, mustGet(t, second, "sb-a"), want)
	again := versions(t, second)
	if fmt.Sprint(again) != fmt.Sprint(applied) {
		t.Errorf("schema_version after reopen = %v, want %v", again, applied)
	}
}

func TestSQLite_RefusesNewerSchema(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "store.db")
	s, err := OpenSQLite(t.Context(), path)
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	latest := len(versions(t, s))
	_, err = s.write.ExecContext(t.Context(),
		`INSERT INTO schema_version (version, applied_at) VALUES (?, ?)`,
		latest+1, formatTime(time.Now()))
	if err != nil {
		t.Fatalf("insert future version: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	_, err = OpenSQLite(t.Context(), path)
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("OpenSQLite(newer schema) = %v, want ErrSchemaTooNew", err)
	}
	want := fmt.Sprintf("version %d, this build knows up to %d", latest+1, latest)
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
}

func TestLoadMigrations(t *testing.T) {
	t.Parallel()
	file := func(body string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(body)} }
	tests := []struct {
		name    string
		files   fstest.MapFS
		want    []string
		wantErr string
	}{
		{name: "none", files: fstest.MapFS{}, want: []string{}},
		{
			name: "sorted by number",
			files: fstest.MapFS{
				"migrations/0010_j.sql": file("j"),
				"migrations/0002_b.sql": file("b"),
				"migrations/0001_a.sql": file("a"),
				"migrations/0003_c.sql": file("c"), "migrations/0004_d.sql": file("d"),
				"migrations/0005_e.sql": file("e"), "migrations/0006_f.sql": file("f"),
				"migrations/0007_g.sql": file("g"), "migrations/0008_h.sql": file("h"),
				"migrations/0009_i.sql": file("i"),
				"migrations/README.md":  file("not a migration"),
			},
			want: []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"},
		},
		{
			name:    "no number",
			files:   fstest.MapFS{"migrations/init.sql": file("")},
			wantErr: "init.sql: name is not NNNN_description.sql",
		},
		{
			name:    "zero",
			files:   fstest.MapFS{"migrations/0000_init.sql": file("")},
			wantErr: "0000_init.sql: name is not",
		},
		{
			name: "duplicate",
			files: fstest.MapFS{
				"migrations/0001_a.sql": file(""),
				"migrations/0001_b.sql": file(""),
			},
			wantErr: "0001_b.sql: expected version 2",
		},
		{
			name: "gap",
			files: fstest.MapFS{
				"migrations/0001_a.sql": file(""),
				"migrations/0003_c.sql": file(""),
			},
			wantErr: "0003_c.sql: expected version 2",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ms, err := loadMigrations(tc.files)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("loadMigrations = %v, want error containing %q", err, tc.wantErr)
				}

				return
			}
			if err != nil {
				t.Fatalf("loadMigrations: %v", err)
			}
			got := []string{}
			for i, m := range ms {
				if m.version != i+1 {
					t.Errorf("migration %d has version %d", i, m.version)
				}
				got = append(got, m.sql)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("migrations = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "m.db")
	if err := createFile(path); err != nil {
		t.Fatalf("createFile: %v", err)
	}
	db, err := openPool(ctx, path, 1, "_txlock=immediate")
	if err != nil {
		t.Fatalf("openPool: %v", err)
	}
	t.Cleanup(func() { db.Close() })

	tableExists := func(name string) bool {
		var n int
		err := db.QueryRowContext(ctx,
			`SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?`, name).Scan(&n)
		if err != nil {
			t.Fatalf("look up table %s: %v", name, err)
		}

		return n == 1
	}
	version := func() int {
		var v int
		err := db.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_version`).Scan(&v)
		if err != nil {
			t.Fatalf("read version: %v", err)
		}

		return v
	}

	fsys := fstest.MapFS{
		"migrations/0001_a.sql": {Data: []byte("CREATE TABLE a (x INTEGER);")},
	}
	for range 2 { // the second run must not apply 0001 again, which would fail
		if err := migrate(ctx, db, fsys); err != nil {
			t.Fatalf("migrate: %v", err)
		}
	}

	fsys["migrations/0002_b.sql"] = &fstest.MapFile{Data: []byte(
		"CREATE TABLE b (x INTEGER);\nINSERT INTO b VALUES (1);")}
	if err := migrate(ctx, db, fsys); err != nil {
		t.Fatalf("migrate to 2: %v", err)
	}
	if v := version(); v != 2 || !tableExists("b") {
		t.Fatalf("after migration 2: version %d, table b %t", v, tableExists("b"))
	}

	// A failing migration leaves neither its first statements nor its version behind.
	fsys["migrations/0003_c.sql"] = &fstest.MapFile{Data: []byte(
		"CREATE TABLE c (x INTEGER);\nINSERT INTO missing VALUES (1);")}
	err = migrate(ctx, db, fsys)
	if err == nil || !strings.Contains(err.Error(), "apply migration 0003_c.sql") {
		t.Fatalf("migrate(bad 0003) = %v, want an apply error naming the file", err)
	}
	if v := version(); v != 2 || tableExists("c") {
		t.Errorf("after failed migration: version %d, table c %t; want 2, false",
			v, tableExists("c"))
	}
}
