package machine

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Environment defaults for variables a spec leaves unset.
const (
	defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	defaultHome = "/root"
)

// After an exec command exits, its output pipes may stay open in processes it left
// running. The init keeps reading for drainDelay, and longer only while data is
// waiting, up to drainMax, then returns what it has.
const (
	drainDelay = 100 * time.Millisecond
	drainMax   = 5 * time.Second
)

// outputChunk is the largest stdout or stderr frame the init sends.
const outputChunk = 32 << 10

// frameWriter serializes frames from several goroutines onto one exec socket. After
// the first write error it drops frames, so output is still drained.
type frameWriter struct {
	mu  sync.Mutex
	w   io.Writer
	err error
}

// write sends one frame unless an earlier write failed.
func (fw *frameWriter) write(kind byte, payload []byte) {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	if fw.err == nil {
		fw.err = writeFrame(fw.w, kind, payload)
	}
}

// serveExec runs the one command requested on the exec socket f.
func (p *initProc) serveExec(f *os.File) {
	conn, err := unixConn(f)
	if err != nil {
		return
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	kind, payload, err := readFrame(r)
	if err != nil || kind != frameRequest {
		return
	}

	fw := &frameWriter{w: conn}
	var out execOutcome
	var req ExecRequest
	if err := json.Unmarshal(payload, &req); err != nil {
		out = execOutcome{Error: fmt.Sprintf("decode exec request: %v", err)}
	} else {
		canceled := make(chan struct{})
		go func() {
			r.ReadByte() // the parent writes nothing more; EOF means cancel
			close(canceled)
		}()
		out = p.runExec(req, fw, canceled)
	}
	b, _ := json.Marshal(out)
	fw.write(frameResult, b)
}

// runExec runs req, streaming its output to fw, and waits for it to end, for its
// timeout or for canceled.
func (p *initProc) runExec(
	req ExecRequest, fw *frameWriter, canceled <-chan struct{},
) execOutcome {
	if len(req.Argv) == 0 {
		return execOutcome{Error: "argv is empty"}
	}
	dir := req.Dir
	if dir == "" {
		dir = "/"
	}
	if fi, err := os.Stat(dir); err != nil {
		return execOutcome{Error: fmt.Sprintf("working directory: %v", err)}
	} else if !fi.IsDir() {
		return execOutcome{Error: fmt.Sprintf("working directory %s is not a directory", dir)}
	}
	env := buildEnv(p.env, req.Env)
	path, err := lookPath(req.Argv[0], envPath(env), dir)
	if err != nil {
		return commandFailed(req.Argv[0], err, fw)
	}

	return p.runCommand(path, req, env, dir, fw, canceled)
}

// runCommand starts the resolved command in its own process group and supervises it.
func (p *initProc) runCommand(
	path string, req ExecRequest, env []string, dir string,
	fw *frameWriter, canceled <-chan struct{},
) execOutcome {
	pipes, err := openPipes(p.devNull, len(req.Stdin) > 0)
	if err != nil {
		return execOutcome{Error: err.Error()}
	}
	pid, wait, err := p.start(path, req.Argv, env, dir, pipes.child[:], true)
	pipes.closeChildEnds()
	if err != nil {
		pipes.closeOwnEnds()

		return commandFailed(req.Argv[0], err, fw)
	}

	if pipes.stdin != nil {
		go func() {
			pipes.stdin.Write(req.Stdin)
			pipes.stdin.Close()
		}()
	}
	var pumps sync.WaitGroup
	pumps.Go(func() { pump(pipes.stdout, frameStdout, fw) })
	pumps.Go(func() { pump(pipes.stderr, frameStderr, fw) })
	out := supervise(pid, wait, req.Timeout, canceled)
	pipes.stdout.SetReadDeadline(time.Now().Add(drainDelay))
	pipes.stderr.SetReadDeadline(time.Now().Add(drainDelay))
	pumps.Wait()
	pipes.stdout.Close()
	pipes.stderr.Close()

	return out
}

// stdioPipes connects an exec command's stdin, stdout and stderr to the init.
type stdioPipes struct {
	child   [3]*os.File // the command's ends
	stdin   *os.File    // write end of stdin, nil when stdin is /dev/null
	stdout  *os.File    // read ends
	stderr  *os.File
	devNull *os.File
}

// openPipes creates the pipes for a command, with stdin a pipe only when there is
// input to feed and /dev/null otherwise.
func openPipes(devNull *os.File, input bool) (*stdioPipes, error) {
	s := &stdioPipes{devNull: devNull}
	s.child[0] = devNull
	if input {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, fmt.Errorf("create stdin pipe: %w", err)
		}
		s.child[0], s.stdin = r, w
	}
	var err error
	if s.stdout, s.child[1], err = os.Pipe(); err == nil {
		s.stderr, s.child[2], err = os.Pipe()
	}
	if err != nil {
		s.closeChildEnds()
		s.closeOwnEnds()

		return nil, fmt.Errorf("create output pipe: %w", err)
	}

	return s, nil
}

// closeChildEnds closes the command's ends once it has them, or on failure.
func (s *stdioPipes) closeChildEnds() {
	for _, f := range s.child {
		if f != nil && f != s.devNull {
			f.Close()
		}
	}
}

// closeOwnEnds closes the init's ends after a failed start.
func (s *stdioPipes) closeOwnEnds() {
	for _, f := range []*os.File{s.stdin, s.stdout, s.stderr} {
		closeIfNotNil(f)
	}
}

// supervise waits for the command pid to exit. When the timeout expires or the parent
// cancels, it kills the command's whole process group first.
func supervise(
	pid int, wait <-chan syscall.WaitStatus, timeout time.Duration, canceled <-chan struct{},
) execOutcome {
	var expired <-chan time.Time
	if timeout > 0 {
		timer := time.NewTimer(timeout)
		defer timer.Stop()
		expired = timer.C
	}

	var out execOutcome
	var ws syscall.WaitStatus
	select {
	case ws = <-wait:
	case <-expired:
		syscall.Kill(-pid, syscall.SIGKILL)
		ws = <-wait
		out.TimedOut = true
	case <-canceled:
		syscall.Kill(-pid, syscall.SIGKILL)
		ws = <-wait
		out.Canceled = true
	}
	st := statusOf(ws)
	out.ExitCode, out.Signal = st.code, st.signal

	return out
}

// pump copies r to fw as frames of kind until EOF, or until a read deadline set after
// the command exited passes with nothing left waiting in the pipe.
func pump(r *os.File, kind byte, fw *frameWriter) {
	buf := make([]byte, outputChunk)
	var extended time.Duration
	for {
		n, err := r.Read(buf)
		if n > 0 {
			fw.write(kind, buf[:n])
		}
		if err == nil {
			continue
		}
		if errors.Is(err, os.ErrDeadlineExceeded) && extended < drainMax && pipeHasData(r) {
			extended += drainDelay
			r.SetReadDeadline(time.Now().Add(drainDelay))

			continue
		}

		return
	}
}

// pipeHasData reports whether bytes are waiting to be read from the pipe r.
func pipeHasData(r *os.File) bool {
	rc, err := r.SyscallConn()
	if err != nil {
		return false
	}
	n := 0
	rc.Control(func(fd uintptr) {
		n, err = unix.IoctlGetInt(int(fd), unix.TIOCINQ) // FIONREAD
	})

	return err == nil && n > 0
}

// commandFailed reports a command that could not be executed the way a shell does:
// a message on stderr, 127 when it was not found and 126 otherwise.
func commandFailed(name string, err error, fw *frameWriter) execOutcome {
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		err = pathErr.Err
	}
	code := 126
	msg := fmt.Sprintf("%s: %v\n", name, err)
	switch {
	case errors.Is(err, errCommandNotFound):
		code = 127
		msg = fmt.Sprintf("%s: command not found\n", name)
	case errors.Is(err, fs.ErrNotExist):
		code = 127
	}
	fw.write(frameStderr, []byte(msg))

	return execOutcome{ExitCode: code}
}

var errCommandNotFound = errors.New("command not found")

// lookPath finds name as a shell would: a name with a slash is a path, relative to
// dir; any other is searched for in pathList.
func lookPath(name, pathList, dir string) (string, error) {
	if strings.Contains(name, "/") {
		path := name
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}

		return path, checkExecutable(path)
	}
	for _, d := range filepath.SplitList(pathList) {
		if d == "" {
			d = "."
		}
		if !filepath.IsAbs(d) {
			d = filepath.Join(dir, d)
		}
		path := filepath.Join(d, name)
		if checkExecutable(path) == nil {
			return path, nil
		}
	}

	return "", fmt.Errorf("%s: %w", name, errCommandNotFound)
}

// checkExecutable reports why path cannot be executed, or nil.
func checkExecutable(path string) error {
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return err
	case fi.IsDir():
		return syscall.EISDIR
	case fi.Mode()&0o111 == 0:
		return syscall.EACCES
	}

	return nil
}

// buildEnv merges extra over base, fills in PATH and HOME when unset and returns the
// result as sorted KEY=value strings.
func buildEnv(base, extra map[string]string) []string {
	merged := maps.Clone(base)
	if merged == nil {
		merged = make(map[string]string)
	}
	maps.Copy(merged, extra)
	if _, ok := merged["PATH"]; !ok {
		merged["PATH"] = defaultPath
	}
	if _, ok := merged["HOME"]; !ok {
		merged["HOME"] = defaultHome
	}
	env := make([]string, 0, len(merged))
	for _, k := range slices.Sorted(maps.Keys(merged)) {
		env = append(env, k+"="+merged[k])
	}

	return env
}

// envPath returns the PATH value in env.
func envPath(env []string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			return v
		}
	}

	return ""
}
