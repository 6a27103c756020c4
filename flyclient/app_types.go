package flyclient

// App is a Fly app as returned by GET /v1/apps/{name}.
type App struct {
	ID                string        `json:"id"`
	Name              string        `json:"name"`
	InternalNumericID int64         `json:"internal_numeric_id,omitempty"`
	Network           string        `json:"network,omitempty"`
	Status            string        `json:"status,omitempty"`
	MachineCount      int           `json:"machine_count"`
	VolumeCount       int           `json:"volume_count"`
	Organization      *Organization `json:"organization,omitempty"`
}

// Organization identifies the org an app belongs to.
type Organization struct {
	Name              string `json:"name"`
	Slug              string `json:"slug"`
	InternalNumericID int64  `json:"internal_numeric_id,omitempty"`
}

// CreateAppRequest is the body of POST /v1/apps.
type CreateAppRequest struct {
	Name    string `json:"name"`
	OrgSlug string `json:"org_slug"`
	Network string `json:"network,omitempty"`
}

// ListAppsResponse is the answer of GET /v1/apps?org_slug=.
type ListAppsResponse struct {
	TotalApps int   `json:"total_apps"`
	Apps      []App `json:"apps"`
}

// IP assignment types accepted by AssignIP.
const (
	IPv6       = "v6"
	IPv4       = "v4"
	IPSharedV4 = "shared_v4"
	IPPrivate6 = "private_v6"
)

// IPAssignment is one public or private address of an app.
type IPAssignment struct {
	IP          string `json:"ip"`
	Region      string `json:"region"`
	ServiceName string `json:"service_name"`
	Shared      bool   `json:"shared"`
	CreatedAt   string `json:"created_at"`
}

// AssignIPRequest is the body of POST /v1/apps/{app}/ip_assignments.
type AssignIPRequest struct {
	Type        string `json:"type"`
	Region      string `json:"region,omitempty"`
	OrgSlug     string `json:"org_slug,omitempty"`
	Network     string `json:"network,omitempty"`
	ServiceName string `json:"service_name,omitempty"`
}

// Secret is an app secret. Value is returned only where Fly reveals it.
type Secret struct {
	Name      string  `json:"name"`
	Digest    string  `json:"digest"`
	CreatedAt string  `json:"created_at,omitempty"`
	UpdatedAt string  `json:"updated_at,omitempty"`
	Value     *string `json:"value,omitempty"`
}

// SetSecretsRequest is the body of POST /v1/apps/{app}/secrets. A nil value
// unsets that secret.
type SetSecretsRequest struct {
	Values map[string]*string `json:"values"`
}

// SecretsResponse is the answer of GET and POST /v1/apps/{app}/secrets.
type SecretsResponse struct {
	Secrets []Secret `json:"secrets"`
	Version uint64   `json:"version,omitempty"`
}

// ErrorBody is the JSON body of every Fly error answer.
type ErrorBody struct {
	Error   string `json:"error,omitempty"`
	Message string `json:"message,omitempty"`
	Status  string `json:"status,omitempty"`
}
