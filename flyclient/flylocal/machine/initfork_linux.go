package machine

import (
	"fmt"
	"os"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// Root in the machine's user namespace holds every capability over the machine's
// mounts, so it could remount the host binds writable or unmount the read-only
// covers on /proc. Every process in the machine is therefore started from one init
// thread whose bounding set lacks the capabilities below; children inherit it and
// can never regain them. A process that makes a user namespace of its own gets full
// capabilities there, but the kernel locks the mounts it copies into it. The init
// itself keeps them, and is made undumpable so that no process can trace it.
var droppedCapabilities = []uintptr{unix.CAP_SYS_ADMIN, unix.CAP_SYS_PTRACE}

// forkRequest asks the fork thread to start a child.
type forkRequest struct {
	path  string
	argv  []string
	attr  *syscall.ProcAttr
	reply chan<- forkReply
}

// forkReply is the started child, or why it could not start.
type forkReply struct {
	pid  int
	wait <-chan syscall.WaitStatus
	err  error
}

// startForker starts the goroutine that starts every child, locked to a thread that
// has dropped the capabilities no machine process may have.
func (p *initProc) startForker() error {
	ready := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread's reduced bounding set stays
		for _, c := range droppedCapabilities {
			if err := unix.Prctl(unix.PR_CAPBSET_DROP, c, 0, 0, 0); err != nil {
				ready <- fmt.Errorf("drop capability %d: %w", c, err)

				return
			}
		}
		ready <- nil
		for req := range p.forks {
			req.reply <- p.forkExec(req)
		}
	}()

	return <-ready
}

// forkExec starts req's child and registers it with the reaper in one step.
func (p *initProc) forkExec(req forkRequest) forkReply {
	p.mu.Lock()
	defer p.mu.Unlock()
	pid, err := syscall.ForkExec(req.path, req.argv, req.attr)
	if err != nil {
		return forkReply{err: err}
	}
	wait := make(chan syscall.WaitStatus, 1)
	p.waiters[pid] = wait

	return forkReply{pid: pid, wait: wait}
}

// start starts a child with files as its stdin, stdout and stderr, in a process
// group of its own when ownGroup is set, and returns its pid and a channel that
// receives its wait status.
func (p *initProc) start(
	path string, argv, env []string, dir string, files []*os.File, ownGroup bool,
) (int, <-chan syscall.WaitStatus, error) {
	fds := make([]uintptr, len(files))
	for i, f := range files {
		fds[i] = f.Fd()
	}
	reply := make(chan forkReply, 1)
	p.forks <- forkRequest{
		path: path,
		argv: argv,
		attr: &syscall.ProcAttr{
			Dir:   dir,
			Env:   env,
			Files: fds,
			Sys:   &syscall.SysProcAttr{Setpgid: ownGroup},
		},
		reply: reply,
	}
	r := <-reply

	return r.pid, r.wait, r.err
}
