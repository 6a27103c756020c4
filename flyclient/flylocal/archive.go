package flylocal

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Snapshot archives are plain PAX tar files of a volume directory: regular
// files, directories, symlinks and hard links with their modes, owners and
// nanosecond modification times. Sockets, devices and FIFOs are left out.

// writeArchive archives the directory src into the file dst, atomically, and
// returns the archive's size and sha256 digest.
func writeArchive(src, dst string) (int64, string, error) {
	tmp := dst + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, "", fmt.Errorf("archive %s: %w", src, err)
	}
	sum := sha256.New()
	cw := &countingWriter{w: io.MultiWriter(f, sum)}
	tw := tar.NewWriter(cw)
	err = writeTree(tw, src)
	if err == nil {
		err = tw.Close()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		_ = os.Remove(tmp)

		return 0, "", fmt.Errorf("archive %s: %w", src, err)
	}
	if err := syncDir(filepath.Dir(dst)); err != nil {
		return 0, "", fmt.Errorf("archive %s: %w", src, err)
	}

	return cw.n, hex.EncodeToString(sum.Sum(nil)), nil
}

// extractArchive restores the archive file src into the directory dst.
func extractArchive(src, dst string) error {
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("restore %s: %w", filepath.Base(src), err)
	}
	defer f.Close()
	if err := extractTree(f, dst); err != nil {
		return fmt.Errorf("restore %s: %w", filepath.Base(src), err)
	}

	return nil
}

// copyTree copies the directory src to dst as an archive round trip would.
func copyTree(src, dst string) error {
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := writeTree(tw, src)
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	err := extractTree(pr, dst)
	pr.CloseWithError(errors.New("copy aborted"))
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}

	return nil
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)

	return n, err
}

// Mode bits of a tar header beyond the permissions.
const (
	tarSetuid = 0o4000
	tarSetgid = 0o2000
	tarSticky = 0o1000
)

// writeTree writes every entry under root, root itself first as "./".
func writeTree(tw *tar.Writer, root string) error {
	linked := map[[2]uint64]string{} // (dev, inode) -> first name, for hard links

	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		hdr := headerFor(filepath.ToSlash(rel), info)
		mode := info.Mode()
		switch {
		case mode.IsDir():
			hdr.Typeflag, hdr.Name = tar.TypeDir, strings.TrimSuffix(hdr.Name, "/")+"/"
		case mode&fs.ModeSymlink != 0:
			hdr.Typeflag = tar.TypeSymlink
			if hdr.Linkname, err = os.Readlink(path); err != nil {
				return err
			}
		case mode.IsRegular():
			if st, ok := info.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
				key := [2]uint64{uint64(st.Dev), uint64(st.Ino)}
				if first, seen := linked[key]; seen {
					hdr.Typeflag, hdr.Linkname = tar.TypeLink, first

					return tw.WriteHeader(hdr)
				}
				linked[key] = hdr.Name
			}
			hdr.Typeflag, hdr.Size = tar.TypeReg, info.Size()
		default:
			return nil
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeReg {
			return copyFileInto(tw, path, hdr.Size)
		}

		return nil
	})
}

// headerFor returns a PAX header for the entry name with info's mode bits,
// owner and modification time. Access times are not kept.
func headerFor(name string, info fs.FileInfo) *tar.Header {
	mode := info.Mode()
	hdr := &tar.Header{
		Name:    name,
		Mode:    int64(mode.Perm()),
		ModTime: info.ModTime(),
		Format:  tar.FormatPAX,
	}
	if mode&fs.ModeSetuid != 0 {
		hdr.Mode |= tarSetuid
	}
	if mode&fs.ModeSetgid != 0 {
		hdr.Mode |= tarSetgid
	}
	if mode&fs.ModeSticky != 0 {
		hdr.Mode |= tarSticky
	}
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		hdr.Uid, hdr.Gid = int(st.Uid), int(st.Gid)
	}

	return hdr
}

// copyFileInto writes exactly size bytes of the file at path: a file that
// shrank meanwhile is padded with zeros, one that grew is cut, so the archive
// stays well formed while a machine writes to the volume.
func copyFileInto(w io.Writer, path string, size int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.CopyN(w, f, size)
	if errors.Is(err, io.EOF) {
		_, err = io.CopyN(w, zeroReader{}, size-n)
	}

	return err
}

// zeroReader reads zeros.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)

	return len(p), nil
}

// extractTree restores a tar stream into dst, which is created if needed.
// Every entry must stay inside dst. Directories get their modes and times
// last, so that read-only ones can be filled first.
func extractTree(r io.Reader, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	root, err := os.OpenRoot(dst)
	if err != nil {
		return err
	}
	defer root.Close()

	var dirs []*tar.Header
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		name, err := localName(hdr.Name)
		if err != nil {
			return err
		}
		if parent := filepath.Dir(name); parent != "." {
			if err := root.MkdirAll(parent, 0o755); err != nil {
				return err
			}
		}
		if hdr.Typeflag == tar.TypeDir {
			if err := root.Mkdir(name, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
				return err
			}
			hdr.Name = name
			dirs = append(dirs, hdr)

			continue
		}
		if err := extractEntry(root, dst, name, hdr, tr); err != nil {
			return fmt.Errorf("extract %s: %w", name, err)
		}
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := setAttrs(root, dst, dirs[i].Name, dirs[i]); err != nil {
			return fmt.Errorf("extract %s: %w", dirs[i].Name, err)
		}
	}

	return nil
}

// extractEntry creates one non-directory entry.
func extractEntry(root *os.Root, dst, name string, hdr *tar.Header, body io.Reader) error {
	switch hdr.Typeflag {
	case tar.TypeReg:
		f, err := root.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, body)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	case tar.TypeSymlink:
		if err := root.Symlink(hdr.Linkname, name); err != nil {
			return err
		}
	case tar.TypeLink:
		target, err := localName(hdr.Linkname)
		if err != nil {
			return err
		}

		return root.Link(target, name)
	default:
		return nil
	}

	return setAttrs(root, dst, name, hdr)
}

// setAttrs applies hdr's owner (when running as root), mode and times to name.
func setAttrs(root *os.Root, dst, name string, hdr *tar.Header) error {
	if os.Geteuid() == 0 {
		if err := root.Lchown(name, hdr.Uid, hdr.Gid); err != nil {
			return err
		}
	}
	if hdr.Typeflag == tar.TypeSymlink {
		mtime := unix.NsecToTimespec(hdr.ModTime.UnixNano())
		ts := []unix.Timespec{mtime, mtime}

		return unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(dst, name), ts,
			unix.AT_SYMLINK_NOFOLLOW)
	}
	mode := fs.FileMode(hdr.Mode).Perm()
	if hdr.Mode&tarSetuid != 0 {
		mode |= fs.ModeSetuid
	}
	if hdr.Mode&tarSetgid != 0 {
		mode |= fs.ModeSetgid
	}
	if hdr.Mode&tarSticky != 0 {
		mode |= fs.ModeSticky
	}
	if err := root.Chmod(name, mode); err != nil {
		return err
	}

	return root.Chtimes(name, hdr.AccessTime, hdr.ModTime)
}

// localName cleans an archive entry name and refuses one that leaves the
// destination.
func localName(name string) (string, error) {
	clean := filepath.Clean(filepath.FromSlash(strings.TrimSuffix(name, "/")))
	if clean != "." && !filepath.IsLocal(clean) {
		return "", fmt.Errorf("archive entry %q leaves the volume", name)
	}

	return clean, nil
}
