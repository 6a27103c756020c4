package flylocal

import (
	"cmp"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/longrun/sandstorm/flyclient/flylocal/machine"
)

// Defaults for stopping a machine whose config has no stop_config.
const (
	defaultStopSignal = syscall.SIGINT
	defaultStopGrace  = 5 * time.Second
)

// Restart policy: Fly's default is on-failure with 10 retries. Each retry
// waits a little longer, up to maxRestartDelay, so that a process exiting at
// once does not spin.
const (
	defaultMaxRetries = 10
	firstRestartDelay = 100 * time.Millisecond
	maxRestartDelay   = 5 * time.Second
)

// maxLogBytes is the size past which a machine's log file starts over at the
// machine's next launch.
const maxLogBytes = 8 << 20

// intent says why a running process is being stopped, and so what its exit
// leads to.
type intent int

const (
	intentNone     intent = iota // an exit nobody asked for: restart policy
	intentStop                   // -> stopped
	intentSuspend                // -> suspended
	intentRelaunch               // restart or update: boot again
	intentDestroy                // -> destroyed
)

// machineRuntime is what flylocal knows about a machine beyond its record:
// the process and the counters behind its metrics. It lives as long as the
// record in this server process.
type machineRuntime struct {
	proc   *machine.Machine
	exited chan struct{} // closed once the supervisor has handled proc's exit
	gen    uint64        // bumped to cancel a boot in progress
	intent intent

	cpuBase   time.Duration // CPU time of the machine's earlier processes
	recvBytes float64       // fly_instance_net_recv_bytes
	sentBytes float64       // fly_instance_net_sent_bytes
}

// runtimeLocked returns the runtime of machine id, creating it. The caller
// holds s.mu.
func (s *Server) runtimeLocked(id string) *machineRuntime {
	rt := s.runtimes[id]
	if rt == nil {
		rt = &machineRuntime{}
		s.runtimes[id] = rt
	}

	return rt
}

// runDir is the run directory of launch gen of machine id. Each launch gets
// its own, since the process of a cancelled launch may still be going away
// while the next one starts; the machine package removes it on exit.
func (s *Server) runDir(id string, gen uint64) string {
	return filepath.Join(s.opts.StateDir, "run", id+"-"+strconv.FormatUint(gen, 10))
}

// logPath is the file that receives the output of machine id's main process.
func (s *Server) logPath(id string) string {
	return filepath.Join(s.opts.StateDir, "logs", id+".log")
}

// launchLocked moves m to "starting" and boots it in the background after
// delay and BootDuration. The caller holds s.mu, has checked that machines can
// run here, and saves m.
func (s *Server) launchLocked(m *machineRecord, source string, delay time.Duration) {
	rt := s.runtimeLocked(m.ID)
	rt.gen++
	gen := rt.gen
	s.setStateLocked(m, stateStarting)
	s.addEventLocked(m, "start", stateStarting, source, nil)
	s.goLocked(func() { s.boot(m, rt, gen, delay) })
}

// stale reports whether a boot of generation gen was overtaken by a stop,
// destroy, update or Close. The caller holds s.mu.
func (s *Server) stale(m *machineRecord, rt *machineRuntime, gen uint64) bool {
	return s.closed || s.runtimes[m.ID] != rt || rt.gen != gen
}

// boot waits out delay and the boot duration, waits for the machine's volume
// to finish restoring, then starts the process and marks the machine started.
func (s *Server) boot(m *machineRecord, rt *machineRuntime, gen uint64, delay time.Duration) {
	if !s.sleep(context.Background(), delay+s.opts.BootDuration) {
		return
	}
	s.mu.Lock()
	for {
		if s.stale(m, rt, gen) {
			s.mu.Unlock()

			return
		}
		vol := s.volumes[mountedVolume(m.cfg)]
		if vol == nil || (vol.State != volumeRestoring && vol.State != volumeHydrating) {
			break
		}
		changed := s.changed
		s.mu.Unlock()
		<-changed
		s.mu.Lock()
	}
	spec := s.specLocked(m, gen)
	s.mu.Unlock()

	logFile := s.openLog(m.ID)
	if logFile != nil {
		spec.Stdout, spec.Stderr = logFile, logFile
	}
	proc, err := machine.Start(spec)

	s.mu.Lock()
	if s.stale(m, rt, gen) {
		s.mu.Unlock()
		if err == nil {
			_ = proc.Kill()
		}
		closeLog(logFile)

		return
	}
	defer s.mu.Unlock()
	if err != nil {
		closeLog(logFile)
		s.log.Warn("machine failed to start", logApp, m.AppName, logMachine, m.ID, logError, err)
		s.setStateLocked(m, stateFailed)
		s.addEventLocked(m, "launch", stateFailed, "flyd", map[string]string{"error": err.Error()})
		s.saveLocked(kindMachines, m.ID, m)
		s.notifyLocked()

		return
	}
	rt.proc, rt.exited = proc, make(chan struct{})
	exited := rt.exited
	s.setStateLocked(m, stateStarted)
	s.addEventLocked(m, "start", stateStarted, "flyd", nil)
	s.saveLocked(kindMachines, m.ID, m)
	s.notifyLocked()
	s.goLocked(func() {
		s.supervise(m, rt, proc, exited)
		closeLog(logFile)
	})
	s.log.Debug("machine started", logApp, m.AppName, logMachine, m.ID)
}

// specLocked builds the process description of m from its config and its
// app's secrets. The caller holds s.mu.
func (s *Server) specLocked(m *machineRecord, gen uint64) machine.Spec {
	spec := machine.Spec{
		ID:     m.ID,
		RunDir: s.runDir(m.ID, gen),
		Argv:   m.cfg.argv(),
		Env:    s.envLocked(m),
	}
	if id := mountedVolume(m.cfg); id != "" {
		spec.Mounts = []machine.Mount{{HostDir: s.volumeDir(id), Path: m.cfg.Mounts[0].Path}}
	}

	return spec
}

// envLocked returns a machine's environment: config.env, then the app's
// secrets over it, then the FLY_* variables Fly sets over both. The caller
// holds s.mu.
func (s *Server) envLocked(m *machineRecord) map[string]string {
	env := make(map[string]string, len(m.cfg.Env)+8)
	for k, v := range m.cfg.Env {
		env[k] = v
	}
	if set := s.secrets[m.AppName]; set != nil {
		for k, sec := range set.Secrets {
			env[k] = sec.Value
		}
	}
	env["FLY_APP_NAME"] = m.AppName
	env["FLY_MACHINE_ID"] = m.ID
	env["FLY_ALLOC_ID"] = m.ID
	env["FLY_REGION"] = m.Region
	env["FLY_PRIVATE_IP"] = m.PrivateIP
	env["FLY_IMAGE_REF"] = m.cfg.Image
	env["FLY_MACHINE_VERSION"] = m.InstanceID
	env["FLY_PROCESS_GROUP"] = m.cfg.Metadata["fly_process_group"]

	return env
}

// openLog opens the log file of machine id for appending, or returns nil.
func (s *Server) openLog(id string) *os.File {
	path := s.logPath(id)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil
	}
	flags := os.O_CREATE | os.O_WRONLY | os.O_APPEND
	if fi, err := os.Stat(path); err == nil && fi.Size() > maxLogBytes {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if err != nil {
		s.log.Warn("open machine log", logMachine, id, logError, err)

		return nil
	}

	return f
}

// closeLog closes f if it is open.
func closeLog(f *os.File) {
	if f != nil {
		_ = f.Close()
	}
}

// supervise waits for proc to exit and moves the machine on: to what the
// stop's intent asked for, or, for an exit nobody asked for, per the restart
// policy and auto_destroy.
func (s *Server) supervise(m *machineRecord, rt *machineRuntime, proc *machine.Machine,
	exited chan struct{},
) {
	defer close(exited)
	<-proc.Done()

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.runtimes[m.ID] != rt || rt.proc != proc {
		return
	}
	code, sig := proc.ExitStatus()
	rt.cpuBase += proc.CPUTime()
	rt.proc = nil
	in := rt.intent
	rt.intent = intentNone

	switch in {
	case intentStop:
		s.exitEventLocked(m, stateStopped, code, sig, true, false)
		s.setStateLocked(m, stateStopped)
	case intentSuspend:
		s.exitEventLocked(m, stateSuspended, code, sig, true, false)
		s.setStateLocked(m, stateSuspended)
	case intentRelaunch:
		s.exitEventLocked(m, stateStopped, code, sig, true, true)
		s.launchLocked(m, "flyd", 0)
	case intentDestroy:
		s.exitEventLocked(m, stateStopped, code, sig, true, false)
		s.finalizeDestroyLocked(m, "user")
	default:
		s.handleExitLocked(m, code, sig)
	}
	s.saveLocked(kindMachines, m.ID, m)
	s.notifyLocked()
}

// handleExitLocked applies the restart policy to an exit nobody asked for.
// The caller holds s.mu.
func (s *Server) handleExitLocked(m *machineRecord, code, sig int) {
	policy, retries := "on-failure", defaultMaxRetries
	if r := m.cfg.Restart; r != nil {
		policy = cmp.Or(r.Policy, policy)
		if r.MaxRetries != nil {
			retries = *r.MaxRetries
		}
	}
	failed := code != 0 || sig != 0
	restart := policy == "always" || (policy == "on-failure" && failed && m.RestartCount < retries)
	s.exitEventLocked(m, stateStopped, code, sig, false, restart)
	s.log.Info("machine exited", logApp, m.AppName, logMachine, m.ID,
		"exit_code", code, "restart", restart)

	switch {
	case restart:
		delay := min(firstRestartDelay<<min(m.RestartCount, 16), maxRestartDelay)
		m.RestartCount++
		s.launchLocked(m, "flyd", delay)
	case m.cfg.AutoDestroy:
		s.finalizeDestroyLocked(m, "flyd")
	default:
		s.setStateLocked(m, stateStopped)
	}
}

// exitEventLocked records an exit event in Fly's shape. The caller holds s.mu.
func (s *Server) exitEventLocked(m *machineRecord, status string, code, sig int,
	requested, restarting bool,
) {
	signal := sig
	if signal == 0 {
		signal = -1 // Fly's "no signal"
	}
	s.addEventLocked(m, "exit", status, "flyd", map[string]any{
		"exit_event": map[string]any{
			"exit_code":       code,
			"guest_exit_code": code,
			"guest_signal":    signal,
			"signal":          signal,
			"oom_killed":      false,
			"requested_stop":  requested,
			"restarting":      restarting,
			"exited_at":       s.now().UTC().Format(time.RFC3339Nano),
		},
		"restart_count": m.RestartCount,
	})
}

// finalizeDestroyLocked marks m destroyed, releases its lease and detaches its
// volume. The process, if any, is already gone. The caller holds s.mu.
func (s *Server) finalizeDestroyLocked(m *machineRecord, source string) {
	if rt := s.runtimes[m.ID]; rt != nil {
		rt.gen++
	}
	s.setStateLocked(m, stateDestroyed)
	s.addEventLocked(m, "destroy", stateDestroyed, source, nil)
	m.DestroyedAt = s.now().UTC()
	m.Lease = nil
	if vol := s.volumes[mountedVolume(m.cfg)]; vol != nil && vol.AttachedMachineID == m.ID {
		vol.AttachedMachineID = ""
		s.saveLocked(kindVolumes, vol.ID, vol)
	}
	s.saveLocked(kindMachines, m.ID, m)
	s.log.Info("machine destroyed", logApp, m.AppName, logMachine, m.ID)
}

// stopSettings returns the signal and grace period to stop m with: the
// request's when given, else config.stop_config's, else SIGINT and 5s.
func (s *Server) stopSettings(m *machineRecord, sig syscall.Signal, grace time.Duration) (
	syscall.Signal, time.Duration,
) {
	if sc := m.cfg.StopConfig; sc != nil {
		if sig == 0 {
			sig, _ = parseSignal(sc.Signal)
		}
		if grace == 0 {
			grace, _ = parseDuration(sc.Timeout)
		}
	}
	if sig == 0 {
		sig = defaultStopSignal
	}
	if grace == 0 {
		grace = defaultStopGrace
	}

	return sig, grace
}

// stopProcLocked stops rt's process in the background: sig, then SIGKILL
// after grace. The supervisor handles the exit per rt.intent. The caller holds
// s.mu.
func (s *Server) stopProcLocked(rt *machineRuntime, sig syscall.Signal, grace time.Duration) {
	proc := rt.proc
	s.goLocked(func() {
		if sig == syscall.SIGKILL {
			_ = proc.Kill()

			return
		}
		_ = proc.Stop(sig, grace)
	})
}
