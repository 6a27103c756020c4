package sandstorm

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/longrun/sandstorm/agents"
	"github.com/longrun/sandstorm/store"
)

// Agent sessions run detached inside the machine. Their files live on the
// volume, one directory per identifier:
//
//	/data/.sandstorm/sessions/<identifier>/<session id>.log   the agent's stdout
//	/data/.sandstorm/sessions/<identifier>/<session id>.err   its stderr
//	/data/.sandstorm/sessions/<identifier>/<session id>.exit  its exit code, once it ended
//	/data/.sandstorm/sessions/<identifier>/latest.log         link to the newest log
const sessionsDir = MountPath + "/.sandstorm/sessions"

// sessionHome is HOME for agent sessions: on the volume, so what an agent
// keeps there survives pause and resume.
const sessionHome = MountPath + "/.sandstorm/home"

// Session limits.
const (
	MaxPromptBytes     = 128 << 10
	MaxLogChunk        = 1 << 20
	DefaultLogChunk    = 64 << 10
	MaxLogWait         = 60 * time.Second
	maxIdentifierBytes = 256
)

// Session is an agent session as reported to callers.
type Session struct {
	ID             string    `json:"session_id"`
	Sandbox        string    `json:"sandbox"`
	Identifier     string    `json:"identifier"`
	Agent          string    `json:"agent"`
	Status         string    `json:"status"`
	Running        bool      `json:"running"`
	ExitCode       *int      `json:"exit_code,omitempty"`
	LogPath        string    `json:"log_path"`
	LatestLogPath  string    `json:"latest_log_path"`
	Result         string    `json:"result,omitempty"`
	Error          string    `json:"error,omitempty"`
	AgentSessionID string    `json:"agent_session_id,omitempty"`
	CostUSD        float64   `json:"cost_usd,omitempty"`
	InputTokens    int64     `json:"input_tokens,omitempty"`
	OutputTokens   int64     `json:"output_tokens,omitempty"`
	StartedAt      time.Time `json:"started_at"`
	FinishedAt     time.Time `json:"finished_at,omitzero"`
}

// sessionLauncher starts a program in its own session with stdin from a file
// and its output in the session's files, then returns. Arguments: the
// session directory, the session id, the working directory (created when
// missing), then the program and its own arguments. Its stdin becomes the
// program's.
const sessionLauncher = `d=$1; id=$2; wd=$3; shift 3
mkdir -p -- "$d" "$HOME" "$wd" || exit 1
cd -- "$wd" || exit 126
cat >"$d/$id.in"
: >"$d/$id.log"
ln -sfn -- "$id.log" "$d/latest.log"
setsid /bin/sh -c 'd=$1; id=$2; p=$3; shift 3
/bin/sh -c "$p" sh "$@" <"$d/$id.in" >>"$d/$id.log" 2>"$d/$id.err"
echo $? >"$d/$id.exit.tmp"; mv -f -- "$d/$id.exit.tmp" "$d/$id.exit"' \
  sh "$d" "$id" "$@" </dev/null >/dev/null 2>&1 &
echo $! >"$d/$id.pid"`

// sessionState prints "<state> <code> <size>" for session file prefix $1:
// state is exit (with the code), running, or lost when the process is gone
// without an exit code. A session being stopped reads as exit 143 once its
// processes are gone, even before the stop has written that code.
const sessionState = `st() {
  s=$(stat -c %s "$1.log" 2>/dev/null || echo 0)
  if [ -f "$1.exit" ]; then echo "exit $(cat "$1.exit") $s"
  elif [ -f "$1.pid" ] && kill -0 "-$(cat "$1.pid")" 2>/dev/null; then echo "running 0 $s"
  elif [ -f "$1.stopping" ]; then echo "exit 143 $s"
  else echo "lost 0 $s"; fi
}`

// probeSessions prints one state line per session file prefix argument.
const probeSessions = sessionState + `
for p in "$@"; do st "$p"; done`

// readLog waits up to $4 tenths of a second, polling every 0.2 s, for session
// log $1.log to grow past byte $2 while the session runs, then prints the
// offset read from, the session's state line, and up to $3 bytes from there in
// base64. With $2 = -1 it starts $5 lines before the end.
const readLog = sessionState + `
p=$1; f=$1.log; off=$2; w=$4
[ -f "$f" ] || { echo "no such session log" >&2; exit 2; }
if [ "$off" -lt 0 ]; then off=$(( $(stat -c %s "$f") - $(tail -n "$5" "$f" | wc -c) )); fi
while [ "$w" -gt 0 ] && [ "$(stat -c %s "$f")" -le "$off" ] &&
  st "$p" | grep -q '^running'; do
  if [ "$w" -ge 2 ]; then sleep 0.2; else sleep 0.1; fi
  w=$((w - 2))
done
echo "$off"; st "$p"
tail -c +$((off + 1)) "$f" | head -c "$3" | base64 | tr -d '\n'`

// stopSession ends a session's process group: TERM, then KILL after $2
// seconds, and records exit code 143 when it left none.
const stopSession = `p=$1
[ -f "$p.pid" ] || exit 0
: >"$p.stopping"
g=$(cat "$p.pid")
kill -TERM "-$g" 2>/dev/null || exit 0
n=0
while kill -0 "-$g" 2>/dev/null && [ $n -lt $(($2 * 5)) ]; do sleep 0.2; n=$((n + 1)); done
kill -KILL "-$g" 2>/dev/null
sleep 0.2
[ -f "$p.exit" ] || echo 143 >"$p.exit"`

var safeDirRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// identifierDir maps an identifier of any content to a directory name. Plain
// identifiers are used as they are; others by a digest, so that no caller
// text ever becomes a path element it could escape from.
func identifierDir(identifier string) string {
	if safeDirRE.MatchString(identifier) {
		return identifier
	}
	sum := sha256.Sum256([]byte(identifier))

	return "id-" + hex.EncodeToString(sum[:8])
}

func checkIdentifier(identifier string) error {
	switch {
	case identifier == "":
		return invalidf("Give an identifier that names the line of work, like \"fix-login\".",
			"identifier is empty")
	case len(identifier) > maxIdentifierBytes:
		return invalidf(fmt.Sprintf("Use at most %d bytes.", maxIdentifierBytes),
			"identifier is too long")
	case strings.ContainsRune(identifier, 0):
		return invalidf("Remove the NUL byte.", "identifier contains a NUL byte")
	}

	return nil
}

// sessionPrefix is the path of a session's files without their extension.
func sessionPrefix(identifier, id string) string {
	return sessionsDir + "/" + identifierDir(identifier) + "/" + id
}

// newSessionID returns a session id that sorts by start time.
func newSessionID(now time.Time) string {
	return now.UTC().Format("20060102T150405Z") + "-" + randomID(6)
}

// StartSessionRequest starts a headless agent run. Agent defaults to the
// sandbox's agent, then to the default agent; Workdir to the project directory.
type StartSessionRequest struct {
	Sandbox    string
	Identifier string
	Prompt     string
	Agent      string
	Env        map[string]string
	Workdir    string
	Options    agents.HeadlessOptions
}

// StartAgentSession starts an agent on a prompt, detached inside the machine,
// so it outlives the call, the client and the server.
func (m *Manager) StartAgentSession(ctx context.Context, r StartSessionRequest,
) (sess *Session, err error) {
	start := m.now()
	args := map[string]any{"identifier": r.Identifier, "agent": r.Agent,
		"prompt_bytes": len(r.Prompt), "env_names": mergeEnvNames(nil, r.Env, nil)}
	defer func() { m.audit("session_start", r.Sandbox, args, start, err) }()
	if err := checkIdentifier(r.Identifier); err != nil {
		return nil, err
	}
	if len(r.Prompt) > MaxPromptBytes {
		return nil, invalidf("Put long context in a file with sandbox_write_file and refer "+
			"to it in the prompt.", "prompt is %d bytes; the limit is %d", len(r.Prompt),
			MaxPromptBytes)
	}
	if err := validateEnv(r.Env); err != nil {
		return nil, err
	}
	t, spec, err := m.runningSpec(ctx, r.Sandbox)
	if err != nil {
		return nil, err
	}
	agent, err := m.agentFor(r.Agent, spec)
	if err != nil {
		return nil, err
	}
	cmd, err := agent.HeadlessCommand(r.Prompt, r.Options)
	if err != nil {
		return nil, invalidf("Check the prompt and options.", "%v", err)
	}
	if r.Workdir == "" {
		r.Workdir = spec.projectDir()
	}
	if err := checkPath(r.Workdir); err != nil {
		return nil, err
	}

	id := newSessionID(m.now())
	prefix := sessionPrefix(r.Identifier, id)
	dir, _ := strings.CutSuffix(prefix, "/"+id)
	env := map[string]string{"HOME": sessionHome}
	for k, v := range cmd.Env {
		env[k] = v
	}
	for k, v := range r.Env {
		env[k] = v
	}
	sc := cmd.Script()
	res, err := m.run(ctx, t, script{
		code:    sessionLauncher,
		args:    append([]string{dir, id, r.Workdir, sc.Program}, sc.Args...),
		env:     env,
		stdin:   cmd.Stdin,
		timeout: 30 * time.Second,
	})
	if err == nil && res.ExitCode != 0 {
		err = fmt.Errorf("start session: exit %d: %s", res.ExitCode, strings.TrimSpace(res.Stderr))
	}
	if err != nil {
		return nil, err
	}
	rec := store.Session{ID: id, Sandbox: r.Sandbox, Identifier: r.Identifier,
		Agent: agent.ID(), LogPath: prefix + ".log", Status: store.SessionRunning,
		StartedAt: m.now()}
	if err := m.store.PutSession(ctx, rec); err != nil {
		return nil, fmt.Errorf("record session %s: %w", id, err)
	}
	m.notify(Change{Sandbox: r.Sandbox, Kind: ChangeSession})

	return sessionOf(rec), nil
}

// agentFor picks the named agent, the sandbox's, or the default.
func (m *Manager) agentFor(id string, spec Spec) (agents.CodingAgent, error) {
	if id == "" {
		id = spec.Agent
	}
	if id == "" {
		return agents.DefaultCodingAgent(), nil
	}
	a, err := agents.GetCodingAgent(id)
	if err != nil {
		return nil, invalidf("Use one of: "+strings.Join(agents.Known(), ", ")+".",
			"unknown agent %q", id)
	}

	return a, nil
}

func sessionOf(rec store.Session) *Session {
	dir, _ := strings.CutSuffix(rec.LogPath, "/"+rec.ID+".log")

	return &Session{ID: rec.ID, Sandbox: rec.Sandbox, Identifier: rec.Identifier,
		Agent: rec.Agent, Status: rec.Status, Running: rec.Status == store.SessionRunning,
		ExitCode: rec.ExitCode, LogPath: rec.LogPath, LatestLogPath: dir + "/latest.log",
		Result: rec.Result, Error: rec.Error, AgentSessionID: rec.AgentSessionID,
		CostUSD: rec.CostUSD, InputTokens: rec.InputTokens, OutputTokens: rec.OutputTokens,
		StartedAt: rec.StartedAt, FinishedAt: rec.FinishedAt}
}

func parseProbe(line string) (SessionProbe, error) {
	f := strings.Fields(line)
	if len(f) != 3 {
		return SessionProbe{}, fmt.Errorf("read session state: unexpected %q", line)
	}
	code, err1 := strconv.Atoi(f[1])
	size, err2 := strconv.ParseInt(f[2], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return SessionProbe{}, fmt.Errorf("read session state %q: %w", line, err)
	}

	return SessionProbe{State: f[0], ExitCode: code, LogSize: size}, nil
}

// ListSessions reports a sandbox's sessions, newest first, refreshing those
// still marked running with one exec.
func (m *Manager) ListSessions(ctx context.Context, sandbox, identifier string,
) ([]Session, error) {
	recs, err := m.sessionRecords(ctx, sandbox, identifier)
	if err != nil {
		return nil, err
	}
	if err := m.refresh(ctx, sandbox, recs); err != nil {
		return nil, err
	}
	out := make([]Session, len(recs))
	for i, rec := range recs {
		out[i] = *sessionOf(rec)
	}

	return out, nil
}

func (m *Manager) sessionRecords(ctx context.Context, sandbox, identifier string,
) ([]store.Session, error) {
	if _, err := m.record(ctx, sandbox); err != nil {
		return nil, err
	}
	recs, err := m.store.ListSessions(ctx, sandbox, identifier)
	if err != nil {
		return nil, fmt.Errorf("list sessions of %s: %w", sandbox, err)
	}

	return recs, nil
}

// SessionStatus reports one session: by id, or the latest of the identifier.
func (m *Manager) SessionStatus(ctx context.Context, sandbox, identifier, id string,
) (*Session, error) {
	rec, err := m.findSession(ctx, sandbox, identifier, id)
	if err != nil {
		return nil, err
	}
	recs := []store.Session{rec}
	if err := m.refresh(ctx, sandbox, recs); err != nil {
		return nil, err
	}

	return sessionOf(recs[0]), nil
}

// IsAgentRunning reports whether the latest session of the identifier runs.
// With no identifier it reports whether any agent runs in the sandbox: a
// session, or the sandbox's agent started some other way, such as by hand
// in a terminal, found by the agent's process pattern.
func (m *Manager) IsAgentRunning(ctx context.Context, sandbox, identifier string) (bool, error) {
	if identifier == "" {
		return m.anyAgentRunning(ctx, sandbox)
	}
	s, err := m.SessionStatus(ctx, sandbox, identifier, "")
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}

	return s.Running, nil
}

// findAgent exits 0 when a process matches the pattern on stdin. The pattern
// comes on stdin, not in an argument, so the search cannot find itself.
const findAgent = `IFS= read -r pat; exec pgrep -f -- "$pat" >/dev/null`

// anyAgentRunning reports whether a session of the sandbox runs, or a process
// of its agent.
func (m *Manager) anyAgentRunning(ctx context.Context, sandbox string) (bool, error) {
	sessions, err := m.ListSessions(ctx, sandbox, "")
	if err != nil {
		return false, err
	}
	if slices.ContainsFunc(sessions, func(s Session) bool { return s.Running }) {
		return true, nil
	}
	rec, err := m.record(ctx, sandbox)
	if err != nil {
		return false, err
	}
	var spec Spec
	if err := json.Unmarshal(rec.Spec, &spec); err != nil {
		return false, fmt.Errorf("decode spec of %s: %w", sandbox, err)
	}
	agent, err := m.agentFor("", spec)
	if err != nil {
		return false, err
	}
	t, err := m.running(ctx, sandbox)
	if errors.Is(err, ErrState) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	res, err := m.run(ctx, t, script{code: findAgent, stdin: agent.ProcessPattern(),
		timeout: 20 * time.Second})
	if err != nil {
		return false, err
	}

	return res.ExitCode == 0, nil
}

func (m *Manager) findSession(ctx context.Context, sandbox, identifier, id string,
) (store.Session, error) {
	if id != "" {
		rec, err := m.store.GetSession(ctx, sandbox, id)
		if errors.Is(err, store.ErrNotFound) {
			if _, rerr := m.record(ctx, sandbox); rerr != nil {
				return rec, rerr
			}
			return rec, &Error{Kind: ErrNotFound,
				Message: fmt.Sprintf("sandbox %q has no session %q", sandbox, id),
				Advice:  "Call session_list to see its sessions."}
		}

		return rec, err
	}
	if identifier == "" {
		return store.Session{}, invalidf("Give session_id, or an identifier for its latest "+
			"session.", "no session named")
	}
	recs, err := m.sessionRecords(ctx, sandbox, identifier)
	if err != nil {
		return store.Session{}, err
	}
	if len(recs) == 0 {
		return store.Session{}, &Error{Kind: ErrNotFound,
			Message: fmt.Sprintf("sandbox %q has no session with identifier %q", sandbox,
				identifier),
			Advice: "Start one with session_start, or call session_list."}
	}

	return recs[0], nil
}

// refresh updates the running sessions among recs from the machine, with one
// exec for all of them, and stores those that ended.
func (m *Manager) refresh(ctx context.Context, sandbox string, recs []store.Session) error {
	var ids, prefixes []string
	byID := make(map[string]*store.Session)
	for i, rec := range recs {
		if rec.Status == store.SessionRunning {
			ids = append(ids, rec.ID)
			prefixes = append(prefixes, strings.TrimSuffix(rec.LogPath, ".log"))
			byID[rec.ID] = &recs[i]
		}
	}
	if len(ids) == 0 {
		return nil
	}
	t, err := m.running(ctx, sandbox)
	if err != nil {
		// A paused or stopped sandbox runs no sessions.
		for _, rec := range byID {
			m.finish(ctx, rec, SessionProbe{State: "lost"})
		}
		return nil
	}
	out, err := m.plain(ctx, t, probeSessions, prefixes...)
	if err != nil {
		return err
	}
	probes, err := probesOf(ids, out)
	if err != nil {
		return err
	}
	for id, p := range probes {
		if p.State != "running" {
			m.finish(ctx, byID[id], p)
		}
	}

	return nil
}

// finish records how a session ended, with the result the agent reported at
// the end of its log when there is one.
func (m *Manager) finish(ctx context.Context, rec *store.Session, p SessionProbe) {
	// What was observed is recorded even when the caller has gone.
	ctx = context.WithoutCancel(ctx)
	rec.FinishedAt = m.now()
	switch p.State {
	case "exit":
		code := p.ExitCode
		rec.ExitCode = &code
		rec.Status = store.SessionFinished
		if code != 0 {
			rec.Status = store.SessionFailed
		}
		if code == 143 || code == 137 {
			rec.Status = store.SessionStopped
		}
	default:
		rec.Status = store.SessionLost
		rec.Error = "the session's process is gone without an exit code, as when its " +
			"machine was paused or restarted"
	}
	if p.State == "exit" {
		m.readResult(ctx, rec)
	}
	if err := m.store.PutSession(ctx, *rec); err != nil {
		m.log.Warn("record finished session", "session", rec.ID, "error", err)
	}
	m.notify(Change{Sandbox: rec.Sandbox, Kind: ChangeSession})
}

// readResult parses the end of a finished session's log for the agent's
// final result, cost and usage.
func (m *Manager) readResult(ctx context.Context, rec *store.Session) {
	agent, err := agents.GetCodingAgent(rec.Agent)
	if err != nil {
		return
	}
	t, err := m.running(ctx, rec.Sandbox)
	if err != nil {
		return
	}
	out, err := m.plain(ctx, t, `tail -c 262144 "$1" | base64 | tr -d '\n'`, rec.LogPath)
	if err != nil {
		return
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(out))
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(raw), "\n") {
		for _, ev := range agent.ParseLine([]byte(line)) {
			switch {
			case ev.Kind == agents.KindResult:
				rec.Result, rec.CostUSD = ev.Text, ev.CostUSD
				rec.InputTokens, rec.OutputTokens = int64(ev.InputTokens), int64(ev.OutputTokens)
				if ev.SessionID != "" {
					rec.AgentSessionID = ev.SessionID
				}
				if ev.IsError {
					rec.Error = ev.Text
				}
			case ev.SessionID != "" && rec.AgentSessionID == "":
				rec.AgentSessionID = ev.SessionID
			}
		}
	}
}

// StopSession ends a running session's whole process group and reports it.
func (m *Manager) StopSession(ctx context.Context, sandbox, identifier, id string,
) (sess *Session, err error) {
	start := m.now()
	defer func() {
		m.audit("session_stop", sandbox, map[string]any{"identifier": identifier,
			"session_id": id}, start, err)
	}()
	rec, err := m.findSession(ctx, sandbox, identifier, id)
	if err != nil {
		return nil, err
	}
	if rec.Status == store.SessionRunning {
		t, err := m.running(ctx, sandbox)
		if err != nil {
			return nil, err
		}
		if _, err := m.plain(ctx, t, stopSession, strings.TrimSuffix(rec.LogPath, ".log"),
			"5"); err != nil {
			return nil, err
		}
	}

	return m.SessionStatus(ctx, sandbox, "", rec.ID)
}
