//go:build linux

package machine

import (
	"bufio"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

func TestBuildEnv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		base, extra map[string]string
		want        []string
	}{
		{
			name: "defaults",
			want: []string{"HOME=" + defaultHome, "PATH=" + defaultPath},
		},
		{
			name:  "request wins",
			base:  map[string]string{"A": "base", "B": "base"},
			extra: map[string]string{"B": "extra"},
			want:  []string{"A=base", "B=extra", "HOME=" + defaultHome, "PATH=" + defaultPath},
		},
		{
			name: "spec sets PATH and HOME",
			base: map[string]string{"PATH": "/x", "HOME": "/data"},
			want: []string{"HOME=/data", "PATH=/x"},
		},
		{
			name:  "empty values are kept",
			extra: map[string]string{"PATH": "", "HOME": ""},
			want:  []string{"HOME=", "PATH="},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := buildEnv(tt.base, tt.extra); !slices.Equal(got, tt.want) {
				t.Errorf("buildEnv: got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLookPath(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, mode := range map[string]os.FileMode{"tool": 0o755, "data": 0o644} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, file, pathList string
		want                 string
		wantErr              error
	}{
		{name: "on PATH", file: "tool", pathList: "/nope:" + dir, want: dir + "/tool"},
		{name: "relative PATH entry", file: "tool", pathList: ".", want: dir + "/tool"},
		{name: "not on PATH", file: "tool", pathList: "/nope", wantErr: errCommandNotFound},
		{name: "not executable", file: "data", pathList: dir, wantErr: errCommandNotFound},
		{name: "relative path", file: "./tool", want: dir + "/tool"},
		{name: "absolute missing", file: dir + "/nope", wantErr: fs.ErrNotExist},
		{name: "absolute not executable", file: dir + "/data", wantErr: syscall.EACCES},
		{name: "directory", file: dir + "/sub", wantErr: syscall.EISDIR},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := lookPath(tt.file, tt.pathList, dir)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("lookPath: got %q, %v; want %v", got, err, tt.wantErr)
				}

				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("lookPath: got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// TestPump_DrainsAfterExit pins output loss: once the command has exited, the pipe
// may still hold output while a process it left behind keeps the pipe open, and
// that output must be read before pump gives up on the pipe.
func TestPump_DrainsAfterExit(t *testing.T) {
	t.Parallel()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close() // held open like a background process would
	want := bytes.Repeat([]byte("x"), 60<<10)
	if _, err := w.Write(want); err != nil {
		t.Fatal(err)
	}
	r.SetReadDeadline(time.Now().Add(-time.Second))

	var out bytes.Buffer
	start := time.Now()
	pump(r, frameStdout, &frameWriter{w: &out})
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("pump returned after %v with the pipe open and empty", took)
	}
	var got []byte
	br := bufio.NewReader(&out)
	for {
		kind, payload, err := readFrame(br)
		if err != nil {
			break
		}
		if kind != frameStdout {
			t.Fatalf("frame kind %q, want stdout", kind)
		}
		got = append(got, payload...)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("pumped %d bytes, want %d", len(got), len(want))
	}
}
