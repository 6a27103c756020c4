//go:build linux

package machine

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestMachine_MountsAreWritable(t *testing.T) {
	t.Parallel()
	data, nested := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(data, "from-host"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := newMachine(t, Spec{Mounts: []Mount{
		{HostDir: nested, Path: "/data/nested"},
		{HostDir: data, Path: "/data"},
	}})

	res := sh(t, m, "cat /data/from-host && echo one > /data/f && echo two > /data/nested/g")
	if res.ExitCode != 0 || string(res.Stdout) != "hello" {
		t.Fatalf("exec: code %d, stdout %q, stderr %q", res.ExitCode, res.Stdout, res.Stderr)
	}
	for path, want := range map[string]string{
		filepath.Join(data, "f"):   "one\n",
		filepath.Join(nested, "g"): "two\n",
	} {
		got, err := os.ReadFile(path)
		if err != nil || string(got) != want {
			t.Errorf("host file %s: got %q, %v; want %q", path, got, err, want)
		}
	}
}

func TestMachine_HostRootIsReadOnly(t *testing.T) {
	t.Parallel()
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	m := newMachine(t, Spec{})

	paths := []string{
		"/flylocal-ro-test",
		"/etc/flylocal-ro-test",
		"/usr/flylocal-ro-test",
		"/usr/bin/flylocal-ro-test",
		"/root/flylocal-ro-test",
		"/var/tmp/flylocal-ro-test",
		"/run/flylocal-ro-test",
		"/dev/flylocal-ro-test",
		"/sys/flylocal-ro-test",
		"/sys/fs/cgroup/flylocal-ro-test",
		"/proc/sys/kernel/domainname",
	}
	// The checkout is part of the host root too, unless it lies under /tmp,
	// which a machine replaces with its own.
	if !strings.HasPrefix(cwd, "/tmp/") {
		paths = append(paths, filepath.Join(cwd, "flylocal-ro-test"))
	}
	for _, path := range paths {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			res := sh(t, m, `echo x > "$0" || mkdir "$0.d"`, path)
			if res.ExitCode == 0 {
				t.Fatalf("writing %s succeeded", path)
			}
			stderr := string(res.Stderr)
			if !strings.Contains(stderr, "Read-only file system") &&
				!strings.Contains(stderr, "Permission denied") {
				t.Errorf("stderr: got %q, want a read-only or permission error", stderr)
			}
			if strings.HasPrefix(path, "/proc/") {
				return
			}
			for _, p := range []string{path, path + ".d"} {
				if _, err := os.Lstat(p); err == nil {
					t.Errorf("host %s exists, want it absent", p)
				}
			}
		})
	}
}

func TestMachine_TmpIsPrivate(t *testing.T) {
	t.Parallel()
	hostFile := filepath.Join(t.TempDir(), "host-only")
	if err := os.WriteFile(hostFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	name := "/tmp/flylocal-private-" + filepath.Base(t.TempDir())
	m := newMachine(t, Spec{})

	if res := sh(t, m, `echo secret > "$0" && cat "$0"`, name); string(res.Stdout) != "secret\n" {
		t.Fatalf("write in machine /tmp: stdout %q, stderr %q", res.Stdout, res.Stderr)
	}
	if _, err := os.Stat(name); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("host %s: got %v, want the machine's file absent", name, err)
	}
	if res := sh(t, m, `test -e "$0"`, hostFile); res.ExitCode == 0 {
		t.Errorf("machine sees host file %s", hostFile)
	}
}

// TestMachine_RunDirOnHostRoot checks a run dir the machine's own view includes:
// the root being built must not show up, recursively, inside itself.
func TestMachine_RunDirOnHostRoot(t *testing.T) {
	t.Parallel()
	base, err := os.MkdirTemp("/var/tmp", "flylocal-machine-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	runDir := filepath.Join(base, "run")
	m := newMachine(t, Spec{RunDir: runDir})

	res := sh(t, m, `ls -A "$0" | wc -l`, filepath.Join(runDir, "root"))
	if string(res.Stdout) != "0\n" {
		t.Errorf("entries in the run dir's root seen from inside: got %q (stderr %q), want 0",
			res.Stdout, res.Stderr)
	}
}

func TestMachine_MountPointUnderHostDirMustExist(t *testing.T) {
	t.Parallel()
	if err := Supported(); err != nil {
		t.Skipf("machines cannot run here: %v", err)
	}
	runDir := filepath.Join(t.TempDir(), "run")

	_, err := Start(Spec{ID: "m", RunDir: runDir, Mounts: []Mount{
		{HostDir: t.TempDir(), Path: "/usr/flylocal-missing"},
	}})
	if err == nil || !strings.Contains(err.Error(), "create mount point /usr/flylocal-missing") {
		t.Fatalf("Start: got %v, want a mount point error", err)
	}
}

func TestMachine_Identity(t *testing.T) {
	t.Parallel()
	m := newMachine(t, Spec{ID: "d8e7a1b2c3f4e5"})

	tests := []struct {
		name   string
		script string
		want   string
	}{
		{"hostname is the id", "uname -n", "d8e7a1b2c3f4e5\n"},
		{"init is pid 1", `tr '\0' ' ' < /proc/1/cmdline`, initArg0 + " "},
		{"init is not traceable", "cat /proc/1/environ 2>/dev/null || echo denied", "denied\n"},
		{"user is root", "id -u; id -g", "0\n0\n"},
		{"dev null works", "echo x > /dev/null && head -c 3 /dev/zero | wc -c", "3\n"},
		{"no host disks", "ls /dev | grep -c -e '^sd' -e '^vd' -e '^nvme' || true", "0\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := sh(t, m, tt.script)
			if string(res.Stdout) != tt.want {
				t.Errorf("stdout: got %q, want %q (stderr %q)", res.Stdout, tt.want, res.Stderr)
			}
		})
	}

	env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", m.Pid()))
	if err != nil || len(env) > 0 {
		t.Errorf("init environment: got %q, %v; want it empty", env, err)
	}
}

// TestMachine_CannotUndoReadOnly pins an escape: root in the machine's user namespace
// could remount the host binds writable and write to the host's /etc.
func TestMachine_CannotUndoReadOnly(t *testing.T) {
	t.Parallel()
	const target = "/etc/flylocal-escape-test"
	// Each script writes the target itself, in whichever namespace it ends up in, and
	// gets a machine of its own, since a script that succeeds changes the mounts.
	scripts := []string{
		`mount -o remount,bind,rw /etc && echo x > "$0"`,
		`mount -o remount,rw / && mkdir /flylocal-escape-test`,
		`umount /proc/sys && echo x > /proc/sys/kernel/domainname`,
		`umount -l /etc && echo x > "$0"`,
		`unshare -Urm sh -c 'mount -o remount,bind,rw /etc && echo x > "$0"' "$0"`,
		`unshare -Urm sh -c 'umount -l /etc && ls /etc/passwd'`,
	}
	for _, script := range scripts {
		t.Run(script, func(t *testing.T) {
			t.Parallel()
			m := newMachine(t, Spec{})
			if res := sh(t, m, script, target); res.ExitCode == 0 {
				t.Errorf("succeeded: stdout %q", res.Stdout)
			}
		})
	}
	t.Cleanup(func() { // after the parallel subtests
		if _, err := os.Lstat(target); err == nil {
			os.Remove(target)
			t.Errorf("the machine wrote %s on the host", target)
		}
	})
}

// TestMachine_NoInheritedDescriptors pins a leak: descriptors the flylocal process
// inherited without close-on-exec used to reach every process in the machine.
func TestMachine_NoInheritedDescriptors(t *testing.T) {
	if err := Supported(); err != nil {
		t.Skipf("machines cannot run here: %v", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if _, err := unix.FcntlInt(w.Fd(), unix.F_SETFD, 0); err != nil {
		t.Fatal(err)
	}
	m := newMachine(t, Spec{})

	res := run(t, m, ExecRequest{Argv: []string{"ls", "/proc/self/fd"}})
	// ls itself holds one descriptor open on the directory it lists.
	if got := bytes.Fields(res.Stdout); len(got) != 4 {
		t.Errorf("descriptors in an exec'd process: got %s, want 0 1 2 and ls's own", got)
	}
}
