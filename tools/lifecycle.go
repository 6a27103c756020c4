package tools

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/longrun/sandstorm"
	"github.com/longrun/sandstorm/lifecycle"
)

type idlePolicyArgs struct {
	WarnAfterMinutes  int `json:"warn_after_minutes,omitempty" jsonschema:"minimum=-1,maximum=10080,description=Minutes idle before users are warned; -1 for no warning. Must be below pause_after_minutes. Default: the server's."`
	PauseAfterMinutes int `json:"pause_after_minutes,omitempty" jsonschema:"minimum=1,maximum=10080,description=Minutes idle before the sandbox is paused (snapshot kept\\, machine deleted). Default: the server's."`
	DeleteAfterDays   int `json:"delete_after_days,omitempty" jsonschema:"minimum=-1,maximum=365,description=Days paused before the sandbox is deleted for good; -1 to never delete. Default: the server's."`
}

func (a *idlePolicyArgs) policy() *sandstorm.IdlePolicy {
	if a == nil {
		return nil
	}

	return &sandstorm.IdlePolicy{WarnAfterMinutes: a.WarnAfterMinutes,
		PauseAfterMinutes: a.PauseAfterMinutes, DeleteAfterDays: a.DeleteAfterDays}
}

type findIdleArgs struct {
	Minutes  int      `json:"minutes,omitempty" jsonschema:"minimum=1,maximum=10080,description=Window in minutes over which a sandbox must have been quiet to count as idle. Default from the server config (30)."`
	Verdicts []string `json:"verdicts,omitempty" jsonschema:"description=List only sandboxes with these verdicts\\, such as [\"idle\"\\, \"unknown\"]; the counts always cover all. Default: all.,uniqueItems=true,enum=idle,enum=active,enum=unknown,enum=not_running"`
}

// FindIdle is sandbox_find_idle.
func FindIdle(m *sandstorm.Manager) server.ServerTool {
	return define("sandbox_find_idle", "Find idle sandboxes",
		"Judge every sandbox idle, active, unknown or not running over the last minutes, "+
			"with the reasons: idle means network traffic under the threshold, no agent "+
			"session output, no tool call and no keep-alive hold. Unknown means metrics "+
			"were missing, which never counts as idle. Changes nothing; use sandbox_pause "+
			"or lifecycle_check to act.",
		hints{readOnly: true, idempotent: true, openWorld: true},
		func(ctx context.Context, _ mcp.CallToolRequest, a findIdleArgs) (any, string, error) {
			r, err := m.FindIdleSandboxes(ctx, a.Minutes)
			if err != nil {
				return nil, "", err
			}
			if len(a.Verdicts) > 0 {
				r.Sandboxes = slices.DeleteFunc(r.Sandboxes, func(v lifecycle.Verdict) bool {
					return !slices.Contains(a.Verdicts, string(v.Kind))
				})
			}

			return r, fmt.Sprintf("%d idle, %d active, %d unknown, %d not running over %d "+
				"minutes.", r.Idle, r.Active, r.Unknown, r.NotRunning, r.WindowMinutes), nil
		})
}

type lifecycleCheckArgs struct {
	DryRun            bool `json:"dry_run,omitempty" jsonschema:"description=Return the plan without warning\\, pausing or deleting anything."`
	Minutes           int  `json:"minutes,omitempty" jsonschema:"minimum=1,maximum=10080,description=Activity window in minutes. Default from the server config."`
	WarnAfterMinutes  int  `json:"warn_after_minutes,omitempty" jsonschema:"minimum=-1,maximum=10080,description=Override of the server's minutes idle before a warning\\, for this check; -1 for no warning."`
	PauseAfterMinutes int  `json:"pause_after_minutes,omitempty" jsonschema:"minimum=1,maximum=10080,description=Override of the server's minutes idle before a pause\\, for this check."`
	DeleteAfterDays   int  `json:"delete_after_days,omitempty" jsonschema:"minimum=1,maximum=365,description=Override of the server's days paused before deletion\\, for this check."`
}

// LifecycleCheck is lifecycle_check.
func LifecycleCheck(m *sandstorm.Manager) server.ServerTool {
	return define("lifecycle_check", "Run lifecycle check",
		"Apply the idle policy now: warn sandboxes idle past the warning time, pause those "+
			"idle past the pause time (snapshot first, so no data is lost) and delete those "+
			"paused past the deletion time. Sandboxes with a running agent, recent tool "+
			"calls or a keep-alive hold are left alone, and so are those whose activity is "+
			"unknown. With dry_run it only returns the plan. Thresholds given here apply "+
			"to this check only; a sandbox's own idle_policy still wins.",
		hints{destructive: true, idempotent: false, openWorld: true},
		func(ctx context.Context, _ mcp.CallToolRequest, a lifecycleCheckArgs,
		) (any, string, error) {
			window, err := sandstorm.IdleWindow(a.Minutes)
			if err != nil {
				return nil, "", err
			}
			policy := sandstorm.IdlePolicy{WarnAfterMinutes: a.WarnAfterMinutes,
				PauseAfterMinutes: a.PauseAfterMinutes, DeleteAfterDays: a.DeleteAfterDays}
			r, err := m.RunLifecycleCheck(ctx, sandstorm.LifecycleConfig{
				Policy: policy.Policy(), Window: window, DryRun: a.DryRun,
			})
			if err != nil {
				return nil, "", err
			}
			if r.DryRun {
				return r, fmt.Sprintf("Dry run over %d sandboxes: %d actions planned.",
					r.Checked, len(r.Plan)), nil
			}

			return r, fmt.Sprintf("Checked %d sandboxes: %d warned, %d paused, %d deleted, "+
				"%d reactivated, %d skipped, %d failed, %d unknown.", r.Checked, len(r.Warned),
				len(r.Paused), len(r.Deleted), len(r.Reactivated), len(r.Skipped),
				len(r.Errors), r.Unknown), nil
		})
}

type keepAliveArgs struct {
	Sandbox string `json:"sandbox" jsonschema:"required,description=Name of the sandbox."`
	Minutes int    `json:"minutes" jsonschema:"required,minimum=0,maximum=10080,description=How long to keep the sandbox active from now\\, in minutes; 0 ends the hold."`
	Reason  string `json:"reason,omitempty" jsonschema:"maxLength=500,description=Why\\, shown in the sandbox's status\\, such as 'long test run'."`
}

// KeepAlive is sandbox_keepalive.
func KeepAlive(m *sandstorm.Manager) server.ServerTool {
	return define("sandbox_keepalive", "Keep sandbox alive",
		"Keep a sandbox active for the given minutes whatever its activity, so the idle "+
			"policy neither warns, pauses nor deletes it; for long jobs with little output. "+
			"The hold shows in sandbox_get. minutes 0 ends it early.",
		hints{destructive: false, idempotent: true, openWorld: true},
		func(ctx context.Context, _ mcp.CallToolRequest, a keepAliveArgs) (any, string, error) {
			st, err := m.KeepAlive(ctx, a.Sandbox, a.Minutes, a.Reason)
			if err != nil {
				return nil, "", err
			}
			if st.Hold == nil || !st.Hold.Active {
				return st, fmt.Sprintf("Sandbox %s has no keep-alive hold.", a.Sandbox), nil
			}

			return st, fmt.Sprintf("Sandbox %s is held active until %s.", a.Sandbox,
				st.Hold.Until.Format(time.RFC3339)), nil
		})
}
