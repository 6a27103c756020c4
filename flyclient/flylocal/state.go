package flylocal

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	mathrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Layout of the state directory.
//
//	<state>/lock                      held (flock) while a Server uses the directory
//	<state>/db/server.json            host id and counters
//	<state>/db/<kind>/<id>.json       one record per app, machine, volume, snapshot
//	<state>/db/secrets/<app>.json     an app's secrets, values included (mode 0600)
//	<state>/volumes/<vol_id>/         volume data, mounted into machines
//	<state>/snapshots/<vs_id>.tar     snapshot archives
//	<state>/run/<machine_id>/         machines' run directories
const (
	kindApps      = "apps"
	kindMachines  = "machines"
	kindVolumes   = "volumes"
	kindSnapshots = "snapshots"
	kindSecrets   = "secrets"
)

// destroyedRetention is how long destroyed machines and volumes stay readable
// before they are reaped.
const destroyedRetention = time.Hour

// serverRecord holds what belongs to the state directory as a whole.
type serverRecord struct {
	HostID       string `json:"host_id"`        // 4 hex digits, the "host" metric label
	OrgNumericID int64  `json:"org_numeric_id"` // internal_numeric_id of the org
	AppSeq       int64  `json:"app_seq"`        // last internal_numeric_id given to an app
	IPSeq        int64  `json:"ip_seq"`         // last suffix given to an IP address
}

// store writes and reads the records under <state>/db. Every write is atomic
// and durable: temp file, fsync, rename, fsync of the directory.
type store struct {
	dir string
}

// openStore creates the state layout under stateDir if needed and takes the
// directory's lock, which the returned file holds until closed.
func openStore(stateDir string) (*store, *os.File, error) {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("create state dir: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(stateDir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("open state lock: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = lock.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, nil, fmt.Errorf("state dir %s is in use by another flylocal server",
				stateDir)
		}

		return nil, nil, fmt.Errorf("lock state dir %s: %w", stateDir, err)
	}

	// Run dirs belong to machine processes, and none outlives its server.
	db := filepath.Join(stateDir, "db")
	err = os.RemoveAll(filepath.Join(stateDir, "run"))
	for _, d := range []string{"volumes", "snapshots", "run", "logs"} {
		if err == nil {
			err = os.MkdirAll(filepath.Join(stateDir, d), 0o700)
		}
	}
	for _, k := range []string{kindApps, kindMachines, kindVolumes, kindSnapshots, kindSecrets} {
		if err == nil {
			err = os.MkdirAll(filepath.Join(db, k), 0o700)
		}
	}
	if err != nil {
		_ = lock.Close()

		return nil, nil, fmt.Errorf("prepare state dir %s: %w", stateDir, err)
	}

	return &store{dir: db}, lock, nil
}

// put stores v as the record id of kind.
func (st *store) put(kind, id string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("save %s %s: %w", kind, id, err)
	}
	if err := writeFileAtomic(filepath.Join(st.dir, kind, id+".json"), data); err != nil {
		return fmt.Errorf("save %s %s: %w", kind, id, err)
	}

	return nil
}

// remove deletes the record id of kind; a missing record is not an error.
func (st *store) remove(kind, id string) error {
	dir := filepath.Join(st.dir, kind)
	err := os.Remove(filepath.Join(dir, id+".json"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s %s: %w", kind, id, err)
	}

	return syncDir(dir)
}

// each calls fn with the contents of every record of kind. Temp files left by
// a crash mid-write are removed.
func (st *store) each(kind string, fn func(data []byte) error) error {
	dir := filepath.Join(st.dir, kind)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read %s: %w", kind, err)
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".tmp-") {
			_ = os.Remove(filepath.Join(dir, name))

			continue
		}
		if !strings.HasSuffix(name, ".json") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return fmt.Errorf("read %s %s: %w", kind, name, err)
		}
		if err := fn(data); err != nil {
			return fmt.Errorf("load %s %s: %w", kind, name, err)
		}
	}

	return nil
}

// writeFileAtomic replaces path with data, mode 0600, so that a crash leaves
// either the old or the new contents.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)

		return err
	}

	return syncDir(dir)
}

// syncDir makes a rename or removal in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}

	return err
}

// saveLocked persists one record and logs a failure; background transitions
// use it, handlers use db.put and answer the error. The caller holds s.mu.
func (s *Server) saveLocked(kind, id string, v any) {
	if err := s.db.put(kind, id, v); err != nil {
		s.log.Error("persist state", logError, err)
	}
}

// load reads the whole database into memory and settles what was in flight
// when the previous server stopped: interrupted stops and destroys complete,
// interrupted snapshots fail. Machines to start again are left for
// resumeLocked.
func (s *Server) load() error {
	s.apps = make(map[string]*appRecord)
	s.machines = make(map[string]*machineRecord)
	s.volumes = make(map[string]*volumeRecord)
	s.snapshots = make(map[string]*snapshotRecord)
	s.secrets = make(map[string]*secretsRecord)

	if err := s.loadMeta(); err != nil {
		return err
	}
	err := errors.Join(
		loadKind(s.db, kindApps, s.apps, func(a *appRecord) string { return a.Name }),
		loadKind(s.db, kindMachines, s.machines, func(m *machineRecord) string { return m.ID }),
		loadKind(s.db, kindVolumes, s.volumes, func(v *volumeRecord) string { return v.ID }),
		loadKind(s.db, kindSnapshots, s.snapshots,
			func(v *snapshotRecord) string { return v.ID }),
		loadKind(s.db, kindSecrets, s.secrets, func(v *secretsRecord) string { return v.AppName }),
	)
	if err != nil {
		return err
	}
	for _, m := range s.machines {
		cfg, err := parseConfig(m.Config)
		if err != nil {
			return fmt.Errorf("load machine %s: %w", m.ID, err)
		}
		m.cfg = cfg
	}

	for _, snap := range s.snapshots {
		if snap.Status == snapshotWaiting || snap.Status == snapshotRunning {
			snap.Status = snapshotFailed
			_ = os.Remove(s.archivePath(snap.ID))
			s.saveLocked(kindSnapshots, snap.ID, snap)
		}
	}
	s.reapLocked()

	return nil
}

// loadKind reads every record of kind into m, keyed by key.
func loadKind[T any](st *store, kind string, m map[string]*T, key func(*T) string) error {
	return st.each(kind, func(data []byte) error {
		v := new(T)
		if err := json.Unmarshal(data, v); err != nil {
			return err
		}
		m[key(v)] = v

		return nil
	})
}

// loadMeta reads server.json, creating it on first use.
func (s *Server) loadMeta() error {
	path := filepath.Join(s.db.dir, "server.json")
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(data, &s.meta); err != nil {
			return fmt.Errorf("load server.json: %w", err)
		}

		return nil
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("load server.json: %w", err)
	}
	s.meta = serverRecord{HostID: randomHex(2), OrgNumericID: 1 + mathrand.Int64N(0xfff0)}

	return s.saveMeta()
}

// saveMeta persists s.meta. The caller holds s.mu or has the server to itself.
func (s *Server) saveMeta() error {
	data, err := json.Marshal(s.meta)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(s.db.dir, "server.json"), data); err != nil {
		return fmt.Errorf("save server.json: %w", err)
	}

	return nil
}

// resumeLocked brings back what was running when the state was saved:
// machines that were started (or on their way to it) start again, transient
// stops and destroys complete, and interrupted volume restores start over.
// The caller holds s.mu.
func (s *Server) resumeLocked() {
	for _, vol := range s.volumes {
		if vol.State == volumeRestoring || vol.State == volumeHydrating {
			s.startRestoreLocked(vol)
		}
	}
	for _, m := range s.machines {
		switch m.State {
		case stateStarted, stateStarting, stateReplacing, stateRestarting:
			if s.supportErr != nil {
				s.setStateLocked(m, stateStopped)
				s.addEventLocked(m, "exit", stateStopped, "flyd", nil)
				s.saveLocked(kindMachines, m.ID, m)

				continue
			}
			s.launchLocked(m, "flyd", 0)
			s.saveLocked(kindMachines, m.ID, m)
		case stateStopping:
			s.setStateLocked(m, stateStopped)
			s.saveLocked(kindMachines, m.ID, m)
		case stateSuspending:
			s.setStateLocked(m, stateSuspended)
			s.saveLocked(kindMachines, m.ID, m)
		case stateDestroying:
			s.finalizeDestroyLocked(m, "flyd")
		}
	}
}

// reapLoop forgets destroyed machines and volumes once they have been readable
// for destroyedRetention.
func (s *Server) reapLoop() {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
			s.mu.Lock()
			s.reapLocked()
			s.mu.Unlock()
		}
	}
}

// reapLocked removes the records of machines and volumes destroyed more than
// destroyedRetention ago. The caller holds s.mu.
func (s *Server) reapLocked() {
	cutoff := s.now().Add(-destroyedRetention)
	for id, m := range s.machines {
		if m.State == stateDestroyed && m.DestroyedAt.Before(cutoff) {
			delete(s.machines, id)
			delete(s.runtimes, id)
			_ = os.Remove(s.logPath(id))
			if err := s.db.remove(kindMachines, id); err != nil {
				s.log.Error("reap machine", logMachine, id, logError, err)
			}
		}
	}
	for id, v := range s.volumes {
		if v.State == volumeDestroyed && v.DestroyedAt.Before(cutoff) {
			delete(s.volumes, id)
			if err := s.db.remove(kindVolumes, id); err != nil {
				s.log.Error("reap volume", logVolume, id, logError, err)
			}
		}
	}
}
