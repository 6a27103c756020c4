package sandstorm

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/longrun/sandstorm/agents"
	"github.com/longrun/sandstorm/persona"
)

// runningSpec returns the machine and the spec of a running sandbox.
func (m *Manager) runningSpec(ctx context.Context, name string) (target, Spec, error) {
	t, err := m.running(ctx, name)
	if err != nil {
		return t, Spec{}, err
	}
	rec, err := m.record(ctx, name)
	if err != nil {
		return t, Spec{}, err
	}
	var spec Spec
	if err := json.Unmarshal(rec.Spec, &spec); err != nil {
		return t, spec, fmt.Errorf("decode spec of %s: %w", name, err)
	}

	return t, spec, nil
}

// resolvePersona resolves a persona, turning a caller's mistake into an error
// that says what to fix.
func resolvePersona(src persona.Source, vars map[string]string) (*persona.Resolved, error) {
	res, err := persona.Resolve(src, vars)
	var missing *persona.MissingVarsError
	switch {
	case errors.As(err, &missing):
		return nil, invalidf("Give every variable in persona_vars.", "%v", err)
	case err != nil:
		return nil, invalidf("Check the persona directory or files.", "persona: %v", err)
	}

	return res, nil
}

// installAgent installs agent into the sandbox so it survives pause and
// resume; it does nothing when the agent is already there.
func (m *Manager) installAgent(ctx context.Context, t target, agent agents.CodingAgent) error {
	inst := agent.Install()
	res, err := m.run(ctx, t, script{code: inst.Program, args: inst.Args, dir: MountPath,
		env: map[string]string{"HOME": sessionHome}, timeout: 15 * time.Minute})
	if err != nil {
		return err
	}
	switch res.ExitCode {
	case 0:
		_, err := agents.ParseInstallOutput(res.Stdout)
		return err
	case agents.ExitNeedsRuntime:
		return invalidf("Use an image that has what the agent needs, or install it in the "+
			"image.", "cannot install %s: %s", agent.ID(), strings.TrimSpace(res.Stderr))
	default:
		return fmt.Errorf("install %s: exit %d: %s", agent.ID(), res.ExitCode,
			strings.TrimSpace(res.Stderr))
	}
}

// deployPersona writes the persona's files where the agent reads them, all in
// one exec: a tar archive through stdin, so every byte and path survives.
func (m *Manager) deployPersona(ctx context.Context, t target, agent agents.CodingAgent,
	projectDir string, files persona.Files,
) ([]string, error) {
	placed, err := agent.PersonaPaths(projectDir, files)
	if err != nil {
		return nil, invalidf("Use relative paths inside the persona.", "persona: %v", err)
	}
	paths := slices.Sorted(func(yield func(string) bool) {
		for p := range placed {
			if !yield(p) {
				return
			}
		}
	})
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range paths {
		body := []byte(placed[p])
		hdr := &tar.Header{Name: strings.TrimPrefix(p, "/"), Mode: 0o644, Size: int64(len(body)),
			ModTime: m.now(), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("pack persona: %w", err)
		}
		if _, err := tw.Write(body); err != nil {
			return nil, fmt.Errorf("pack persona: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("pack persona: %w", err)
	}
	res, err := m.run(ctx, t, script{
		code:    `mkdir -p -- "$1" && base64 -d | tar -x -C / --no-same-owner -f -`,
		args:    []string{projectDir},
		stdin:   base64.StdEncoding.EncodeToString(buf.Bytes()),
		timeout: 45 * time.Second,
	})
	if err == nil && res.ExitCode != 0 {
		err = fmt.Errorf("unpack persona: exit %d: %s", res.ExitCode, strings.TrimSpace(res.Stderr))
	}

	return paths, err
}

// SyncResult reports a persona sync.
type SyncResult struct {
	Sandbox string   `json:"sandbox"`
	Version string   `json:"version"`
	Changed bool     `json:"changed"`
	Files   []string `json:"files"`
}

// SyncPersonaRequest re-deploys a sandbox's persona. A nil Source re-reads the
// directory the sandbox was created with; nil Vars reuses its variables.
type SyncPersonaRequest struct {
	Sandbox string
	Source  *persona.Source
	Vars    map[string]string
}

// SyncSandbox re-reads the persona, re-substitutes its variables and deploys
// it again to a running sandbox, recording the new version.
func (m *Manager) SyncSandbox(ctx context.Context, r SyncPersonaRequest) (res *SyncResult,
	err error,
) {
	start := m.now()
	defer func() { m.audit("sync_persona", r.Sandbox, nil, start, err) }()
	unlock := m.lock(r.Sandbox)
	defer unlock()
	t, spec, err := m.runningSpec(ctx, r.Sandbox)
	if err != nil {
		return nil, err
	}
	src, vars := r.Source, r.Vars
	if src == nil {
		if spec.Persona == nil || spec.Persona.Dir == "" {
			return nil, invalidf("Pass the persona (a directory or files) to sync.",
				"sandbox %q has no persona directory on record", r.Sandbox)
		}
		src = &persona.Source{Dir: spec.Persona.Dir}
	}
	if vars == nil && spec.Persona != nil {
		vars = spec.Persona.Vars
	}
	resolved, err := resolvePersona(*src, vars)
	if err != nil {
		return nil, err
	}
	agent, err := m.agentFor("", spec)
	if err != nil {
		return nil, err
	}
	paths, err := m.deployPersona(ctx, t, agent, spec.projectDir(), resolved.Files)
	if err != nil {
		return nil, err
	}
	old := ""
	if spec.Persona != nil {
		old = spec.Persona.Version
	}
	spec.Persona = &PersonaSpec{Dir: src.Dir, Vars: vars, Version: resolved.Version}
	if err := m.saveSpec(ctx, r.Sandbox, spec); err != nil {
		return nil, err
	}

	return &SyncResult{Sandbox: r.Sandbox, Version: resolved.Version,
		Changed: old != resolved.Version, Files: paths}, nil
}
