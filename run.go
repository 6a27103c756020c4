package sandstorm

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/longrun/sandstorm/flyclient"
)

// MaxOutputBytes is how much of each output stream a command returns: the
// last bytes it wrote, with a flag when earlier output was dropped.
const MaxOutputBytes = 256 << 10

// jobsDir holds detached commands' output on the volume.
const jobsDir = MountPath + "/.sandstorm/jobs"

// directWrapper runs a program in a workdir under a timeout. Arguments: the
// workdir, "1" when the first stdin line is a secret, the timeout in seconds,
// the program, then the program's own arguments. Nothing a caller passes is
// interpreted by this wrapper; only the program itself is shell code.
const directWrapper = `cd -- "$1" 2>/dev/null || { echo "sandstorm: workdir $1 does not exist" >&2; exit 126; }
if [ "$2" = 1 ]; then IFS= read -r SANDSTORM_SECRET; export SANDSTORM_SECRET; fi
t=$3; s=$4; shift 4
exec timeout -k 5 "$t" /bin/sh -c "$s" sh "$@"`

// detachedLauncher starts a program in its own session with its output and
// exit code in a job directory, and returns at once. Arguments: the job
// directory, then the same as directWrapper.
const detachedLauncher = `d=$1; mkdir -p -- "$d" || exit 1
cd -- "$2" 2>/dev/null || { echo "sandstorm: workdir $2 does not exist" >&2; exit 126; }
if [ "$3" = 1 ]; then IFS= read -r SANDSTORM_SECRET; export SANDSTORM_SECRET; fi
t=$4; s=$5; shift 5
setsid /bin/sh -c 'd=$1; t=$2; s=$3; shift 3
timeout -k 5 "$t" /bin/sh -c "$s" sh "$@" >"$d/stdout" 2>"$d/stderr" </dev/null
echo $? >"$d/exit.tmp"; mv -f -- "$d/exit.tmp" "$d/exit"' sh "$d" "$t" "$s" "$@" </dev/null >/dev/null 2>&1 &
echo $! >"$d/pid"`

// jobStatus prints "done <code>" once a detached job has finished, else "running".
const jobStatus = `if [ -f "$1/exit" ]; then echo "done $(cat "$1/exit")"; else echo running; fi`

// jobCollect prints the sizes and the base64 tails of a finished job's output
// streams, one per line, and removes the job directory.
const jobCollect = `d=$1; n=$2
wc -c <"$d/stdout"; wc -c <"$d/stderr"
tail -c "$n" "$d/stdout" | base64 | tr -d '\n'; echo
tail -c "$n" "$d/stderr" | base64 | tr -d '\n'; echo
rm -rf -- "$d"`

// jobKill ends a detached job's whole process group. (dash's kill takes a
// negative pid as a group only without "--".)
const jobKill = `[ -f "$1/pid" ] && kill -KILL "-$(cat "$1/pid")" 2>/dev/null; rm -rf -- "$1"`

// script is a shell program to run in a sandbox's machine.
type script struct {
	code    string
	args    []string
	env     map[string]string
	dir     string
	stdin   string
	secret  string
	timeout time.Duration
	// progress, when set, receives elapsed seconds of a detached run.
	progress ProgressFunc
}

// ExecResult is the outcome of a command. Stdout and Stderr hold at most
// MaxOutputBytes each: the end of the output, with the flags set when the
// beginning was dropped.
type ExecResult struct {
	Stdout          string `json:"stdout"`
	Stderr          string `json:"stderr"`
	ExitCode        int    `json:"exit_code"`
	StdoutTruncated bool   `json:"stdout_truncated"`
	StderrTruncated bool   `json:"stderr_truncated"`
	TimedOut        bool   `json:"timed_out"`
	Detached        bool   `json:"detached"`
	DurationMS      int64  `json:"duration_ms"`
}

// target is the Fly machine a script runs on.
// target is the machine a command runs on, with the nonce of the lease the
// Manager holds on it, if any.
type target struct{ app, machineID, nonce string }

// opts passes the lease nonce, when there is one, to Fly.
func (t target) opts() []flyclient.CallOption {
	if t.nonce == "" {
		return nil
	}

	return []flyclient.CallOption{flyclient.LeaseNonce(t.nonce)}
}

// run runs s on t, directly when it fits Fly's exec window and detached otherwise.
func (m *Manager) run(ctx context.Context, t target, s script) (*ExecResult, error) {
	if s.timeout <= 0 {
		s.timeout = 30 * time.Second
	}
	if s.dir == "" {
		s.dir = "/"
	}
	start := m.now()
	var res *ExecResult
	var err error
	if s.timeout <= m.cfg.ExecWindow {
		res, err = m.runDirect(ctx, t, s)
	} else {
		res, err = m.runDetached(ctx, t, s)
	}
	if err != nil {
		return nil, err
	}
	res.DurationMS = m.now().Sub(start).Milliseconds()
	// timeout exits 124 on expiry, or 137 when the command ignored SIGTERM.
	elapsed := time.Duration(res.DurationMS) * time.Millisecond
	res.TimedOut = res.ExitCode == 124 || (res.ExitCode == 137 && elapsed >= s.timeout)

	return res, nil
}

func (s script) argv(launcher string, lead ...string) []string {
	argv := []string{}
	if len(s.env) > 0 {
		argv = append(argv, "env")
		for _, k := range slices.Sorted(maps.Keys(s.env)) {
			argv = append(argv, k+"="+s.env[k])
		}
	}
	secretFlag := "0"
	if s.secret != "" {
		secretFlag = "1"
	}
	secs := strconv.Itoa(int(s.timeout.Round(time.Second) / time.Second))
	argv = append(argv, "/bin/sh", "-c", launcher, "sh")
	argv = append(argv, lead...)
	argv = append(argv, s.dir, secretFlag, secs, s.code)

	return append(argv, s.args...)
}

func (s script) input() string {
	if s.secret == "" {
		return s.stdin
	}

	return s.secret + "\n" + s.stdin
}

func (m *Manager) runDirect(ctx context.Context, t target, s script) (*ExecResult, error) {
	// Fly's own timeout sits past the command's, so the wrapper's timeout
	// fires first and the output so far comes back.
	flyTimeout := min(int(s.timeout/time.Second)+10, 60)
	resp, err := m.fly.Exec(ctx, t.app, t.machineID, flyclient.ExecRequest{
		Command: s.argv(directWrapper),
		Timeout: flyTimeout,
		Stdin:   s.input(),
	}, t.opts()...)
	if err != nil {
		return nil, fmt.Errorf("exec in machine %s: %w", t.machineID, err)
	}

	return &ExecResult{ExitCode: resp.ExitCode, Stdout: resp.Stdout, Stderr: resp.Stderr}, nil
}

// capOutput keeps the last MaxOutputBytes of each stream of a command's output.
// Detached runs are already capped inside the machine.
func capOutput(res *ExecResult) {
	tail := func(s string) (string, bool) {
		if len(s) <= MaxOutputBytes {
			return s, false
		}

		return s[len(s)-MaxOutputBytes:], true
	}
	if !res.Detached {
		res.Stdout, res.StdoutTruncated = tail(res.Stdout)
		res.Stderr, res.StderrTruncated = tail(res.Stderr)
	}
}

func (m *Manager) runDetached(ctx context.Context, t target, s script) (*ExecResult, error) {
	if s.stdin != "" {
		return nil, errors.New("run detached: stdin is not supported for long commands")
	}
	dir := jobsDir + "/" + randomID(12)
	resp, err := m.fly.Exec(ctx, t.app, t.machineID, flyclient.ExecRequest{
		Command: s.argv(detachedLauncher, dir),
		Timeout: 30,
		Stdin:   s.input(),
	}, t.opts()...)
	if err != nil {
		return nil, fmt.Errorf("start detached command in machine %s: %w", t.machineID, err)
	}
	if resp.ExitCode != 0 {
		return &ExecResult{ExitCode: resp.ExitCode, Stderr: resp.Stderr, Detached: true}, nil
	}

	code, err := m.waitJob(ctx, t, dir, s)
	if err != nil {
		kctx, cancel := cleanupContext()
		defer cancel()
		m.plain(kctx, t, jobKill, dir)

		return nil, err
	}
	res, err := m.collectJob(ctx, t, dir)
	if err != nil {
		return nil, err
	}
	res.ExitCode = code

	return res, nil
}

// waitJob polls a detached job until it has an exit code. Polls start fast and
// settle at one every two seconds, inside Fly's exec rate limit.
func (m *Manager) waitJob(ctx context.Context, t target, dir string, s script) (int, error) {
	start := m.now()
	total := int(s.timeout / time.Second)
	code := 0
	err := m.poll(ctx, m.cfg.PollInterval, 2*time.Second, func() (bool, error) {
		out, err := m.plain(ctx, t, jobStatus, dir)
		if err != nil {
			return false, err
		}
		status, rest, _ := strings.Cut(strings.TrimSpace(out), " ")
		if status != "done" {
			s.progress.report(int(m.now().Sub(start)/time.Second), total, "command running")
			return false, nil
		}
		code, err = strconv.Atoi(rest)
		if err != nil {
			return false, fmt.Errorf("read exit code of detached command: %q", rest)
		}

		return true, nil
	})

	return code, err
}

func (m *Manager) collectJob(ctx context.Context, t target, dir string) (*ExecResult, error) {
	out, err := m.plain(ctx, t, jobCollect, dir, strconv.Itoa(MaxOutputBytes))
	if err != nil {
		return nil, err
	}
	lines := strings.Split(out, "\n")
	if len(lines) < 4 {
		return nil, fmt.Errorf("collect detached command output: unexpected answer %q", out)
	}
	res := &ExecResult{Detached: true}
	for i, dst := range []*string{&res.Stdout, &res.Stderr} {
		size, _ := strconv.ParseInt(strings.TrimSpace(lines[i]), 10, 64)
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(lines[i+2]))
		if err != nil {
			return nil, fmt.Errorf("decode detached command output: %w", err)
		}
		*dst = string(b)
		if size > int64(len(b)) {
			if i == 0 {
				res.StdoutTruncated = true
			} else {
				res.StderrTruncated = true
			}
		}
	}

	return res, nil
}

// plain runs one of the Manager's own short programs and returns its stdout;
// a non-zero exit is an error carrying stderr.
func (m *Manager) plain(ctx context.Context, t target, code string, args ...string) (string, error) {
	return m.plainTimeout(ctx, t, 30, code, args...)
}

// plainTimeout is plain with Fly's exec timeout in seconds.
func (m *Manager) plainTimeout(ctx context.Context, t target, secs int, code string,
	args ...string,
) (string, error) {
	resp, err := m.fly.Exec(ctx, t.app, t.machineID, flyclient.ExecRequest{
		Command: append([]string{"/bin/sh", "-c", code, "sh"}, args...),
		Timeout: secs,
	}, t.opts()...)
	if err != nil {
		return "", fmt.Errorf("exec in machine %s: %w", t.machineID, err)
	}
	if resp.ExitCode != 0 {
		return "", fmt.Errorf("exec in machine %s: exit %d: %s",
			t.machineID, resp.ExitCode, strings.TrimSpace(resp.Stderr))
	}

	return resp.Stdout, nil
}

// randomID returns n lowercase letters and digits.
func randomID(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}

	return string(b)
}
