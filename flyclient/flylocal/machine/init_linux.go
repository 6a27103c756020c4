package machine

import (
	"encoding/json"
	"fmt"
	"math"
	"net"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// initArg0 is the argv[0] under which this binary runs as a machine's init.
const initArg0 = "flylocal-machine-init"

// The init's inherited descriptors; everything else it opens is close-on-exec.
const (
	initConfigFD  = 3
	initControlFD = 4
)

// maxSignal is the highest signal number Linux defines, the last real-time signal.
const maxSignal = 64

// forwardedSignals reach the init from the host, or from processes in the machine,
// and are passed on to the main process.
var forwardedSignals = []os.Signal{
	syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP,
	syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2,
}

func init() {
	if len(os.Args) == 1 && os.Args[0] == initArg0 {
		os.Exit(runInit())
	}
}

// exitStatus is how a process ended: a code, or a signal and 128+signal.
type exitStatus struct{ code, signal int }

func statusOf(ws syscall.WaitStatus) exitStatus {
	if ws.Signaled() {
		return exitStatus{code: exitFromSignal(int(ws.Signal())), signal: int(ws.Signal())}
	}

	return exitStatus{code: ws.ExitStatus()}
}

// initProc is the state of a running init, PID 1 of the machine's PID namespace.
type initProc struct {
	env     map[string]string // Spec.Env, the base of every exec's environment
	devNull *os.File
	ctl     *net.UnixConn

	forks   chan forkRequest // to the goroutine that starts every child
	mu      sync.Mutex       // held across fork and registration, so the reaper finds waiters
	waiters map[int]chan syscall.WaitStatus

	mainPid  int // 0 when the init itself stands in for the main process
	mainExit chan exitStatus
}

// runInit is the init's whole life: set up the machine, start its main process, then
// reap children and serve the parent until the main process ends or the parent goes.
// Its exit ends the machine: the kernel kills every other process in the namespace.
func runInit() int {
	sigs := make(chan os.Signal, 64)
	signal.Notify(sigs, append([]os.Signal{syscall.SIGCHLD}, forwardedSignals...)...)
	closeInheritedOnExec()

	ctl, err := unixConn(os.NewFile(initControlFD, "control"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", initArg0, err)

		return 1
	}
	p, err := setupInit(os.NewFile(initConfigFD, "config"), ctl)
	if err != nil {
		sendCtl(ctl, ctlMsg{Op: opFailed, Error: err.Error()}, nil)

		return 1
	}
	if err := sendCtl(ctl, ctlMsg{Op: opReady}, nil); err != nil {
		return 1
	}

	st, ok := p.run(sigs)
	if !ok {
		return 1
	}
	sendCtl(ctl, ctlMsg{Op: opExit, Code: st.code, Signal: st.signal}, nil)

	return 0
}

// closeInheritedOnExec marks every descriptor above stderr close-on-exec: the config
// and control descriptors, and any the flylocal process itself inherited and passed
// on without knowing, so that none of them reaches a process in the machine.
func closeInheritedOnExec() {
	err := unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC)
	if err == nil {
		return
	}
	entries, _ := os.ReadDir("/proc/self/fd")
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
}

// setupInit reads the config, builds the machine's root and starts the main process.
func setupInit(cfgFile *os.File, ctl *net.UnixConn) (*initProc, error) {
	var cfg initConfig
	err := json.NewDecoder(cfgFile).Decode(&cfg)
	cfgFile.Close()
	if err != nil {
		return nil, fmt.Errorf("read init config: %w", err)
	}
	if err := setupRoot(cfg); err != nil {
		return nil, err
	}
	devNull, err := os.Open("/dev/null")
	if err != nil {
		return nil, fmt.Errorf("open /dev/null in machine: %w", err)
	}

	p := &initProc{
		env:      cfg.Env,
		devNull:  devNull,
		ctl:      ctl,
		forks:    make(chan forkRequest),
		waiters:  make(map[int]chan syscall.WaitStatus),
		mainExit: make(chan exitStatus, 1),
	}
	if err := p.startForker(); err != nil {
		return nil, err
	}
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return nil, fmt.Errorf("make init undumpable: %w", err)
	}
	if len(cfg.Argv) > 0 {
		if err := p.startMain(cfg.Argv); err != nil {
			return nil, err
		}
	}

	return p, nil
}

// startMain starts the main process in / with the spec's environment and the init's
// own stdout and stderr.
func (p *initProc) startMain(argv []string) error {
	env := buildEnv(p.env, nil)
	path, err := lookPath(argv[0], envPath(env), "/")
	if err != nil {
		return fmt.Errorf("start main process: %w", err)
	}
	files := []*os.File{p.devNull, os.Stdout, os.Stderr}
	pid, wait, err := p.start(path, argv, env, "/", files, false)
	if err != nil {
		return fmt.Errorf("start main process %s: %w", argv[0], err)
	}
	p.mainPid = pid
	go func() { p.mainExit <- statusOf(<-wait) }()

	return nil
}

// reap collects every child that has exited, including orphans the kernel handed
// to the init, and tells their waiters.
func (p *initProc) reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || pid <= 0 {
			return
		}
		p.mu.Lock()
		wait := p.waiters[pid]
		delete(p.waiters, pid)
		p.mu.Unlock()
		if wait != nil {
			wait <- ws
		}
	}
}

// run serves until the main process ends, returning its status, or until the parent
// closes the control socket, returning false.
func (p *initProc) run(sigs <-chan os.Signal) (exitStatus, bool) {
	parentGone := make(chan struct{})
	go p.serveControl(parentGone)

	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGCHLD {
				p.reap()

				continue
			}
			p.signalMain(sig.(syscall.Signal))
		case st := <-p.mainExit:
			return st, true
		case <-parentGone:
			return exitStatus{}, false
		}
	}
}

// serveControl handles the parent's control messages until the socket closes.
func (p *initProc) serveControl(parentGone chan<- struct{}) {
	defer close(parentGone)
	for {
		msg, f, err := recvCtl(p.ctl)
		if err != nil {
			closeIfNotNil(f)

			return
		}
		switch {
		case msg.Op == opExec && f != nil:
			go p.serveExec(f)
		case msg.Op == opSignal:
			closeIfNotNil(f)
			p.signalMain(syscall.Signal(msg.Signal))
		default:
			closeIfNotNil(f)
		}
	}
}

// signalMain sends sig to the main process. Without one, the init behaves like a
// process that only sleeps: a signal whose default action terminates ends it.
func (p *initProc) signalMain(sig syscall.Signal) {
	if sig <= 0 || sig > maxSignal {
		return
	}
	if p.mainPid > 0 {
		syscall.Kill(p.mainPid, sig)

		return
	}
	switch sig {
	case syscall.SIGCHLD, syscall.SIGCONT, syscall.SIGURG, syscall.SIGWINCH,
		syscall.SIGSTOP, syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU:
		return
	}
	select {
	case p.mainExit <- exitStatus{code: exitFromSignal(int(sig)), signal: int(sig)}:
	default:
	}
}
