package persona

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// writeFiles creates each file under dir, with its parent directories.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// symlink creates the link at dir/link pointing to target, creating its parent.
func symlink(t *testing.T, dir, link, target string) {
	t.Helper()
	full := filepath.Join(dir, filepath.FromSlash(link))
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, full); err != nil {
		t.Fatal(err)
	}
}

// loadWithin runs LoadDir and fails the test, rather than hanging it, if it does not
// return within ten seconds.
func loadWithin(t *testing.T, dir string) (Files, error) {
	t.Helper()
	type result struct {
		files Files
		err   error
	}
	done := make(chan result, 1)
	go func() {
		files, err := LoadDir(dir)
		done <- result{files, err}
	}()
	select {
	case r := <-done:
		return r.files, r.err
	case <-time.After(10 * time.Second):
		t.Fatalf("LoadDir(%s) did not return within 10s", dir)

		return nil, nil
	}
}

// checkErr fails unless err wraps want and its message contains every one of msgs.
func checkErr(t *testing.T, err, want error, msgs ...string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want %v", err, want)
	}
	for _, m := range msgs {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("error %q does not mention %q", err, m)
		}
	}
}

func TestLoadDir(t *testing.T) {
	t.Parallel()
	persona := map[string]string{
		"CLAUDE.md":                  "# {{project}}\n",
		".claude/settings.json":      `{"model": "{{model}}"}`,
		".claude/agents/reviewer.md": "review {{ project }}",
		".hidden":                    "",
	}
	// outside is a directory beside every test's persona, for symlinks that escape.
	outside := t.TempDir()
	writeFiles(t, outside, map[string]string{"secret": "s3cret"})

	tests := []struct {
		name    string
		setup   func(t *testing.T, dir string)
		want    Files
		wantErr error
		wantMsg []string
	}{
		{
			name:  "nested dirs and hidden files",
			setup: func(t *testing.T, dir string) { writeFiles(t, dir, persona) },
			want:  Files(persona),
		},
		{
			name:  "empty directory",
			setup: func(t *testing.T, dir string) { writeFiles(t, dir, nil) },
			want:  Files{},
		},
		{
			name: "empty subdirectories are dropped",
			setup: func(t *testing.T, dir string) {
				writeFiles(t, dir, map[string]string{"a.md": "a"})
				if err := os.MkdirAll(filepath.Join(dir, ".claude", "empty"), 0o755); err != nil {
					t.Fatal(err)
				}
			},
			want: Files{"a.md": "a"},
		},
		{
			name: "relative symlink to a file inside is followed",
			setup: func(t *testing.T, dir string) {
				writeFiles(t, dir, map[string]string{"shared/rules.md": "rules"})
				symlink(t, dir, ".claude/rules.md", "../shared/rules.md")
			},
			want: Files{"shared/rules.md": "rules", ".claude/rules.md": "rules"},
		},
		{
			name: "absolute symlink to a file inside is followed",
			setup: func(t *testing.T, dir string) {
				writeFiles(t, dir, map[string]string{"a.md": "a"})
				symlink(t, dir, "b.md", filepath.Join(dir, "a.md"))
			},
			want: Files{"a.md": "a", "b.md": "a"},
		},
		{
			name: "symlink to a directory inside is followed",
			setup: func(t *testing.T, dir string) {
				writeFiles(t, dir, map[string]string{"agents/reviewer.md": "r"})
				symlink(t, dir, ".claude/agents", "../agents")
			},
			want: Files{"agents/reviewer.md": "r", ".claude/agents/reviewer.md": "r"},
		},
		{
			name: "chained symlinks inside are followed",
			setup: func(t *testing.T, dir string) {
				writeFiles(t, dir, map[string]string{"a.md": "a"})
				symlink(t, dir, "b.md", "a.md")
				symlink(t, dir, "c.md", "b.md")
			},
			want: Files{"a.md": "a", "b.md": "a", "c.md": "a"},
		},
		{
			name: "absolute symlink escaping",
			setup: func(t *testing.T, dir string) {
				symlink(t, dir, ".claude/secret", filepath.Join(outside, "secret"))
			},
			wantErr: ErrInvalid,
			wantMsg: []string{`".claude/secret"`, "outside the persona directory"},
		},
		{
			name: "relative symlink escaping",
			setup: func(t *testing.T, dir string) {
				rel, err := filepath.Rel(filepath.Join(dir, "x"), filepath.Join(outside, "secret"))
				if err != nil {
					t.Fatal(err)
				}
				symlink(t, dir, "x/secret", rel)
			},
			wantErr: ErrInvalid,
			wantMsg: []string{`"x/secret"`, "outside the persona directory"},
		},
		{
			name:    "directory symlink escaping",
			setup:   func(t *testing.T, dir string) { symlink(t, dir, "out", outside) },
			wantErr: ErrInvalid,
			wantMsg: []string{`"out"`, "outside the persona directory"},
		},
		{
			name:    "dangling symlink",
			setup:   func(t *testing.T, dir string) { symlink(t, dir, "gone.md", "nowhere.md") },
			wantErr: ErrInvalid,
			wantMsg: []string{`"gone.md"`, "dangling", "nowhere.md"},
		},
		{
			name: "file symlinks pointing at each other",
			setup: func(t *testing.T, dir string) {
				symlink(t, dir, "x", "y")
				symlink(t, dir, "y", "x")
			},
			wantErr: ErrInvalid,
			wantMsg: []string{`"x"`, "cannot follow symlink"},
		},
		{
			name: "directory symlink to its parent",
			setup: func(t *testing.T, dir string) {
				writeFiles(t, dir, map[string]string{".claude/a.md": "a"})
				symlink(t, dir, ".claude/loop", "..")
			},
			wantErr: ErrInvalid,
			wantMsg: []string{`".claude/loop"`, "symlink loop"},
		},
		{
			name:    "directory symlink to itself",
			setup:   func(t *testing.T, dir string) { symlink(t, dir, "self", ".") },
			wantErr: ErrInvalid,
			wantMsg: []string{`"self"`, "symlink loop"},
		},
		{
			name: "directory symlinks pointing at each other",
			setup: func(t *testing.T, dir string) {
				symlink(t, dir, "a/to-b", "../b")
				symlink(t, dir, "b/to-a", "../a")
			},
			wantErr: ErrInvalid,
			wantMsg: []string{`"a/to-b/to-a"`, "symlink loop"},
		},
		{
			// Twelve levels of two links each reach the last level 4096 ways.
			name: "directory symlinks fanning out without files",
			setup: func(t *testing.T, dir string) {
				for i := range 12 {
					for _, l := range []string{"x", "y"} {
						symlink(t, dir, fmt.Sprintf("d%d/%s", i, l), fmt.Sprintf("../d%d", i+1))
					}
				}
				if err := os.Mkdir(filepath.Join(dir, "d12"), 0o755); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: ErrTooLarge,
			wantMsg: []string{"over the limit of 1000"},
		},
		{
			name: "file name that is not UTF-8",
			setup: func(t *testing.T, dir string) {
				writeFiles(t, dir, map[string]string{"a.md": "a", "docs/\xff.md": "x"})
			},
			wantErr: ErrInvalid,
			wantMsg: []string{`"docs/\xff.md" is not valid UTF-8`},
		},
		{
			name: "file at MaxFileSize",
			setup: func(t *testing.T, dir string) {
				writeFiles(t, dir, map[string]string{"big.md": strings.Repeat("x", MaxFileSize)})
			},
			want: Files{"big.md": strings.Repeat("x", MaxFileSize)},
		},
		{
			name: "file over MaxFileSize",
			setup: func(t *testing.T, dir string) {
				big := strings.Repeat("x", MaxFileSize+1)
				writeFiles(t, dir, map[string]string{"a.md": "a", "docs/big.md": big})
			},
			wantErr: ErrTooLarge,
			wantMsg: []string{`"docs/big.md"`, "1048577 bytes", "MaxFileSize"},
		},
		{
			name: "file over MaxFileSize through a symlink",
			setup: func(t *testing.T, dir string) {
				writeFiles(t, dir, map[string]string{"z/big": strings.Repeat("x", MaxFileSize+1)})
				symlink(t, dir, "a-link", "z/big")
			},
			wantErr: ErrTooLarge,
			wantMsg: []string{`"a-link"`, "MaxFileSize"},
		},
		{
			name:  "MaxFiles files",
			setup: func(t *testing.T, dir string) { writeFiles(t, dir, numbered(MaxFiles)) },
			want:  Files(numbered(MaxFiles)),
		},
		{
			name:    "more than MaxFiles files",
			setup:   func(t *testing.T, dir string) { writeFiles(t, dir, numbered(MaxFiles+1)) },
			wantErr: ErrTooLarge,
			wantMsg: []string{`"f99"`, "limit of 500", "MaxFiles"},
		},
		{
			name: "more than MaxFiles files through a directory symlink",
			setup: func(t *testing.T, dir string) {
				for p, c := range numbered(MaxFiles/2 + 1) {
					writeFiles(t, dir, map[string]string{"a/" + p: c})
				}
				symlink(t, dir, "b", "a")
			},
			wantErr: ErrTooLarge,
			wantMsg: []string{`"b/`, "MaxFiles"},
		},
		{
			name: "more than MaxTotalSize in all",
			setup: func(t *testing.T, dir string) {
				files := map[string]string{}
				for i := range MaxTotalSize/MaxFileSize + 1 {
					files[fmt.Sprintf("f%d", i)] = strings.Repeat("x", MaxFileSize)
				}
				writeFiles(t, dir, files)
			},
			wantErr: ErrTooLarge,
			wantMsg: []string{`"f8"`, "MaxTotalSize"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			tc.setup(t, dir)

			got, err := loadWithin(t, dir)
			if tc.wantErr != nil {
				checkErr(t, err, tc.wantErr, tc.wantMsg...)
				if !strings.Contains(err.Error(), dir) {
					t.Errorf("error %q does not name the directory %s", err, dir)
				}

				return
			}
			if err != nil {
				t.Fatalf("LoadDir: %v", err)
			}
			if !maps.Equal(got, tc.want) {
				t.Errorf("LoadDir = %v, want %v", keysOf(got), keysOf(tc.want))
			}
		})
	}
}

func TestLoadDir_notADirectory(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	writeFiles(t, base, map[string]string{"file.md": "x", "real/a.md": "a"})
	symlink(t, base, "link", "real")

	tests := []struct {
		name    string
		dir     string
		want    Files
		wantMsg string
	}{
		{name: "missing", dir: filepath.Join(base, "missing"), wantMsg: "does not exist"},
		{name: "a file", dir: filepath.Join(base, "file.md"), wantMsg: "not a directory"},
		{name: "a symlink to a directory", dir: filepath.Join(base, "link"),
			want: Files{"a.md": "a"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := LoadDir(tc.dir)
			if tc.wantMsg != "" {
				checkErr(t, err, ErrInvalid, tc.dir, tc.wantMsg)

				return
			}
			if err != nil {
				t.Fatalf("LoadDir: %v", err)
			}
			if !maps.Equal(got, tc.want) {
				t.Errorf("LoadDir = %v, want %v", got, tc.want)
			}
		})
	}
}

// numbered returns n one-byte files named f0, f1, ... and so on; of 501, f99 sorts last.
func numbered(n int) map[string]string {
	files := make(map[string]string, n)
	for i := range n {
		files[fmt.Sprintf("f%d", i)] = "x"
	}

	return files
}

// keysOf lists the paths of files, for a readable failure message.
func keysOf(files Files) []string {
	return slices.Sorted(maps.Keys(files))
}
