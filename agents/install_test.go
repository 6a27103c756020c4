package agents

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// installEnv is a sandbox-like setup for running Install scripts: a PATH of
// basic tools plus a bin dir for stubs, and a private TMPDIR.
type installEnv struct {
	root, bin, tmp, npmLog string
	env                    map[string]string
}

func newInstallEnv(t *testing.T) *installEnv {
	t.Helper()
	e := &installEnv{root: t.TempDir(), bin: t.TempDir(), tmp: t.TempDir()}
	e.npmLog = filepath.Join(t.TempDir(), "npm.log")
	e.env = map[string]string{
		"PATH":    toolsDir(t) + ":" + e.bin,
		"TMPDIR":  e.tmp,
		"NPM_LOG": e.npmLog,
	}

	return e
}

// stubNode makes `node` report the given major version.
func (e *installEnv) stubNode(t *testing.T, major int) {
	t.Helper()
	writeStub(t, e.bin, "node", `case $1 in
-p) echo `+strconv.Itoa(major)+` ;;
--version) echo v`+strconv.Itoa(major)+`.20.0 ;;
esac`)
}

// stubNpm makes `npm` log its arguments and then fail with code, or, when
// code is 0, create <prefix>/bin/<bin> the way a global install does.
func (e *installEnv) stubNpm(t *testing.T, bin string, code int) {
	t.Helper()
	writeStub(t, e.bin, "npm", `echo "$*" >>"$NPM_LOG"
echo "npm chatter that must not reach stdout"
[ `+strconv.Itoa(code)+` -eq 0 ] || exit `+strconv.Itoa(code)+`
while [ $# -gt 0 ]; do
  case $1 in --prefix) prefix=$2; shift ;; esac
  shift
done
mkdir -p "$prefix/bin"
printf '#!/bin/sh\n' >"$prefix/bin/`+bin+`"
chmod +x "$prefix/bin/`+bin+`"`)
}

func (e *installEnv) npmCalls(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(e.npmLog)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}

	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

func TestInstall_NPM(t *testing.T) {
	t.Parallel()
	agents := []struct {
		name, bin, pkg string
		agent          func(root string) CodingAgent
	}{
		{"claude-code", "claude", "@anthropic-ai/claude-code",
			func(root string) CodingAgent { return ClaudeCode{Root: root} }},
		{"codex", "codex", "@openai/codex", func(root string) CodingAgent { return Codex{Root: root} }},
	}
	for _, ag := range agents {
		t.Run(ag.name+"/present on PATH", func(t *testing.T) {
			t.Parallel()
			e := newInstallEnv(t)
			stub := writeStub(t, e.bin, ag.bin, "exit 0")
			run := runScript(t, ag.agent(e.root).Install(), e.tmp, e.env)
			if run.code != 0 || run.stdout != "present "+stub+"\n" {
				t.Fatalf("got %q (exit %d, %s), want present %s", run.stdout, run.code,
					run.stderr, stub)
			}
			assertDir(t, filepath.Join(e.root, ag.name, "state"))
		})

		t.Run(ag.name+"/no node", func(t *testing.T) {
			t.Parallel()
			e := newInstallEnv(t)
			run := runScript(t, ag.agent(e.root).Install(), e.tmp, e.env)
			if run.code != ExitNeedsRuntime || run.stdout != "" ||
				!strings.Contains(run.stderr, "needs Node.js 18 or later with npm") {
				t.Fatalf("got %q (exit %d, stderr %q), want exit %d and a Node.js message",
					run.stdout, run.code, run.stderr, ExitNeedsRuntime)
			}
		})

		t.Run(ag.name+"/old node", func(t *testing.T) {
			t.Parallel()
			e := newInstallEnv(t)
			e.stubNode(t, 16)
			e.stubNpm(t, ag.bin, 0)
			run := runScript(t, ag.agent(e.root).Install(), e.tmp, e.env)
			if run.code != ExitNeedsRuntime || !strings.Contains(run.stderr, "it has v16.20.0") {
				t.Fatalf("exit %d, stderr %q, want exit %d naming v16.20.0",
					run.code, run.stderr, ExitNeedsRuntime)
			}
			if calls := e.npmCalls(t); calls != nil {
				t.Errorf("npm ran: %q", calls)
			}
		})

		t.Run(ag.name+"/installs once", func(t *testing.T) {
			t.Parallel()
			e := newInstallEnv(t)
			e.stubNode(t, 22)
			e.stubNpm(t, ag.bin, 0)
			s := ag.agent(e.root).Install()
			prefix := filepath.Join(e.root, ag.name)
			exe := filepath.Join(prefix, "bin", ag.bin)

			run := runScript(t, s, e.tmp, e.env)
			if run.code != 0 || run.stdout != "installed "+exe+"\n" {
				t.Fatalf("first run: %q (exit %d, %s), want installed %s",
					run.stdout, run.code, run.stderr, exe)
			}
			run = runScript(t, s, e.tmp, e.env)
			if run.code != 0 || run.stdout != "present "+exe+"\n" {
				t.Fatalf("second run: %q (exit %d, %s), want present %s",
					run.stdout, run.code, run.stderr, exe)
			}

			calls := e.npmCalls(t)
			if len(calls) != 1 {
				t.Fatalf("npm ran %d times: %q", len(calls), calls)
			}
			for _, want := range []string{"install --global --prefix " + prefix, ag.pkg} {
				if !strings.Contains(calls[0], want) {
					t.Errorf("npm args %q lack %q", calls[0], want)
				}
			}
			assertGone(t, filepath.Join(prefix, ".install-lock"))
			assertEmpty(t, e.tmp)
		})
	}
}

func TestInstall_NPMFailure(t *testing.T) {
	t.Parallel()
	e := newInstallEnv(t)
	e.stubNode(t, 20)
	e.stubNpm(t, "claude", 7)
	run := runScript(t, ClaudeCode{Root: e.root}.Install(), e.tmp, e.env)
	if run.code != 7 || run.stdout != "" ||
		!strings.Contains(run.stderr, "npm install of @anthropic-ai/claude-code for claude-code failed") {
		t.Fatalf("got %q (exit %d, stderr %q), want exit 7 and a message", run.stdout, run.code,
			run.stderr)
	}
	assertGone(t, filepath.Join(e.root, "claude-code", ".install-lock"))
}

// A lock left by an install that died, say in a machine paused mid-install,
// must not block later installs for ever.
func TestInstall_StaleLock(t *testing.T) {
	t.Parallel()
	e := newInstallEnv(t)
	e.stubNode(t, 20)
	e.stubNpm(t, "claude", 0)
	lock := filepath.Join(e.root, "claude-code", ".install-lock")
	if err := os.MkdirAll(lock, 0o755); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(lock, old, old); err != nil {
		t.Fatal(err)
	}

	run := runScript(t, ClaudeCode{Root: e.root}.Install(), e.tmp, e.env)
	if run.code != 0 || !strings.HasPrefix(run.stdout, "installed ") {
		t.Fatalf("got %q (exit %d, %s), want installed", run.stdout, run.code, run.stderr)
	}
}

func TestInstall_CommandAgent(t *testing.T) {
	t.Parallel()
	e := newInstallEnv(t)
	stub := writeStub(t, e.bin, "my-agent", "exit 0")
	tests := []struct {
		name     string
		program  string
		wantOut  string
		wantCode int
	}{
		{name: "on PATH", program: "my-agent", wantOut: "present " + stub + "\n"},
		{name: "absolute path", program: stub, wantOut: "present " + stub + "\n"},
		{name: "missing", program: "no-such-agent", wantCode: ExitNeedsRuntime},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, err := NewCommandAgent("x", []string{tt.program, "{prompt}"})
			if err != nil {
				t.Fatal(err)
			}
			run := runScript(t, a.Install(), e.tmp, e.env)
			if run.code != tt.wantCode || run.stdout != tt.wantOut {
				t.Errorf("got %q (exit %d, %s), want %q (exit %d)", run.stdout, run.code,
					run.stderr, tt.wantOut, tt.wantCode)
			}
		})
	}
}

func TestParseInstallOutput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		stdout  string
		want    InstallResult
		wantErr bool
	}{
		{
			name:   "present",
			stdout: "present /usr/bin/claude\n",
			want:   InstallResult{Path: "/usr/bin/claude"},
		},
		{
			name:   "installed after chatter",
			stdout: "added 3 packages\ninstalled /data/x/bin/codex\n\n",
			want:   InstallResult{Installed: true, Path: "/data/x/bin/codex"},
		},
		{name: "empty", stdout: "", wantErr: true},
		{name: "no path", stdout: "present\n", wantErr: true},
		{name: "other verb", stdout: "missing /x\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseInstallOutput(tt.stdout)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("ParseInstallOutput(%q) = %+v, %v; want %+v, error %v",
					tt.stdout, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// The scripts hard-code the exit code; this pins it to the constant.
func TestInstall_ExitCodeConstant(t *testing.T) {
	t.Parallel()
	want := "exit " + strconv.Itoa(ExitNeedsRuntime)
	for name, program := range map[string]string{"npm": npmInstallProgram, "on PATH": onPathProgram} {
		if !strings.Contains(program, want) {
			t.Errorf("%s program lacks %q", name, want)
		}
	}
}

func assertDir(t *testing.T, dir string) {
	t.Helper()
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Errorf("%s is not a directory: %v", dir, err)
	}
}

func assertGone(t *testing.T, p string) {
	t.Helper()
	if _, err := os.Lstat(p); !os.IsNotExist(err) {
		t.Errorf("%s still exists (%v)", p, err)
	}
}

func assertEmpty(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("%s holds %d entries, want none (npm cache left behind?)", dir, len(entries))
	}
}
