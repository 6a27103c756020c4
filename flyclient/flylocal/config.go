package flylocal

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// machineConfig is the part of a MachineConfig that flylocal acts on. The
// config itself is kept as received, so keys flylocal does not know survive a
// round trip.
type machineConfig struct {
	Image       string            `json:"image"`
	Env         map[string]string `json:"env"`
	Init        initConfig        `json:"init"`
	Mounts      []mountConfig     `json:"mounts"`
	Metadata    map[string]string `json:"metadata"`
	Restart     *restartConfig    `json:"restart"`
	AutoDestroy bool              `json:"auto_destroy"`
	StopConfig  *stopConfig       `json:"stop_config"`
}

// initConfig is config.init: what the machine runs.
type initConfig struct {
	Exec       []string `json:"exec"`
	Entrypoint []string `json:"entrypoint"`
	Cmd        []string `json:"cmd"`
}

// mountConfig is one entry of config.mounts.
type mountConfig struct {
	Volume string `json:"volume"`
	Path   string `json:"path"`
}

// restartConfig is config.restart. MaxRetries is a pointer because Fly's
// default (10) applies only when it is absent.
type restartConfig struct {
	Policy     string `json:"policy"`
	MaxRetries *int   `json:"max_retries"`
}

// stopConfig is config.stop_config.
type stopConfig struct {
	Signal  json.RawMessage `json:"signal"`
	Timeout json.RawMessage `json:"timeout"`
}

// parseConfig decodes the fields flylocal acts on from a raw config.
func parseConfig(raw json.RawMessage) (machineConfig, error) {
	var cfg machineConfig
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return cfg, errInvalid("config is required")
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return cfg, errInvalid("config: %v", err)
	}

	return cfg, nil
}

// checkConfig validates what flylocal needs from a config, apart from the
// volume, which needs the server's state.
func checkConfig(cfg machineConfig) error {
	if cfg.Image == "" {
		return errInvalid("config.image is required")
	}
	if len(cfg.Mounts) > 1 {
		return errInvalid("a machine can mount at most one volume, got %d", len(cfg.Mounts))
	}
	for _, mt := range cfg.Mounts {
		p := path.Clean(mt.Path)
		switch {
		case mt.Volume == "":
			return errInvalid("config.mounts[0].volume is required")
		case !path.IsAbs(mt.Path) || p == "/":
			return errInvalid("config.mounts[0].path %q must be an absolute path below /", mt.Path)
		case p == "/proc" || p == "/sys" || p == "/dev" || strings.HasPrefix(p, "/proc/") ||
			strings.HasPrefix(p, "/sys/") || strings.HasPrefix(p, "/dev/"):
			return errInvalid("config.mounts[0].path %q is reserved", mt.Path)
		}
	}
	if r := cfg.Restart; r != nil {
		switch r.Policy {
		case "", "no", "always", "on-failure":
		default:
			return errInvalid("config.restart.policy %q must be no, always or on-failure", r.Policy)
		}
	}
	if sc := cfg.StopConfig; sc != nil {
		if _, err := parseSignal(sc.Signal); err != nil {
			return err
		}
		if _, err := parseDuration(sc.Timeout); err != nil {
			return err
		}
	}

	return nil
}

// argv returns what a machine runs: init.exec, else entrypoint and cmd, else
// nothing, which keeps the machine up without a main process.
func (cfg machineConfig) argv() []string {
	if len(cfg.Init.Exec) > 0 {
		return cfg.Init.Exec
	}
	out := append([]string(nil), cfg.Init.Entrypoint...)

	return append(out, cfg.Init.Cmd...)
}

// withMetadata returns raw with config.metadata replaced by md (removed when
// empty). Other keys are kept; the encoder orders them by name.
func withMetadata(raw json.RawMessage, md map[string]string) (json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, fmt.Errorf("decode config: %w", err)
	}
	if len(md) == 0 {
		delete(obj, "metadata")
	} else {
		data, err := json.Marshal(md)
		if err != nil {
			return nil, err
		}
		obj["metadata"] = data
	}

	return json.Marshal(obj)
}

// normalizedKeys are the config objects Fly's answers always carry, as {}
// when the request left them out.
var normalizedKeys = []string{"dns", "init"}

// normalizeConfig returns the compact config object raw with the keys of
// normalizedKeys added where absent, as Fly echoes a config. Everything else,
// key order included, is kept as received.
func normalizeConfig(raw json.RawMessage) json.RawMessage {
	raw = compactJSON(raw)
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return raw
	}
	out := bytes.TrimSuffix(bytes.Clone(raw), []byte("}"))
	for _, k := range normalizedKeys {
		if _, ok := obj[k]; ok {
			continue
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(out, `"`+k+`":{}`...)
	}

	return append(out, '}')
}

// compactJSON returns raw without insignificant whitespace.
func compactJSON(raw json.RawMessage) json.RawMessage {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return raw
	}

	return buf.Bytes()
}

// parseSignal reads a signal given as a name ("SIGTERM", "TERM", any case) or
// a number, as JSON or as a bare query value. Absent means 0, the default.
func parseSignal(raw json.RawMessage) (syscall.Signal, error) {
	v := strings.TrimSpace(string(raw))
	if v == "" || v == "null" || v == `""` {
		return 0, nil
	}
	if s, err := strconv.Unquote(v); err == nil {
		v = s
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 1 || n > 64 {
			return 0, errInvalid("signal %d out of range", n)
		}

		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(v)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig, ok := signalByName[name]; ok {
		return sig, nil
	}

	return 0, errInvalid("unknown signal %q", v)
}

// signalByName maps the signal names flylocal accepts to signals.
var signalByName = map[string]syscall.Signal{
	"SIGABRT": syscall.SIGABRT, "SIGALRM": syscall.SIGALRM, "SIGHUP": syscall.SIGHUP,
	"SIGINT": syscall.SIGINT, "SIGKILL": syscall.SIGKILL, "SIGQUIT": syscall.SIGQUIT,
	"SIGTERM": syscall.SIGTERM, "SIGUSR1": syscall.SIGUSR1, "SIGUSR2": syscall.SIGUSR2,
	"SIGSTOP": syscall.SIGSTOP, "SIGCONT": syscall.SIGCONT, "SIGWINCH": syscall.SIGWINCH,
}

// nanosecondThreshold separates the two readings of a numeric duration: below
// it a number is seconds (what a person writes), from it nanoseconds (what
// fly-go's Duration encodes).
const nanosecondThreshold = 1_000_000

// parseDuration reads a duration given as a Go duration string ("10s"), as a
// JSON number or a bare number (seconds, or nanoseconds when at least
// nanosecondThreshold). Absent and zero both mean 0, the default.
func parseDuration(raw json.RawMessage) (time.Duration, error) {
	v := strings.TrimSpace(string(raw))
	if v == "" || v == "null" {
		return 0, nil
	}
	if s, err := strconv.Unquote(v); err == nil {
		v = s
	}
	if v == "" {
		return 0, nil
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		if f < 0 {
			return 0, errInvalid("negative duration %s", v)
		}
		if f >= nanosecondThreshold {
			return time.Duration(f), nil
		}

		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, errInvalid("invalid duration %q", v)
	}

	return d, nil
}
