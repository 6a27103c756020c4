package agents

import (
	"fmt"
)

const codexID = "codex"

// Codex is OpenAI's Codex CLI, `codex`. The zero value installs under
// DefaultRoot.
type Codex struct {
	// Root holds the agent's directory, Root/codex; empty means DefaultRoot.
	Root string
}

var _ CodingAgent = Codex{}

// ID returns "codex".
func (Codex) ID() string { return codexID }

func (c Codex) dir() string { return agentDir(c.Root, codexID) }

// Install returns a script that keeps a `codex` found on PATH, or else
// installs the npm package @openai/codex into Root/codex, which needs
// Node.js 18 or later in the image. Either way it creates CODEX_HOME, which
// codex refuses to run without.
func (c Codex) Install() Script {
	return npmInstall(codexID, "codex", c.dir(), "@openai/codex", 18)
}

// PersonaPaths places files under projectDir, with AGENTS.md at the root. A
// persona's CLAUDE.md becomes AGENTS.md when it has no AGENTS.md; other
// files, .claude/ included, are placed as they are, though codex ignores
// them.
func (c Codex) PersonaPaths(
	projectDir string,
	files map[string]string,
) (map[string]string, error) {
	return placePersona(codexID, projectDir, files, agentsInstructions)
}

// env points CODEX_HOME (config, auth and session rollouts) at the volume,
// so sessions survive pause and resume and `codex exec resume` finds them.
func (c Codex) env() map[string]string {
	return map[string]string{"CODEX_HOME": stateDir(c.dir())}
}

// InteractiveCommand returns `codex`, which asks before acting, as suits a
// person at the terminal.
func (c Codex) InteractiveCommand() Command {
	return Command{
		Argv:      []string{"codex"},
		Env:       c.env(),
		ExtraPath: []string{binDir(c.dir())},
	}
}

// HeadlessCommand returns `codex exec --json ... -- PROMPT`, or
// `codex exec --json ... resume -- ID PROMPT` to continue a session.
//
// It uses --dangerously-bypass-approvals-and-sandbox rather than
// --full-auto: recent releases removed --full-auto from exec, and its
// workspace-write sandbox relies on Landlock and seccomp, which a sandbox
// machine's namespaces may not allow. The Sandstorm sandbox is the boundary,
// which is what that flag asks for. --skip-git-repo-check lets it run in a
// project that is not a git repository.
//
// "--" keeps a prompt that starts with "-", or that is the word "resume" or
// "review", from reading as an option or subcommand. Codex has no turn limit,
// so MaxTurns is ErrUnsupported, and it reads a prompt of "-" from stdin, so
// that prompt is refused.
func (c Codex) HeadlessCommand(prompt string, opts HeadlessOptions) (Command, error) {
	if err := checkPrompt(codexID, prompt); err != nil {
		return Command{}, err
	}
	if prompt == "-" {
		return Command{}, fmt.Errorf(`build codex command: codex reads a prompt of "-" `+
			"from stdin: %w", ErrInvalidInput)
	}
	if err := checkOptions(codexID, opts); err != nil {
		return Command{}, err
	}
	if opts.MaxTurns != 0 {
		return Command{}, fmt.Errorf("build codex command: max turns: %w", ErrUnsupported)
	}

	argv := []string{
		"codex", "exec", "--json",
		"--dangerously-bypass-approvals-and-sandbox", "--skip-git-repo-check",
	}
	if opts.Model != "" {
		argv = append(argv, "--model="+opts.Model)
	}
	if opts.ResumeSessionID != "" {
		argv = append(argv, "resume", "--", opts.ResumeSessionID, prompt)
	} else {
		argv = append(argv, "--", prompt)
	}

	return Command{Argv: argv, Env: c.env(), ExtraPath: []string{binDir(c.dir())}}, nil
}

// ProcessPattern matches `codex ...` and any path ending in /codex: the npm
// shim run by node and the native binary it starts.
func (Codex) ProcessPattern() string { return commandPattern("codex") }

// ParseLine reads one line of `codex exec --json` output; see doc.go for the
// shapes it knows.
func (Codex) ParseLine(line []byte) []Event { return parseCodexLine(line) }
