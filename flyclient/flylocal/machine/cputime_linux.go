package machine

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// userHZ is the unit of the times in /proc/<pid>/stat, fixed at 100 per second in
// Linux's user ABI whatever the kernel's own tick rate.
const userHZ = 100

// CPUTime returns the user plus system CPU time used by all of the machine's
// processes so far, live and exited, the init included. For a running machine it is
// the sum, over the processes now in its PID namespace, of their own times and those
// of the children they have reaped; once the machine is done it is the init's final
// usage. It never decreases and has a resolution of 10 ms.
func (m *Machine) CPUTime() time.Duration {
	var live time.Duration
	if !m.exited() {
		live = m.liveCPUTime()
	}

	m.cpuMu.Lock()
	defer m.cpuMu.Unlock()
	m.cpuMax = max(m.cpuMax, live)

	return m.cpuMax
}

// liveCPUTime sums the CPU times of the processes in the machine's PID namespace.
func (m *Machine) liveCPUTime() time.Duration {
	var ticks uint64
	for _, pid := range namespacePids(m.pidNS, m.Pid()) {
		ticks += statTicks(pid)
	}

	return time.Duration(ticks) * time.Second / userHZ
}

// namespacePids lists the host pids of the processes whose PID namespace is ns, as
// /proc/<pid>/ns/pid names it. With ns unknown it returns just fallback.
func namespacePids(ns string, fallback int) []int {
	if ns == "" {
		return []int{fallback}
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return []int{fallback}
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if link, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid)); link == ns {
			pids = append(pids, pid)
		}
	}

	return pids
}

// statTicks returns utime+stime+cutime+cstime of pid, or 0 when it is gone.
func statTicks(pid int) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}

	return parseStatTicks(b)
}

// parseStatTicks sums utime, stime, cutime and cstime, fields 14 to 17 of a
// /proc/<pid>/stat line, or returns 0 when the line is malformed.
func parseStatTicks(stat []byte) uint64 {
	// The command name may hold spaces and parentheses; the fields after the last
	// ")" start with the state, field 3, so utime is at index 11.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0
	}
	fields := bytes.Fields(stat[i+1:])
	if len(fields) < 15 {
		return 0
	}
	var ticks uint64
	for _, f := range fields[11:15] {
		n, err := strconv.ParseUint(string(f), 10, 64)
		if err != nil {
			return 0
		}
		ticks += n
	}

	return ticks
}
