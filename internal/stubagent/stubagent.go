// Package stubagent is a stand-in coding agent for tests: a POSIX sh program
// that writes Claude Code stream-json lines at a controlled pace, so sessions
// can be exercised without a real agent or network.
package stubagent

import (
	"encoding/json"
	"fmt"

	"github.com/longrun/sandstorm/agents"
)

// ID is the agent id the stub registers under.
const ID = "stub"

// Program prints an init line, STUB_LINES assistant lines (default 3) with
// STUB_DELAY seconds between them, a line "prompt-hex <hex of its first
// argument>", and a final result with cost 0.5 and 3/4 tokens, then exits
// with STUB_EXIT.
const Program = `n=${STUB_LINES:-3}; d=${STUB_DELAY:-0}
printf '{"type":"system","subtype":"init","session_id":"stub-1"}\n'
i=1
while [ $i -le $n ]; do
  printf '{"type":"assistant","message":{"content":[{"type":"text","text":"line %d"}]}}\n' $i
  [ "$d" = 0 ] || sleep "$d"
  i=$((i + 1))
done
printf 'prompt-hex %s\n' "$(printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n')"
printf '{"type":"result","subtype":"success","is_error":false,"result":"done","session_id":"stub-1","total_cost_usd":0.5,"duration_ms":7,"usage":{"input_tokens":3,"output_tokens":4}}\n'
exit ${STUB_EXIT:-0}`

// Template is the stub's argv template.
func Template() []string {
	return []string{"/bin/sh", "-c", Program, "stub", agents.PromptPlaceholder}
}

// Line is the text of the stub's assistant line i, as it appears in the log.
func Line(i int) string {
	return fmt.Sprintf(`{"type":"assistant","message":{"content":[{"type":"text","text":"line %d"}]}}`, i)
}

// Config is the stub as a SANDSTORM_AGENTS entry.
func Config() string {
	b, _ := json.Marshal(map[string]any{ID: map[string]any{"command": Template(),
		"parse": "stream-json", "instructions_file": "AGENT.md"}})

	return string(b)
}

// Agent returns the stub as a command agent.
func Agent() (*agents.CommandAgent, error) {
	return agents.NewCommandAgent(ID, Template(), agents.WithParseMode(agents.ParseStreamJSON),
		agents.WithInstructionsFile("AGENT.md"))
}
