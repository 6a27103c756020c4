package sandstorm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/longrun/sandstorm/agents"
	"github.com/longrun/sandstorm/flyclient"
	"github.com/longrun/sandstorm/store"
)

// Get reports a sandbox's status, combining its record with what Fly says of
// its machine now.
func (m *Manager) Get(ctx context.Context, name string) (*Sandbox, error) {
	rec, err := m.record(ctx, name)
	if err != nil {
		return nil, err
	}

	return m.describe(ctx, rec, "")
}

// started reports a sandbox whose machine was just seen started, without
// asking Fly again.
func (m *Manager) started(ctx context.Context, name string) (*Sandbox, error) {
	rec, err := m.record(ctx, name)
	if err != nil {
		return nil, err
	}

	return m.describe(ctx, rec, flyclient.StateStarted)
}

// List reports every sandbox with the Manager's prefix: those it has records of,
// and Fly apps with the prefix that it has no record of, as status error.
func (m *Manager) List(ctx context.Context) ([]Sandbox, error) {
	recs, err := m.store.ListSandboxes(ctx)
	if err != nil {
		return nil, fmt.Errorf("list sandboxes: %w", err)
	}
	apps, err := m.fly.ListApps(ctx, m.cfg.Org)
	if err != nil {
		return nil, fmt.Errorf("list apps of %s: %w", m.cfg.Org, err)
	}

	out := make([]Sandbox, len(recs))
	known := make(map[string]bool, len(recs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	var firstErr error
	var mu sync.Mutex
	for i, rec := range recs {
		known[rec.App] = true
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			sb, err := m.describe(ctx, rec, "")
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			if sb != nil {
				out[i] = *sb
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	for _, app := range apps {
		name, ok := strings.CutPrefix(app.Name, m.cfg.Prefix)
		if !ok || known[app.Name] || m.validateName(name) != nil {
			continue
		}
		out = append(out, Sandbox{Name: name, App: app.Name, Status: StatusError,
			URL: "https://" + app.Name + ".fly.dev",
			LastError: "the Fly app exists but Sandstorm has no record of it; " +
				"sandbox_delete removes it"})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })

	return out, nil
}

// describe builds the report of one sandbox from its record and its machine's
// state, which it reads from Fly unless machineState is given.
func (m *Manager) describe(ctx context.Context, rec store.Sandbox, machineState string,
) (*Sandbox, error) {
	var spec Spec
	if err := json.Unmarshal(rec.Spec, &spec); err != nil {
		return nil, fmt.Errorf("decode spec of %s: %w", rec.Name, err)
	}
	sb := &Sandbox{
		Name: rec.Name, App: rec.App, Status: rec.Status, MachineID: rec.MachineID,
		VolumeID: rec.VolumeID, Region: spec.Region, URL: "https://" + rec.App + ".fly.dev",
		Image: spec.Image, MemoryMB: spec.MemoryMB, CPUs: spec.CPUs,
		SwapSizeMB: spec.SwapSizeMB, VolumeSizeGB: spec.VolumeSizeGB, HTTPPort: spec.HTTPPort,
		EnvNames: spec.EnvNames, Repo: spec.Repo, LastError: rec.LastError,
		CreatedAt: rec.CreatedAt, UpdatedAt: rec.UpdatedAt,
	}
	if sb.EnvNames == nil {
		sb.EnvNames = []string{}
	}
	sb.Agent = spec.Agent
	sb.AgentCommand = interactiveLine(spec)
	if spec.Persona != nil {
		sb.PersonaVersion = spec.Persona.Version
	}
	snap, err := m.latestSnapshot(ctx, rec.Name)
	if err != nil {
		return nil, err
	}
	sb.LatestSnapshot = snap
	if sb.Lifecycle, err = m.lifecycleStatus(ctx, rec.Name); err != nil {
		return nil, err
	}

	if rec.MachineID == "" || (rec.Status != StatusRunning && rec.Status != StatusStopped) {
		return sb, nil
	}
	if machineState != "" {
		sb.MachineState, sb.Status = machineState, statusOf(machineState)
		return sb, nil
	}
	mach, err := m.fly.GetMachine(ctx, rec.App, rec.MachineID)
	switch {
	case errors.Is(err, flyclient.ErrNotFound):
		sb.Status = StatusError
		sb.LastError = "the machine " + rec.MachineID + " no longer exists on Fly; " +
			"sandbox_delete removes the sandbox"
	case err != nil:
		return nil, fmt.Errorf("read machine of %s: %w", rec.Name, err)
	default:
		sb.MachineState = mach.State
		sb.Status = statusOf(mach.State)
	}

	return sb, nil
}

// statusOf maps a machine state onto a sandbox status.
func statusOf(state string) string {
	switch state {
	case flyclient.StateStarted, flyclient.StateStarting, flyclient.StateCreated,
		flyclient.StateReplacing:
		return StatusRunning
	case flyclient.StateStopped, flyclient.StateStopping, flyclient.StateSuspended:
		return StatusStopped
	default:
		return StatusError
	}
}

// interactiveLine is the shell line that runs the sandbox's agent for a
// person at a terminal in the sandbox, in its project directory; empty when
// the sandbox has no agent.
func interactiveLine(spec Spec) string {
	if spec.Agent == "" {
		return ""
	}
	agent, err := agents.GetCodingAgent(spec.Agent)
	if err != nil {
		return ""
	}
	cmd := agent.InteractiveCommand()
	dir := shellQuote(spec.projectDir())
	words := []string{"mkdir", "-p", dir, "&&", "cd", dir, "&&", "env"}
	for _, k := range slices.Sorted(maps.Keys(cmd.Env)) {
		words = append(words, shellQuote(k+"="+cmd.Env[k]))
	}
	if len(cmd.ExtraPath) > 0 {
		words = append(words, `PATH="$PATH:`+strings.Join(cmd.ExtraPath, ":")+`"`)
	}
	for _, a := range cmd.Argv {
		words = append(words, shellQuote(a))
	}

	return strings.Join(words, " ")
}

// shellQuote quotes s for a POSIX shell, leaving plain words as they are.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"+
		"0123456789_-./=:@") == "" {
		return s
	}

	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
