package main

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/longrun/sandstorm/agents"
)

// commandAgentConfig is one entry of SANDSTORM_AGENTS: a CLI offered as a
// coding agent from an argv template in which "{prompt}" stands for the prompt.
type commandAgentConfig struct {
	Command          []string          `json:"command"`
	Parse            string            `json:"parse,omitempty"`
	InstructionsFile string            `json:"instructions_file,omitempty"`
	Env              map[string]string `json:"env,omitempty"`
	Path             []string          `json:"path,omitempty"`
}

// registerCommandAgents registers the agents described by raw, a JSON object
// of id -> commandAgentConfig, such as
// {"aider": {"command": ["aider", "--yes", "--message", "{prompt}"]}}.
func registerCommandAgents(raw string) error {
	if raw == "" {
		return nil
	}
	var cfgs map[string]commandAgentConfig
	if err := json.Unmarshal([]byte(raw), &cfgs); err != nil {
		return fmt.Errorf("parse SANDSTORM_AGENTS: %w; want a JSON object like "+
			`{"aider": {"command": ["aider", "--message", "{prompt}"]}}`, err)
	}
	for _, id := range slices.Sorted(func(yield func(string) bool) {
		for id := range cfgs {
			if !yield(id) {
				return
			}
		}
	}) {
		c := cfgs[id]
		opts := []agents.CommandOption{}
		switch c.Parse {
		case "", "text":
			opts = append(opts, agents.WithParseMode(agents.ParseText))
		case "stream-json":
			opts = append(opts, agents.WithParseMode(agents.ParseStreamJSON))
		default:
			return fmt.Errorf("SANDSTORM_AGENTS %s: parse %q: want text or stream-json", id, c.Parse)
		}
		if c.InstructionsFile != "" {
			opts = append(opts, agents.WithInstructionsFile(c.InstructionsFile))
		}
		if len(c.Env) > 0 {
			opts = append(opts, agents.WithEnv(c.Env))
		}
		if len(c.Path) > 0 {
			opts = append(opts, agents.WithExtraPath(c.Path...))
		}
		a, err := agents.NewCommandAgent(id, c.Command, opts...)
		if err != nil {
			return fmt.Errorf("SANDSTORM_AGENTS %s: %w", id, err)
		}
		if err := agents.Register(a); err != nil {
			return fmt.Errorf("SANDSTORM_AGENTS %s: %w", id, err)
		}
	}

	return nil
}
