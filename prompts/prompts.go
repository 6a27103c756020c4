package prompts

import (
	"context"
	"fmt"
	"strings"
	"unicode"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// Register adds every prompt to s.
func Register(s *server.MCPServer) {
	s.AddPrompts(All()...)
}

// All returns every prompt with its handler, sorted by name as prompts/list
// shows them.
func All() []server.ServerPrompt {
	return []server.ServerPrompt{DelegateTask(), InvestigateSandbox(), ReviewIdleSandboxes()}
}

// DelegateTask is delegate_task: create a sandbox, run an agent on a task in
// it, follow it to the end and report.
func DelegateTask() server.ServerPrompt {
	return server.ServerPrompt{
		Prompt: mcp.NewPrompt("delegate_task",
			mcp.WithPromptTitle("Delegate a task to a coding agent in a sandbox"),
			mcp.WithPromptDescription("Create a sandbox, run a coding agent on a task in the "+
				"background, follow its log to the end, and report the result and cost."),
			mcp.WithArgument("task", mcp.RequiredArgument(),
				mcp.ArgumentDescription("What the agent should do, as you would tell a colleague.")),
			mcp.WithArgument("repo",
				mcp.ArgumentDescription("Clone URL of a git repository to work in, such as "+
					"https://github.com/owner/repo.git. Default: an empty project directory.")),
			mcp.WithArgument("agent",
				mcp.ArgumentDescription("Coding agent to run, such as claude-code or codex. "+
					"Default: "+defaultAgent+".")),
		),
		Handler: func(_ context.Context, req mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
			args := req.Params.Arguments
			task := strings.TrimSpace(args["task"])
			if task == "" {
				return nil, fmt.Errorf("delegate_task needs the task argument: what the " +
					"agent should do")
			}

			return result("Delegate a task to a coding agent in a sandbox",
				delegateText(task, strings.TrimSpace(args["repo"]),
					strings.TrimSpace(args["agent"]))), nil
		},
	}
}

// defaultAgent is the agent delegate_task installs when none is named: the
// Manager's default, which sandbox_create installs only when asked.
const defaultAgent = "claude-code"

func delegateText(task, repo, agent string) string {
	slug := identifier(task)
	var create, start []string
	if repo != "" {
		create = append(create, fmt.Sprintf("repo {\"url\": %q}", repo))
	}
	if agent == "" {
		create = append(create, fmt.Sprintf("agent %q (installed so that session_start "+
			"can run it)", defaultAgent))
	} else {
		create = append(create, fmt.Sprintf("agent %q", agent))
		start = append(start, fmt.Sprintf("agent %q", agent))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Delegate this task to a coding agent in a Sandstorm sandbox, follow it "+
		"to the end, and report back to me.\n\nThe task:\n\n%s\n\n", quote(task))
	b.WriteString("Do it in these steps, with the Sandstorm tools:\n\n")
	fmt.Fprintf(&b, "1. Call sandbox_create with a short name made of lowercase letters, "+
		"digits and dashes (for example %q)%s. Wait for it to return with status running; "+
		"if it fails, tell me why and stop.\n", sandboxName(slug), withArgs(create))
	fmt.Fprintf(&b, "2. Call session_start with that sandbox, identifier %q and the task "+
		"above, word for word, as prompt%s. Keep the session_id it returns.\n",
		slug, withArgs(start))
	b.WriteString("3. Follow the agent with session_logs (sandbox and session_id) and " +
		"wait_ms 20000. Omit cursor on the first call; then pass the next_cursor of each " +
		"answer as cursor, so no line is read twice. Keep going until running is false and " +
		"more is false. Do not paste the log to me: note what the agent is doing, the " +
		"files it changes, and any errors.\n")
	b.WriteString("4. Call session_status with the session_id to get the outcome: status, " +
		"exit_code, the agent's result, and cost_usd with the token counts.\n")
	b.WriteString("5. Report to me: what the agent did, its result, whether it succeeded, " +
		"its cost, and the sandbox name and session id. If it failed, quote the few log " +
		"lines that show why and suggest what to try next.\n")
	b.WriteString("6. Then offer to pause the sandbox with sandbox_pause, which stops paying " +
		"for its machine. Pausing keeps everything under /data, including the project and " +
		"the agent's work, and sandbox_resume brings it back.\n")

	return b.String()
}

// InvestigateSandbox is investigate_sandbox: look at a sandbox, its sessions
// and the latest log, and suggest what to do.
func InvestigateSandbox() server.ServerPrompt {
	return server.ServerPrompt{
		Prompt: mcp.NewPrompt("investigate_sandbox",
			mcp.WithPromptTitle("Investigate a sandbox"),
			mcp.WithPromptDescription("Check a sandbox's state, its recent agent sessions "+
				"and the log of the latest one, and suggest next steps."),
			mcp.WithArgument("sandbox", mcp.RequiredArgument(),
				mcp.ArgumentDescription("Name of the sandbox, as sandbox_list shows it.")),
		),
		Handler: func(_ context.Context, req mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
			name := strings.TrimSpace(req.Params.Arguments["sandbox"])
			if name == "" {
				return nil, fmt.Errorf("investigate_sandbox needs the sandbox argument: " +
					"a name from sandbox_list")
			}

			return result("Investigate sandbox "+name, investigateText(name)), nil
		},
	}
}

func investigateText(name string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Investigate the Sandstorm sandbox %q: find out what state it is in and "+
		"what its agents did, then suggest what to do next. Look, but change nothing.\n\n",
		name)
	fmt.Fprintf(&b, "1. Call sandbox_get with sandbox %q. Note status, machine_state, "+
		"last_error, the latest snapshot, and when it was created and last updated. If it "+
		"does not exist, call sandbox_list, tell me which names exist, and stop.\n", name)
	fmt.Fprintf(&b, "2. Call session_list with sandbox %q for its agent sessions, newest "+
		"first: which are running, how the others ended (status, exit_code, error), their "+
		"results and cost_usd.\n", name)
	b.WriteString("3. For the latest session, call session_logs with its session_id and " +
		"lines 80 to read the end of its log. If it is still running, say what it is " +
		"working on; if it failed, find the error. A paused sandbox's logs cannot be read " +
		"until it is resumed: do not resume it without asking me.\n")
	b.WriteString("4. If the sandbox runs and something is still unclear, you may use " +
		"sandbox_exec for commands that only read, such as `git -C /data/project status`, " +
		"`df -h /data` or `ps aux`.\n")
	b.WriteString("5. Summarize for me: its state, what its sessions did and cost, and any " +
		"problem you found. Then suggest next steps, such as session_start to continue the " +
		"work, session_stop for a session that is stuck, sandbox_resume if it is paused and " +
		"needed, or sandbox_pause if it runs with nothing to do (pausing keeps /data).\n")

	return b.String()
}

// ReviewIdleSandboxes is review_idle_sandboxes: judge every sandbox's
// activity and suggest pausing the idle ones.
func ReviewIdleSandboxes() server.ServerPrompt {
	return server.ServerPrompt{
		Prompt: mcp.NewPrompt("review_idle_sandboxes",
			mcp.WithPromptTitle("Review idle sandboxes"),
			mcp.WithPromptDescription("Find the running sandboxes that are idle by their "+
				"network traffic, agent sessions and tool calls, and suggest pausing them to "+
				"save money."),
		),
		Handler: func(_ context.Context, _ mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
			return result("Review idle sandboxes", reviewText), nil
		},
	}
}

const reviewText = `Review my Sandstorm sandboxes and find the ones that cost money ` +
	`without doing any work.

1. Call sandbox_find_idle. It judges every sandbox idle, active, unknown or not ` +
	`running, with the reasons, from its network traffic, agent session output, tool ` +
	`calls and keep-alive holds.
2. Call lifecycle_check with dry_run true to see what the idle policy would do now: ` +
	`which sandboxes it would warn, pause or delete.
3. Show me a short table: name, verdict, idle minutes, the main reason, and what the ` +
	`policy plans for it. Treat unknown as "could not measure", never as idle.
4. For each idle sandbox, suggest pausing it with sandbox_pause, but ask me before ` +
	`pausing any. Remind me what pausing does: it snapshots the /data volume and keeps ` +
	`everything under /data (projects, the agents' work and their home directory), stops ` +
	`paying for the machine, and ends whatever still runs in it; sandbox_resume starts ` +
	`it again. For one I want kept up, offer sandbox_keepalive with a reason.
5. Paused sandboxes cost only their storage: leave them. For a sandbox with status ` +
	`error, give its last_error; suggest sandbox_delete only if I confirm it is no ` +
	`longer needed, since deleting loses its data.
`

func result(description, text string) *mcp.GetPromptResult {
	return mcp.NewGetPromptResult(description, []mcp.PromptMessage{
		mcp.NewPromptMessage(mcp.RoleUser, mcp.NewTextContent(text)),
	})
}

// identifier makes a session identifier from the first words of a task:
// lowercase letters and digits joined by dashes, at most 40 bytes.
func identifier(task string) string {
	words := strings.FieldsFunc(strings.ToLower(task), func(r rune) bool {
		return r > unicode.MaxASCII || !(unicode.IsLetter(r) || unicode.IsDigit(r))
	})
	id := ""
	for _, w := range words {
		next := w
		if id != "" {
			next = id + "-" + w
		}
		if len(next) > 40 {
			break
		}
		id = next
	}
	switch {
	case id != "":
	case len(words) > 0:
		id = words[0][:40]
	default:
		id = "task"
	}

	return id
}

// sandboxName suggests a sandbox name for a task identifier.
func sandboxName(slug string) string {
	if len(slug) > 30 {
		slug = strings.TrimRight(slug[:30], "-")
	}

	return slug
}

func withArgs(args []string) string {
	if len(args) == 0 {
		return ""
	}

	return ", with " + strings.Join(args, " and ")
}

// quote indents text as a Markdown block quote, so the task stands apart
// from the instructions around it.
func quote(text string) string {
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight("> "+l, " ")
	}

	return strings.Join(lines, "\n")
}
