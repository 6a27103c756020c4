package flylocal

import (
	"cmp"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Machine states. Persistent: created, started, stopped, suspended, failed;
// the others are transient or, for destroyed, terminal.
const (
	stateCreated    = "created"
	stateStarting   = "starting"
	stateStarted    = "started"
	stateStopping   = "stopping"
	stateStopped    = "stopped"
	stateSuspending = "suspending"
	stateSuspended  = "suspended"
	stateFailed     = "failed"
	stateReplacing  = "replacing"
	stateRestarting = "restarting"
	stateDestroying = "destroying"
	stateDestroyed  = "destroyed"
	stateReplaced   = "replaced" // only for waits on an older version
)

// maxEvents is how many events a machine keeps, the most GET .../events
// returns.
const maxEvents = 50

// machineRecord is a machine as persisted.
type machineRecord struct {
	ID           string          `json:"id"`
	AppName      string          `json:"app_name"`
	Name         string          `json:"name"`
	Region       string          `json:"region"`
	State        string          `json:"state"`
	InstanceID   string          `json:"instance_id"`
	PrivateIP    string          `json:"private_ip"`
	Config       json.RawMessage `json:"config"`
	CreatedAt    time.Time       `json:"created_at"`
	UpdatedAt    time.Time       `json:"updated_at"`
	Events       []eventRecord   `json:"events"` // newest first
	Lease        *leaseRecord    `json:"lease,omitempty"`
	RestartCount int             `json:"restart_count"`
	DestroyedAt  time.Time       `json:"destroyed_at,omitzero"`

	cfg machineConfig // parsed from Config
}

// eventRecord is a MachineEvent; it is persisted and answered as is.
type eventRecord struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	Status    string          `json:"status"`
	Source    string          `json:"source"` // "user" or "flyd"
	Timestamp int64           `json:"timestamp"`
	Request   json.RawMessage `json:"request,omitempty"`
}

// machineView is the Machine object of the API.
type machineView struct {
	ID         string          `json:"id"`
	Name       string          `json:"name"`
	State      string          `json:"state"`
	Region     string          `json:"region"`
	InstanceID string          `json:"instance_id"`
	PrivateIP  string          `json:"private_ip"`
	Config     json.RawMessage `json:"config,omitempty"`
	ImageRef   *imageRef       `json:"image_ref,omitempty"`
	CreatedAt  string          `json:"created_at"`
	UpdatedAt  string          `json:"updated_at"`
	Events     []eventRecord   `json:"events,omitempty"`
	Nonce      string          `json:"nonce,omitempty"`
	Lease      *leaseView      `json:"lease,omitempty"`
	HostStatus string          `json:"host_status"`
	// IncompleteConfig is always null: flylocal's host is never unreachable.
	IncompleteConfig json.RawMessage `json:"incomplete_config"`
	// Checks is empty, or absent in a summary: flylocal runs no checks.
	Checks   []checkStatus `json:"checks,omitzero"`
	Cordoned bool          `json:"cordoned"` // cordon is not implemented
}

// checkStatus is an entry of a Machine's checks, the state of one of its
// config.checks.
type checkStatus struct {
	Name      string `json:"name"`
	Status    string `json:"status"`
	Output    string `json:"output"`
	UpdatedAt string `json:"updated_at"`
}

// imageRef is the image_ref object, parsed from config.image.
type imageRef struct {
	Registry   string            `json:"registry"`
	Repository string            `json:"repository"`
	Tag        string            `json:"tag"`
	Digest     string            `json:"digest"`
	Labels     map[string]string `json:"labels"`
}

// parseImageRef splits an image reference like
// registry-1.docker.io/library/ubuntu:latest into its parts.
func parseImageRef(image string) *imageRef {
	ref := &imageRef{Registry: "registry-1.docker.io", Labels: map[string]string{}}
	rest := image
	if name, digest, ok := strings.Cut(rest, "@"); ok {
		rest, ref.Digest = name, digest
	}
	if first, after, ok := strings.Cut(rest, "/"); ok &&
		(strings.ContainsAny(first, ".:") || first == "localhost") {
		ref.Registry, rest = first, after
	}
	if i := strings.LastIndexByte(rest, ':'); i > strings.LastIndexByte(rest, '/') {
		rest, ref.Tag = rest[:i], rest[i+1:]
	}
	if ref.Tag == "" && ref.Digest == "" {
		ref.Tag = "latest"
	}
	if ref.Registry == "registry-1.docker.io" && !strings.Contains(rest, "/") {
		rest = "library/" + rest
	}
	ref.Repository = rest

	return ref
}

// viewLocked builds the Machine object of m. summary leaves out the config and
// events, as list?summary=true does. The caller holds s.mu.
func (s *Server) viewLocked(m *machineRecord, summary, withLease bool) machineView {
	v := machineView{
		ID:         m.ID,
		Name:       m.Name,
		State:      m.State,
		Region:     m.Region,
		InstanceID: m.InstanceID,
		PrivateIP:  m.PrivateIP,
		ImageRef:   parseImageRef(m.cfg.Image),
		CreatedAt:  m.CreatedAt.UTC().Format(time.RFC3339),
		UpdatedAt:  m.UpdatedAt.UTC().Format(time.RFC3339),
		HostStatus: "ok",
	}
	if !summary {
		v.Config = m.Config
		v.Events = m.Events
		v.Checks = []checkStatus{}
	}
	if l := s.activeLeaseLocked(m); withLease && l != nil {
		v.Lease = &leaseView{Description: l.Description, ExpiresAt: l.ExpiresAt.Unix(),
			Owner: l.Owner}
	}

	return v
}

// setStateLocked moves m to state. The caller holds s.mu and saves m.
func (s *Server) setStateLocked(m *machineRecord, state string) {
	m.State = state
	m.UpdatedAt = s.now().UTC()
}

// addEventLocked prepends an event to m's history. The caller holds s.mu.
func (s *Server) addEventLocked(m *machineRecord, typ, status, source string, request any) {
	now := s.now()
	ev := eventRecord{ID: newULID(now), Type: typ, Status: status, Source: source,
		Timestamp: now.UnixMilli()}
	if request != nil {
		ev.Request, _ = json.Marshal(request)
	}
	m.Events = slices.Insert(m.Events, 0, ev)
	if len(m.Events) > maxEvents {
		m.Events = m.Events[:maxEvents]
	}
}

// machineLocked returns the machine named in r's path, destroyed ones
// included. The caller holds s.mu.
func (s *Server) machineLocked(r *http.Request) (*machineRecord, error) {
	if _, err := s.appLocked(r); err != nil {
		return nil, err
	}
	m := s.machines[r.PathValue("machine_id")]
	if m == nil || m.AppName != r.PathValue("app_name") {
		return nil, errNotFound("machine")
	}

	return m, nil
}

// liveMachineLocked is machineLocked for calls that act on a machine: a
// destroyed machine is not found. The caller holds s.mu.
func (s *Server) liveMachineLocked(r *http.Request) (*machineRecord, error) {
	m, err := s.machineLocked(r)
	if err == nil && m.State == stateDestroyed {
		return nil, errNotFound("machine")
	}

	return m, err
}

// guardedMachineLocked is liveMachineLocked for calls that a lease guards: it
// also checks the fly-machine-lease-nonce header. The caller holds s.mu.
func (s *Server) guardedMachineLocked(r *http.Request) (*machineRecord, error) {
	m, err := s.liveMachineLocked(r)
	if err != nil {
		return nil, err
	}
	if err := s.checkLeaseLocked(m, r); err != nil {
		return nil, err
	}

	return m, nil
}

// getMachine serves GET /v1/apps/{app_name}/machines/{machine_id}. Destroyed
// machines answer with state "destroyed" until they are reaped.
func (s *Server) getMachine(w http.ResponseWriter, r *http.Request) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.machineLocked(r)
	if err != nil {
		return err
	}
	withLease := r.URL.Query().Get("include_leases") == "true"
	writeJSON(w, http.StatusOK, s.viewLocked(m, false, withLease))

	return nil
}

// listMachines serves GET /v1/apps/{app_name}/machines with the filters
// include_deleted, region, state (comma list), summary and metadata.<key>.
func (s *Server) listMachines(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	includeDeleted := q.Get("include_deleted") == "true"
	summary := q.Get("summary") == "true"
	withLease := q.Get("include_leases") == "true"
	var states []string
	for _, v := range q["state"] {
		for st := range strings.SplitSeq(v, ",") {
			if st = strings.TrimSpace(st); st != "" {
				states = append(states, st)
			}
		}
	}
	metadata := map[string]string{}
	for k, vs := range q {
		if key, ok := strings.CutPrefix(k, "metadata."); ok && len(vs) > 0 {
			metadata[key] = vs[0]
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.appLocked(r)
	if err != nil {
		return err
	}
	var list []*machineRecord
	for _, m := range s.machines {
		switch {
		case m.AppName != a.Name:
		case m.State == stateDestroyed && !includeDeleted:
		case q.Get("region") != "" && m.Region != q.Get("region"):
		case len(states) > 0 && !slices.Contains(states, m.State):
		case !hasMetadata(m.cfg.Metadata, metadata):
		default:
			list = append(list, m)
		}
	}
	slices.SortFunc(list, func(a, b *machineRecord) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	out := make([]machineView, 0, len(list))
	for _, m := range list {
		out = append(out, s.viewLocked(m, summary, withLease))
	}
	writeJSON(w, http.StatusOK, out)

	return nil
}

// hasMetadata reports whether md holds every pair of want.
func hasMetadata(md, want map[string]string) bool {
	for k, v := range want {
		if got, ok := md[k]; !ok || got != v {
			return false
		}
	}

	return true
}

// machineEvents serves GET .../machines/{machine_id}/events?limit=N, newest
// first; limit defaults to 20 and is capped at 50.
func (s *Server) machineEvents(w http.ResponseWriter, r *http.Request) error {
	limit := 20
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return errInvalid("limit must be a positive integer")
		}
		limit = min(n, maxEvents)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.machineLocked(r)
	if err != nil {
		return err
	}
	events := m.Events[:min(limit, len(m.Events))]
	writeJSON(w, http.StatusOK, append([]eventRecord{}, events...))

	return nil
}
