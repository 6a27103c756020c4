package sandstorm

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"
)

// Limits of the file operations. Content moves through Fly's exec endpoint in
// chunks, base64-encoded so every byte survives.
const (
	MaxWriteBytes   = 32 << 20
	MaxReadBytes    = 4 << 20
	DefaultReadSize = 1 << 20
	MaxListEntries  = 2000
	writeChunkBytes = 3 << 20
)

// checkPath accepts an absolute path without NUL bytes.
func checkPath(p string) error {
	switch {
	case p == "":
		return invalidf("Give an absolute path, like /data/project/README.md.", "path is empty")
	case strings.ContainsRune(p, 0):
		return invalidf("Remove the NUL byte from the path.", "path %q contains a NUL byte", p)
	case !path.IsAbs(p):
		return invalidf(fmt.Sprintf("Use an absolute path, like %s.", path.Join(MountPath, p)),
			"path %q is relative", p)
	case len(p) > 4096:
		return invalidf("Use a path of at most 4096 bytes.", "path is too long")
	}

	return nil
}

// fileError turns the exit codes of the file programs into errors a caller
// can act on: 2 for a missing path, 21 for the wrong kind of file.
func fileError(res *ExecResult, p string) error {
	msg := strings.TrimSpace(res.Stderr)
	switch res.ExitCode {
	case 0:
		return nil
	case 2:
		return invalidf("Check the path with sandbox_list_files.", "%s does not exist", p)
	case 21:
		return invalidf("Give the path of a regular file.", "%s: %s", p, msg)
	default:
		return fmt.Errorf("file operation on %s exited %d: %s", p, res.ExitCode, msg)
	}
}

// WriteFileRequest writes Content to Path, creating parent directories.
// Mode defaults to 0644.
type WriteFileRequest struct {
	Sandbox string
	Path    string
	Content []byte
	Mode    uint32
}

// FileInfo describes a file after a write.
type FileInfo struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	Mode   string `json:"mode"`
	SHA256 string `json:"sha256"`
}

// writeChunk writes stdin, base64-decoded, to the temporary file $2; the first
// chunk creates parent directories and the file, later ones append.
const writeChunk = `set -e
[ "$3" = first ] && { mkdir -p -- "$(dirname -- "$1")"; : >"$2"; }
base64 -d >>"$2"`

// writeCommit moves the finished temporary file $2 onto $1 with mode $3, and
// prints its size and digest.
const writeCommit = `if [ -d "$1" ]; then rm -f -- "$2"; echo "is a directory" >&2; exit 21; fi
chmod "$3" -- "$2" && mv -f -- "$2" "$1" && stat -c %s -- "$1" && sha256sum -- "$1"`

// WriteFile writes exact bytes to a file in a running sandbox. The file appears
// whole or not at all: chunks go to a temporary file that is renamed at the end,
// and the digest read back must match.
func (m *Manager) WriteFile(ctx context.Context, r WriteFileRequest) (fi *FileInfo, err error) {
	start := m.now()
	args := map[string]any{"path": r.Path, "bytes": len(r.Content), "mode": r.Mode}
	defer func() { m.audit("write_file", r.Sandbox, args, start, err) }()
	if err := checkPath(r.Path); err != nil {
		return nil, err
	}
	if len(r.Content) > MaxWriteBytes {
		return nil, invalidf("Split the content and write it as several files, or fetch it "+
			"from inside the sandbox with sandbox_exec.",
			"content is %d bytes; the limit is %d", len(r.Content), MaxWriteBytes)
	}
	if r.Mode == 0 {
		r.Mode = 0o644
	}
	if r.Mode > 0o7777 {
		return nil, invalidf("Use an octal mode like 644 or 755.", "mode %o is not valid", r.Mode)
	}
	t, err := m.running(ctx, r.Sandbox)
	if err != nil {
		return nil, err
	}

	p := path.Clean(r.Path)
	tmp := path.Join(path.Dir(p), "."+path.Base(p)+".sandstorm-"+randomID(8))
	for off := 0; off == 0 || off < len(r.Content); off += writeChunkBytes {
		chunk := r.Content[off:min(off+writeChunkBytes, len(r.Content))]
		first := "next"
		if off == 0 {
			first = "first"
		}
		res, err := m.run(ctx, t, script{code: writeChunk, args: []string{p, tmp, first},
			stdin: base64.StdEncoding.EncodeToString(chunk), timeout: 45 * time.Second})
		if err == nil {
			err = fileError(res, p)
		}
		if err != nil {
			m.removeTemp(t, tmp)
			return nil, err
		}
	}
	res, err := m.run(ctx, t, script{code: writeCommit,
		args: []string{p, tmp, strconv.FormatUint(uint64(r.Mode), 8)}, timeout: 30 * time.Second})
	if err == nil {
		err = fileError(res, p)
	}
	if err != nil {
		m.removeTemp(t, tmp)
		return nil, err
	}

	return checkWritten(p, r, res.Stdout)
}

func checkWritten(p string, r WriteFileRequest, out string) (*FileInfo, error) {
	fields := strings.Fields(out)
	if len(fields) < 2 {
		return nil, fmt.Errorf("write %s: unexpected answer %q", p, out)
	}
	size, _ := strconv.ParseInt(fields[0], 10, 64)
	sum := sha256.Sum256(r.Content)
	want := hex.EncodeToString(sum[:])
	if size != int64(len(r.Content)) || fields[1] != want {
		return nil, fmt.Errorf("write %s: the sandbox holds %d bytes with digest %s, want %d "+
			"bytes with digest %s", p, size, fields[1], len(r.Content), want)
	}

	return &FileInfo{Path: p, Size: size, Mode: fmt.Sprintf("%04o", r.Mode), SHA256: want}, nil
}

func (m *Manager) removeTemp(t target, tmp string) {
	ctx, cancel := cleanupContext()
	defer cancel()
	if _, err := m.plain(ctx, t, `rm -f -- "$1"`, tmp); err != nil {
		m.log.Warn("remove temporary file", "path", tmp, "error", err)
	}
}

// ReadFileRequest reads up to MaxBytes of Path from Offset.
type ReadFileRequest struct {
	Sandbox  string
	Path     string
	Offset   int64
	MaxBytes int
}

// FileContent is a range of a file's bytes.
type FileContent struct {
	Path    string `json:"path"`
	Offset  int64  `json:"offset"`
	Size    int64  `json:"size"`
	Content []byte `json:"-"`
	EOF     bool   `json:"eof"`
}

// readRange prints the size of regular file $1, then $3 bytes from offset $2 in base64.
const readRange = `if [ ! -e "$1" ]; then echo "no such file" >&2; exit 2; fi
if [ ! -f "$1" ]; then echo "not a regular file" >&2; exit 21; fi
stat -c %s -- "$1"
tail -c +$(($2 + 1)) -- "$1" | head -c "$3" | base64 | tr -d '\n'`

// ReadFile reads a range of a file in a running sandbox.
func (m *Manager) ReadFile(ctx context.Context, r ReadFileRequest) (*FileContent, error) {
	if err := checkPath(r.Path); err != nil {
		return nil, err
	}
	if r.Offset < 0 {
		return nil, invalidf("Use an offset of 0 or more.", "offset %d is negative", r.Offset)
	}
	if r.MaxBytes == 0 {
		r.MaxBytes = DefaultReadSize
	}
	if r.MaxBytes < 0 || r.MaxBytes > MaxReadBytes {
		return nil, invalidf(fmt.Sprintf("Use 1 to %d and read the rest by offset.", MaxReadBytes),
			"max_bytes %d is out of range", r.MaxBytes)
	}
	t, err := m.running(ctx, r.Sandbox)
	if err != nil {
		return nil, err
	}
	m.touch(r.Sandbox, m.now())
	p := path.Clean(r.Path)
	res, err := m.run(ctx, t, script{code: readRange, timeout: 45 * time.Second,
		args: []string{p, strconv.FormatInt(r.Offset, 10), strconv.Itoa(r.MaxBytes)}})
	if err == nil {
		err = fileError(res, p)
	}
	if err != nil {
		return nil, err
	}
	sizeLine, data, _ := strings.Cut(res.Stdout, "\n")
	size, err := strconv.ParseInt(strings.TrimSpace(sizeLine), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("read %s: unexpected size %q", p, sizeLine)
	}
	content, err := base64.StdEncoding.DecodeString(strings.TrimSpace(data))
	if err != nil {
		return nil, fmt.Errorf("read %s: decode content: %w", p, err)
	}

	return &FileContent{Path: p, Offset: r.Offset, Size: size, Content: content,
		EOF: r.Offset+int64(len(content)) >= size}, nil
}

// FileEntry is one entry of a directory listing. Path is relative to the
// listed directory.
type FileEntry struct {
	Path     string    `json:"path"`
	Type     string    `json:"type"`
	Size     int64     `json:"size"`
	Mode     string    `json:"mode"`
	Modified time.Time `json:"modified"`
}

// Listing is the result of ListFiles.
type Listing struct {
	Path      string      `json:"path"`
	Entries   []FileEntry `json:"entries"`
	Truncated bool        `json:"truncated"`
}

// listDir prints up to $3 entries under directory $1 to depth $2, NUL-terminated.
const listDir = `if [ ! -e "$1" ]; then echo "no such directory" >&2; exit 2; fi
if [ ! -d "$1" ]; then echo "not a directory" >&2; exit 21; fi
find "$1" -mindepth 1 -maxdepth "$2" -printf '%y\t%s\t%m\t%T@\t%P\0' 2>/dev/null | head -z -n "$3"`

// ListFiles lists a directory of a running sandbox to the given depth (1 to 10).
func (m *Manager) ListFiles(ctx context.Context, sandbox, dir string, depth int) (*Listing, error) {
	if err := checkPath(dir); err != nil {
		return nil, err
	}
	if depth == 0 {
		depth = 1
	}
	if depth < 1 || depth > 10 {
		return nil, invalidf("Use a depth from 1 to 10.", "depth %d is out of range", depth)
	}
	t, err := m.running(ctx, sandbox)
	if err != nil {
		return nil, err
	}
	m.touch(sandbox, m.now())
	p := path.Clean(dir)
	res, err := m.run(ctx, t, script{code: listDir, timeout: 45 * time.Second,
		args: []string{p, strconv.Itoa(depth), strconv.Itoa(MaxListEntries + 1)}})
	if err == nil {
		err = fileError(res, p)
	}
	if err != nil {
		return nil, err
	}

	l := &Listing{Path: p, Entries: []FileEntry{}}
	for _, rec := range strings.Split(res.Stdout, "\x00") {
		f := strings.SplitN(rec, "\t", 5)
		if len(f) != 5 {
			continue
		}
		if len(l.Entries) == MaxListEntries {
			l.Truncated = true
			break
		}
		size, _ := strconv.ParseInt(f[1], 10, 64)
		secs, _ := strconv.ParseFloat(f[3], 64)
		l.Entries = append(l.Entries, FileEntry{Path: f[4], Type: fileType(f[0]), Size: size,
			Mode: "0" + f[2], Modified: time.UnixMilli(int64(secs * 1000)).UTC()})
	}

	return l, nil
}

func fileType(code string) string {
	switch code {
	case "f":
		return "file"
	case "d":
		return "dir"
	case "l":
		return "symlink"
	default:
		return "other"
	}
}
