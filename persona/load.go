package persona

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// maxDirs bounds the directories LoadDir enters, so that symlinks reaching the same
// directories by many routes cannot keep a walk busy without ever finding a file.
const maxDirs = 2 * MaxFiles

// LoadDir reads every regular file under dir, hidden ones included, into Files keyed by
// their slash-separated paths relative to dir.
//
// Symlinks are followed when they resolve inside dir, so a linked file appears under the
// link's path as well as its own. LoadDir refuses a symlink that resolves outside dir or to
// nothing, a directory symlink that leads back to a directory containing it, a device,
// socket or named pipe, a file over MaxFileSize, more than MaxFiles files, more than
// MaxTotalSize bytes in all and more than 1000 directories; the error names the path and,
// for a limit, the limit. A dir that does not exist or is not a directory is ErrInvalid.
// Files are opened through an [os.Root], so a symlink swapped in during the walk cannot
// reach outside dir either.
func LoadDir(dir string) (Files, error) {
	files, err := loadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("load persona %s: %w", dir, err)
	}

	return files, nil
}

func loadDir(dir string) (Files, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	resolved, err := filepath.EvalSymlinks(abs)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: directory does not exist", ErrInvalid)
	}
	if err != nil {
		return nil, err
	}
	info, err := os.Stat(resolved)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("%w: not a directory", ErrInvalid)
	}

	root, err := os.OpenRoot(resolved)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	w := &walker{root: root, dir: resolved, files: Files{}, open: map[string]string{}}
	if err := w.walk(".", "."); err != nil {
		return nil, err
	}

	return w.files, nil
}

// walker carries the state of one LoadDir. Each file and directory has two names: rel,
// its slash-separated path in the persona, and loc, its OS path relative to the root with
// every symlink resolved.
type walker struct {
	root  *os.Root
	dir   string // the persona directory, symlinks resolved
	files Files
	total int
	dirs  int
	open  map[string]string // loc to rel of each directory being walked
}

// walk reads one directory and everything under it.
func (w *walker) walk(rel, loc string) error {
	w.dirs++
	if w.dirs > maxDirs {
		return fmt.Errorf("%w: %q is directory %d, over the limit of %d",
			ErrTooLarge, rel, w.dirs, maxDirs)
	}
	w.open[loc] = rel
	defer delete(w.open, loc)

	f, err := w.root.Open(loc)
	if err != nil {
		return err
	}
	entries, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		return err
	}
	// Sorted, so that the same tree always fails at the same path.
	slices.SortFunc(entries, func(a, b fs.DirEntry) int {
		return strings.Compare(a.Name(), b.Name())
	})

	for _, e := range entries {
		name := e.Name()
		err := w.entry(path.Join(rel, name), filepath.Join(loc, name), e.Type())
		if err != nil {
			return err
		}
	}

	return nil
}

// entry adds the file, or walks the directory, that one directory entry names.
func (w *walker) entry(rel, loc string, typ fs.FileMode) error {
	if err := checkPath(rel); err != nil {
		return err
	}
	if typ&fs.ModeSymlink != 0 {
		target, err := w.follow(rel, loc)
		if err != nil {
			return err
		}
		loc = target
	}
	info, err := w.root.Stat(loc)
	if err != nil {
		return err
	}

	switch {
	case info.IsDir():
		if ancestor, ok := w.open[loc]; ok {
			return fmt.Errorf("%w: %q leads back to %q, which contains it (a symlink loop)",
				ErrInvalid, rel, ancestor)
		}

		return w.walk(rel, loc)
	case info.Mode().IsRegular():
		return w.read(rel, loc)
	default:
		return fmt.Errorf("%w: %q is a %s, not a regular file", ErrInvalid, rel, kind(info.Mode()))
	}
}

// follow resolves the symlink at loc and returns its target relative to the root,
// refusing a target outside the persona directory or one that does not exist.
func (w *walker) follow(rel, loc string) (string, error) {
	host := filepath.Join(w.dir, loc)
	link, _ := os.Readlink(host) // only for messages
	resolved, err := filepath.EvalSymlinks(host)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%w: %q is a dangling symlink to %q", ErrInvalid, rel, link)
	}
	if err != nil {
		return "", fmt.Errorf("%w: cannot follow symlink %q to %q: %w", ErrInvalid, rel, link, err)
	}
	inside, err := filepath.Rel(w.dir, resolved)
	if err != nil || !filepath.IsLocal(inside) {
		return "", fmt.Errorf("%w: %q is a symlink to %q, outside the persona directory",
			ErrInvalid, rel, link)
	}

	return inside, nil
}

// read adds one regular file, enforcing the limits. The file is opened without blocking
// and checked again, in case it was replaced by a named pipe after it was listed.
func (w *walker) read(rel, loc string) error {
	if len(w.files) == MaxFiles {
		return tooManyFiles(rel)
	}
	f, err := w.root.OpenFile(loc, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("%w: %q is a %s, not a regular file", ErrInvalid, rel, kind(info.Mode()))
	}
	if info.Size() > MaxFileSize {
		return fileTooLarge(rel, info.Size())
	}

	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return fmt.Errorf("read %q: %w", rel, err)
	}
	if len(data) > MaxFileSize {
		return fileTooLarge(rel, int64(len(data)))
	}
	w.total += len(data)
	if w.total > MaxTotalSize {
		return totalTooLarge(rel)
	}
	w.files[rel] = string(data)

	return nil
}

// kind names a non-regular file type for an error message.
func kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "device"
	default:
		return "non-regular file"
	}
}
