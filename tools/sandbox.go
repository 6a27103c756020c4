package tools

import (
	"context"
	"fmt"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/longrun/sandstorm"
	"github.com/longrun/sandstorm/agents"
)

type repoArgs struct {
	URL    string `json:"url" jsonschema:"required,description=Clone URL of the repository such as https://github.com/owner/repo.git"`
	Branch string `json:"branch,omitempty" jsonschema:"description=Branch to check out. Default main."`
	Token  string `json:"token,omitempty" jsonschema:"description=Access token for a private repository. Used for the clone only: it is not stored and not left in .git/config."`
	Path   string `json:"path,omitempty" jsonschema:"description=Absolute path to clone into. Default /data/project."`
}

type createArgs struct {
	Name         string            `json:"name" jsonschema:"required,description=Sandbox name: lowercase letters\\, digits and dashes\\, such as fix-login-bug. It becomes part of the Fly app name and the URL."`
	Region       string            `json:"region,omitempty" jsonschema:"description=Three-letter Fly region code such as ord or ams. Default from the server config."`
	Env          map[string]string `json:"env,omitempty" jsonschema:"description=Environment variables for the sandbox. Stored as Fly app secrets: values are never shown again."`
	VolumeSizeGB int               `json:"volume_size_gb,omitempty" jsonschema:"minimum=1,maximum=500,description=Size of the persistent /data volume in GB. Default 1."`
	MemoryMB     int               `json:"memory_mb,omitempty" jsonschema:"minimum=256,maximum=16384,description=Memory in MB: a multiple of 256 between 256 and 2048 per CPU. Default 2048."`
	CPUs         int               `json:"cpus,omitempty" jsonschema:"enum=1,enum=2,enum=4,enum=6,enum=8,description=Shared CPUs. Default 2."`
	SwapSizeMB   int               `json:"swap_size_mb,omitempty" jsonschema:"minimum=0,maximum=16384,description=Swap in MB. Default 1024."`
	Image        string            `json:"image,omitempty" jsonschema:"description=Container image. It needs a POSIX shell and coreutils (and git for repo). Default from the server config."`
	HTTPPort     int               `json:"http_port,omitempty" jsonschema:"minimum=1,maximum=65535,description=Port inside the sandbox that https://<app>.fly.dev reaches. Default 8080."`
	Repo         *repoArgs         `json:"repo,omitempty" jsonschema:"description=A git repository to clone into the sandbox once it runs."`
	Agent        string            `json:"agent,omitempty" jsonschema:"description=Coding agent to install after start so session_start can run it: claude-code or codex or a configured command agent. A persona without an agent installs claude-code."`
	Persona      *personaArgs      `json:"persona,omitempty" jsonschema:"description=Persona files for the agent (instructions and settings) deployed into the project directory."`
	PersonaVars  map[string]string `json:"persona_vars,omitempty" jsonschema:"description=Values for the persona's {{key}} placeholders; a missing one is an error that names it."`
	IdlePolicy   *idlePolicyArgs   `json:"idle_policy,omitempty" jsonschema:"description=This sandbox's own idle policy over the server's: when to warn\\, pause and delete it once idle."`
}

// Create is sandbox_create.
func Create(m *sandstorm.Manager) server.ServerTool {
	return define("sandbox_create", "Create sandbox",
		"Create a persistent Linux sandbox: a Fly app with a /data volume and a running "+
			"machine, optionally with a git repository cloned in. Takes a few seconds to a "+
			"minute and reports progress. Files under /data survive pause and resume; other "+
			"paths are reset. Returns the sandbox with its machine id and public URL.",
		hints{destructive: false, idempotent: false, openWorld: true},
		func(ctx context.Context, req mcp.CallToolRequest, a createArgs) (any, string, error) {
			r := sandstorm.CreateRequest{
				Name: a.Name, Region: a.Region, Image: a.Image, Env: a.Env,
				VolumeSizeGB: a.VolumeSizeGB, MemoryMB: a.MemoryMB, CPUs: a.CPUs,
				SwapSizeMB: a.SwapSizeMB, HTTPPort: a.HTTPPort, Progress: progress(ctx, req),
				Agent: a.Agent, Persona: a.Persona.source(), PersonaVars: a.PersonaVars,
				IdlePolicy: a.IdlePolicy.policy(),
			}
			if a.Repo != nil {
				r.Repo = &sandstorm.RepoRequest{URL: a.Repo.URL, Branch: a.Repo.Branch,
					Token: a.Repo.Token, Path: a.Repo.Path}
			}
			sb, err := m.Create(ctx, r)
			if err != nil {
				return nil, "", err
			}

			return sb, fmt.Sprintf("Sandbox %s is %s on machine %s at %s.",
				sb.Name, sb.Status, sb.MachineID, sb.URL), nil
		})
}

type nameArgs struct {
	Sandbox string `json:"sandbox" jsonschema:"required,description=Name of the sandbox."`
}

type listArgs struct{}

type sandboxList struct {
	Sandboxes []sandstorm.Sandbox `json:"sandboxes"`
}

// List is sandbox_list.
func List(m *sandstorm.Manager) server.ServerTool {
	return define("sandbox_list", "List sandboxes",
		"List every sandbox with its status (creating, running, stopped, paused, error), "+
			"machine state, resources, env names and latest snapshot.",
		hints{readOnly: true, idempotent: true, openWorld: true},
		func(ctx context.Context, _ mcp.CallToolRequest, _ listArgs) (any, string, error) {
			sbs, err := m.List(ctx)
			if err != nil {
				return nil, "", err
			}

			return sandboxList{Sandboxes: sbs}, fmt.Sprintf("%d sandboxes.", len(sbs)), nil
		})
}

// Get is sandbox_get.
func Get(m *sandstorm.Manager) server.ServerTool {
	return define("sandbox_get", "Get sandbox",
		"Get one sandbox's status, machine state, ids, region, URL, resources, image, env "+
			"names (never values), latest snapshot and times, and where it stands in the "+
			"idle policy: phase, policy, keep-alive hold and latest transitions with reasons.",
		hints{readOnly: true, idempotent: true, openWorld: true},
		func(ctx context.Context, _ mcp.CallToolRequest, a nameArgs) (any, string, error) {
			sb, err := m.Get(ctx, a.Sandbox)
			if err != nil {
				return nil, "", err
			}

			return sb, fmt.Sprintf("Sandbox %s is %s.", sb.Name, sb.Status), nil
		})
}

// Delete is sandbox_delete.
func Delete(m *sandstorm.Manager) server.ServerTool {
	return define("sandbox_delete", "Delete sandbox",
		"Delete a sandbox for good: its machine, volume, snapshots and app. All its data is "+
			"lost. Also finishes removing a sandbox left half-deleted.",
		hints{destructive: true, idempotent: true, openWorld: true},
		func(ctx context.Context, _ mcp.CallToolRequest, a nameArgs) (any, string, error) {
			res, err := m.Delete(ctx, a.Sandbox)
			if err != nil {
				return nil, "", err
			}

			return res, fmt.Sprintf("Sandbox %s is deleted.", res.Name), nil
		})
}

// Pause is sandbox_pause.
func Pause(m *sandstorm.Manager) server.ServerTool {
	return define("sandbox_pause", "Pause sandbox",
		"Pause a running sandbox to stop paying for its machine: snapshot the /data volume, "+
			"wait until the snapshot is complete, then delete the machine. Files under /data "+
			"are kept; running processes end. If the snapshot fails the machine keeps running. "+
			"Pausing a paused sandbox returns its snapshot.",
		hints{destructive: true, idempotent: true, openWorld: true},
		func(ctx context.Context, req mcp.CallToolRequest, a nameArgs) (any, string, error) {
			res, err := m.Pause(ctx, a.Sandbox, progress(ctx, req))
			if err != nil {
				return nil, "", err
			}

			return res, fmt.Sprintf("Sandbox %s is paused with snapshot %s.",
				a.Sandbox, res.Snapshot.ID), nil
		})
}

type resumeArgs struct {
	Sandbox    string            `json:"sandbox" jsonschema:"required,description=Name of the paused sandbox."`
	SnapshotID string            `json:"snapshot_id,omitempty" jsonschema:"description=Snapshot to restore. Default the latest; an older one replaces the volume's current contents."`
	Env        map[string]string `json:"env,omitempty" jsonschema:"description=Env values to add or change before the machine starts."`
	MemoryMB   int               `json:"memory_mb,omitempty" jsonschema:"minimum=256,maximum=16384,description=New memory in MB from now on."`
	CPUs       int               `json:"cpus,omitempty" jsonschema:"enum=1,enum=2,enum=4,enum=6,enum=8,description=New CPU count from now on."`
	SwapSizeMB int               `json:"swap_size_mb,omitempty" jsonschema:"minimum=0,maximum=16384,description=New swap in MB from now on."`
}

// Resume is sandbox_resume.
func Resume(m *sandstorm.Manager) server.ServerTool {
	return define("sandbox_resume", "Resume sandbox",
		"Resume a paused sandbox: start a machine on its volume, or restore the volume "+
			"from a chosen snapshot first, which drops whatever /data gained after that "+
			"snapshot. Optionally change env, memory, CPUs or swap. Resuming a running "+
			"sandbox without snapshot_id returns it unchanged.",
		hints{destructive: true, idempotent: true, openWorld: true},
		func(ctx context.Context, req mcp.CallToolRequest, a resumeArgs) (any, string, error) {
			sb, err := m.Resume(ctx, sandstorm.ResumeRequest{
				Name: a.Sandbox, SnapshotID: a.SnapshotID, Env: a.Env, MemoryMB: a.MemoryMB,
				CPUs: a.CPUs, SwapSizeMB: a.SwapSizeMB, Progress: progress(ctx, req),
			})
			if err != nil {
				return nil, "", err
			}

			return sb, fmt.Sprintf("Sandbox %s is %s on machine %s.",
				sb.Name, sb.Status, sb.MachineID), nil
		})
}

type updateEnvArgs struct {
	Sandbox string            `json:"sandbox" jsonschema:"required,description=Name of the sandbox."`
	Env     map[string]string `json:"env,omitempty" jsonschema:"description=Values to add or change."`
	Unset   []string          `json:"unset,omitempty" jsonschema:"description=Names to remove."`
	Restart bool              `json:"restart,omitempty" jsonschema:"description=Restart the machine now so the change takes effect. Running processes end; files under /data stay. Default false: the change applies at the next start."`
}

// UpdateEnv is sandbox_update_env.
func UpdateEnv(m *sandstorm.Manager) server.ServerTool {
	return define("sandbox_update_env", "Update sandbox env",
		"Add, change or remove a sandbox's environment variables. Values are stored as Fly "+
			"secrets and never shown again. They take effect at the next machine start, or "+
			"now with restart: true.",
		hints{destructive: true, idempotent: true, openWorld: true},
		func(ctx context.Context, _ mcp.CallToolRequest, a updateEnvArgs) (any, string, error) {
			sb, err := m.UpdateEnv(ctx, sandstorm.UpdateEnvRequest{
				Name: a.Sandbox, Set: a.Env, Unset: a.Unset, Restart: a.Restart,
			})
			if err != nil {
				return nil, "", err
			}
			when := "at the next machine start"
			if a.Restart {
				when = "now: the machine was restarted"
			}

			return sb, fmt.Sprintf("Env of %s updated; effective %s.", sb.Name, when), nil
		})
}

// headless builds an agent's headless options from tool arguments.
func headless(model string, maxTurns int) agents.HeadlessOptions {
	return agents.HeadlessOptions{Model: model, MaxTurns: maxTurns}
}

// secondsArg converts a timeout in whole seconds, 0 meaning the default.
func secondsArg(s int) time.Duration { return time.Duration(s) * time.Second }
