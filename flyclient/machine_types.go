package flyclient

import "encoding/json"

// Machine states as Fly reports them.
const (
	StateCreated    = "created"
	StateStarting   = "starting"
	StateStarted    = "started"
	StateStopping   = "stopping"
	StateStopped    = "stopped"
	StateSuspended  = "suspended"
	StateFailed     = "failed"
	StateReplacing  = "replacing"
	StateDestroying = "destroying"
	StateDestroyed  = "destroyed"
)

// Machine is a Fly Machine as returned by the Machines API.
type Machine struct {
	ID         string         `json:"id"`
	Name       string         `json:"name"`
	State      string         `json:"state"`
	Region     string         `json:"region"`
	InstanceID string         `json:"instance_id"`
	PrivateIP  string         `json:"private_ip,omitempty"`
	Config     *MachineConfig `json:"config,omitempty"`
	ImageRef   *ImageRef      `json:"image_ref,omitempty"`
	CreatedAt  string         `json:"created_at,omitempty"`
	UpdatedAt  string         `json:"updated_at,omitempty"`
	Events     []MachineEvent `json:"events,omitempty"`
	Nonce      string         `json:"nonce,omitempty"`
	Lease      *MachineLease  `json:"lease,omitempty"`
	HostStatus string         `json:"host_status,omitempty"`
}

// ImageRef describes the image a machine runs.
type ImageRef struct {
	Registry   string            `json:"registry"`
	Repository string            `json:"repository"`
	Tag        string            `json:"tag"`
	Digest     string            `json:"digest"`
	Labels     map[string]string `json:"labels,omitempty"`
}

// MachineEvent is one entry of a machine's event history, newest first.
// Timestamp is in Unix milliseconds.
type MachineEvent struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	Status    string          `json:"status"`
	Source    string          `json:"source"`
	Timestamp int64           `json:"timestamp"`
	Request   json.RawMessage `json:"request,omitempty"`
}

// MachineConfig is the full configuration of a machine. Updates replace it whole.
type MachineConfig struct {
	Image       string            `json:"image"`
	Env         map[string]string `json:"env,omitempty"`
	Init        MachineInit       `json:"init"`
	Guest       *MachineGuest     `json:"guest,omitempty"`
	Mounts      []MachineMount    `json:"mounts,omitempty"`
	Services    []MachineService  `json:"services,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	Restart     *MachineRestart   `json:"restart,omitempty"`
	AutoDestroy bool              `json:"auto_destroy,omitempty"`
	StopConfig  *StopConfig       `json:"stop_config,omitempty"`
	Checks      map[string]Check  `json:"checks,omitempty"`
	Files       []MachineFile     `json:"files,omitempty"`
}

// MachineInit overrides the image's entrypoint and command, and sets swap.
type MachineInit struct {
	Exec       []string `json:"exec,omitempty"`
	Entrypoint []string `json:"entrypoint,omitempty"`
	Cmd        []string `json:"cmd,omitempty"`
	TTY        bool     `json:"tty,omitempty"`
	SwapSizeMB int      `json:"swap_size_mb,omitempty"`
}

// MachineGuest sets the machine's CPU and memory.
type MachineGuest struct {
	CPUKind  string `json:"cpu_kind,omitempty"`
	CPUs     int    `json:"cpus,omitempty"`
	MemoryMB int    `json:"memory_mb,omitempty"`
}

// MachineMount attaches a volume at a path. A machine mounts at most one volume.
type MachineMount struct {
	Volume string `json:"volume"`
	Path   string `json:"path"`
	Name   string `json:"name,omitempty"`
	SizeGB int    `json:"size_gb,omitempty"`
}

// MachineService exposes an internal port through Fly Proxy.
type MachineService struct {
	Protocol     string        `json:"protocol"`
	InternalPort int           `json:"internal_port"`
	Ports        []MachinePort `json:"ports,omitempty"`
	Autostart    *bool         `json:"autostart,omitempty"`
	Autostop     any           `json:"autostop,omitempty"`
}

// MachinePort is one public port of a service and its handlers.
type MachinePort struct {
	Port       int      `json:"port,omitempty"`
	Handlers   []string `json:"handlers,omitempty"`
	ForceHTTPS bool     `json:"force_https,omitempty"`
}

// MachineRestart is the restart policy: "no", "always" or "on-failure".
type MachineRestart struct {
	Policy     string `json:"policy,omitempty"`
	MaxRetries int    `json:"max_retries,omitempty"`
}

// StopConfig sets the signal and grace period used to stop a machine.
type StopConfig struct {
	Signal  string `json:"signal,omitempty"`
	Timeout string `json:"timeout,omitempty"`
}

// Check is a health check run by Fly against the machine.
type Check struct {
	Type     string `json:"type,omitempty"`
	Port     int    `json:"port,omitempty"`
	Interval string `json:"interval,omitempty"`
	Timeout  string `json:"timeout,omitempty"`
	Method   string `json:"method,omitempty"`
	Path     string `json:"path,omitempty"`
}

// MachineFile is a file written into the machine at boot.
type MachineFile struct {
	GuestPath  string `json:"guest_path"`
	RawValue   string `json:"raw_value,omitempty"`
	SecretName string `json:"secret_name,omitempty"`
	Mode       int    `json:"mode,omitempty"`
}

// CreateMachineRequest is the body of POST /v1/apps/{app}/machines.
type CreateMachineRequest struct {
	Name       string        `json:"name,omitempty"`
	Region     string        `json:"region,omitempty"`
	Config     MachineConfig `json:"config"`
	SkipLaunch bool          `json:"skip_launch,omitempty"`
	LeaseTTL   int           `json:"lease_ttl,omitempty"`
}

// UpdateMachineRequest is the body of POST /v1/apps/{app}/machines/{id}. The
// config replaces the machine's config whole; CurrentVersion, when set, makes the
// update fail if the machine changed since that instance_id.
type UpdateMachineRequest struct {
	Config         MachineConfig `json:"config"`
	SkipLaunch     bool          `json:"skip_launch,omitempty"`
	CurrentVersion string        `json:"current_version,omitempty"`
}

// StopRequest is the optional body of POST .../stop. Timeout is a Go duration string.
type StopRequest struct {
	Signal  string `json:"signal,omitempty"`
	Timeout string `json:"timeout,omitempty"`
}

// WaitResponse is the answer of GET .../wait once the machine reached a state.
type WaitResponse struct {
	OK      bool   `json:"ok"`
	State   string `json:"state,omitempty"`
	Version string `json:"version,omitempty"`
	EventID string `json:"event_id,omitempty"`
}

// ExecRequest is the body of POST .../exec. Command is an argv, not a shell line;
// Timeout is in seconds.
type ExecRequest struct {
	Command []string `json:"command"`
	Timeout int      `json:"timeout,omitempty"`
	Stdin   string   `json:"stdin,omitempty"`
}

// ExecResponse is the result of an exec. ExitCode is absent (zero) on success.
type ExecResponse struct {
	Stdout     string `json:"stdout"`
	Stderr     string `json:"stderr"`
	ExitCode   int    `json:"exit_code"`
	ExitSignal int    `json:"exit_signal"`
}

// MachineLease is a lease on a machine as returned in the lease envelope.
// ExpiresAt is in Unix seconds; Version is the machine's instance_id.
type MachineLease struct {
	Nonce       string `json:"nonce,omitempty"`
	ExpiresAt   int64  `json:"expires_at"`
	Owner       string `json:"owner"`
	Description string `json:"description"`
	Version     string `json:"version,omitempty"`
}

// LeaseEnvelope wraps lease answers: {"status": "success", "data": {...}}.
type LeaseEnvelope struct {
	Status  string        `json:"status"`
	Data    *MachineLease `json:"data,omitempty"`
	Message string        `json:"message,omitempty"`
	Code    string        `json:"code,omitempty"`
}
