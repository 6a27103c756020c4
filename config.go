package sandstorm

import (
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/longrun/sandstorm/lifecycle"
)

// Defaults for a sandbox when neither the server config nor the request says.
const (
	DefaultRegion       = "ord"
	DefaultVolumeSizeGB = 1
	DefaultMemoryMB     = 2048
	DefaultCPUs         = 2
	DefaultSwapSizeMB   = 1024
	DefaultHTTPPort     = 8080
	DefaultPrefix       = "sandstorm-"
	DefaultImage        = "registry-1.docker.io/library/ubuntu:24.04"
	DefaultOrg          = "personal"

	// MountPath is where every sandbox's volume is mounted.
	MountPath = "/data"
)

// Config is the Manager's configuration. Zero fields take the defaults above.
type Config struct {
	Org          string
	Prefix       string
	Image        string
	Region       string
	VolumeSizeGB int
	MemoryMB     int
	CPUs         int
	SwapSizeMB   int
	HTTPPort     int
	// Owner is recorded on every machine as sandstorm_owner, so resources can be
	// proven ours before anything is garbage-collected.
	Owner  string
	Logger *slog.Logger
	// PollInterval is the first interval used when polling Fly for a state
	// change; later polls back off within Fly's rate limits.
	PollInterval time.Duration
	// ExecWindow is the longest command run through one exec call; longer ones
	// run detached. Fly answers exec within about a minute.
	ExecWindow time.Duration

	// IdlePolicy is the idle policy of sandboxes without their own. Zero
	// means DefaultIdlePolicy.
	IdlePolicy lifecycle.Policy
	// IdleWindow is the span over which activity is measured. Default
	// lifecycle.DefaultWindow.
	IdleWindow time.Duration
	// IdleThresholdBytes is the network traffic over the window under which a
	// machine counts as quiet. Default lifecycle.DefaultThresholdBytes.
	IdleThresholdBytes int64
	// Webhook, when set, receives a signed event for every policy action.
	Webhook *lifecycle.Webhook
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// DefaultIdlePolicy warns a sandbox idle for 10 minutes, pauses it after 20
// and never deletes it. Idle time counts from the first check that finds the
// sandbox quiet over the whole window, so with the default 30-minute window
// a pause comes about 50 minutes after the last activity.
var DefaultIdlePolicy = lifecycle.Policy{WarnAfter: 10 * time.Minute,
	PauseAfter: 20 * time.Minute}

var prefixRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,30}$`)

func (c Config) withDefaults() (Config, error) {
	def := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	defInt := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.Org, DefaultOrg)
	def(&c.Prefix, DefaultPrefix)
	def(&c.Image, DefaultImage)
	def(&c.Region, DefaultRegion)
	def(&c.Owner, "sandstorm-mcp")
	defInt(&c.VolumeSizeGB, DefaultVolumeSizeGB)
	defInt(&c.MemoryMB, DefaultMemoryMB)
	defInt(&c.CPUs, DefaultCPUs)
	defInt(&c.SwapSizeMB, DefaultSwapSizeMB)
	defInt(&c.HTTPPort, DefaultHTTPPort)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 100 * time.Millisecond
	}
	if c.ExecWindow <= 0 {
		c.ExecWindow = 50 * time.Second
	}
	if c.IdlePolicy == (lifecycle.Policy{}) {
		c.IdlePolicy = DefaultIdlePolicy
	}
	if err := c.IdlePolicy.Validate(); err != nil {
		return c, fmt.Errorf("idle policy: %w", err)
	}
	if c.IdleWindow <= 0 {
		c.IdleWindow = lifecycle.DefaultWindow
	}
	if c.IdleThresholdBytes <= 0 {
		c.IdleThresholdBytes = lifecycle.DefaultThresholdBytes
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if !prefixRE.MatchString(c.Prefix) {
		return c, fmt.Errorf("prefix %q: want a lowercase letter then up to 30 "+
			"lowercase letters, digits or dashes", c.Prefix)
	}

	return c, nil
}
