package sandstorm

import (
	"time"

	"github.com/longrun/sandstorm/store"
)

// Sandbox statuses, as reported and as stored.
const (
	StatusCreating = store.StatusCreating
	StatusRunning  = store.StatusRunning
	StatusStopped  = store.StatusStopped
	StatusPaused   = store.StatusPaused
	StatusError    = store.StatusError
	StatusDeleting = store.StatusDeleting
)

// Sandbox is a sandbox as reported by Create, Get and List.
type Sandbox struct {
	Name         string    `json:"name"`
	App          string    `json:"app"`
	Status       string    `json:"status"`
	MachineState string    `json:"machine_state,omitempty"`
	MachineID    string    `json:"machine_id,omitempty"`
	VolumeID     string    `json:"volume_id,omitempty"`
	Region       string    `json:"region"`
	URL          string    `json:"url"`
	Image        string    `json:"image"`
	MemoryMB     int       `json:"memory_mb"`
	CPUs         int       `json:"cpus"`
	SwapSizeMB   int       `json:"swap_size_mb"`
	VolumeSizeGB int       `json:"volume_size_gb"`
	HTTPPort     int       `json:"http_port"`
	EnvNames     []string  `json:"env_names"`
	Repo         *RepoSpec `json:"repo,omitempty"`
	Agent        string    `json:"agent,omitempty"`
	// AgentCommand is the shell line that runs the agent for a person at a
	// terminal in the sandbox, such as one opened by fly ssh console.
	AgentCommand   string    `json:"agent_command,omitempty"`
	PersonaVersion string    `json:"persona_version,omitempty"`
	LatestSnapshot *Snapshot `json:"latest_snapshot,omitempty"`
	// Lifecycle is where the sandbox stands in the idle policy.
	Lifecycle *LifecycleStatus `json:"lifecycle,omitempty"`
	LastError string           `json:"last_error,omitempty"`
	CreatedAt time.Time        `json:"created_at"`
	UpdatedAt time.Time        `json:"updated_at"`
}

// Snapshot is a volume snapshot taken of a sandbox.
type Snapshot struct {
	ID        string    `json:"id"`
	VolumeID  string    `json:"volume_id"`
	Status    string    `json:"status"`
	SizeBytes int64     `json:"size_bytes"`
	Reason    string    `json:"reason,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// ProgressFunc receives progress of a long operation: done of total steps and
// what is happening now. It must not block.
type ProgressFunc func(done, total int, message string)

func (p ProgressFunc) report(done, total int, message string) {
	if p != nil {
		p(done, total, message)
	}
}
