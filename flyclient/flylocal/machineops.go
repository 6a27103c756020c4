package flylocal

import (
	"cmp"
	"encoding/json"
	"net/http"
	"time"
)

// machineRequest is the body of create (POST .../machines) and update
// (POST .../machines/{id}).
type machineRequest struct {
	Name           string          `json:"name"`
	Region         string          `json:"region"`
	Config         json.RawMessage `json:"config"`
	SkipLaunch     bool            `json:"skip_launch"`
	LeaseTTL       int             `json:"lease_ttl"`
	CurrentVersion string          `json:"current_version"`
}

// destroyWait bounds how long a forced delete waits for the process to go.
const destroyWait = 10 * time.Second

// decodeMachineRequest reads and validates a create or update body.
func decodeMachineRequest(r *http.Request) (machineRequest, machineConfig, error) {
	var req machineRequest
	if err := decodeBody(r, &req, false); err != nil {
		return req, machineConfig{}, err
	}
	cfg, err := parseConfig(req.Config)
	if err != nil {
		return req, cfg, err
	}
	if err := checkConfig(cfg); err != nil {
		return req, cfg, err
	}
	req.Config = normalizeConfig(req.Config)

	return req, cfg, nil
}

// mountVolumeLocked returns the volume cfg mounts, if any, after checking that
// machine self (nil on create) may mount it. The caller holds s.mu.
func (s *Server) mountVolumeLocked(app string, cfg machineConfig, self *machineRecord) (
	*volumeRecord, error,
) {
	if len(cfg.Mounts) == 0 {
		return nil, nil
	}
	id := cfg.Mounts[0].Volume
	vol := s.volumes[id]
	switch {
	case vol == nil || vol.AppName != app || vol.State == volumeDestroyed:
		return nil, errInvalid("volume %s not found in app %s", id, app)
	case vol.State == volumeFailed:
		return nil, errPrecondition("volume %s failed to restore and cannot be mounted", id)
	case vol.AttachedMachineID != "" && (self == nil || vol.AttachedMachineID != self.ID):
		return nil, errPrecondition("volume %s is already attached to machine %s",
			id, vol.AttachedMachineID)
	}

	return vol, nil
}

// checkLaunchable reports why no machine can be launched here, if so.
func (s *Server) checkLaunchable() error {
	if s.supportErr != nil {
		return errPrecondition("flylocal cannot launch machines on this host: %v", s.supportErr)
	}

	return nil
}

// createMachine serves POST /v1/apps/{app_name}/machines. The answer shows the
// machine "created"; unless skip_launch is set it then boots in the
// background, through "starting" to "started". A mounted volume is attached
// at once. lease_ttl also acquires a lease and answers its nonce.
func (s *Server) createMachine(w http.ResponseWriter, r *http.Request) error {
	req, cfg, err := decodeMachineRequest(r)
	if err != nil {
		return err
	}
	if req.LeaseTTL < 0 {
		return errInvalid("lease_ttl must not be negative")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.appLocked(r)
	if err != nil {
		return err
	}
	vol, err := s.mountVolumeLocked(a.Name, cfg, nil)
	if err != nil {
		return err
	}
	if !req.SkipLaunch {
		if err := s.checkLaunchable(); err != nil {
			return err
		}
	}
	name := req.Name
	if name == "" {
		name = s.freeMachineNameLocked(a.Name)
	} else if s.machineNamedLocked(a.Name, name) != nil {
		return errConflict("already_exists: machine name %q is taken in app %s", name, a.Name)
	}
	region := req.Region
	if vol != nil {
		if region != "" && region != vol.Region {
			return errPrecondition("volume %s is in region %s, not %s", vol.ID, vol.Region, region)
		}
		region = vol.Region
	}

	now := s.now().UTC()
	m := &machineRecord{
		ID:         newMachineID(),
		AppName:    a.Name,
		Name:       name,
		Region:     cmp.Or(region, s.opts.Region),
		State:      stateCreated,
		InstanceID: newULID(now),
		Config:     req.Config,
		CreatedAt:  now,
		UpdatedAt:  now,
		cfg:        cfg,
	}
	m.PrivateIP = privateIP(s.meta.OrgNumericID, m.ID)
	s.addEventLocked(m, "launch", stateCreated, "user", nil)
	var nonce string
	if req.LeaseTTL > 0 {
		m.Lease = s.newLeaseLocked(m, r, time.Duration(req.LeaseTTL)*time.Second, "")
		nonce = m.Lease.Nonce
	}
	if err := s.db.put(kindMachines, m.ID, m); err != nil {
		return err
	}
	s.machines[m.ID] = m
	s.runtimes[m.ID] = &machineRuntime{}
	if vol != nil {
		vol.AttachedMachineID = m.ID
		s.saveLocked(kindVolumes, vol.ID, vol)
	}

	view := s.viewLocked(m, false, false)
	view.Nonce = nonce
	if !req.SkipLaunch {
		s.launchLocked(m, "user", 0)
		s.saveLocked(kindMachines, m.ID, m)
	}
	s.notifyLocked()
	s.log.Info("machine created", logApp, a.Name, logMachine, m.ID)
	writeJSON(w, http.StatusOK, view)

	return nil
}

// machineNamedLocked returns the live machine of app called name, or nil.
func (s *Server) machineNamedLocked(app, name string) *machineRecord {
	for _, m := range s.machines {
		if m.AppName == app && m.Name == name && m.State != stateDestroyed {
			return m
		}
	}

	return nil
}

// freeMachineNameLocked returns a generated name no live machine of app uses.
func (s *Server) freeMachineNameLocked(app string) string {
	for {
		if name := newMachineName(); s.machineNamedLocked(app, name) == nil {
			return name
		}
	}
}

// updateMachine serves POST /v1/apps/{app_name}/machines/{machine_id}: the
// config is replaced whole and the machine gets a new instance_id. Then it is
// launched on the new config: a running machine is stopped first
// ("replacing"), a machine that is not running starts. With skip_launch a
// running machine is stopped and one that is not running stays so. A
// current_version other than the instance_id fails with 412. The mounted
// volume cannot change.
func (s *Server) updateMachine(w http.ResponseWriter, r *http.Request) error {
	req, cfg, err := decodeMachineRequest(r)
	if err != nil {
		return err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.guardedMachineLocked(r)
	if err != nil {
		return err
	}
	switch {
	case m.State == stateDestroying:
		return errPrecondition("machine is being destroyed")
	case req.CurrentVersion != "" && req.CurrentVersion != m.InstanceID:
		return errPrecondition("machine version is %s, not current_version %s",
			m.InstanceID, req.CurrentVersion)
	case req.Name != "" && req.Name != m.Name:
		return errInvalid("a machine's name cannot be changed")
	case req.Region != "" && req.Region != m.Region:
		return errInvalid("a machine's region cannot be changed")
	case mountedVolume(cfg) != mountedVolume(m.cfg):
		return errInvalid("a machine's volume cannot be changed; " +
			"destroy the machine and create a new one")
	}
	if _, err := s.mountVolumeLocked(m.AppName, cfg, m); err != nil {
		return err
	}
	rt := s.runtimeLocked(m.ID)
	if !req.SkipLaunch {
		if err := s.checkLaunchable(); err != nil {
			return err
		}
	}

	sig, grace := s.stopSettings(m, 0, 0) // the old config says how to stop
	m.Config, m.cfg = req.Config, cfg
	m.InstanceID = newULID(s.now())
	m.RestartCount = 0
	s.setStateLocked(m, m.State)
	s.addEventLocked(m, "update", stateReplacing, "user", nil)
	switch {
	case rt.proc != nil:
		rt.intent = intentRelaunch
		if req.SkipLaunch {
			rt.intent = intentStop
		}
		s.setStateLocked(m, stateReplacing)
		s.stopProcLocked(rt, sig, grace)
	case !req.SkipLaunch:
		s.launchLocked(m, "user", 0)
	case m.State == stateStarting:
		rt.gen++
		s.setStateLocked(m, stateStopped)
	case m.State == stateSuspended:
		s.setStateLocked(m, stateStopped)
	}
	if err := s.db.put(kindMachines, m.ID, m); err != nil {
		return err
	}
	s.notifyLocked()
	writeJSON(w, http.StatusOK, s.viewLocked(m, false, false))

	return nil
}

// mountedVolume returns the id of the volume cfg mounts, or "".
func mountedVolume(cfg machineConfig) string {
	if len(cfg.Mounts) == 0 {
		return ""
	}

	return cfg.Mounts[0].Volume
}

// deleteMachine serves DELETE /v1/apps/{app_name}/machines/{machine_id}. A
// machine that is running needs force=true (or fly-go's kill=true), else 412;
// it is then killed. The answer comes once the machine is destroyed and its
// volume detached.
func (s *Server) deleteMachine(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	force := q.Get("force") == "true" || q.Get("kill") == "true"

	s.mu.Lock()
	m, err := s.guardedMachineLocked(r)
	if err != nil {
		s.mu.Unlock()

		return err
	}
	rt := s.runtimeLocked(m.ID)
	active := rt.proc != nil || m.State == stateStarting
	if active && !force {
		s.mu.Unlock()

		return errPrecondition("machine %s is %s; stop it first or delete with force=true",
			m.ID, m.State)
	}
	if rt.proc == nil {
		s.finalizeDestroyLocked(m, "user")
		s.notifyLocked()
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, ok{OK: true})

		return nil
	}
	rt.intent = intentDestroy
	s.setStateLocked(m, stateDestroying)
	s.addEventLocked(m, "destroy", stateDestroying, "user", nil)
	s.saveLocked(kindMachines, m.ID, m)
	proc, exited := rt.proc, rt.exited
	s.notifyLocked()
	s.mu.Unlock()

	_ = proc.Kill()
	select {
	case <-exited:
	case <-time.After(destroyWait):
	case <-r.Context().Done():
	}
	writeJSON(w, http.StatusOK, ok{OK: true})

	return nil
}
