//go:build unix

package persona

import (
	"net"
	"path/filepath"
	"syscall"
	"testing"
)

func TestLoadDir_nonRegular(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir string)
		wantMsg []string
	}{
		{
			name: "named pipe",
			setup: func(t *testing.T, dir string) {
				writeFiles(t, dir, map[string]string{".claude/a.md": "a"})
				if err := syscall.Mkfifo(filepath.Join(dir, ".claude", "pipe"), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			wantMsg: []string{`".claude/pipe"`, "named pipe", "not a regular file"},
		},
		{
			name: "named pipe behind a symlink",
			setup: func(t *testing.T, dir string) {
				if err := syscall.Mkfifo(filepath.Join(dir, "pipe"), 0o644); err != nil {
					t.Fatal(err)
				}
				symlink(t, dir, "a-link", "pipe")
			},
			wantMsg: []string{`"a-link"`, "named pipe"},
		},
		{
			name: "socket",
			setup: func(t *testing.T, dir string) {
				l, err := net.Listen("unix", filepath.Join(dir, "sock"))
				if err != nil {
					t.Skipf("cannot create a unix socket: %v", err)
				}
				t.Cleanup(func() { l.Close() })
			},
			wantMsg: []string{`"sock"`, "socket"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			tc.setup(t, dir)

			_, err := loadWithin(t, dir)
			checkErr(t, err, ErrInvalid, tc.wantMsg...)
		})
	}
}
