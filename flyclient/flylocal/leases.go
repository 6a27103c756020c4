package flylocal

import (
	"net/http"
	"strconv"
	"time"
)

// leaseNonceHeader carries the nonce of the lease a request holds.
const leaseNonceHeader = "fly-machine-lease-nonce"

// defaultLeaseTTL applies when an acquire names no TTL.
const defaultLeaseTTL = 30 * time.Second

// leaseRecord is a machine lease as persisted.
type leaseRecord struct {
	Nonce       string    `json:"nonce"`
	ExpiresAt   time.Time `json:"expires_at"`
	Owner       string    `json:"owner"`
	Description string    `json:"description"`
	Version     string    `json:"version"`
}

// leaseView is a lease in the API: inside the envelope with its nonce, or in a
// Machine (include_leases=true) without it.
type leaseView struct {
	Nonce       string `json:"nonce,omitempty"`
	ExpiresAt   int64  `json:"expires_at"` // Unix seconds
	Owner       string `json:"owner"`
	Description string `json:"description"`
	Version     string `json:"version,omitempty"`
}

// leaseEnvelope wraps lease answers as Fly does: {"status":"success","data":{...}}.
type leaseEnvelope struct {
	Status string `json:"status"`
	Data   any    `json:"data"`
}

// activeLeaseLocked returns m's lease if it has one that has not expired by
// the server's clock, dropping an expired one. The caller holds s.mu.
func (s *Server) activeLeaseLocked(m *machineRecord) *leaseRecord {
	if m.Lease != nil && !s.now().Before(m.Lease.ExpiresAt) {
		m.Lease = nil
	}

	return m.Lease
}

// checkLeaseLocked fails with 409 when m is leased and r does not carry the
// lease's nonce. The caller holds s.mu.
func (s *Server) checkLeaseLocked(m *machineRecord, r *http.Request) error {
	l := s.activeLeaseLocked(m)
	if l == nil || r.Header.Get(leaseNonceHeader) == l.Nonce {
		return nil
	}

	return errConflict("aborted: machine ID %s lease currently held by %s, expires at %s",
		m.ID, l.Owner, l.ExpiresAt.UTC().Format(time.RFC3339))
}

// newLeaseLocked returns a fresh lease on m for the requester of r. The caller
// holds s.mu.
func (s *Server) newLeaseLocked(m *machineRecord, r *http.Request, ttl time.Duration,
	description string,
) *leaseRecord {
	return &leaseRecord{
		Nonce:       newNonce(),
		ExpiresAt:   s.now().Add(ttl).UTC().Truncate(time.Second),
		Owner:       tokenOwner(r),
		Description: description,
		Version:     m.InstanceID,
	}
}

// envelopeOf wraps l in the success envelope.
func envelopeOf(l *leaseRecord) leaseEnvelope {
	return leaseEnvelope{Status: "success", Data: leaseView{
		Nonce:       l.Nonce,
		ExpiresAt:   l.ExpiresAt.Unix(),
		Owner:       l.Owner,
		Description: l.Description,
		Version:     l.Version,
	}}
}

// acquireLease serves POST .../machines/{machine_id}/lease. The TTL, in
// seconds, comes from the body {"ttl": N, "description": "..."} or the query
// ?ttl=N (what fly-go sends); default 30 s. With the current lease's nonce in
// fly-machine-lease-nonce the call refreshes that lease; without it, a held
// lease is a 409.
func (s *Server) acquireLease(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		TTL         *int   `json:"ttl"`
		Description string `json:"description"`
	}
	if err := decodeBody(r, &req, true); err != nil {
		return err
	}
	ttl := defaultLeaseTTL
	switch {
	case req.TTL != nil:
		ttl = time.Duration(*req.TTL) * time.Second
	case r.URL.Query().Get("ttl") != "":
		n, err := strconv.Atoi(r.URL.Query().Get("ttl"))
		if err != nil {
			return errInvalid("ttl must be an integer number of seconds")
		}
		ttl = time.Duration(n) * time.Second
	}
	if ttl <= 0 {
		return errInvalid("ttl must be positive")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.liveMachineLocked(r)
	if err != nil {
		return err
	}
	l := s.activeLeaseLocked(m)
	switch {
	case l == nil:
		l = s.newLeaseLocked(m, r, ttl, req.Description)
	case r.Header.Get(leaseNonceHeader) == l.Nonce:
		l.ExpiresAt = s.now().Add(ttl).UTC().Truncate(time.Second)
		l.Version = m.InstanceID
		if req.Description != "" {
			l.Description = req.Description
		}
	default:
		return s.checkLeaseLocked(m, r)
	}
	m.Lease = l
	if err := s.db.put(kindMachines, m.ID, m); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, envelopeOf(l))

	return nil
}

// getLease serves GET .../machines/{machine_id}/lease: 200 with the envelope,
// or 404 "lease not found".
func (s *Server) getLease(w http.ResponseWriter, r *http.Request) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.liveMachineLocked(r)
	if err != nil {
		return err
	}
	l := s.activeLeaseLocked(m)
	if l == nil {
		return errNotFound("lease")
	}
	writeJSON(w, http.StatusOK, envelopeOf(l))

	return nil
}

// releaseLease serves DELETE .../machines/{machine_id}/lease, which needs the
// lease's nonce in fly-machine-lease-nonce (400 without it or with another).
func (s *Server) releaseLease(w http.ResponseWriter, r *http.Request) error {
	nonce := r.Header.Get(leaseNonceHeader)
	if nonce == "" {
		return errInvalid("the %s header is required", leaseNonceHeader)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.liveMachineLocked(r)
	if err != nil {
		return err
	}
	l := s.activeLeaseLocked(m)
	switch {
	case l == nil:
		return errNotFound("lease")
	case l.Nonce != nonce:
		return errInvalid("lease nonce does not match the current lease")
	}
	m.Lease = nil
	if err := s.db.put(kindMachines, m.ID, m); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, leaseEnvelope{Status: "success", Data: ok{OK: true}})

	return nil
}
