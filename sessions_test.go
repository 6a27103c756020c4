package sandstorm_test

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/sync/errgroup"

	"github.com/longrun/sandstorm"
	"github.com/longrun/sandstorm/agents"
	"github.com/longrun/sandstorm/internal/stubagent"
	"github.com/longrun/sandstorm/persona"
)

var registerStub = sync.OnceValue(func() error {
	a, err := stubagent.Agent()
	if err != nil {
		return err
	}

	return agents.Register(a)
})

// stubEnv is an env with the stub agent registered and a sandbox "s" made
// with it.
func stubEnv(t *testing.T, req sandstorm.CreateRequest) *env {
	t.Helper()
	if err := registerStub(); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	req.Name, req.Agent, req.MemoryMB, req.CPUs = "s", "stub", 256, 1
	if _, err := e.m.Create(t.Context(), req); err != nil {
		t.Fatal(err)
	}

	return e
}

func (e *env) start(t *testing.T, ident, prompt string, env map[string]string) *sandstorm.Session {
	t.Helper()
	s, err := e.m.StartAgentSession(t.Context(), sandstorm.StartSessionRequest{Sandbox: "s",
		Identifier: ident, Prompt: prompt, Env: env})
	if err != nil {
		t.Fatalf("start session %q: %v", ident, err)
	}

	return s
}

// readAllLogs reads a session's log by cursor, max bytes at a time, waiting
// for output, until the session has ended and everything is read.
func (e *env) readAllLogs(t *testing.T, id string, max int) string {
	t.Helper()
	var out strings.Builder
	var cursor int64
	for i := 0; ; i++ {
		c := cursor
		chunk, err := e.m.GetSessionLogs(t.Context(), sandstorm.LogsRequest{Sandbox: "s",
			SessionID: id, Cursor: &c, MaxBytes: max, Wait: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if chunk.Cursor != cursor {
			t.Fatalf("chunk starts at %d, want %d", chunk.Cursor, cursor)
		}
		out.WriteString(chunk.Text)
		cursor = chunk.NextCursor
		if !chunk.Running && !chunk.More {
			return out.String()
		}
		if i > 10000 {
			t.Fatal("log never ended")
		}
	}
}

func TestSessions_RunReadAndResult(t *testing.T) {
	t.Parallel()
	e := stubEnv(t, sandstorm.CreateRequest{})
	s := e.start(t, "fix-bug", "do the thing", map[string]string{"STUB_LINES": "3000",
		"STUB_DELAY": "0.002"})
	if !s.Running || !strings.HasSuffix(s.LogPath, "/fix-bug/"+s.ID+".log") ||
		s.LatestLogPath != "/data/.sandstorm/sessions/fix-bug/latest.log" {
		t.Fatalf("started = %+v", s)
	}

	// Read in chunks much smaller than the log while it grows: every line
	// exactly once, in order.
	text := e.readAllLogs(t, s.ID, 20000)
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) != 3003 {
		t.Fatalf("read %d lines, want 3003", len(lines))
	}
	for i := 1; i <= 3000; i++ {
		if want := stubagent.Line(i); lines[i] != want {
			t.Fatalf("line %d = %q, want %q", i, lines[i], want)
		}
	}

	st, err := e.m.SessionStatus(t.Context(), "s", "fix-bug", "")
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != "finished" || st.Running || st.ExitCode == nil || *st.ExitCode != 0 ||
		st.Result != "done" || st.CostUSD != 0.5 || st.OutputTokens != 4 ||
		st.AgentSessionID != "stub-1" {
		t.Errorf("status = %+v", st)
	}
	tail, err := e.m.GetSessionLogs(t.Context(), sandstorm.LogsRequest{Sandbox: "s",
		Identifier: "fix-bug", Lines: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tail.Text, "prompt-hex ") || strings.Count(tail.Text, "\n") != 2 {
		t.Errorf("last 2 lines = %q", tail.Text)
	}
	running, err := e.m.IsAgentRunning(t.Context(), "s", "fix-bug")
	if err != nil || running {
		t.Errorf("IsAgentRunning = %v, %v; want false", running, err)
	}
}

func TestSessions_WatchLogs(t *testing.T) {
	t.Parallel()
	e := stubEnv(t, sandstorm.CreateRequest{})
	s := e.start(t, "w", "watch me", map[string]string{"STUB_LINES": "200",
		"STUB_DELAY": "0.01"})
	var lines []string
	end, err := e.m.WatchLogs(t.Context(), "s", s.ID, 0, func(line string) error {
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 203 || lines[200] != stubagent.Line(200) {
		t.Fatalf("watched %d lines; line 200 = %q", len(lines), lines[min(200, len(lines)-1)])
	}
	tail, err := e.m.GetSessionLogs(t.Context(), sandstorm.LogsRequest{Sandbox: "s",
		SessionID: s.ID, Lines: 1})
	if err != nil || end != tail.Size {
		t.Errorf("WatchLogs ended at %d, log size %d (%v)", end, tail.Size, err)
	}
}

func TestSessions_FailedAndStopped(t *testing.T) {
	t.Parallel()
	e := stubEnv(t, sandstorm.CreateRequest{})
	failed := e.start(t, "a", "p", map[string]string{"STUB_EXIT": "3"})
	e.readAllLogs(t, failed.ID, 1<<16)
	long := e.start(t, "b", "p", map[string]string{"STUB_LINES": "1000", "STUB_DELAY": "1"})

	stopped, err := e.m.StopSession(t.Context(), "s", "b", "")
	if err != nil {
		t.Fatal(err)
	}
	if stopped.ID != long.ID || stopped.Status != "stopped" || stopped.Running {
		t.Errorf("stopped = %+v", stopped)
	}
	list, err := e.m.ListSessions(t.Context(), "s", "")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, s := range list {
		got[s.Identifier] = s.Status
	}
	if got["a"] != "failed" || got["b"] != "stopped" || len(list) != 2 {
		t.Errorf("sessions = %v", got)
	}
	if out := e.exec(t, "s", "ps -eo args= | grep -cx 'sleep 1'").Stdout; out != "0\n" {
		t.Errorf("stopped session left processes: %s", out)
	}
	_, err = e.m.SessionStatus(t.Context(), "s", "", "nope")
	if !errors.Is(err, sandstorm.ErrNotFound) {
		t.Errorf("unknown session: err = %v, want ErrNotFound", err)
	}
}

// registerEnvStub registers "stub-env", the stub agent with a first line
// "environ-hex <hex>" that shows its whole environment as the kernel passed
// it: NUL-separated NAME=value entries, so any value can be compared exactly.
var registerEnvStub = sync.OnceValue(func() error {
	program := `printf 'environ-hex %s\n' "$(od -An -v -tx1 /proc/$$/environ | tr -d ' \n')"` +
		"\n" + stubagent.Program
	a, err := agents.NewCommandAgent("stub-env",
		[]string{"/bin/sh", "-c", program, "stub", agents.PromptPlaceholder},
		agents.WithParseMode(agents.ParseStreamJSON))
	if err != nil {
		return err
	}

	return agents.Register(a)
})

// shellPayloads are fragments that do harm, or leave a canary named pwned,
// if any shell on the way interprets them.
var shellPayloads = []string{
	"$(touch /tmp/pwned)", "`touch /tmp/pwned`", ";touch /data/pwned;", "; rm -rf /",
	";rm -rf /data/*", "' ; touch /tmp/pwned ; '", `" ; touch /tmp/pwned ; "`,
	"&& touch /data/pwned", "|| touch /data/pwned", "| touch /tmp/pwned", "\ntouch /tmp/pwned\n",
	"${IFS}touch${IFS}/tmp/pwned", "$((1+1))", "$HOME", "${PATH}", ">/tmp/pwned",
	">>/data/pwned", "<(touch /tmp/pwned)", "{touch,/tmp/pwned}", "$'\\x41'", "%s%n", "*", "~",
	"!!", "-rf", "--", "-e", "--help", "\\", "\\\n", "''", `""`, "#", "$@", "$1", "$0",
}

// shellRunes are single characters a shell gives meaning to.
const shellRunes = "$`\"'\\;|&<>(){}*?[]~#!\n\t =%^-./:,@+"

// shellFuzz makes random strings for the property test: valid UTF-8, no NUL,
// mostly shell metacharacters and payloads, with a leading dash now and then.
type shellFuzz struct{ rng *rand.Rand }

// text returns a string of about n pieces.
func (f shellFuzz) text(n int) string {
	var b strings.Builder
	switch f.rng.IntN(6) {
	case 0:
		b.WriteString("-")
	case 1:
		b.WriteString("--")
	}
	for range 1 + f.rng.IntN(n) {
		switch k := f.rng.IntN(10); {
		case k < 5:
			b.WriteByte(shellRunes[f.rng.IntN(len(shellRunes))])
		case k < 7:
			b.WriteString(shellPayloads[f.rng.IntN(len(shellPayloads))])
		case k < 8:
			b.WriteByte(byte('a' + f.rng.IntN(26)))
		default:
			b.WriteRune(f.rune())
		}
	}

	return b.String()
}

// rune returns any valid rune but NUL: controls, ASCII, accents, CJK, emoji.
func (f shellFuzz) rune() rune {
	for {
		var r rune
		switch f.rng.IntN(3) {
		case 0:
			r = rune(f.rng.IntN(0x80))
		case 1:
			r = rune(f.rng.IntN(0x10000))
		default:
			r = rune(f.rng.IntN(utf8.MaxRune + 1))
		}
		if r != 0 && utf8.ValidRune(r) {
			return r
		}
	}
}

// envName returns a valid env name of the caller's own, apart from the names
// the machine and the stub rely on.
func (f shellFuzz) envName() string {
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_"
	b := []byte("SBX_")
	for range 1 + f.rng.IntN(8) {
		b = append(b, chars[f.rng.IntN(len(chars))])
	}

	return string(b)
}

// shellCase is one session of the property test.
type shellCase struct {
	sandbox, ident, prompt string
	env                    map[string]string
	badEnvName             string
	sess                   *sandstorm.Session
}

// shellCases returns n cases spread over the sandboxes: fixed ones first,
// then random ones, each with a unique identifier.
func shellCases(f shellFuzz, sandboxes []string, n int) []*shellCase {
	cases := []*shellCase{
		{ident: "$(touch /data/pwned)", prompt: "`touch /data/pwned`; $(touch /data/pwned)",
			env: map[string]string{"SBX_A": "$(touch /tmp/pwned)"}},
		{ident: "../../../etc", prompt: "'; rm -rf /data; echo '",
			env: map[string]string{"SBX_A": "'; touch /tmp/pwned; '"}},
		{ident: "x\ny", prompt: "line1\nline2\n\n", env: map[string]string{"SBX_A": "a\nb=c\n"}},
		{ident: "-rf", prompt: "--help", env: map[string]string{"SBX_A": "-e", "SBX_B": ""}},
	}
	seen := map[string]bool{}
	for _, c := range cases {
		seen[c.ident] = true
	}
	for len(cases) < n {
		c := &shellCase{ident: f.text(12), prompt: f.text(60), env: map[string]string{}}
		if seen[c.ident] || len(c.ident) > 256 || strings.TrimSpace(c.prompt) == "" {
			continue
		}
		seen[c.ident] = true
		for range 1 + f.rng.IntN(3) {
			c.env[f.envName()] = f.text(20)
		}
		cases = append(cases, c)
	}
	for i, c := range cases {
		c.sandbox = sandboxes[i%len(sandboxes)]
		if name := f.text(4); !envNameRE.MatchString(name) {
			c.badEnvName = name
		}
	}

	return cases
}

// The shapes the property test expects: valid env names, and session
// directories, which are an identifier safe as it is or a digest of it.
var (
	envNameRE   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	safeDirRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	digestDirRE = regexp.MustCompile(`^id-[0-9a-f]{16}$`)
)

// dumpSessions waits for every session in a sandbox to end and prints, for
// each, "== <dir>/<id>.log <exit code>" and its environ-hex and prompt-hex
// lines, then "== canary" and any file named like the canary in /tmp and
// /data.
const dumpSessions = `cd /data/.sandstorm/sessions || exit 1
n=0
while [ $n -lt 100 ]; do
  left=0
  for f in */*.log; do [ -L "$f" ] || [ -f "${f%.log}.exit" ] || left=1; done
  [ $left = 0 ] && break
  sleep 0.1; n=$((n + 1))
done
for f in */*.log; do
  [ -L "$f" ] && continue
  echo "== $f $(cat "${f%.log}.exit" 2>/dev/null)"
  grep -E '^(environ|prompt)-hex ' "$f"
done
echo "== canary"
find /tmp /data -name '*pwned*' 2>/dev/null`

// TestSessions_CallerTextNeverReachesAShell is a property test of every
// caller string that sessions take to the machine: identifiers, prompts and
// env values are random text full of shell metacharacters, quotes, newlines,
// leading dashes and payloads that would leave a canary file. Each prompt and
// env value must reach the agent byte for byte, each identifier must stay in
// its directory, random session ids and env names must be refused without
// reaching the machine, and no canary may appear. The seed is logged; set
// SHELL_PROPERTY_SEED to replay a failure.
func TestSessions_CallerTextNeverReachesAShell(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("SHELL_PROPERTY_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("SHELL_PROPERTY_SEED: %v", err)
		}
	}
	t.Logf("seed %d (replay with SHELL_PROPERTY_SEED=%d)", seed, seed)
	f := shellFuzz{rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	if err := registerEnvStub(); err != nil {
		t.Fatal(err)
	}

	// Fly paces execs to about one a second per machine, so the sessions are
	// spread over several sandboxes, each started from its own goroutine.
	e := newEnv(t)
	sandboxes := make([]string, 12)
	for i := range sandboxes {
		sandboxes[i] = fmt.Sprintf("p%d", i)
	}
	cases := shellCases(f, sandboxes, 120)
	var g errgroup.Group
	for _, name := range sandboxes {
		g.Go(func() error {
			_, err := e.m.Create(t.Context(), sandstorm.CreateRequest{Name: name,
				MemoryMB: 256, CPUs: 1})
			if err != nil {
				return fmt.Errorf("create %s: %w", name, err)
			}
			for _, c := range cases {
				if c.sandbox == name {
					if err := startShellCase(t, e, c); err != nil {
						return err
					}
				}
			}

			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}

	for _, c := range cases {
		checkRefused(t, e, c, f.text(12))
	}
	logs := map[string]string{}
	for _, name := range sandboxes {
		out := e.exec(t, name, dumpSessions).Stdout
		head, canary, found := strings.Cut(out, "== canary\n")
		if !found {
			t.Fatalf("dump of sessions in %s = %q", name, out)
		}
		if canary != "" {
			t.Errorf("a caller's text ran as shell code in %s: %s", name, canary)
		}
		for _, part := range strings.Split(head, "== ")[1:] {
			path, rest, _ := strings.Cut(part, "\n")
			logs[path] = rest
		}
	}
	for _, c := range cases {
		checkShellCase(t, c, logs)
	}
	checkLatest(t, e, cases[len(cases)-1])
}

// startShellCase starts c's session, first trying c's invalid env name, which
// must be refused before anything runs.
func startShellCase(t *testing.T, e *env, c *shellCase) error {
	req := sandstorm.StartSessionRequest{Sandbox: c.sandbox, Identifier: c.ident,
		Prompt: c.prompt, Agent: "stub-env", Env: c.env}
	if c.badEnvName != "" {
		bad := req
		bad.Env = map[string]string{c.badEnvName: "x"}
		if _, err := e.m.StartAgentSession(t.Context(), bad); !errors.Is(err,
			sandstorm.ErrInvalidInput) {
			return fmt.Errorf("env name %q: err = %v, want ErrInvalidInput", c.badEnvName, err)
		}
	}
	s, err := e.m.StartAgentSession(t.Context(), req)
	if err != nil {
		return fmt.Errorf("start session %q: %w", c.ident, err)
	}
	c.sess = s

	return nil
}

// checkRefused asks for a random session id, and for a random identifier
// with no session, and wants each refused as not found or invalid.
func checkRefused(t *testing.T, e *env, c *shellCase, id string) {
	t.Helper()
	refused := func(what string, err error) {
		if !errors.Is(err, sandstorm.ErrNotFound) && !errors.Is(err, sandstorm.ErrInvalidInput) {
			t.Errorf("%s %q: err = %v, want not found or invalid", what, id, err)
		}
	}
	_, err := e.m.SessionStatus(t.Context(), c.sandbox, "", id)
	refused("session_status of id", err)
	_, err = e.m.GetSessionLogs(t.Context(), sandstorm.LogsRequest{Sandbox: c.sandbox,
		SessionID: id})
	refused("session_logs of id", err)
	_, err = e.m.StopSession(t.Context(), c.sandbox, "", id)
	refused("session_stop of id", err)
	_, err = e.m.SessionStatus(t.Context(), c.sandbox, id+"\x01none", "")
	refused("session_status of identifier", err)
}

// checkShellCase compares what c's agent received with what c sent.
func checkShellCase(t *testing.T, c *shellCase, logs map[string]string) {
	t.Helper()
	rel, ok := strings.CutPrefix(c.sess.LogPath, "/data/.sandstorm/sessions/")
	dir, file, _ := strings.Cut(rel, "/")
	if !ok || !safeDirRE.MatchString(dir) || (dir != c.ident && !digestDirRE.MatchString(dir)) ||
		file != c.sess.ID+".log" {
		t.Errorf("identifier %q gave log path %q", c.ident, c.sess.LogPath)

		return
	}
	log, ok := logs[rel+" 0"]
	if !ok {
		t.Errorf("identifier %q: no log %s that ended with exit 0", c.ident, rel)

		return
	}
	want := "prompt-hex " + hex.EncodeToString([]byte(c.prompt)) + "\n"
	if !strings.Contains(log, want) {
		t.Errorf("identifier %q: the agent did not receive the prompt %q exactly; got:\n%s",
			c.ident, c.prompt, log)
	}
	env := environ(log)
	for k, v := range c.env {
		if got, ok := env[k]; !ok || got != v {
			t.Errorf("identifier %q: env %s = %q (set: %v), want %q", c.ident, k, got, ok, v)
		}
	}
}

// environ decodes the environ-hex line of a stub-env log.
func environ(log string) map[string]string {
	env := map[string]string{}
	for _, line := range strings.Split(log, "\n") {
		h, ok := strings.CutPrefix(line, "environ-hex ")
		if !ok {
			continue
		}
		raw, err := hex.DecodeString(h)
		if err != nil {
			return env
		}
		for _, kv := range strings.Split(string(raw), "\x00") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				env[k] = v
			}
		}
	}

	return env
}

// checkLatest reads a session back by its random identifier, through the
// log and status calls that map the identifier to its files again.
func checkLatest(t *testing.T, e *env, c *shellCase) {
	t.Helper()
	chunk, err := e.m.GetSessionLogs(t.Context(), sandstorm.LogsRequest{Sandbox: c.sandbox,
		Identifier: c.ident, Lines: 2})
	want := "prompt-hex " + hex.EncodeToString([]byte(c.prompt)) + "\n"
	if err != nil || !strings.HasPrefix(chunk.Text, want) {
		t.Errorf("logs of identifier %q = %+v, %v; want its prompt line", c.ident, chunk, err)
	}
	st, err := e.m.SessionStatus(t.Context(), c.sandbox, c.ident, "")
	if err != nil || st.ID != c.sess.ID || st.Status != "finished" {
		t.Errorf("status of identifier %q = %+v, %v; want %s finished", c.ident, st, err,
			c.sess.ID)
	}
}

func TestSessions_Persona(t *testing.T) {
	t.Parallel()
	files := persona.Files{"CLAUDE.md": "You review {{project}} for {{owner}}.",
		"notes/style.md": "Be brief."}
	e := stubEnv(t, sandstorm.CreateRequest{Persona: &persona.Source{Files: files},
		PersonaVars: map[string]string{"project": "sandstorm", "owner": "ops"}})
	got := e.exec(t, "s", "cat /data/project/AGENT.md; echo; cat /data/project/notes/style.md")
	if got.Stdout != "You review sandstorm for ops.\nBe brief." {
		t.Errorf("deployed persona = %q", got.Stdout)
	}
	sb, err := e.m.Get(t.Context(), "s")
	if err != nil || sb.Agent != "stub" || !strings.HasPrefix(sb.PersonaVersion, "sha256:") {
		t.Errorf("sandbox = %+v, %v; want agent stub and a persona version", sb, err)
	}

	res, err := e.m.SyncSandbox(t.Context(), sandstorm.SyncPersonaRequest{Sandbox: "s",
		Source: &persona.Source{Files: files},
		Vars:   map[string]string{"project": "flylocal", "owner": "ops"}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Changed || !strings.HasPrefix(res.Version, "sha256:") {
		t.Errorf("sync = %+v", res)
	}
	if got := e.exec(t, "s", "cat /data/project/AGENT.md").Stdout; got != "You review flylocal for ops." {
		t.Errorf("after sync = %q", got)
	}
	_, err = e.m.SyncSandbox(t.Context(), sandstorm.SyncPersonaRequest{Sandbox: "s",
		Source: &persona.Source{Files: files}, Vars: map[string]string{"project": "x"}})
	if !errors.Is(err, sandstorm.ErrInvalidInput) || !strings.Contains(err.Error(), "owner") {
		t.Errorf("sync with a missing var: err = %v, want it to name owner", err)
	}
}

// TestSessions_AgentRunningOutsideSessions finds the sandbox's agent by its
// process pattern when it runs without a session, as when started by hand.
func TestSessions_AgentRunningOutsideSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.create(t, "hand")
	running := func() bool {
		t.Helper()
		ok, err := e.m.IsAgentRunning(t.Context(), "hand", "")
		if err != nil {
			t.Fatal(err)
		}

		return ok
	}
	if running() {
		t.Fatal("an agent runs in a fresh sandbox")
	}
	// A stand-in for Claude Code, the default agent, started in a terminal.
	e.exec(t, "hand", `mkdir -p /data/bin && printf '#!/bin/sh\nsleep 60\n' > /data/bin/claude
chmod +x /data/bin/claude
setsid /data/bin/claude --continue >/dev/null 2>&1 < /dev/null &`)
	if !running() {
		t.Error("the agent started by hand was not found")
	}
	e.exec(t, "hand", `pkill -f /data/bin/claude; sleep 0.2`)
	if running() {
		t.Error("the agent still counts as running after it was killed")
	}
}

// TestSessions_AgentCommand reports the line a person runs to use the agent
// in a terminal, and the line runs, in the project directory.
func TestSessions_AgentCommand(t *testing.T) {
	t.Parallel()
	e := stubEnv(t, sandstorm.CreateRequest{})
	sb, err := e.m.Get(t.Context(), "s")
	if err != nil {
		t.Fatal(err)
	}
	if sb.AgentCommand != "mkdir -p /data/project && cd /data/project && env /bin/sh" {
		t.Fatalf("agent command = %q", sb.AgentCommand)
	}
	if got := e.exec(t, "s", sb.AgentCommand+" -c pwd").Stdout; got != "/data/project\n" {
		t.Errorf("running the agent command printed %q", got)
	}
}
