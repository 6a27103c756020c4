package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Errors returned by every Store, wrapped with the operation and the object; test them
// with errors.Is.
var (
	// ErrNotFound means the named sandbox (or the sandbox a record belongs to) does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists means the name or ID is already taken.
	ErrExists = errors.New("already exists")
	// ErrInvalid means an argument was rejected before anything was written.
	ErrInvalid = errors.New("invalid argument")
	// ErrSchemaTooNew means the database was migrated by a newer build than this one.
	ErrSchemaTooNew = errors.New("database schema is newer than this build")
)

// Sandbox statuses the store accepts.
const (
	StatusCreating = "creating"
	StatusRunning  = "running"
	StatusStopped  = "stopped"
	StatusPaused   = "paused"
	StatusError    = "error"
	StatusDeleting = "deleting"
)

// Actors that cause a status change or an operation.
const (
	ActorUser   = "user"
	ActorPolicy = "policy"
	ActorAgent  = "agent"
	ActorSystem = "system"
)

// Reasons a snapshot was taken.
const (
	SnapshotPause  = "pause"
	SnapshotManual = "manual"
)

// Outcomes of an audited operation.
const (
	OutcomeOK    = "ok"
	OutcomeError = "error"
)

// Lifecycle phases of the idle policy.
const (
	PhaseActive  = "active"
	PhaseWarned  = "warned"
	PhasePaused  = "paused"
	PhaseDeleted = "deleted"
)

// Sandbox is what the store remembers about one sandbox. Spec is the document the
// Manager needs to recreate the machine; the store treats it as opaque JSON and it must
// hold env var names only, never their values.
type Sandbox struct {
	Name      string
	App       string
	Region    string
	Image     string
	MachineID string
	VolumeID  string
	Status    string
	LastError string
	Spec      json.RawMessage
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Snapshot is one volume snapshot taken of a sandbox. Status is Fly's snapshot status as
// last seen; Reason is SnapshotPause or SnapshotManual.
type Snapshot struct {
	ID        string
	Sandbox   string
	VolumeID  string
	Status    string
	Reason    string
	SizeBytes int64
	CreatedAt time.Time
}

// StatusChange is one transition in a sandbox's status history. From is empty for the
// first status a sandbox gets.
type StatusChange struct {
	Sandbox string
	From    string
	To      string
	Actor   string
	Reason  string
	At      time.Time
}

// Event is one audited operation. Sandbox is empty for operations on no single sandbox,
// such as a list. Args must already be redacted: the store writes what it is given.
type Event struct {
	ID        int64
	At        time.Time
	Sandbox   string
	Operation string
	Actor     string
	Args      json.RawMessage
	Outcome   string
	Error     string
	Duration  time.Duration
}

// EventFilter selects audit events. Empty fields match everything; Since is inclusive.
// A Limit of zero or less means DefaultLimit, and larger values are capped at MaxLimit.
type EventFilter struct {
	Sandbox   string
	Operation string
	Since     time.Time
	Limit     int
}

// Lifecycle is the idle policy's memory of one sandbox. A sandbox the policy has never
// recorded reads as PhaseActive with every time zero, no hold and no policy.
type Lifecycle struct {
	Sandbox    string
	Phase      string    // one of the Phase constants
	IdleSince  time.Time // zero when not idle
	WarnedAt   time.Time
	PausedAt   time.Time
	LastUsedAt time.Time       // latest tool call that used the sandbox; zero when none
	Hold       *Hold           // keep-alive hold, nil when none
	Policy     json.RawMessage // per-sandbox policy override as opaque JSON, nil when none
	UpdatedAt  time.Time       // last write by UpdateLifecycle; zero when none
}

// Hold is a keep-alive hold: keep the sandbox active until Until.
type Hold struct {
	Until  time.Time
	Reason string
	Actor  string // one of the Actor constants
	SetAt  time.Time
}

// Transition is one change of a sandbox's lifecycle phase.
type Transition struct {
	Sandbox string
	From    string
	To      string
	Actor   string // one of the Actor constants (ActorUser, ActorPolicy, ActorAgent, ActorSystem)
	Reasons []string
	At      time.Time
}

// Bounds on the number of rows a history or event query returns.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Store is the durable state the Manager consumes. Implementations are safe for
// concurrent use. Times are returned in UTC, and a zero time on a record being written
// means now. A Store is the truth for what was asked, never for what exists on Fly.
type Store interface {
	// CreateSandbox records a new sandbox. It returns ErrExists if the name is taken and
	// ErrInvalid for an empty name, an unknown status or a spec that is not valid JSON.
	// A zero CreatedAt is set to now and a zero UpdatedAt to CreatedAt.
	CreateSandbox(ctx context.Context, sb Sandbox) error

	// GetSandbox returns the named sandbox, or ErrNotFound.
	GetSandbox(ctx context.Context, name string) (Sandbox, error)

	// ListSandboxes returns every sandbox sorted by name in byte order.
	ListSandboxes(ctx context.Context) ([]Sandbox, error)

	// UpdateSandbox reads the named sandbox, applies fn and writes the result in one
	// transaction, setting UpdatedAt to now, and returns what was written. It returns
	// ErrNotFound without calling fn if there is no such sandbox. An error from fn aborts
	// the update and is returned wrapped; changing Name or CreatedAt, or setting an
	// unknown status, aborts it with ErrInvalid. fn must not call the store.
	UpdateSandbox(ctx context.Context, name string, fn func(*Sandbox) error) (Sandbox, error)

	// DeleteSandbox deletes the named sandbox with its snapshots, status history, sessions,
	// lifecycle record and transitions, and keeps its audit events. It returns ErrNotFound
	// if there is no such sandbox.
	DeleteSandbox(ctx context.Context, name string) error

	// PutSnapshot inserts the snapshot or updates the one with the same ID; it is
	// idempotent. It returns ErrNotFound if the sandbox does not exist and ErrExists if
	// the ID is already recorded for another sandbox. A zero CreatedAt on insert is set
	// to now; on update a zero CreatedAt keeps the stored one.
	PutSnapshot(ctx context.Context, s Snapshot) error

	// ListSnapshots returns the sandbox's snapshots, newest first; snapshots with the
	// same time, as Fly's whole seconds often give, come latest recorded first. A
	// sandbox with no snapshots, or none at all, yields an empty list.
	ListSnapshots(ctx context.Context, sandbox string) ([]Snapshot, error)

	// RecordStatus appends a status change. It returns ErrNotFound if the sandbox does
	// not exist and ErrInvalid for an unknown status or actor.
	RecordStatus(ctx context.Context, c StatusChange) error

	// StatusHistory returns up to limit status changes of the sandbox, newest first.
	// A limit of zero or less means DefaultLimit; larger values are capped at MaxLimit.
	// An unknown sandbox yields an empty list.
	StatusHistory(ctx context.Context, sandbox string, limit int) ([]StatusChange, error)

	// RecordEvent appends an audit event; the store assigns its ID. It returns
	// ErrInvalid for an empty operation, an unknown actor or outcome, a negative
	// duration or args that are not valid JSON.
	RecordEvent(ctx context.Context, e Event) error

	// Events returns the audit events matching f, newest first.
	Events(ctx context.Context, f EventFilter) ([]Event, error)

	// PutSession inserts the session or updates the one with the same ID: its
	// status, exit code, result, error, usage and finish time. It returns
	// ErrNotFound if the sandbox does not exist and ErrInvalid for a missing
	// field or an unknown status. A zero StartedAt on insert is set to now.
	PutSession(ctx context.Context, s Session) error

	// GetSession returns one session of a sandbox, or ErrNotFound.
	GetSession(ctx context.Context, sandbox, id string) (Session, error)

	// ListSessions returns a sandbox's sessions, newest first, all of them or
	// those with the identifier when it is not empty.
	ListSessions(ctx context.Context, sandbox, identifier string) ([]Session, error)

	// GetLifecycle returns the sandbox's lifecycle record. A sandbox the policy has never
	// recorded reads as Phase PhaseActive with zero times (and Sandbox set). ErrNotFound if
	// the sandbox does not exist.
	GetLifecycle(ctx context.Context, sandbox string) (Lifecycle, error)

	// ListLifecycles returns the lifecycle record of every existing sandbox, keyed by name,
	// with the same defaults as GetLifecycle for sandboxes with no row. One query.
	ListLifecycles(ctx context.Context) (map[string]Lifecycle, error)

	// UpdateLifecycle reads the record (or the default), applies fn and writes the result in
	// one transaction (holding the write lock from the first read, like UpdateSandbox, so
	// it is a compare-and-set for concurrent callers, including other processes sharing the
	// file), setting UpdatedAt to now, and returns what was written. ErrNotFound without
	// calling fn if the sandbox does not exist. An error from fn aborts and is returned
	// wrapped. Changing Sandbox, an unknown phase, an unknown hold actor, a hold with a
	// zero Until, or a Policy that is not valid JSON abort with ErrInvalid. A hold with a
	// zero SetAt is written with SetAt now. fn must not call the store.
	UpdateLifecycle(
		ctx context.Context,
		sandbox string,
		fn func(*Lifecycle) error,
	) (Lifecycle, error)

	// TouchSandbox records that a tool call used the sandbox at `at` (zero means now); the
	// stored LastUsedAt only moves forward. ErrNotFound if the sandbox does not exist.
	// It must be cheap: a single statement (an upsert guarded by EXISTS, say). It changes
	// no other field, UpdatedAt included.
	TouchSandbox(ctx context.Context, sandbox string, at time.Time) error

	// RecordTransition appends a phase transition. ErrNotFound if the sandbox does not
	// exist; ErrInvalid for an unknown phase (From included) or actor. Nil Reasons are
	// stored as empty. A zero At means now.
	RecordTransition(ctx context.Context, t Transition) error

	// Transitions returns up to limit transitions of the sandbox, newest first (limit as in
	// StatusHistory: <=0 means DefaultLimit, capped at MaxLimit). Unknown sandbox: empty list.
	Transitions(ctx context.Context, sandbox string, limit int) ([]Transition, error)

	// Close releases the store. Calls after Close fail.
	Close() error
}
