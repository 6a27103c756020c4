package flylocal

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"time"
)

// sharedIPv4 is the address every app's shared_v4 assignment reports: on Fly
// many apps share one anycast IPv4 and are told apart by hostname.
const sharedIPv4 = "66.241.124.100"

// ipRecord is an IP assignment of an app, persisted inside the app record.
type ipRecord struct {
	IP          string    `json:"ip"`
	Type        string    `json:"type"`
	Region      string    `json:"region"`
	ServiceName string    `json:"service_name"`
	Shared      bool      `json:"shared"`
	Network     string    `json:"network,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
}

// ipView is the IPAssignment object of the API.
type ipView struct {
	IP          string         `json:"ip"`
	Region      string         `json:"region"`
	ServiceName string         `json:"service_name"`
	Shared      bool           `json:"shared"`
	Egress      bool           `json:"egress"`
	CreatedAt   string         `json:"created_at"`
	Network     *ipNetworkView `json:"network"`
}

// assignedIPView is the AssignIPResponse object of the API: the assignment
// and its ip_pair, which only egress_pair assignments fill, so always null
// here.
type assignedIPView struct {
	ipView
	IPPair *ipPairView `json:"ip_pair"`
}

// ipPairView is the v4 and v6 pair of an egress_pair assignment.
type ipPairView struct {
	V4 string `json:"v4"`
	V6 string `json:"v6"`
}

// ipNetworkView is the network of a Flycast (private_v6) address.
type ipNetworkView struct {
	Name    string `json:"name"`
	OrgSlug string `json:"org_slug"`
}

// ipViewOf builds the IPAssignment object of ip.
func (s *Server) ipViewOf(ip ipRecord) ipView {
	v := ipView{
		IP:          ip.IP,
		Region:      ip.Region,
		ServiceName: ip.ServiceName,
		Shared:      ip.Shared,
		CreatedAt:   ip.CreatedAt.UTC().Format(time.RFC3339),
	}
	if ip.Network != "" {
		v.Network = &ipNetworkView{Name: ip.Network, OrgSlug: s.opts.OrgSlug}
	}

	return v
}

// listIPs serves GET /v1/apps/{app_name}/ip_assignments.
func (s *Server) listIPs(w http.ResponseWriter, r *http.Request) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.appLocked(r)
	if err != nil {
		return err
	}
	ips := make([]ipView, 0, len(a.IPs))
	for _, ip := range a.IPs {
		ips = append(ips, s.ipViewOf(ip))
	}
	writeJSON(w, http.StatusOK, map[string]any{"ips": ips})

	return nil
}

// assignIP serves POST /v1/apps/{app_name}/ip_assignments for the types v6
// (2a09:8280:1::<n>), v4 (a dedicated 137.66.x.y), shared_v4 (the one shared
// address, at most once per app; asking again answers the same assignment)
// and private_v6 (a Flycast fdaa: address). Egress types are not supported.
func (s *Server) assignIP(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Type        string `json:"type"`
		Region      string `json:"region"`
		Network     string `json:"network"`
		ServiceName string `json:"service_name"`
	}
	if err := decodeBody(r, &req, false); err != nil {
		return err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.appLocked(r)
	if err != nil {
		return err
	}
	ip := ipRecord{
		Type:        req.Type,
		Region:      cmp.Or(req.Region, "global"),
		ServiceName: req.ServiceName,
		CreatedAt:   s.now().UTC(),
	}
	n := s.meta.IPSeq + 1
	switch req.Type {
	case "v6":
		ip.IP = fmt.Sprintf("2a09:8280:1::%x", n)
	case "v4":
		ip.IP = fmt.Sprintf("137.66.%d.%d", (n>>8)&0xff, n&0xff)
	case "private_v6":
		ip.IP = fmt.Sprintf("fdaa:0:%x:0:1::%x", s.meta.OrgNumericID&0xffff, n)
		ip.Network = cmp.Or(req.Network, "default")
	case "shared_v4":
		if i := slices.IndexFunc(a.IPs, func(x ipRecord) bool { return x.Shared }); i >= 0 {
			writeJSON(w, http.StatusOK, assignedIPView{ipView: s.ipViewOf(a.IPs[i])})

			return nil
		}
		ip.IP, ip.Shared = sharedIPv4, true
	case "":
		return errInvalid("type is required")
	default:
		return errInvalid("ip type %q is not supported, want v4, v6, shared_v4 or private_v6",
			req.Type)
	}
	if req.Type != "shared_v4" {
		s.meta.IPSeq = n
		if err := s.saveMeta(); err != nil {
			return err
		}
	}
	a.IPs = append(a.IPs, ip)
	if err := s.db.put(kindApps, a.Name, a); err != nil {
		a.IPs = a.IPs[:len(a.IPs)-1]

		return err
	}
	writeJSON(w, http.StatusOK, assignedIPView{ipView: s.ipViewOf(ip)})

	return nil
}

// releaseIP serves DELETE /v1/apps/{app_name}/ip_assignments/{ip}: 204, or 404
// when the app has no such address.
func (s *Server) releaseIP(w http.ResponseWriter, r *http.Request) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.appLocked(r)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(a.IPs, func(x ipRecord) bool { return x.IP == r.PathValue("ip") })
	if i < 0 {
		return errNotFound("ip assignment")
	}
	old := a.IPs
	a.IPs = slices.Delete(slices.Clone(old), i, i+1)
	if err := s.db.put(kindApps, a.Name, a); err != nil {
		a.IPs = old

		return err
	}
	w.WriteHeader(http.StatusNoContent)

	return nil
}
