package flylocal

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"time"
)

// secretNamePattern is what can be an environment variable name.
var secretNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// secretsRecord is an app's secrets as persisted, values included, in a file
// of mode 0600. Values are never answered nor logged.
type secretsRecord struct {
	AppName string                 `json:"app_name"`
	Version uint64                 `json:"version"`
	Secrets map[string]secretValue `json:"secrets"`
}

// secretValue is one secret.
type secretValue struct {
	Value     string    `json:"value"`
	Digest    string    `json:"digest"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// secretView is a secret in the API, without its value.
type secretView struct {
	Name      string `json:"name"`
	Digest    string `json:"digest"`
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
}

// viewOf returns the API object of secret name.
func (sec secretValue) viewOf(name string) secretView {
	return secretView{
		Name:      name,
		Digest:    sec.Digest,
		CreatedAt: sec.CreatedAt.UTC().Format(time.RFC3339),
		UpdatedAt: sec.UpdatedAt.UTC().Format(time.RFC3339),
	}
}

// secretDigest is the digest Fly shows for a value: a short hash.
func secretDigest(value string) string {
	sum := sha256.Sum256([]byte(value))

	return hex.EncodeToString(sum[:8])
}

// secretsOfLocked returns the secrets of the app named in r's path, creating an
// empty set. The caller holds s.mu.
func (s *Server) secretsOfLocked(r *http.Request) (*secretsRecord, error) {
	a, err := s.appLocked(r)
	if err != nil {
		return nil, err
	}
	set := s.secrets[a.Name]
	if set == nil {
		set = &secretsRecord{AppName: a.Name, Secrets: map[string]secretValue{}}
		s.secrets[a.Name] = set
	}

	return set, nil
}

// listView returns every secret of set, sorted by name.
func (set *secretsRecord) listView() []secretView {
	out := make([]secretView, 0, len(set.Secrets))
	for _, name := range slices.Sorted(maps.Keys(set.Secrets)) {
		out = append(out, set.Secrets[name].viewOf(name))
	}

	return out
}

// applySecretsLocked sets (or, for nil, removes) values in set, bumps its
// version and saves it. Machines see the change at their next start. The
// caller holds s.mu.
func (s *Server) applySecretsLocked(set *secretsRecord, values map[string]*string) error {
	for name := range values {
		if !secretNamePattern.MatchString(name) {
			return errInvalid("secret name %q must be a valid environment variable name", name)
		}
	}
	next := maps.Clone(set.Secrets)
	now := s.now().UTC()
	for name, v := range values {
		if v == nil {
			delete(next, name)

			continue
		}
		sec, found := next[name]
		if !found {
			sec.CreatedAt = now
		}
		sec.Value, sec.Digest, sec.UpdatedAt = *v, secretDigest(*v), now
		next[name] = sec
	}
	updated := secretsRecord{AppName: set.AppName, Version: set.Version + 1, Secrets: next}
	if err := s.db.put(kindSecrets, set.AppName, updated); err != nil {
		return err
	}
	*set = updated

	return nil
}

// listSecrets serves GET /v1/apps/{app_name}/secrets: names and digests only.
func (s *Server) listSecrets(w http.ResponseWriter, r *http.Request) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	set, err := s.secretsOfLocked(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"secrets": set.listView()})

	return nil
}

// setSecrets serves POST /v1/apps/{app_name}/secrets with
// {"values": {"NAME": "value", "GONE": null}}.
func (s *Server) setSecrets(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Values map[string]*string `json:"values"`
	}
	if err := decodeBody(r, &req, false); err != nil {
		return err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	set, err := s.secretsOfLocked(r)
	if err != nil {
		return err
	}
	if err := s.applySecretsLocked(set, req.Values); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"secrets": set.listView(), "version": set.Version})

	return nil
}

// getSecret serves GET /v1/apps/{app_name}/secrets/{secret_name}, without the
// value.
func (s *Server) getSecret(w http.ResponseWriter, r *http.Request) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	set, err := s.secretsOfLocked(r)
	if err != nil {
		return err
	}
	name := r.PathValue("secret_name")
	sec, found := set.Secrets[name]
	if !found {
		return errNotFound("secret")
	}
	writeJSON(w, http.StatusOK, sec.viewOf(name))

	return nil
}

// setSecret serves POST /v1/apps/{app_name}/secrets/{secret_name} with
// {"value": "..."}: 201.
func (s *Server) setSecret(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Value *string `json:"value"`
	}
	if err := decodeBody(r, &req, false); err != nil {
		return err
	}
	if req.Value == nil {
		return errInvalid("value is required")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	set, err := s.secretsOfLocked(r)
	if err != nil {
		return err
	}
	name := r.PathValue("secret_name")
	if err := s.applySecretsLocked(set, map[string]*string{name: req.Value}); err != nil {
		return err
	}
	v := set.Secrets[name].viewOf(name)
	writeJSON(w, http.StatusCreated, map[string]any{
		"name": v.Name, "digest": v.Digest, "created_at": v.CreatedAt,
		"updated_at": v.UpdatedAt, "version": set.Version,
	})

	return nil
}

// deleteSecret serves DELETE /v1/apps/{app_name}/secrets/{secret_name}: 200
// with the new version, or 404.
func (s *Server) deleteSecret(w http.ResponseWriter, r *http.Request) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	set, err := s.secretsOfLocked(r)
	if err != nil {
		return err
	}
	name := r.PathValue("secret_name")
	if _, found := set.Secrets[name]; !found {
		return errNotFound("secret")
	}
	if err := s.applySecretsLocked(set, map[string]*string{name: nil}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"version": set.Version})

	return nil
}
