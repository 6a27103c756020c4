package sandstorm

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/longrun/sandstorm/flyclient"
)

// Spec is everything needed to recreate a sandbox's machine. It is stored as
// created and updated by resume overrides; it holds env names, never values.
type Spec struct {
	Image        string    `json:"image"`
	Region       string    `json:"region"`
	VolumeSizeGB int       `json:"volume_size_gb"`
	MemoryMB     int       `json:"memory_mb"`
	CPUs         int       `json:"cpus"`
	SwapSizeMB   int       `json:"swap_size_mb"`
	HTTPPort     int       `json:"http_port"`
	EnvNames     []string  `json:"env_names,omitempty"`
	Repo         *RepoSpec `json:"repo,omitempty"`
	Parent       string    `json:"parent,omitempty"`
	// Agent is the coding agent installed at create, if any.
	Agent string `json:"agent,omitempty"`
	// Persona is how the sandbox's persona was given and its version.
	Persona *PersonaSpec `json:"persona,omitempty"`
}

// PersonaSpec records a deployed persona: its directory on the server host
// (empty for one given as files), the variables, and the resolved version.
type PersonaSpec struct {
	Dir     string            `json:"dir,omitempty"`
	Vars    map[string]string `json:"vars,omitempty"`
	Version string            `json:"version"`
}

// projectDir is where agents work and personas go: the clone, or /data/project.
func (s Spec) projectDir() string {
	if s.Repo != nil {
		return s.Repo.Path
	}

	return MountPath + "/project"
}

// RepoSpec records the repository a sandbox was cloned from, without any token.
type RepoSpec struct {
	URL    string `json:"url"`
	Branch string `json:"branch"`
	Path   string `json:"path"`
}

// Metadata keys set on every machine the Manager creates.
const (
	MetaSandbox = "sandstorm_sandbox"
	MetaOwner   = "sandstorm_owner"
	MetaParent  = "sandstorm_parent"
)

var (
	nameRE    = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
	envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// appName is the Fly app that holds the sandbox.
func (m *Manager) appName(name string) string { return m.cfg.Prefix + name }

// validateName checks a sandbox name against Fly's app naming rules.
func (m *Manager) validateName(name string) error {
	const advice = "Use lowercase letters, digits and dashes, starting and ending " +
		"with a letter or digit, like \"alice\" or \"fix-login-bug\"."
	if name == "" {
		return invalidf(advice, "sandbox name is empty")
	}
	if !nameRE.MatchString(name) {
		return invalidf(advice, "sandbox name %q is not valid", name)
	}
	if max := 63 - len(m.cfg.Prefix); len(name) > max {
		return invalidf(fmt.Sprintf("Use at most %d characters.", max),
			"sandbox name %q is too long: with the prefix %q it exceeds Fly's 63 "+
				"characters for an app name", name, m.cfg.Prefix)
	}

	return nil
}

// validateEnv checks env names; values may be anything.
func validateEnv(env map[string]string) error {
	for k, v := range env {
		if strings.ContainsRune(v, 0) {
			// The value is never echoed: it may be a secret.
			return invalidf("Remove the NUL byte: environment values cannot carry one.",
				"the value of env %s contains a NUL byte", k)
		}
		if !envNameRE.MatchString(k) {
			return invalidf("Env names are letters, digits and underscores, not "+
				"starting with a digit, like API_KEY.", "env name %q is not valid", k)
		}
		if strings.HasPrefix(k, "FLY_") {
			return invalidf("Choose a name without the FLY_ prefix.",
				"env name %q is reserved by Fly", k)
		}
	}

	return nil
}

// validateGuest checks CPU, memory and swap against Fly's shared-CPU presets.
func validateGuest(cpus, memoryMB, swapMB int) error {
	if !slices.Contains([]int{1, 2, 4, 6, 8}, cpus) {
		return invalidf("Use 1, 2, 4, 6 or 8.", "cpus %d is not a shared-CPU size", cpus)
	}
	if memoryMB%256 != 0 || memoryMB < 256*cpus || memoryMB > 2048*cpus {
		return invalidf(
			fmt.Sprintf("Use a multiple of 256 between %d and %d for %d CPUs.",
				256*cpus, 2048*cpus, cpus),
			"memory_mb %d is not allowed", memoryMB)
	}
	if swapMB < 0 || swapMB > 16384 {
		return invalidf("Use 0 to 16384.", "swap_size_mb %d is out of range", swapMB)
	}

	return nil
}

// mergeEnvNames returns the sorted union of names after adding set and removing unset.
func mergeEnvNames(names []string, set map[string]string, unset []string) []string {
	out := slices.Clone(names)
	for k := range set {
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	out = slices.DeleteFunc(out, func(k string) bool { return slices.Contains(unset, k) })
	slices.Sort(out)

	return out
}

// redactURL drops any user information from a repository URL.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	u.User = nil

	return u.String()
}

// machineConfig builds the machine config for a sandbox on volume volID.
func (m *Manager) machineConfig(name string, spec Spec, volID string) flyclient.MachineConfig {
	autostart := true
	meta := map[string]string{MetaSandbox: name, MetaOwner: m.cfg.Owner}
	if spec.Parent != "" {
		meta[MetaParent] = spec.Parent
	}

	return flyclient.MachineConfig{
		Image: spec.Image,
		Init: flyclient.MachineInit{
			Exec:       []string{"/bin/sleep", "inf"},
			SwapSizeMB: spec.SwapSizeMB,
		},
		Guest: &flyclient.MachineGuest{
			CPUKind:  "shared",
			CPUs:     spec.CPUs,
			MemoryMB: spec.MemoryMB,
		},
		Mounts: []flyclient.MachineMount{{Volume: volID, Path: MountPath}},
		Services: []flyclient.MachineService{{
			Protocol:     "tcp",
			InternalPort: spec.HTTPPort,
			Autostart:    &autostart,
			Autostop:     "off",
			Ports: []flyclient.MachinePort{
				{Port: 80, Handlers: []string{"http"}, ForceHTTPS: true},
				{Port: 443, Handlers: []string{"tls", "http"}},
			},
		}},
		Metadata: meta,
		Restart:  &flyclient.MachineRestart{Policy: "always"},
	}
}
