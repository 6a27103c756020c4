package sandstorm

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/longrun/sandstorm/flyclient"
)

// UpdateEnvRequest changes a sandbox's env. Set merges values in, Unset removes
// names. Changes take effect at the next machine start; Restart applies them now.
type UpdateEnvRequest struct {
	Name    string
	Set     map[string]string
	Unset   []string
	Restart bool
}

// UpdateEnv merges env into the sandbox's Fly app secrets, so values never
// leave Fly. With Restart it recreates the running machine's version to load them.
func (m *Manager) UpdateEnv(ctx context.Context, r UpdateEnvRequest) (sb *Sandbox, err error) {
	start := m.now()
	args := map[string]any{"set": mergeEnvNames(nil, r.Set, nil), "unset": r.Unset,
		"restart": r.Restart}
	defer func() { m.audit("update_env", r.Name, args, start, err) }()
	if err := validateEnv(r.Set); err != nil {
		return nil, err
	}
	for _, k := range r.Unset {
		if err := validateEnv(map[string]string{k: ""}); err != nil {
			return nil, err
		}
	}
	if len(r.Set) == 0 && len(r.Unset) == 0 && !r.Restart {
		return nil, invalidf("Give env values to set, names to unset, or restart: true.",
			"nothing to update")
	}
	unlock := m.lock(r.Name)
	defer unlock()
	rec, err := m.record(ctx, r.Name)
	if err != nil {
		return nil, err
	}

	if len(r.Set) > 0 {
		if _, err := m.fly.SetSecrets(ctx, rec.App, r.Set); err != nil {
			return nil, fmt.Errorf("set secrets of %s: %w", rec.App, err)
		}
	}
	if len(r.Unset) > 0 {
		if _, err := m.fly.UnsetSecrets(ctx, rec.App, r.Unset...); err != nil {
			return nil, fmt.Errorf("unset secrets of %s: %w", rec.App, err)
		}
	}
	var spec Spec
	if err := json.Unmarshal(rec.Spec, &spec); err != nil {
		return nil, fmt.Errorf("decode spec of %s: %w", r.Name, err)
	}
	spec.EnvNames = mergeEnvNames(spec.EnvNames, r.Set, r.Unset)
	if err := m.saveSpec(ctx, r.Name, spec); err != nil {
		return nil, err
	}
	if r.Restart && rec.MachineID != "" {
		if err := m.reload(ctx, rec.App, rec.MachineID); err != nil {
			return nil, err
		}
	}

	return m.Get(ctx, r.Name)
}

// reload replaces a machine's version with the same config, which is how a
// Fly machine picks up changed secrets, and waits until it runs again.
func (m *Manager) reload(ctx context.Context, app, machineID string) error {
	mach, err := m.fly.GetMachine(ctx, app, machineID)
	if err != nil {
		return fmt.Errorf("read machine %s: %w", machineID, err)
	}
	if mach.Config == nil {
		return fmt.Errorf("read machine %s: no config in answer", machineID)
	}
	updated, err := m.fly.UpdateMachine(ctx, app, machineID, flyclient.UpdateMachineRequest{
		Config:         *mach.Config,
		CurrentVersion: mach.InstanceID,
	})
	if err != nil {
		return fmt.Errorf("restart machine %s: %w", machineID, err)
	}

	return m.waitStarted(ctx, app, machineID, updated.InstanceID)
}
