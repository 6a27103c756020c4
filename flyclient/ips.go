package flyclient

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

func ipsPath(app string) string {
	return "/v1/apps/" + seg(app) + "/ip_assignments"
}

// ListIPAssignments lists an app's IP addresses: GET
// /v1/apps/{app}/ip_assignments, which answers {"ips": [...]}.
func (c *Client) ListIPAssignments(ctx context.Context, app string) ([]IPAssignment, error) {
	if err := required("app name", app); err != nil {
		return nil, fmt.Errorf("list ip assignments: %w", err)
	}

	var resp struct {
		IPs []IPAssignment `json:"ips"`
	}
	if err := c.do(ctx, c.newCall(http.MethodGet, ipsPath(app)), &resp); err != nil {
		return nil, fmt.Errorf("list ip assignments of app %s: %w", app, err)
	}

	return resp.IPs, nil
}

// AssignIP gives an app an IP address: POST /v1/apps/{app}/ip_assignments.
// req.Type is one of IPv6, IPv4, IPSharedV4, IPPrivate6 (Fly also knows egress
// types). A public https://{app}.fly.dev needs an IPv6 and a shared IPv4 plus
// a service on the machine.
//
// The client lists the app's addresses before sending. An assign that then
// fails without a clear answer is not simply sent again: for the four types
// above the client lists them once more and returns an address of the
// requested type (and region and service name, if set) that was not there
// before, and sends the request again only if there is none. For other types
// the uncertain error is returned.
func (c *Client) AssignIP(
	ctx context.Context,
	app string,
	req AssignIPRequest,
) (*IPAssignment, error) {
	if err := required("app name", app, "ip type", req.Type); err != nil {
		return nil, fmt.Errorf("assign ip: %w", err)
	}

	before, err := c.ListIPAssignments(ctx, app)
	if err != nil {
		return nil, fmt.Errorf("assign %s ip to app %s: %w", req.Type, app, err)
	}
	known := make(map[string]bool, len(before))
	for _, ip := range before {
		known[ip.IP] = true
	}

	var ip IPAssignment
	cl := c.newCall(http.MethodPost, ipsPath(app))
	if err := cl.setJSON(req); err != nil {
		return nil, fmt.Errorf("assign %s ip to app %s: %w", req.Type, app, err)
	}
	switch req.Type {
	case IPv6, IPv4, IPSharedV4, IPPrivate6:
		cl.lookup = func(ctx context.Context) (bool, error) {
			return c.findIP(ctx, app, req, known, &ip)
		}
	}
	if err := c.do(ctx, cl, &ip); err != nil {
		return nil, fmt.Errorf("assign %s ip to app %s: %w", req.Type, app, err)
	}

	return &ip, nil
}

// findIP looks for the address an uncertain assign may have made.
func (c *Client) findIP(
	ctx context.Context,
	app string,
	req AssignIPRequest,
	known map[string]bool,
	out *IPAssignment,
) (bool, error) {
	var resp struct {
		IPs []IPAssignment `json:"ips"`
	}
	cl := c.newCall(http.MethodGet, ipsPath(app))
	cl.once = true
	if err := c.do(ctx, cl, &resp); err != nil {
		return false, err
	}
	for _, ip := range resp.IPs {
		if ipType(ip) == req.Type &&
			(req.Region == "" || ip.Region == req.Region) &&
			(req.ServiceName == "" || ip.ServiceName == req.ServiceName) &&
			!known[ip.IP] {
			*out = ip

			return true, nil
		}
	}

	return false, nil
}

// ipType infers an assignment's type from its address, since Fly's listing
// does not state it: fdaa::/16 is Flycast (private_v6).
func ipType(ip IPAssignment) string {
	addr, err := netip.ParseAddr(ip.IP)
	switch {
	case err != nil:
		return ""
	case addr.Is4() && ip.Shared:
		return IPSharedV4
	case addr.Is4():
		return IPv4
	case strings.HasPrefix(strings.ToLower(ip.IP), "fdaa:"):
		return IPPrivate6
	}

	return IPv6
}

// DeleteIPAssignment releases an app's IP address: DELETE
// /v1/apps/{app}/ip_assignments/{ip}. A retry that finds the address already
// released counts as success.
func (c *Client) DeleteIPAssignment(ctx context.Context, app, ip string) error {
	if err := required("app name", app, "ip", ip); err != nil {
		return fmt.Errorf("delete ip assignment: %w", err)
	}

	cl := c.newCall(http.MethodDelete, ipsPath(app)+"/"+seg(ip))
	cl.goneIsDone = true
	if err := c.do(ctx, cl, nil); err != nil {
		return fmt.Errorf("delete ip %s of app %s: %w", ip, app, err)
	}

	return nil
}
