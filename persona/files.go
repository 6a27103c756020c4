package persona

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"unicode/utf8"
)

// Limits on a persona. They hold for the files as loaded or given and again after
// placeholders are substituted, so a large variable value cannot make a persona grow past
// them.
const (
	// MaxFileSize is the most bytes one file may hold: 1 MiB.
	MaxFileSize = 1 << 20
	// MaxTotalSize is the most bytes all of a persona's files may hold together: 8 MiB.
	MaxTotalSize = 8 << 20
	// MaxFiles is the most files a persona may have.
	MaxFiles = 500
)

// maxPathLen is the longest path a persona file may have, the same bound the Manager puts
// on a sandbox path.
const maxPathLen = 4096

// Files maps a clean, slash-separated path relative to the persona root, such as
// ".claude/agents/reviewer.md", to the file's content.
type Files map[string]string

// validate checks files against the path rules and the limits, reporting the first
// offending path in sorted order.
func validate(files Files) error {
	if len(files) > MaxFiles {
		return fmt.Errorf("%w: %d files, over the limit of %d (MaxFiles)",
			ErrTooLarge, len(files), MaxFiles)
	}

	total := 0
	for _, p := range slices.Sorted(maps.Keys(files)) {
		if err := checkPath(p); err != nil {
			return err
		}
		if err := checkParents(files, p); err != nil {
			return err
		}
		size := len(files[p])
		if size > MaxFileSize {
			return fileTooLarge(p, int64(size))
		}
		total += size
		if total > MaxTotalSize {
			return totalTooLarge(p)
		}
	}

	return nil
}

// checkPath reports ErrInvalid unless p is a clean, relative, slash-separated UTF-8 file
// path that stays inside the persona root.
func checkPath(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("%w: empty file path", ErrInvalid)
	case len(p) > maxPathLen:
		return fmt.Errorf("%w: path %.40q... is %d bytes, over the limit of %d",
			ErrInvalid, p, len(p), maxPathLen)
	case strings.ContainsRune(p, 0):
		return fmt.Errorf("%w: path %q contains a NUL byte", ErrInvalid, p)
	case !utf8.ValidString(p):
		return fmt.Errorf("%w: path %q is not valid UTF-8", ErrInvalid, p)
	case strings.HasPrefix(p, "/"):
		return fmt.Errorf("%w: path %q is absolute; paths are relative to the persona root",
			ErrInvalid, p)
	case slices.Contains(strings.Split(p, "/"), ".."):
		return fmt.Errorf("%w: path %q contains \"..\"", ErrInvalid, p)
	case p == ".":
		return fmt.Errorf("%w: path %q names the persona root, not a file", ErrInvalid, p)
	case path.Clean(p) != p:
		return fmt.Errorf("%w: path %q is not clean; write %q", ErrInvalid, p, path.Clean(p))
	}

	return nil
}

// checkParents reports ErrInvalid if a directory above p is also given as a file, since
// no file tree can hold both.
func checkParents(files Files, p string) error {
	for dir := path.Dir(p); dir != "."; dir = path.Dir(dir) {
		if _, ok := files[dir]; ok {
			return fmt.Errorf("%w: %q is a file, so %q cannot be inside it", ErrInvalid, dir, p)
		}
	}

	return nil
}

func fileTooLarge(p string, size int64) error {
	return fmt.Errorf("%w: %q is %d bytes, over the limit of %d per file (MaxFileSize)",
		ErrTooLarge, p, size, MaxFileSize)
}

func totalTooLarge(p string) error {
	return fmt.Errorf("%w: files up to %q add up to over %d bytes (MaxTotalSize)",
		ErrTooLarge, p, MaxTotalSize)
}

func tooManyFiles(p string) error {
	return fmt.Errorf("%w: %q is file %d, over the limit of %d (MaxFiles)",
		ErrTooLarge, p, MaxFiles+1, MaxFiles)
}
