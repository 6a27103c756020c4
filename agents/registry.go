package agents

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sync"
)

// validID is the shape of an agent id: lowercase, short, safe in paths.
var validID = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// commandID is the id the brief names for the command agent; it needs a
// template, so it exists only once someone registers one under that id.
const commandID = "command"

// Registry holds the coding agents a server offers, by id. It is safe for
// concurrent use.
type Registry struct {
	mu     sync.RWMutex
	agents map[string]CodingAgent
}

// NewRegistry returns a registry holding the built-in agents, claude-code and
// codex, installed under DefaultRoot.
func NewRegistry() *Registry {
	r := &Registry{agents: make(map[string]CodingAgent)}
	for _, a := range []CodingAgent{ClaudeCode{}, Codex{}} {
		r.agents[a.ID()] = a
	}

	return r
}

// Register adds a, such as a configured CommandAgent. The id must be new and
// well formed, else the error wraps ErrInvalidInput.
func (r *Registry) Register(a CodingAgent) error {
	if a == nil {
		return fmt.Errorf("register coding agent: nil agent: %w", ErrInvalidInput)
	}
	id := a.ID()
	if !validID.MatchString(id) {
		return fmt.Errorf("register coding agent %q: id must match %s: %w",
			id, validID, ErrInvalidInput)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.agents[id]; ok {
		return fmt.Errorf("register coding agent %q: id already registered: %w",
			id, ErrInvalidInput)
	}
	r.agents[id] = a

	return nil
}

// Get returns the agent with the given id, or an *UnknownAgentError listing
// the known ids.
func (r *Registry) Get(id string) (CodingAgent, error) {
	r.mu.RLock()
	a, ok := r.agents[id]
	r.mu.RUnlock()
	if ok {
		return a, nil
	}

	err := &UnknownAgentError{ID: id, Known: r.Known()}
	if id == commandID {
		err.Advice = "The command agent runs any CLI from an argv template and has none " +
			"until the server configures one: build it with agents.NewCommandAgent(id, " +
			`[]string{"my-agent", "--print", "{prompt}"}) and add it with Register, ` +
			"then ask for its id"
	}

	return nil, err
}

// Known returns the ids of the registered agents, sorted.
func (r *Registry) Known() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()

	return slices.Sorted(maps.Keys(r.agents))
}

// defaultRegistry backs the package-level functions.
var defaultRegistry = NewRegistry()

// Register adds a to the package's registry; see Registry.Register.
func Register(a CodingAgent) error { return defaultRegistry.Register(a) }

// GetCodingAgent returns the agent with the given id from the package's
// registry, or an *UnknownAgentError listing the known ids.
func GetCodingAgent(id string) (CodingAgent, error) { return defaultRegistry.Get(id) }

// Known returns the ids in the package's registry, sorted.
func Known() []string { return defaultRegistry.Known() }

// DefaultCodingAgent returns Claude Code, installed under DefaultRoot.
func DefaultCodingAgent() CodingAgent { return ClaudeCode{} }
