// Package machine runs a flylocal machine: a process tree in its own Linux user, mount,
// PID, UTS and IPC namespaces. It owns starting that tree, running exec commands in
// it, stopping it and measuring its CPU time. It knows nothing of the Fly API, leases,
// volumes as resources or machine states; the flylocal server maps those onto it.
//
// A machine sees the host root file system read-only, standing in for the image, with
// each Mount's host directory writable at its path, a private /tmp, a fresh /proc, a
// minimal /dev and a read-only /sys. The calling user's uid and gid become root inside,
// without CAP_SYS_ADMIN and CAP_SYS_PTRACE, so that no process can mount, unmount or
// remount anything, nor trace the init. HOME defaults to /root, read-only like the
// rest of the host.
//
// Limits, stated plainly: it runs on Linux only (Supported says why not elsewhere) and
// needs user namespaces and mount_setattr (Linux 5.12). It isolates for correctness,
// not security: a machine shares the host network, can read every host file its user
// can read, and can connect to host unix sockets. There are no CPU, memory or disk
// limits, exec output is held in memory whole, and there is no image: what the host
// has installed is what a machine can run.
package machine
