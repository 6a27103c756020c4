package agents

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
)

// PromptPlaceholder marks where a CommandAgent's template takes the prompt.
const PromptPlaceholder = "{prompt}"

// ParseMode says how a CommandAgent reads its output.
type ParseMode string

// Parse modes.
const (
	// ParseText makes every non-blank line a text event, or an error event
	// when it reads like an error.
	ParseText ParseMode = "text"
	// ParseStreamJSON reads lines as Claude Code's stream-json, for agents
	// and wrappers that speak it.
	ParseStreamJSON ParseMode = "stream-json"
)

// CommandAgent is any CLI run from an argv template, for agents without a
// built-in implementation and for tests. Build one with NewCommandAgent.
type CommandAgent struct {
	id           string
	template     []string
	interactive  []string
	install      *Script
	parse        ParseMode
	env          map[string]string
	extraPath    []string
	instructions string
	promptStdin  bool
}

var _ CodingAgent = (*CommandAgent)(nil)

// CommandOption configures a CommandAgent.
type CommandOption func(*CommandAgent)

// WithInstall sets the agent's Install script, which must keep the contract
// of CodingAgent.Install. It is server configuration and runs as shell code,
// so it must never be built from a request. Without it, Install only checks
// that the template's program is on PATH.
func WithInstall(s Script) CommandOption {
	return func(a *CommandAgent) {
		a.install = &Script{Program: s.Program, Args: slices.Clone(s.Args)}
	}
}

// WithParseMode sets how output lines are read; the default is ParseText.
func WithParseMode(m ParseMode) CommandOption {
	return func(a *CommandAgent) { a.parse = m }
}

// WithInteractive sets the argv a person runs; the default is the template's
// program alone.
func WithInteractive(argv ...string) CommandOption {
	return func(a *CommandAgent) { a.interactive = slices.Clone(argv) }
}

// WithEnv sets variables for both commands.
func WithEnv(env map[string]string) CommandOption {
	return func(a *CommandAgent) { a.env = maps.Clone(env) }
}

// WithExtraPath sets directories to append to PATH for both commands.
func WithExtraPath(dirs ...string) CommandOption {
	return func(a *CommandAgent) { a.extraPath = slices.Clone(dirs) }
}

// WithInstructionsFile names the instructions file the agent reads, such as
// "GEMINI.md"; a persona's CLAUDE.md or AGENTS.md is placed under that name
// when the persona lacks it. By default persona files keep their names.
func WithInstructionsFile(name string) CommandOption {
	return func(a *CommandAgent) { a.instructions = name }
}

// WithPromptOnStdin passes the prompt on stdin instead of in the argv, for a
// CLI that reads it there; the template then has no placeholder. A caller
// that cannot give a detached command stdin cannot use such an agent.
func WithPromptOnStdin() CommandOption {
	return func(a *CommandAgent) { a.promptStdin = true }
}

// NewCommandAgent returns an agent that runs template, an argv in which every
// PromptPlaceholder is replaced by the prompt inside that element only, with
// no shell involved: {"aider", "--yes", "--message", "{prompt}"} or
// {"my-agent", "--prompt={prompt}"}. The program, template[0], is fixed: it
// may not hold the placeholder or start with "-". The error wraps
// ErrInvalidInput.
func NewCommandAgent(id string, template []string, opts ...CommandOption) (*CommandAgent, error) {
	a := &CommandAgent{id: id, template: slices.Clone(template), parse: ParseText}
	for _, opt := range opts {
		opt(a)
	}
	if err := a.validate(); err != nil {
		return nil, fmt.Errorf("define command agent %q: %w: %w", id, err, ErrInvalidInput)
	}
	if a.interactive == nil {
		a.interactive = []string{a.template[0]}
	}

	return a, nil
}

func (a *CommandAgent) validate() error {
	if !validID.MatchString(a.id) {
		return fmt.Errorf("id must match %s", validID)
	}
	if len(a.template) == 0 || a.template[0] == "" {
		return fmt.Errorf("template needs a program")
	}
	prog := a.template[0]
	if strings.Contains(prog, PromptPlaceholder) || strings.HasPrefix(prog, "-") {
		return fmt.Errorf("program %q may not hold %s or start with \"-\"", prog, PromptPlaceholder)
	}
	placeholders := 0
	for _, el := range a.template {
		placeholders += strings.Count(el, PromptPlaceholder)
	}
	switch {
	case a.promptStdin && placeholders > 0:
		return fmt.Errorf("template holds %s but the prompt goes on stdin", PromptPlaceholder)
	case !a.promptStdin && placeholders == 0:
		return fmt.Errorf("template has no %s for the prompt", PromptPlaceholder)
	case a.parse != ParseText && a.parse != ParseStreamJSON:
		return fmt.Errorf("parse mode %q is neither %q nor %q", a.parse, ParseText, ParseStreamJSON)
	}
	for _, d := range a.extraPath {
		if !path.IsAbs(d) || strings.Contains(d, ":") {
			return fmt.Errorf("extra PATH dir %q is not absolute or holds a colon", d)
		}
	}
	if a.instructions != "" {
		if problem := personaPathProblem(a.instructions); problem != "" {
			return fmt.Errorf("instructions file %q: %s", a.instructions, problem)
		}
	}

	return nil
}

// ID returns the id given to NewCommandAgent.
func (a *CommandAgent) ID() string { return a.id }

// Install returns the script given with WithInstall, or one that reports the
// template's program as present when it is on PATH and fails with
// ExitNeedsRuntime when it is not.
func (a *CommandAgent) Install() Script {
	if a.install != nil {
		return Script{Program: a.install.Program, Args: slices.Clone(a.install.Args)}
	}

	return Script{Program: onPathProgram, Args: []string{a.id, a.template[0]}}
}

// PersonaPaths places files under projectDir as they are named, apart from
// the instructions file set with WithInstructionsFile.
func (a *CommandAgent) PersonaPaths(
	projectDir string,
	files map[string]string,
) (map[string]string, error) {
	return placePersona(a.id, projectDir, files, a.instructions)
}

// InteractiveCommand returns the argv set with WithInteractive, or the
// template's program.
func (a *CommandAgent) InteractiveCommand() Command {
	return a.command(slices.Clone(a.interactive))
}

// HeadlessCommand returns the template with the prompt in place. The agent
// has no model, turn or resume settings, so those options are
// ErrUnsupported.
func (a *CommandAgent) HeadlessCommand(prompt string, opts HeadlessOptions) (Command, error) {
	if err := checkPrompt(a.id, prompt); err != nil {
		return Command{}, err
	}
	if opts != (HeadlessOptions{}) {
		return Command{}, fmt.Errorf("build %s command: model, max turns and resume: %w",
			a.id, ErrUnsupported)
	}

	if a.promptStdin {
		cmd := a.command(slices.Clone(a.template))
		cmd.Stdin = prompt

		return cmd, nil
	}
	argv := make([]string, len(a.template))
	for i, el := range a.template {
		argv[i] = strings.ReplaceAll(el, PromptPlaceholder, prompt)
		if len(argv[i]) > maxArgBytes {
			return Command{}, fmt.Errorf("build %s command: argument %d is %d bytes with "+
				"the prompt, over the limit of %d: %w", a.id, i, len(argv[i]), maxArgBytes,
				ErrInvalidInput)
		}
	}

	return a.command(argv), nil
}

func (a *CommandAgent) command(argv []string) Command {
	return Command{Argv: argv, Env: maps.Clone(a.env), ExtraPath: slices.Clone(a.extraPath)}
}

// ProcessPattern matches a command line run by the template's program.
func (a *CommandAgent) ProcessPattern() string {
	return commandPattern(path.Base(a.template[0]))
}

// ParseLine reads a line as the parse mode says.
func (a *CommandAgent) ParseLine(line []byte) []Event {
	if a.parse == ParseStreamJSON {
		return parseClaudeLine(line)
	}

	return plainEvents(line)
}
