package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/longrun/sandstorm"
	"github.com/longrun/sandstorm/lifecycle"
)

// lifecycleConfig is the idle policy loop's part of the server config.
type lifecycleConfig struct {
	disabled bool
	interval time.Duration
}

// defaultLifecycleInterval is how often the loop checks: often enough that
// a pause comes within minutes of its due time, rarely enough to cost two
// Prometheus queries a few times an hour.
const defaultLifecycleInterval = 5 * time.Minute

// envFlags collects flag defaults read from the environment, and the first
// value that did not parse.
type envFlags struct {
	fs  *flag.FlagSet
	err error
}

func (e *envFlags) duration(p *time.Duration, name, key string, def time.Duration,
	usage string,
) {
	def = envDefault(e, key, def, time.ParseDuration, "a duration such as 30m")
	e.fs.DurationVar(p, name, def, usage+" ("+key+")")
}

func (e *envFlags) int64(p *int64, name, key string, def int64, usage string) {
	parse := func(v string) (int64, error) { return strconv.ParseInt(v, 10, 64) }
	def = envDefault(e, key, def, parse, "a whole number")
	e.fs.Int64Var(p, name, def, usage+" ("+key+")")
}

// envDefault returns key's value parsed by parse, or def when key is unset;
// a value that does not parse is kept as e's error, saying it wants want.
func envDefault[T any](e *envFlags, key string, def T, parse func(string) (T, error),
	want string,
) T {
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	got, err := parse(v)
	if err != nil {
		if e.err == nil {
			e.err = fmt.Errorf("%s=%q: want %s", key, v, want)
		}

		return def
	}

	return got
}

// lifecycleFlags defines the idle policy's flags on fs, writing into c and
// the Manager config mc.
func lifecycleFlags(fs *flag.FlagSet, c *lifecycleConfig, mc *sandstorm.Config) *envFlags {
	e := &envFlags{fs: fs}
	off := strings.EqualFold(os.Getenv("SANDSTORM_LIFECYCLE"), "off")
	fs.BoolVar(&c.disabled, "no-lifecycle", off,
		"do not run the idle policy loop (SANDSTORM_LIFECYCLE=off)")
	e.duration(&c.interval, "lifecycle-interval", "SANDSTORM_LIFECYCLE_INTERVAL",
		defaultLifecycleInterval, "time between idle policy checks")
	e.duration(&mc.IdleWindow, "idle-window", "SANDSTORM_IDLE_WINDOW",
		lifecycle.DefaultWindow, "span a sandbox must be quiet over to count as idle")
	e.int64(&mc.IdleThresholdBytes, "idle-threshold-bytes", "SANDSTORM_IDLE_THRESHOLD_BYTES",
		lifecycle.DefaultThresholdBytes, "network bytes over the window under which it is quiet")
	p := &mc.IdlePolicy
	e.duration(&p.WarnAfter, "idle-warn-after", "SANDSTORM_IDLE_WARN_AFTER",
		sandstorm.DefaultIdlePolicy.WarnAfter, "idle time before a warning, 0 for none")
	e.duration(&p.PauseAfter, "idle-pause-after", "SANDSTORM_IDLE_PAUSE_AFTER",
		sandstorm.DefaultIdlePolicy.PauseAfter, "idle time before a pause")
	e.duration(&p.DeleteAfter, "idle-delete-after", "SANDSTORM_IDLE_DELETE_AFTER",
		sandstorm.DefaultIdlePolicy.DeleteAfter, "time paused before deletion, 0 for never")

	return e
}

// webhookFromEnv returns the lifecycle webhook SANDSTORM_WEBHOOK_URL and
// SANDSTORM_WEBHOOK_SECRET configure, or nil when no URL is set.
func webhookFromEnv(logger *slog.Logger) (*lifecycle.Webhook, error) {
	url, secret := os.Getenv("SANDSTORM_WEBHOOK_URL"), os.Getenv("SANDSTORM_WEBHOOK_SECRET")
	switch {
	case url == "":
		return nil, nil
	case secret == "":
		return nil, errors.New("SANDSTORM_WEBHOOK_URL is set without " +
			"SANDSTORM_WEBHOOK_SECRET, which signs its events")
	case !strings.HasPrefix(url, "https://") && !strings.HasPrefix(url, "http://"):
		return nil, fmt.Errorf("SANDSTORM_WEBHOOK_URL %q: want an http or https URL", url)
	}

	return &lifecycle.Webhook{URL: url, Secret: secret,
		Logger: logger.With("component", "webhook")}, nil
}

// startLifecycle starts the idle policy loop over m unless it is disabled,
// and returns the function that stops it.
func startLifecycle(m *sandstorm.Manager, c lifecycleConfig, logger *slog.Logger) func() error {
	if c.disabled {
		logger.Info("idle policy loop disabled")
		return func() error { return nil }
	}
	loop := &lifecycle.Loop{
		Name:     "idle-policy",
		Interval: c.interval,
		Timeout:  max(c.interval, 10*time.Minute),
		Logger:   logger,
		Check: func(ctx context.Context) error {
			r, err := m.RunLifecycleCheck(ctx, sandstorm.LifecycleConfig{})
			if err != nil {
				return err
			}
			if len(r.Errors) > 0 {
				return fmt.Errorf("%d of %d sandboxes failed, first %s: %s", len(r.Errors),
					r.Checked, r.Errors[0].Sandbox, r.Errors[0].Error)
			}

			return nil
		},
	}
	// Start fails only for a bad configuration, which the flags rule out.
	if err := loop.Start(context.Background()); err != nil {
		logger.Error("start idle policy loop", "error", err)
	}
	logger.Info("idle policy loop started", "interval", c.interval,
		"policy", fmt.Sprintf("%+v", m.Config().IdlePolicy))

	return func() error { loop.Stop(); return nil }
}
