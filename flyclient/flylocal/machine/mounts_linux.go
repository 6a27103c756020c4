package machine

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// Top-level host entries the machine gets its own version of instead of the host's.
var ownTopLevel = map[string]bool{"proc": true, "sys": true, "dev": true, "tmp": true}

// procReadOnly are the /proc entries that reach kernel-wide settings. A machine whose
// user maps to host root would otherwise be able to write to them.
var procReadOnly = []string{"sys", "sysrq-trigger", "irq", "bus", "fs"}

// devNodes are the host device nodes a machine gets; it never sees the host's disks.
var devNodes = []string{"null", "zero", "full", "random", "urandom", "tty"}

// devLinks are the usual symlinks in /dev.
var devLinks = map[string]string{
	"fd":     "/proc/self/fd",
	"stdin":  "/proc/self/fd/0",
	"stdout": "/proc/self/fd/1",
	"stderr": "/proc/self/fd/2",
	"ptmx":   "pts/ptmx",
}

// setupRoot builds the machine's file system on a tmpfs at cfg.Root and makes it the
// root: the host's top-level entries bound read-only, fresh /proc, /dev and /tmp,
// /sys read-only and each mount writable. It runs in the init before anything else.
func setupRoot(cfg initConfig) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	root := cfg.Root
	if err := mountTmpfs(root, "mode=0755"); err != nil {
		return err
	}
	// Unbindable keeps the new root out of the recursive binds of the host entries
	// below, whichever of them holds it.
	if err := unix.Mount("", root, "", unix.MS_UNBINDABLE, ""); err != nil {
		return fmt.Errorf("make %s unbindable: %w", root, err)
	}
	steps := []func(string) error{bindHostEntries, mountProc, mountDev, mountSys, mountTmp}
	for _, step := range steps {
		if err := step(root); err != nil {
			return err
		}
	}
	volumes, err := openMountDirs(cfg.Mounts)
	if err != nil {
		return err
	}
	defer closeAll(volumes)

	if err := pivotRoot(root); err != nil {
		return err
	}
	if err := bindMounts(cfg.Mounts, volumes); err != nil {
		return err
	}
	if err := detachOldRoot(); err != nil {
		return err
	}
	if err := setReadOnly("/", false); err != nil {
		return err
	}
	if err := syscall.Sethostname([]byte(cfg.ID)); err != nil {
		return fmt.Errorf("set hostname: %w", err)
	}

	return nil
}

// bindHostEntries binds each top-level directory and file of the host root into root
// read-only and copies top-level symlinks such as /bin -> usr/bin.
func bindHostEntries(root string) error {
	entries, err := os.ReadDir("/")
	if err != nil {
		return fmt.Errorf("list host root: %w", err)
	}
	for _, e := range entries {
		if ownTopLevel[e.Name()] {
			continue
		}
		src, dst := "/"+e.Name(), filepath.Join(root, e.Name())
		switch t := e.Type(); {
		case t&fs.ModeSymlink != 0:
			target, err := os.Readlink(src)
			if err != nil {
				return fmt.Errorf("read host link %s: %w", src, err)
			}
			if err := os.Symlink(target, dst); err != nil {
				return fmt.Errorf("copy host link %s: %w", src, err)
			}
		case t.IsDir(), t.IsRegular():
			if err := makeMountPoint(dst, t.IsDir()); err != nil {
				return err
			}
			if err := bindReadOnly(src, dst); err != nil {
				return err
			}
		}
	}

	return nil
}

// mountProc mounts a proc for the machine's PID namespace with the kernel-wide
// settings read-only. It must run before the host root is detached: the kernel lets
// a user namespace mount proc only where a full proc is already visible.
func mountProc(root string) error {
	dst := filepath.Join(root, "proc")
	if err := makeMountPoint(dst, true); err != nil {
		return err
	}
	flags := uintptr(unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
	if err := unix.Mount("proc", dst, "proc", flags, ""); err != nil {
		return fmt.Errorf("mount /proc: %w", err)
	}
	for _, name := range procReadOnly {
		p := filepath.Join(dst, name)
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err := bindReadOnly(p, p); err != nil {
			return err
		}
	}

	return nil
}

// mountDev builds a minimal read-only /dev of a few host device nodes, with its own
// devpts and a private writable /dev/shm.
func mountDev(root string) error {
	dev := filepath.Join(root, "dev")
	if err := makeMountPoint(dev, true); err != nil {
		return err
	}
	if err := mountTmpfs(dev, "mode=0755"); err != nil {
		return err
	}
	for _, name := range devNodes {
		src, dst := "/dev/"+name, filepath.Join(dev, name)
		if _, err := os.Stat(src); err != nil {
			continue
		}
		if err := makeMountPoint(dst, false); err != nil {
			return err
		}
		if err := unix.Mount(src, dst, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind %s: %w", src, err)
		}
	}
	for name, target := range devLinks {
		if err := os.Symlink(target, filepath.Join(dev, name)); err != nil {
			return fmt.Errorf("create /dev/%s: %w", name, err)
		}
	}
	for _, name := range []string{"pts", "shm"} {
		if err := makeMountPoint(filepath.Join(dev, name), true); err != nil {
			return err
		}
	}
	if err := setReadOnly(dev, true); err != nil {
		return err
	}

	pts := filepath.Join(dev, "pts")
	flags := uintptr(unix.MS_NOSUID | unix.MS_NOEXEC)
	opts := "newinstance,ptmxmode=0666,mode=0620"
	if err := unix.Mount("devpts", pts, "devpts", flags, opts); err != nil {
		return fmt.Errorf("mount /dev/pts: %w", err)
	}

	return mountTmpfs(filepath.Join(dev, "shm"), "mode=1777")
}

// mountSys binds the host's /sys read-only; a fresh sysfs needs a network namespace.
func mountSys(root string) error {
	dst := filepath.Join(root, "sys")
	if err := makeMountPoint(dst, true); err != nil {
		return err
	}

	return bindReadOnly("/sys", dst)
}

// mountTmp gives the machine a private, writable /tmp.
func mountTmp(root string) error {
	dst := filepath.Join(root, "tmp")
	if err := makeMountPoint(dst, true); err != nil {
		return err
	}

	return mountTmpfs(dst, "mode=1777")
}

// openMountDirs opens each mount's host directory, so that it can be bound after the
// pivot, when mount paths resolve inside the new root.
func openMountDirs(mounts []Mount) ([]int, error) {
	fds := make([]int, 0, len(mounts))
	for _, mt := range mounts {
		flags := unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC
		fd, err := unix.Open(mt.HostDir, flags, 0)
		if err != nil {
			closeAll(fds)

			return nil, fmt.Errorf("open mount dir %s: %w", mt.HostDir, err)
		}
		fds = append(fds, fd)
	}

	return fds, nil
}

// bindMounts binds each opened mount directory at its path in the new root, creating
// the mount point in the root tmpfs when needed. Paths inside a directory that comes
// from the host must already exist there, since that directory is read-only.
func bindMounts(mounts []Mount, fds []int) error {
	for i, mt := range mounts {
		if err := os.MkdirAll(mt.Path, 0o755); err != nil {
			return fmt.Errorf("create mount point %s: %w", mt.Path, err)
		}
		src := fmt.Sprintf("/proc/self/fd/%d", fds[i])
		if err := unix.Mount(src, mt.Path, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("mount %s at %s: %w", mt.HostDir, mt.Path, err)
		}
	}

	return nil
}

// oldRoot is where the host root stays, inside the new root, between the pivot and
// the end of setup.
const oldRoot = "/.host-root"

// pivotRoot makes root the root of the mount namespace, with the host root under
// oldRoot until detachOldRoot.
func pivotRoot(root string) error {
	if err := makeMountPoint(filepath.Join(root, oldRoot), true); err != nil {
		return err
	}
	if err := unix.PivotRoot(root, filepath.Join(root, oldRoot)); err != nil {
		return fmt.Errorf("pivot root: %w", err)
	}
	if err := os.Chdir("/"); err != nil {
		return fmt.Errorf("enter new root: %w", err)
	}

	return nil
}

// detachOldRoot detaches the host root, so that no process in the machine can reach
// it, not even by escaping a chroot.
func detachOldRoot() error {
	if err := unix.Unmount(oldRoot, unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach host root: %w", err)
	}
	if err := os.Remove(oldRoot); err != nil {
		return fmt.Errorf("remove %s: %w", oldRoot, err)
	}

	return nil
}

// bindReadOnly binds src, with the mounts under it, at dst and makes all of them
// read-only.
func bindReadOnly(src, dst string) error {
	if err := unix.Mount(src, dst, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s: %w", src, err)
	}

	return setReadOnly(dst, true)
}

// setReadOnly makes the mount at path read-only, and the mounts under it when
// recursive. Unlike a bind remount it changes only the read-only flag, which keeps it
// working on mounts whose other flags a user namespace may not touch.
func setReadOnly(path string, recursive bool) error {
	var flags uint
	if recursive {
		flags = unix.AT_RECURSIVE
	}
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
	if err := unix.MountSetattr(unix.AT_FDCWD, path, flags, attr); err != nil {
		return fmt.Errorf("make %s read-only: %w", path, err)
	}

	return nil
}

// mountTmpfs mounts a new tmpfs at dst.
func mountTmpfs(dst, opts string) error {
	flags := uintptr(unix.MS_NOSUID | unix.MS_NODEV)
	if err := unix.Mount("tmpfs", dst, "tmpfs", flags, opts); err != nil {
		return fmt.Errorf("mount tmpfs at %s: %w", dst, err)
	}

	return nil
}

// makeMountPoint creates an empty directory or file at path to mount on.
func makeMountPoint(path string, dir bool) error {
	var err error
	if dir {
		err = os.Mkdir(path, 0o755)
	} else {
		var f *os.File
		f, err = os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			err = f.Close()
		}
	}
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create mount point %s: %w", path, err)
	}

	return nil
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}
