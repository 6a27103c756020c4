package flylocal

import (
	"cmp"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/longrun/sandstorm/flyclient/flylocal/machine"
)

// appNamePattern is Fly's rule for app names: lower-case letters, digits and
// dashes, under 63 characters. Names are DNS labels, so no dash at either end.
var appNamePattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,60}[a-z0-9])?$`)

// appRecord is an app as persisted.
type appRecord struct {
	ID             string     `json:"id"`
	Name           string     `json:"name"`
	OrgSlug        string     `json:"org_slug"`
	Network        string     `json:"network"`
	NumericID      int64      `json:"internal_numeric_id"`
	CreatedAt      time.Time  `json:"created_at"`
	IdempotencyKey string     `json:"idempotency_key,omitempty"`
	IPs            []ipRecord `json:"ips,omitempty"`
}

// appView is the App object of the API. created_at (Unix milliseconds) is what
// the create call answers; it is included everywhere for simplicity.
type appView struct {
	ID                string  `json:"id"`
	Name              string  `json:"name"`
	CreatedAt         int64   `json:"created_at"`
	InternalNumericID int64   `json:"internal_numeric_id"`
	Network           string  `json:"network"`
	Status            string  `json:"status"`
	MachineCount      int     `json:"machine_count"`
	VolumeCount       int     `json:"volume_count"`
	Organization      orgView `json:"organization"`
}

// orgView is the organization object nested in an App.
type orgView struct {
	Name              string `json:"name"`
	Slug              string `json:"slug"`
	InternalNumericID int64  `json:"internal_numeric_id"`
}

// appViewLocked builds the App object of a. The caller holds s.mu.
func (s *Server) appViewLocked(a *appRecord) appView {
	v := appView{
		ID:                a.ID,
		Name:              a.Name,
		CreatedAt:         a.CreatedAt.UnixMilli(),
		InternalNumericID: a.NumericID,
		Network:           a.Network,
		Status:            "pending",
		Organization: orgView{
			Name:              s.opts.OrgSlug,
			Slug:              s.opts.OrgSlug,
			InternalNumericID: s.meta.OrgNumericID,
		},
	}
	for _, m := range s.machines {
		if m.AppName != a.Name || m.State == stateDestroyed {
			continue
		}
		v.MachineCount++
		if m.State == stateStarted {
			v.Status = "deployed"
		}
	}
	for _, vol := range s.volumes {
		if vol.AppName == a.Name && vol.State != volumeDestroyed {
			v.VolumeCount++
		}
	}

	return v
}

// knownOrg reports whether slug names the org flylocal serves.
func (s *Server) knownOrg(slug string) bool {
	return slug == s.opts.OrgSlug || slug == defaultOrgSlug
}

// appLocked returns the app named in r's path. The caller holds s.mu.
func (s *Server) appLocked(r *http.Request) (*appRecord, error) {
	a := s.apps[r.PathValue("app_name")]
	if a == nil {
		return nil, errNotFound("app")
	}

	return a, nil
}

// createApp serves POST /v1/apps. Both the current "name" and the older
// "app_name" field are accepted; a retried create with the same
// idempotency_key answers the app created the first time.
func (s *Server) createApp(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Name           string `json:"name"`
		AppName        string `json:"app_name"`
		OrgSlug        string `json:"org_slug"`
		Network        string `json:"network"`
		IdempotencyKey string `json:"idempotency_key"`
	}
	if err := decodeBody(r, &req, false); err != nil {
		return err
	}
	name := cmp.Or(req.Name, req.AppName)
	switch {
	case req.OrgSlug == "":
		return errInvalid("org_slug is required")
	case !s.knownOrg(req.OrgSlug):
		return errNotFound("organization")
	}

	s.mu.Lock()
	defer s.mu.Unlock()

	if req.IdempotencyKey != "" {
		for _, a := range s.apps {
			if a.IdempotencyKey != req.IdempotencyKey {
				continue
			}
			if name != "" && name != a.Name {
				return errValidation("", "idempotency_key was used to create another app")
			}
			writeJSON(w, http.StatusCreated, s.appViewLocked(a))

			return nil
		}
	}
	if !appNamePattern.MatchString(name) {
		return errValidation("", "Name under 63 chars using numbers, lowercase letters and dashes")
	}
	if s.apps[name] != nil {
		return errValidation("name_taken", "Name has already been taken")
	}

	s.meta.AppSeq++
	a := &appRecord{
		ID:             newAppID(),
		Name:           name,
		OrgSlug:        s.opts.OrgSlug,
		Network:        cmp.Or(req.Network, "default"),
		NumericID:      s.meta.AppSeq,
		CreatedAt:      s.now().UTC(),
		IdempotencyKey: req.IdempotencyKey,
	}
	if err := s.saveMeta(); err != nil {
		return err
	}
	if err := s.db.put(kindApps, a.Name, a); err != nil {
		return err
	}
	s.apps[a.Name] = a
	s.log.Info("app created", logApp, a.Name)
	writeJSON(w, http.StatusCreated, s.appViewLocked(a))

	return nil
}

// listApps serves GET /v1/apps?org_slug=.
func (s *Server) listApps(w http.ResponseWriter, r *http.Request) error {
	org := r.URL.Query().Get("org_slug")
	switch {
	case org == "":
		return errInvalid("org_slug is required")
	case !s.knownOrg(org):
		return errNotFound("organization")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	apps := make([]appView, 0, len(s.apps))
	for _, a := range s.apps {
		apps = append(apps, s.appViewLocked(a))
	}
	slices.SortFunc(apps, func(a, b appView) int { return strings.Compare(a.Name, b.Name) })
	writeJSON(w, http.StatusOK, map[string]any{"total_apps": len(apps), "apps": apps})

	return nil
}

// getApp serves GET /v1/apps/{app_name}.
func (s *Server) getApp(w http.ResponseWriter, r *http.Request) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.appLocked(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.appViewLocked(a))

	return nil
}

// deleteApp serves DELETE /v1/apps/{app_name}. Everything of the app goes:
// machines are killed (with or without force), volumes and their data,
// snapshots and their archives, secrets, IPs and metric series. The answer,
// 202, comes once all of it is gone.
func (s *Server) deleteApp(w http.ResponseWriter, r *http.Request) error {
	s.mu.Lock()
	a, err := s.appLocked(r)
	if err != nil {
		s.mu.Unlock()

		return err
	}
	name := a.Name
	if err := s.db.remove(kindApps, name); err != nil {
		s.mu.Unlock()

		return err
	}
	delete(s.apps, name)
	procs, paths := s.dropAppResourcesLocked(name)
	s.notifyLocked()
	s.mu.Unlock()

	for _, p := range procs {
		_ = p.Kill()
		<-p.Done()
	}
	for _, p := range paths {
		if err := os.RemoveAll(p); err != nil {
			s.log.Error("delete app data", logApp, name, logError, err)
		}
	}
	s.dropSeries(name)
	s.log.Info("app deleted", logApp, name)
	w.WriteHeader(http.StatusAccepted)

	return nil
}

// dropAppResourcesLocked forgets every machine, volume, snapshot and secret of
// app, returning the processes to kill and the files to remove. The caller
// holds s.mu.
func (s *Server) dropAppResourcesLocked(app string) ([]*machine.Machine, []string) {
	var procs []*machine.Machine
	var paths []string
	for id, m := range s.machines {
		if m.AppName != app {
			continue
		}
		if rt := s.runtimes[id]; rt != nil {
			rt.gen++
			if rt.proc != nil {
				procs = append(procs, rt.proc)
			}
		}
		delete(s.machines, id)
		delete(s.runtimes, id)
		paths = append(paths, s.logPath(id))
		s.removeLocked(kindMachines, id)
	}
	for id, v := range s.volumes {
		if v.AppName != app {
			continue
		}
		delete(s.volumes, id)
		delete(s.activeSnaps, id)
		paths = append(paths, s.volumeDir(id), s.volumeDir(id)+restoreSuffix)
		s.removeLocked(kindVolumes, id)
	}
	for id, snap := range s.snapshots {
		if snap.AppName != app {
			continue
		}
		delete(s.snapshots, id)
		paths = append(paths, s.archivePath(id))
		s.removeLocked(kindSnapshots, id)
	}
	if s.secrets[app] != nil {
		delete(s.secrets, app)
		s.removeLocked(kindSecrets, app)
	}

	return procs, paths
}

// removeLocked deletes a persisted record and logs a failure. The caller holds
// s.mu.
func (s *Server) removeLocked(kind, id string) {
	if err := s.db.remove(kind, id); err != nil {
		s.log.Error("remove state record", logError, err)
	}
}
