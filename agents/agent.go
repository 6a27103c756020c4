package agents

import (
	"fmt"
	"path"
	"strings"
	"unicode"
)

// DefaultRoot is the directory on the sandbox volume that holds one directory
// per agent, DefaultRoot/<id>. That directory is the npm prefix the agent is
// installed into (bin/, lib/) and holds the agent's state/ (its config and
// session transcripts), so both survive pause and resume.
const DefaultRoot = "/data/.sandstorm/agents"

// ExitNeedsRuntime is the exit code of an Install program when the sandbox
// image lacks what installing the agent needs, such as Node.js and npm, or
// the agent's own command. Stderr then says what the image needs; the caller
// can report it as something the user fixes by choosing another image.
const ExitNeedsRuntime = 69

// CodingAgent is a CLI coding agent that can run headless in a sandbox. An
// implementation only describes the agent: it returns programs, argv and file
// placements, and parses output; it runs nothing itself.
type CodingAgent interface {
	// ID returns the agent's stable identifier, such as "claude-code".
	ID() string

	// Install returns a POSIX sh program and its arguments, to be run as
	// `sh -c PROGRAM sh ARGS...`, that makes the agent runnable. It is
	// idempotent: when the agent is already on PATH or already installed on
	// the volume it changes nothing and returns at once. It also creates the
	// agent's state directory, so run it before the agent's first command.
	// On success its stdout is one line, "present <path>" or
	// "installed <path>" (see ParseInstallOutput); on failure it exits
	// non-zero, ExitNeedsRuntime when the image lacks a prerequisite, with
	// the reason on stderr.
	Install() Script

	// PersonaPaths places persona files, keyed by clean relative paths such
	// as "CLAUDE.md" or ".claude/settings.json", under the absolute project
	// directory. It returns destination path -> content. A persona's
	// instructions file may be named CLAUDE.md or AGENTS.md; the agent writes
	// it under the name it reads when the persona lacks that name. Paths that
	// are absolute, unclean or leave the project directory are refused with
	// an error wrapping ErrInvalidInput.
	PersonaPaths(projectDir string, files map[string]string) (map[string]string, error)

	// InteractiveCommand returns the command a person runs in a terminal in
	// the project directory. It shares the headless command's environment,
	// so a person can resume a headless session.
	InteractiveCommand() Command

	// HeadlessCommand returns the command that runs one prompt unattended,
	// with no permission prompts, writing machine-readable lines to stdout.
	// The prompt is one argv element (or Stdin, where a CLI needs that) and
	// never passes through a shell. An invalid prompt or option is an error
	// wrapping ErrInvalidInput; an option the agent lacks wraps
	// ErrUnsupported.
	HeadlessCommand(prompt string, opts HeadlessOptions) (Command, error)

	// ProcessPattern returns an extended regular expression, for `pgrep -f`,
	// that matches the command line of the agent's running process.
	ProcessPattern() string

	// ParseLine turns one line of the agent's stdout into zero or more
	// events. It never fails: a line it does not understand becomes a "text"
	// or "system" event.
	ParseLine(line []byte) []Event
}

// Script is a POSIX sh program with its positional arguments, run as
// `sh -c Program sh Args...`. Program is fixed text; everything that varies
// is in Args, so nothing a caller supplies is parsed as shell code.
type Script struct {
	Program string
	Args    []string
}

// Command is a program to run in the project directory.
type Command struct {
	// Argv is the program and its arguments, passed to exec as they are.
	Argv []string
	// Env holds variables to set on top of the machine's environment.
	Env map[string]string
	// ExtraPath lists directories to append to the machine's PATH, where an
	// agent installed on the volume keeps its executables. They go last, so
	// an agent that the image ships wins, as it does in Install.
	ExtraPath []string
	// Stdin, when not empty, is written to the program's standard input.
	Stdin string
}

// HeadlessOptions are the optional settings of a headless run. The zero value
// means the agent's defaults.
type HeadlessOptions struct {
	// Model is the agent's model name or alias, such as "sonnet".
	Model string
	// MaxTurns caps the agent's turns; 0 means no cap.
	MaxTurns int
	// ResumeSessionID continues an earlier session, as reported in an
	// Event's SessionID.
	ResumeSessionID string
}

// execProgram appends $1, when not empty, to PATH and then runs the remaining
// arguments as a command. It is the only shell code between Command.Script
// and the agent, and it interprets none of the arguments.
const execProgram = `if [ -n "$1" ]; then PATH=${PATH:+$PATH:}$1; export PATH; fi
shift
exec "$@"`

// Script returns c as a Script: a fixed program that appends ExtraPath to
// PATH and runs Argv, with the arguments passed positionally. Env and Stdin
// are not part of it; the caller sets them as it runs the script.
func (c Command) Script() Script {
	args := make([]string, 0, len(c.Argv)+1)
	args = append(args, strings.Join(c.ExtraPath, ":"))

	return Script{Program: execProgram, Args: append(args, c.Argv...)}
}

// maxArgBytes is the longest single argument Linux accepts: MAX_ARG_STRLEN,
// 32 pages, less the terminating NUL.
const maxArgBytes = 32*4096 - 1

// checkPrompt reports why prompt cannot be passed as an argument, if it
// cannot.
func checkPrompt(id, prompt string) error {
	switch {
	case strings.TrimSpace(prompt) == "":
		return fmt.Errorf("build %s command: prompt is empty: %w", id, ErrInvalidInput)
	case strings.IndexByte(prompt, 0) >= 0:
		return fmt.Errorf("build %s command: prompt contains a NUL byte: %w",
			id, ErrInvalidInput)
	case len(prompt) > maxArgBytes:
		return fmt.Errorf("build %s command: prompt is %d bytes, over the limit of %d: %w",
			id, len(prompt), maxArgBytes, ErrInvalidInput)
	}

	return nil
}

// checkOptions reports an option that is malformed. Names and ids become
// argv elements too, so the same rules keep them from reading as flags.
func checkOptions(id string, opts HeadlessOptions) error {
	if opts.MaxTurns < 0 {
		return fmt.Errorf("build %s command: max turns %d is negative: %w",
			id, opts.MaxTurns, ErrInvalidInput)
	}
	if err := checkToken(id, "model", opts.Model); err != nil {
		return err
	}

	return checkToken(id, "session id", opts.ResumeSessionID)
}

// checkToken accepts an empty value or a short one of visible characters
// that does not start with "-".
func checkToken(id, name, v string) error {
	if v == "" {
		return nil
	}
	bad := len(v) > 200 || strings.HasPrefix(v, "-") ||
		strings.ContainsFunc(v, func(r rune) bool {
			return !unicode.IsPrint(r) || unicode.IsSpace(r)
		})
	if bad {
		return fmt.Errorf("build %s command: %s %q is not a valid name: %w",
			id, name, v, ErrInvalidInput)
	}

	return nil
}

// agentDir is the directory of agent id under root, DefaultRoot when empty.
func agentDir(root, id string) string {
	if root == "" {
		root = DefaultRoot
	}

	return path.Join(root, id)
}

// stateDir is where an agent installed in dir keeps its config and sessions.
func stateDir(dir string) string { return dir + "/state" }

// binDir is where npm puts the executables of an agent installed in dir.
func binDir(dir string) string { return dir + "/bin" }

// commandPattern matches a command line whose program, or an argument that
// is the program's path, ends in name: "claude -p", "/x/bin/claude -p" and
// "node /x/bin/claude -p", but not "sh claude-wrapper".
func commandPattern(name string) string {
	return `(^|/)` + quoteERE(name) + `( |$)`
}

// quoteERE escapes the characters that are special in a POSIX extended
// regular expression.
func quoteERE(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`\.[]()*+?{}|^$`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}

	return b.String()
}
