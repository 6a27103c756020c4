package sandstorm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/longrun/sandstorm/flyclient"
	"github.com/longrun/sandstorm/persona"
	"github.com/longrun/sandstorm/store"
)

// CreateRequest asks for a new sandbox. Zero fields take the Manager's defaults.
type CreateRequest struct {
	Name         string
	Region       string
	Image        string
	Env          map[string]string
	VolumeSizeGB int
	MemoryMB     int
	CPUs         int
	SwapSizeMB   int
	HTTPPort     int
	Repo         *RepoRequest
	// Parent names the sandbox that spawned this one, if any.
	Parent string
	// Agent is the coding agent to install after start ("" installs none,
	// unless a persona is given, which installs the default agent).
	Agent string
	// Persona, when set, is deployed for the agent with PersonaVars filled in.
	Persona     *persona.Source
	PersonaVars map[string]string
	// IdlePolicy, when set, is the sandbox's own idle policy over the
	// server's.
	IdlePolicy *IdlePolicy
	Progress   ProgressFunc
}

// RepoRequest is a repository to clone into the sandbox after it starts. Token,
// when set, is used for the clone only and never stored or logged.
type RepoRequest struct {
	URL    string
	Branch string
	Token  string
	Path   string
}

// createArgs is what the audit trail records of a create: no values, no token.
func (r CreateRequest) auditArgs() map[string]any {
	args := map[string]any{
		"region": r.Region, "image": r.Image, "volume_size_gb": r.VolumeSizeGB,
		"memory_mb": r.MemoryMB, "cpus": r.CPUs, "swap_size_mb": r.SwapSizeMB,
		"env_names": mergeEnvNames(nil, r.Env, nil),
	}
	if r.Repo != nil {
		args["repo"] = redactURL(r.Repo.URL)
	}
	if r.Agent != "" {
		args["agent"] = r.Agent
	}
	if r.IdlePolicy != nil {
		args["idle_policy"] = r.IdlePolicy
	}
	if r.Persona != nil {
		args["persona_dir"] = r.Persona.Dir
		args["persona_files"] = len(r.Persona.Files)
	}

	return args
}

// spec validates the request and fills in defaults.
func (m *Manager) spec(r CreateRequest) (Spec, error) {
	if err := m.validateName(r.Name); err != nil {
		return Spec{}, err
	}
	if err := validateEnv(r.Env); err != nil {
		return Spec{}, err
	}
	orDefault := func(v, d int) int {
		if v == 0 {
			return d
		}

		return v
	}
	spec := Spec{
		Image:        r.Image,
		Region:       r.Region,
		VolumeSizeGB: orDefault(r.VolumeSizeGB, m.cfg.VolumeSizeGB),
		MemoryMB:     orDefault(r.MemoryMB, m.cfg.MemoryMB),
		CPUs:         orDefault(r.CPUs, m.cfg.CPUs),
		SwapSizeMB:   orDefault(r.SwapSizeMB, m.cfg.SwapSizeMB),
		HTTPPort:     orDefault(r.HTTPPort, m.cfg.HTTPPort),
		EnvNames:     mergeEnvNames(nil, r.Env, nil),
		Parent:       r.Parent,
	}
	if spec.Image == "" {
		spec.Image = m.cfg.Image
	}
	if spec.Region == "" {
		spec.Region = m.cfg.Region
	}
	if len(spec.Region) != 3 || strings.ToLower(spec.Region) != spec.Region {
		return Spec{}, invalidf("Use a three-letter Fly region code such as ord, iad or ams.",
			"region %q is not a Fly region code", spec.Region)
	}
	if spec.VolumeSizeGB < 1 || spec.VolumeSizeGB > 500 {
		return Spec{}, invalidf("Use 1 to 500.", "volume_size_gb %d is out of range",
			spec.VolumeSizeGB)
	}
	if spec.HTTPPort < 1 || spec.HTTPPort > 65535 {
		return Spec{}, invalidf("Use a port from 1 to 65535.", "http_port %d is out of range",
			spec.HTTPPort)
	}
	if err := validateGuest(spec.CPUs, spec.MemoryMB, spec.SwapSizeMB); err != nil {
		return Spec{}, err
	}
	if r.Repo != nil {
		repo, err := repoSpec(*r.Repo)
		if err != nil {
			return Spec{}, err
		}
		spec.Repo = &repo
	}
	if r.Agent != "" || r.Persona != nil {
		agent, err := m.agentFor(r.Agent, spec)
		if err != nil {
			return Spec{}, err
		}
		spec.Agent = agent.ID()
	}

	return spec, nil
}

func repoSpec(r RepoRequest) (RepoSpec, error) {
	if r.URL == "" {
		return RepoSpec{}, invalidf("Give the repository's clone URL, like "+
			"https://github.com/owner/repo.git.", "repo.url is empty")
	}
	if strings.HasPrefix(r.URL, "-") || strings.ContainsAny(r.URL, "\x00\n") {
		return RepoSpec{}, invalidf("Give a plain clone URL.", "repo.url %q is not valid", r.URL)
	}
	spec := RepoSpec{URL: redactURL(r.URL), Branch: r.Branch, Path: r.Path}
	if spec.Branch == "" {
		spec.Branch = "main"
	}
	if spec.Path == "" {
		spec.Path = MountPath + "/project"
	}
	if err := checkPath(spec.Path); err != nil {
		return RepoSpec{}, err
	}

	return spec, nil
}

// Create makes a sandbox: the app, its volume, env secrets, public IPs and the
// machine, waits until the machine runs, and clones the repository if asked.
// Steps that do not depend on each other run concurrently. On failure it
// removes everything it created and says which step failed.
func (m *Manager) Create(ctx context.Context, r CreateRequest) (sb *Sandbox, err error) {
	start := m.now()
	defer func() { m.audit("create", r.Name, r.auditArgs(), start, err) }()
	spec, err := m.spec(r)
	if err != nil {
		return nil, err
	}
	if r.IdlePolicy != nil {
		if err := r.IdlePolicy.validate(m.cfg.IdlePolicy); err != nil {
			return nil, err
		}
	}
	// A persona is resolved before anything is created, so a missing
	// variable costs nothing.
	var resolved *persona.Resolved
	if r.Persona != nil {
		if resolved, err = resolvePersona(*r.Persona, r.PersonaVars); err != nil {
			return nil, err
		}
		spec.Persona = &PersonaSpec{Dir: r.Persona.Dir, Vars: r.PersonaVars,
			Version: resolved.Version}
	}
	unlock := m.lock(r.Name)
	defer unlock()

	rawSpec, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("encode spec: %w", err)
	}
	err = m.store.CreateSandbox(ctx, store.Sandbox{
		Name: r.Name, App: m.appName(r.Name), Region: spec.Region, Image: spec.Image,
		Status: StatusCreating, Spec: rawSpec,
	})
	if errors.Is(err, store.ErrExists) {
		return nil, &Error{Kind: ErrExists,
			Message: fmt.Sprintf("a sandbox named %q already exists", r.Name),
			Advice:  "Choose another name, or use sandbox_get to inspect the existing one."}
	}
	if err != nil {
		return nil, fmt.Errorf("record sandbox %s: %w", r.Name, err)
	}
	_ = m.store.RecordStatus(ctx, store.StatusChange{Sandbox: r.Name, To: StatusCreating,
		Actor: "user", Reason: "create", At: m.now()})
	if r.IdlePolicy != nil {
		if err := m.setIdlePolicy(ctx, r.Name, *r.IdlePolicy); err != nil {
			_ = m.store.DeleteSandbox(ctx, r.Name)
			return nil, err
		}
	}
	m.notify(Change{Sandbox: r.Name, Kind: ChangeCreated, Status: StatusCreating})

	c := &creation{m: m, name: r.Name, app: m.appName(r.Name), spec: spec, req: r,
		persona: resolved}
	if err := c.run(ctx); err != nil {
		return nil, c.undo(err)
	}

	return m.started(ctx, r.Name)
}

// creation carries one Create through its steps and, on failure, undoes them.
type creation struct {
	m       *Manager
	name    string
	app     string
	spec    Spec
	req     CreateRequest
	persona *persona.Resolved

	appCreated bool
	step       string
	volumeID   string
	machineID  string
}

func (c *creation) run(ctx context.Context) error {
	total := 4
	if c.spec.Repo != nil {
		total++
	}
	if c.spec.Agent != "" {
		total++
	}
	progress := c.req.Progress

	c.step = "create app"
	progress.report(0, total, "creating app "+c.app)
	_, err := c.m.fly.CreateApp(ctx, flyclient.CreateAppRequest{Name: c.app, OrgSlug: c.m.cfg.Org})
	if errors.Is(err, flyclient.ErrConflict) {
		return &Error{Kind: ErrExists,
			Message: fmt.Sprintf("the Fly app name %q is already taken", c.app),
			Advice:  "Fly app names are global; choose another sandbox name."}
	}
	if err != nil {
		c.appCreated = c.appExistsEmpty()
		return err
	}
	c.appCreated = true

	progress.report(1, total, "creating volume, secrets and public IPs")
	side := c.startIPs(ctx)
	if err := c.volumeAndSecrets(ctx); err != nil {
		_ = side.Wait()
		return err
	}

	c.step = "create machine"
	progress.report(2, total, "creating machine")
	mach, err := c.m.fly.CreateMachine(ctx, c.app, flyclient.CreateMachineRequest{
		Name:   c.name,
		Region: c.spec.Region,
		Config: c.m.machineConfig(c.name, c.spec, c.volumeID),
	})
	if err != nil {
		_ = side.Wait()
		return err
	}
	c.machineID = mach.ID
	if err := c.m.recordIDs(ctx, c.name, mach.ID, c.volumeID); err != nil {
		_ = side.Wait()
		return err
	}

	c.step = "wait for machine to start"
	progress.report(3, total, "waiting for machine "+mach.ID+" to start")
	waitErr := c.m.waitStarted(ctx, c.app, mach.ID, mach.InstanceID)
	if err := side.Wait(); err != nil {
		c.step = "assign public IPs"
		return err
	}
	if waitErr != nil {
		c.step = "wait for machine to start"
		return waitErr
	}

	done := 4
	if repo := c.spec.Repo; repo != nil {
		c.step = "clone repository"
		progress.report(done, total, "cloning "+repo.URL)
		if err := c.m.clone(ctx, target{app: c.app, machineID: mach.ID}, *repo, c.req.Repo.Token); err != nil {
			return err
		}
		done++
	}
	if c.spec.Agent != "" {
		progress.report(done, total, "installing "+c.spec.Agent)
		if err := c.setupAgent(ctx, target{app: c.app, machineID: mach.ID}); err != nil {
			return err
		}
	}
	c.step = "save"

	return c.m.setStatus(ctx, c.name, StatusRunning, "created")
}

// setupAgent installs the sandbox's agent and deploys its persona.
func (c *creation) setupAgent(ctx context.Context, t target) error {
	agent, err := c.m.agentFor(c.spec.Agent, c.spec)
	if err != nil {
		return err
	}
	c.step = "install agent"
	if err := c.m.installAgent(ctx, t, agent); err != nil {
		return err
	}
	if c.persona == nil {
		return nil
	}
	c.step = "deploy persona"
	_, err = c.m.deployPersona(ctx, t, agent, c.spec.projectDir(), c.persona.Files)

	return err
}

// volumeAndSecrets creates the volume and writes the env as app secrets,
// concurrently; the machine needs both.
func (c *creation) volumeAndSecrets(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	var volErr, secErr error
	g.Go(func() error {
		vol, err := c.m.createVolume(gctx, c.app, c.spec, nil)
		if err == nil {
			c.volumeID = vol.ID
		}
		volErr = err

		return err
	})
	if len(c.req.Env) > 0 {
		g.Go(func() error {
			_, secErr = c.m.fly.SetSecrets(gctx, c.app, c.req.Env)
			return secErr
		})
	}
	err := g.Wait()
	switch {
	case volErr != nil:
		c.step = "create volume"
		return volErr
	case secErr != nil:
		c.step = "set env secrets"
		return secErr
	}

	return err
}

// startIPs assigns the public IPv6 and shared IPv4 that make
// https://<app>.fly.dev reach the sandbox, in the background.
func (c *creation) startIPs(ctx context.Context) *errgroup.Group {
	g := &errgroup.Group{}
	g.Go(func() error {
		for _, typ := range []string{flyclient.IPv6, flyclient.IPSharedV4} {
			_, err := c.m.fly.AssignIP(ctx, c.app, flyclient.AssignIPRequest{Type: typ})
			if err != nil {
				return fmt.Errorf("assign %s address: %w", typ, err)
			}
		}

		return nil
	})

	return g
}

// appExistsEmpty reports whether the app exists with nothing in it, which after
// an ambiguous create failure means the create went through and is ours to remove.
func (c *creation) appExistsEmpty() bool {
	ctx, cancel := cleanupContext()
	defer cancel()
	app, err := c.m.fly.GetApp(ctx, c.app)

	return err == nil && app.MachineCount == 0 && app.VolumeCount == 0
}

// undo removes what the creation made and turns cause into the error to return.
func (c *creation) undo(cause error) error {
	var userErr *Error
	if errors.As(cause, &userErr) && !c.appCreated {
		c.forget()
		return cause
	}
	ctx, cancel := cleanupContext()
	defer cancel()
	stepErr := &StepError{Op: "create", Step: c.step, Err: cause,
		Outcome: "everything created before that step was removed"}
	if c.appCreated {
		if err := c.m.deleteApp(ctx, c.app); err != nil {
			stepErr.Outcome = fmt.Sprintf("removing the app failed too (%v), so the sandbox "+
				"is marked error; sandbox_delete will finish removing it", err)
			_ = c.m.setStatus(ctx, c.name, StatusError, stepErr.Error())

			return stepErr
		}
	}
	c.forget()

	return stepErr
}

func (c *creation) forget() {
	ctx, cancel := cleanupContext()
	defer cancel()
	defer c.m.notify(Change{Sandbox: c.name, Kind: ChangeDeleted})
	if err := c.m.store.DeleteSandbox(ctx, c.name); err != nil && !errors.Is(err, store.ErrNotFound) {
		c.m.log.Warn("forget failed sandbox", "sandbox", c.name, "error", err)
	}
}

// createVolume makes a sandbox volume, restored from snapshotID when set, and
// waits until it is usable.
func (m *Manager) createVolume(ctx context.Context, app string, spec Spec,
	snapshotID *string,
) (*flyclient.Volume, error) {
	vol, err := m.fly.CreateVolume(ctx, app, flyclient.CreateVolumeRequest{
		Name:       "data_" + randomID(8),
		Region:     spec.Region,
		SizeGB:     spec.VolumeSizeGB,
		SnapshotID: snapshotID,
	})
	if err != nil {
		return nil, err
	}
	if vol.State == flyclient.VolumeCreated {
		return vol, nil
	}
	err = m.poll(ctx, m.cfg.PollInterval, time.Second, func() (bool, error) {
		v, err := m.fly.GetVolume(ctx, app, vol.ID)
		if err != nil {
			return false, err
		}
		vol = v

		return v.State == flyclient.VolumeCreated, nil
	})

	return vol, err
}

// waitStarted waits until a machine version is started, for at most five minutes.
func (m *Manager) waitStarted(ctx context.Context, app, machineID, version string) error {
	_, err := m.fly.WaitMachine(ctx, app, machineID, flyclient.WaitOptions{
		States:  []string{flyclient.StateStarted},
		Version: version,
		Timeout: 5 * time.Minute,
	})
	if err != nil {
		return fmt.Errorf("wait for machine %s to start: %w", machineID, err)
	}

	return nil
}

// recordIDs stores the machine and volume a sandbox now uses.
func (m *Manager) recordIDs(ctx context.Context, name, machineID, volumeID string) error {
	_, err := m.store.UpdateSandbox(ctx, name, func(sb *store.Sandbox) error {
		sb.MachineID, sb.VolumeID = machineID, volumeID
		return nil
	})
	if err != nil {
		return fmt.Errorf("record machine of %s: %w", name, err)
	}

	return nil
}

// cloneScript clones $1 at branch $2 into $3. A token arrives as
// $SANDSTORM_SECRET and reaches git only through GIT_CONFIG_* variables, so it
// is in no argument list and is not written to .git/config.
const cloneScript = `set -e
if [ -n "$SANDSTORM_SECRET" ]; then
  auth=$(printf 'x-access-token:%s' "$SANDSTORM_SECRET" | base64 | tr -d '\n')
  export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=http.extraHeader
  export GIT_CONFIG_VALUE_0="Authorization: Basic $auth"
fi
unset SANDSTORM_SECRET
export GIT_TERMINAL_PROMPT=0
mkdir -p -- "$(dirname -- "$3")"
git clone --quiet --branch "$2" --single-branch -- "$1" "$3"`

// clone clones repo into the sandbox, as a detached command so a large
// repository can take longer than one exec.
func (m *Manager) clone(ctx context.Context, t target, repo RepoSpec, token string) error {
	res, err := m.run(ctx, t, script{
		code:    cloneScript,
		args:    []string{repo.URL, repo.Branch, path.Clean(repo.Path)},
		dir:     "/",
		secret:  token,
		timeout: 15 * time.Minute,
	})
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		msg := strings.TrimSpace(res.Stderr)
		if token != "" {
			msg = strings.ReplaceAll(msg, token, "[redacted]")
		}

		return fmt.Errorf("git clone exited %d: %s", res.ExitCode, msg)
	}

	return nil
}
