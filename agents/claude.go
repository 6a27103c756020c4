package agents

import (
	"encoding/json"
	"strconv"
	"strings"
)

const claudeID = "claude-code"

// ClaudeCode is Anthropic's Claude Code CLI, `claude`. The zero value installs
// under DefaultRoot.
type ClaudeCode struct {
	// Root holds the agent's directory, Root/claude-code; empty means
	// DefaultRoot.
	Root string
}

var _ CodingAgent = ClaudeCode{}

// ID returns "claude-code".
func (ClaudeCode) ID() string { return claudeID }

func (c ClaudeCode) dir() string { return agentDir(c.Root, claudeID) }

// Install returns a script that keeps a `claude` found on PATH, or else
// installs the npm package @anthropic-ai/claude-code into Root/claude-code,
// which needs Node.js 18 or later in the image.
func (c ClaudeCode) Install() Script {
	return npmInstall(claudeID, "claude", c.dir(), "@anthropic-ai/claude-code", 18)
}

// PersonaPaths places files under projectDir: CLAUDE.md at the root and the
// .claude/ tree (settings.json, agents/*.md, commands/*.md) beside it. A
// persona's AGENTS.md becomes CLAUDE.md when it has no CLAUDE.md.
func (c ClaudeCode) PersonaPaths(
	projectDir string,
	files map[string]string,
) (map[string]string, error) {
	return placePersona(claudeID, projectDir, files, claudeInstructions)
}

// env points Claude Code's config and session transcripts at the volume, so
// they survive pause and resume and `--resume` finds them, and so the CLI
// has a writable place when HOME is read-only.
func (c ClaudeCode) env() map[string]string {
	return map[string]string{"CLAUDE_CONFIG_DIR": stateDir(c.dir())}
}

// InteractiveCommand returns `claude`, which asks before acting, as suits a
// person at the terminal.
func (c ClaudeCode) InteractiveCommand() Command {
	return Command{
		Argv:      []string{"claude"},
		Env:       c.env(),
		ExtraPath: []string{binDir(c.dir())},
	}
}

// HeadlessCommand returns `claude -p ... -- PROMPT` with stream-json output.
//
// It uses --permission-mode bypassPermissions rather than the equivalent
// --dangerously-skip-permissions: it names the mode the way the init event
// reports it (permissionMode), so a log shows what was asked for, and it is
// one value of the documented mode flag rather than a separate switch. No
// one is there to answer a prompt, and the sandbox itself is the boundary.
// Claude Code refuses that mode as root unless IS_SANDBOX=1 declares a
// disposable sandbox, which a Sandstorm machine is, so Env sets it.
//
// The prompt follows "--" so that one starting with "-" is not an option.
func (c ClaudeCode) HeadlessCommand(prompt string, opts HeadlessOptions) (Command, error) {
	if err := checkPrompt(claudeID, prompt); err != nil {
		return Command{}, err
	}
	if err := checkOptions(claudeID, opts); err != nil {
		return Command{}, err
	}

	argv := []string{
		"claude", "-p",
		"--output-format", "stream-json", "--verbose",
		"--permission-mode", "bypassPermissions",
	}
	if opts.Model != "" {
		argv = append(argv, "--model="+opts.Model)
	}
	if opts.MaxTurns > 0 {
		argv = append(argv, "--max-turns", strconv.Itoa(opts.MaxTurns))
	}
	if opts.ResumeSessionID != "" {
		argv = append(argv, "--resume="+opts.ResumeSessionID)
	}
	env := c.env()
	env["IS_SANDBOX"] = "1"

	return Command{
		Argv:      append(argv, "--", prompt),
		Env:       env,
		ExtraPath: []string{binDir(c.dir())},
	}, nil
}

// ProcessPattern matches `claude ...`, a path ending in /claude (the npm
// shim, run directly or by node) and the package's own files.
func (ClaudeCode) ProcessPattern() string {
	return commandPattern("claude") + `|@anthropic-ai/claude-code/`
}

// ParseLine reads one line of `--output-format stream-json` output.
func (ClaudeCode) ParseLine(line []byte) []Event { return parseClaudeLine(line) }

// claudeLine is the union of the stream-json line shapes the parser reads.
type claudeLine struct {
	Type      string `json:"type"`
	Subtype   string `json:"subtype"`
	SessionID string `json:"session_id"`
	Message   struct {
		Content json.RawMessage `json:"content"`
	} `json:"message"`

	// Fields of the final result.
	IsError      bool            `json:"is_error"`
	Result       string          `json:"result"`
	Errors       json.RawMessage `json:"errors"`
	TotalCostUSD *float64        `json:"total_cost_usd"`
	CostUSD      float64         `json:"cost_usd"`
	DurationMS   int64           `json:"duration_ms"`
	Usage        struct {
		InputTokens         int `json:"input_tokens"`
		CacheCreationTokens int `json:"cache_creation_input_tokens"`
		CacheReadTokens     int `json:"cache_read_input_tokens"`
		OutputTokens        int `json:"output_tokens"`
	} `json:"usage"`
}

// claudeBlock is one content block of an assistant or user message.
type claudeBlock struct {
	Type    string          `json:"type"`
	Text    string          `json:"text"`
	Name    string          `json:"name"`
	Input   json.RawMessage `json:"input"`
	Content json.RawMessage `json:"content"`
	IsError bool            `json:"is_error"`
}

func parseClaudeLine(line []byte) []Event {
	var l claudeLine
	raw := decodeObject(line, &l)
	if raw == nil {
		return plainEvents(line)
	}

	var events []Event
	switch l.Type {
	case "assistant", "user":
		events = claudeBlocks(l.Type, l.Message.Content)
	case "result":
		events = []Event{claudeResult(&l)}
	case "system":
		events = []Event{{Kind: KindSystem, Text: l.Subtype, SessionID: l.SessionID}}
	default:
		events = []Event{{Kind: KindSystem, Text: l.Type}}
	}
	for i := range events {
		events[i].Raw = raw
	}

	return events
}

// claudeBlocks turns a message's content into events: the assistant's text
// and tool calls, and the tool results that come back in user messages.
// Other blocks, such as thinking, become system events named by their type.
func claudeBlocks(role string, content json.RawMessage) []Event {
	var blocks []claudeBlock
	if json.Unmarshal(content, &blocks) != nil {
		// A plain string: the prompt, echoed back with a user role.
		if text := contentText(content); text != "" {
			return []Event{{Kind: KindSystem, Text: text}}
		}

		return nil
	}

	events := make([]Event, 0, len(blocks))
	for _, b := range blocks {
		switch {
		case b.Type == "text" && role == "assistant":
			events = append(events, Event{Kind: KindText, Text: b.Text})
		case b.Type == "tool_use":
			events = append(events, Event{
				Kind: KindToolUse,
				Tool: b.Name,
				Text: compactJSON(b.Input),
			})
		case b.Type == "tool_result":
			events = append(events, Event{
				Kind:    KindToolResult,
				Text:    contentText(b.Content),
				IsError: b.IsError,
			})
		case b.Type == "text":
			events = append(events, Event{Kind: KindSystem, Text: b.Text})
		default:
			events = append(events, Event{Kind: KindSystem, Text: b.Type})
		}
	}

	return events
}

// claudeResult reads the final result line. Only subtype "success" is a
// success: Claude Code has reported error_max_turns with is_error false.
func claudeResult(l *claudeLine) Event {
	ev := Event{
		Kind:       KindResult,
		Text:       l.Result,
		IsError:    l.IsError || (l.Subtype != "" && l.Subtype != "success"),
		SessionID:  l.SessionID,
		CostUSD:    l.CostUSD,
		DurationMS: l.DurationMS,
		InputTokens: l.Usage.InputTokens + l.Usage.CacheCreationTokens +
			l.Usage.CacheReadTokens,
		OutputTokens: l.Usage.OutputTokens,
	}
	if l.TotalCostUSD != nil {
		ev.CostUSD = *l.TotalCostUSD
	}
	if ev.Text == "" {
		var errs []string
		_ = json.Unmarshal(l.Errors, &errs)
		ev.Text = strings.Join(errs, "\n")
	}
	if ev.Text == "" && ev.IsError {
		ev.Text = l.Subtype
	}

	return ev
}
