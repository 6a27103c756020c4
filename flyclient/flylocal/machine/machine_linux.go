package machine

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// setupTimeout bounds how long Start waits for the init to report its mounts ready.
const setupTimeout = 30 * time.Second

// Machine is a started machine. Its methods are safe for concurrent use.
type Machine struct {
	id     string
	runDir string
	cmd    *exec.Cmd
	pidNS  string // target of /proc/<init>/ns/pid, to find the machine's processes

	ctl   *net.UnixConn // parent end of the control socket
	ctlMu sync.Mutex    // serializes control writes

	done       chan struct{}
	exitCode   int // the main process's, set before done closes
	exitSignal int

	cpuMu  sync.Mutex
	cpuMax time.Duration // largest CPU time reported, so reports never go backwards
}

// Start starts a machine and returns once its mounts are ready and its main process
// has started. A main process that cannot be started, such as a command not found,
// fails Start. With an empty Spec.Argv the machine's init itself waits for a stop
// signal in place of a main process.
func Start(spec Spec) (*Machine, error) {
	spec, err := checkSpec(spec)
	if err != nil {
		return nil, fmt.Errorf("start machine %s: %w", spec.ID, err)
	}
	if err := makeRunDir(spec.RunDir); err != nil {
		return nil, fmt.Errorf("start machine %s: %w", spec.ID, err)
	}

	m, err := launch(spec)
	if err != nil {
		os.RemoveAll(spec.RunDir)

		return nil, fmt.Errorf("start machine %s: %w", spec.ID, err)
	}

	return m, nil
}

// makeRunDir creates dir and the empty directory the init builds the root on. The
// machine removes dir with everything in it on exit, so dir must not exist yet, be
// empty, or hold only an empty root left by a flylocal process that was killed.
func makeRunDir(dir string) error {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != "root" || !e.IsDir() || os.Remove(filepath.Join(dir, "root")) != nil {
			return fmt.Errorf("run dir %s is in use: it holds %s", dir, e.Name())
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "root"), 0o700); err != nil {
		return fmt.Errorf("create run dir: %w", err)
	}

	return nil
}

// launch re-executes this binary as the machine's init in new namespaces and waits
// for it to report that setup finished.
func launch(spec Spec) (*Machine, error) {
	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("create config pipe: %w", err)
	}
	defer cfgR.Close()
	defer cfgW.Close()
	ctlParent, ctlChild, err := socketPair(syscall.SOCK_SEQPACKET)
	if err != nil {
		return nil, err
	}
	defer ctlChild.Close()
	ctl, err := unixConn(ctlParent)
	if err != nil {
		return nil, err
	}

	cmd := initCommand(spec, cfgR, ctlChild)
	if err := startFromForkThread(cmd); err != nil {
		ctl.Close()

		return nil, fmt.Errorf("start init in new namespaces: %w", err)
	}
	cfgR.Close()
	ctlChild.Close()
	m := &Machine{
		id:     spec.ID,
		runDir: spec.RunDir,
		cmd:    cmd,
		ctl:    ctl,
		done:   make(chan struct{}),
	}
	m.pidNS, _ = os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", cmd.Process.Pid))

	if err := m.handshake(spec, cfgW); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		ctl.Close()

		return nil, err
	}
	go m.watch()

	return m, nil
}

// initCommand builds the command that runs the init: this binary under the init's
// argv[0], with an empty environment, the config pipe as fd 3 and the control socket
// as fd 4.
func initCommand(spec Spec, cfg, ctl *os.File) *exec.Cmd {
	cmd := &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       []string{initArg0},
		Env:        []string{},
		Stdout:     spec.Stdout,
		Stderr:     spec.Stderr,
		ExtraFiles: []*os.File{cfg, ctl},
		WaitDelay:  time.Second,
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS | syscall.CLONE_NEWPID |
				syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC,
			UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
			Pdeathsig:   syscall.SIGKILL,
		},
	}

	return cmd
}

// handshake sends the init its config and waits for its first control message.
func (m *Machine) handshake(spec Spec, cfgW *os.File) error {
	cfg := initConfig{
		ID:     spec.ID,
		Root:   filepath.Join(spec.RunDir, "root"),
		Argv:   spec.Argv,
		Env:    spec.Env,
		Mounts: spec.Mounts,
	}
	if err := json.NewEncoder(cfgW).Encode(cfg); err != nil {
		return fmt.Errorf("send config to init: %w", err)
	}
	cfgW.Close()

	m.ctl.SetReadDeadline(time.Now().Add(setupTimeout))
	msg, f, err := recvCtl(m.ctl)
	closeIfNotNil(f)
	m.ctl.SetReadDeadline(time.Time{})
	switch {
	case errors.Is(err, io.EOF):
		return errors.New("init exited before reporting setup")
	case err != nil:
		return fmt.Errorf("wait for init setup: %w", err)
	case msg.Op == opFailed:
		return errors.New(msg.Error)
	case msg.Op != opReady:
		return fmt.Errorf("wait for init setup: unexpected %q message", msg.Op)
	}

	return nil
}

// watch follows the control socket until the init closes it, reaps the init, removes
// the run dir and then marks the machine done.
func (m *Machine) watch() {
	code, sig := exitFromSignal(int(syscall.SIGKILL)), int(syscall.SIGKILL)
	for {
		msg, f, err := recvCtl(m.ctl)
		if err != nil {
			break
		}
		closeIfNotNil(f)
		if msg.Op == opExit {
			code, sig = msg.Code, msg.Signal
		}
	}
	m.cmd.Wait()
	m.ctl.Close()
	os.RemoveAll(m.runDir)

	m.cpuMu.Lock()
	if st := m.cmd.ProcessState; st != nil {
		m.cpuMax = max(m.cpuMax, st.UserTime()+st.SystemTime())
	}
	m.cpuMu.Unlock()
	m.exitCode, m.exitSignal = code, sig
	close(m.done)
}

// sendCtl writes one control message to the init.
func (m *Machine) sendCtl(msg ctlMsg, f *os.File) error {
	m.ctlMu.Lock()
	defer m.ctlMu.Unlock()

	return sendCtl(m.ctl, msg, f)
}

// Stop sends sig (SIGTERM when 0) to the main process, waits up to grace for the
// machine to exit and then kills every process in it. It returns once all of the
// machine's processes are gone; stopping a machine that has exited returns nil.
func (m *Machine) Stop(sig syscall.Signal, grace time.Duration) error {
	if sig == 0 {
		sig = syscall.SIGTERM
	}
	if m.exited() {
		return nil
	}
	if err := m.sendCtl(ctlMsg{Op: opSignal, Signal: int(sig)}, nil); err != nil {
		return m.Kill()
	}

	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-m.done:
		return nil
	case <-timer.C:
		return m.Kill()
	}
}

// Kill kills every process in the machine and returns once they are all gone.
// Killing the init, PID 1 of the machine's PID namespace, makes the kernel kill the
// rest; the init is reaped only after they have exited.
func (m *Machine) Kill() error {
	if m.exited() {
		return nil
	}
	err := m.cmd.Process.Signal(syscall.SIGKILL)
	if err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill machine %s: %w", m.id, err)
	}
	<-m.done

	return nil
}

// Done returns a channel closed once the machine has fully exited: every process is
// gone and the run dir removed.
func (m *Machine) Done() <-chan struct{} { return m.done }

// ExitStatus returns how the main process ended; it is valid once Done is closed and
// zero before. A main process killed by a signal, including by Kill, reports that
// signal and 128+signal as its code.
func (m *Machine) ExitStatus() (code, signal int) {
	if !m.exited() {
		return 0, 0
	}

	return m.exitCode, m.exitSignal
}

// Pid returns the host pid of the machine's init.
func (m *Machine) Pid() int { return m.cmd.Process.Pid }

func (m *Machine) exited() bool {
	select {
	case <-m.done:
		return true
	default:
		return false
	}
}

// exitFromSignal is the exit code a shell reports for a command killed by sig.
func exitFromSignal(sig int) int { return 128 + sig }
