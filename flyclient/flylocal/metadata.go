package flylocal

import (
	"maps"
	"net/http"
)

// Metadata lives in config.metadata. Writes are not guarded by leases, keep
// the instance_id and do not restart the machine.

// getMetadata serves GET .../machines/{machine_id}/metadata: the flat map.
func (s *Server) getMetadata(w http.ResponseWriter, r *http.Request) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.machineLocked(r)
	if err != nil {
		return err
	}
	md := m.cfg.Metadata
	if md == nil {
		md = map[string]string{}
	}
	writeJSON(w, http.StatusOK, md)

	return nil
}

// getMetadataKey serves GET .../metadata/{key}: {"value": "..."} or 404.
func (s *Server) getMetadataKey(w http.ResponseWriter, r *http.Request) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.machineLocked(r)
	if err != nil {
		return err
	}
	v, found := m.cfg.Metadata[r.PathValue("key")]
	if !found {
		return errNotFound("metadata key")
	}
	writeJSON(w, http.StatusOK, map[string]string{"value": v})

	return nil
}

// setMetadataKey serves POST .../metadata/{key} with {"value": "..."}: 204.
func (s *Server) setMetadataKey(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Value *string `json:"value"`
	}
	if err := decodeBody(r, &req, false); err != nil {
		return err
	}
	if req.Value == nil {
		return errInvalid("value is required")
	}

	return s.editMetadata(w, r, "", func(md map[string]string) {
		md[r.PathValue("key")] = *req.Value
	})
}

// deleteMetadataKey serves DELETE .../metadata/{key}: 204, also when the key
// was not set.
func (s *Server) deleteMetadataKey(w http.ResponseWriter, r *http.Request) error {
	return s.editMetadata(w, r, "", func(md map[string]string) {
		delete(md, r.PathValue("key"))
	})
}

// bulkMetadata is the body of PUT and PATCH .../metadata. A null or empty
// value removes its key; machine_version, when set, must be the instance_id.
type bulkMetadata struct {
	Metadata       map[string]*string `json:"metadata"`
	MachineVersion string             `json:"machine_version"`
}

// replaceMetadata serves PUT .../metadata: the map becomes exactly the given
// keys with non-empty values.
func (s *Server) replaceMetadata(w http.ResponseWriter, r *http.Request) error {
	return s.bulkMetadata(w, r, true)
}

// mergeMetadata serves PATCH .../metadata: given keys are set or, with a null
// or empty value, removed; others stay.
func (s *Server) mergeMetadata(w http.ResponseWriter, r *http.Request) error {
	return s.bulkMetadata(w, r, false)
}

// bulkMetadata applies a PUT (replace) or PATCH body.
func (s *Server) bulkMetadata(w http.ResponseWriter, r *http.Request, replace bool) error {
	var req bulkMetadata
	if err := decodeBody(r, &req, false); err != nil {
		return err
	}

	return s.editMetadata(w, r, req.MachineVersion, func(md map[string]string) {
		if replace {
			clear(md)
		}
		for k, v := range req.Metadata {
			if v == nil || *v == "" {
				delete(md, k)
			} else {
				md[k] = *v
			}
		}
	})
}

// editMetadata applies edit to a copy of the machine's metadata, stores it in
// the config and answers 204. A non-empty version must match the instance_id.
func (s *Server) editMetadata(w http.ResponseWriter, r *http.Request, version string,
	edit func(map[string]string),
) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.liveMachineLocked(r)
	if err != nil {
		return err
	}
	if version != "" && version != m.InstanceID {
		return errPrecondition("machine version is %s, not machine_version %s",
			m.InstanceID, version)
	}

	md := maps.Clone(m.cfg.Metadata)
	if md == nil {
		md = map[string]string{}
	}
	edit(md)
	raw, err := withMetadata(m.Config, md)
	if err != nil {
		return err
	}
	old, oldMD := m.Config, m.cfg.Metadata
	m.Config, m.cfg.Metadata = raw, md
	s.setStateLocked(m, m.State)
	if err := s.db.put(kindMachines, m.ID, m); err != nil {
		m.Config, m.cfg.Metadata = old, oldMD

		return err
	}
	s.notifyLocked()
	w.WriteHeader(http.StatusNoContent)

	return nil
}
