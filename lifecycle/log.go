package lifecycle

import (
	"fmt"
	"log/slog"
	"time"
)

// Attribute keys of the package's log lines.
const (
	logLoop       = "loop"
	logError      = "error"
	logFailures   = "failures"
	logSuppressed = "suppressed"
	logRetryIn    = "retry_in"
	logDownFor    = "down_for"
	logOrg        = "org"
	logPrefix     = "prefix"
	logSandboxes  = "sandboxes"
	logIdle       = "idle"
	logUnknown    = "unknown"
	logEvent      = "event"
	logDelivery   = "delivery"
	logAttempt    = "attempt"
	logStatus     = "status"
)

// discard is the logger used when none is injected.
var discard = slog.New(slog.DiscardHandler)

// orDiscard returns l, or a logger that drops everything when l is nil.
func orDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return discard
	}

	return l
}

// humanDuration renders d for people: 45s, 12m, 3h5m, 4d2h.
func humanDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "-" + humanDuration(-d)
	case d < time.Minute:
		return fmt.Sprintf("%ds", int64(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int64(d/time.Minute))
	case d < 48*time.Hour:
		h, m := int64(d/time.Hour), int64(d%time.Hour/time.Minute)
		if m == 0 {
			return fmt.Sprintf("%dh", h)
		}

		return fmt.Sprintf("%dh%dm", h, m)
	default:
		days, h := int64(d/(24*time.Hour)), int64(d%(24*time.Hour)/time.Hour)
		if h == 0 {
			return fmt.Sprintf("%dd", days)
		}

		return fmt.Sprintf("%dd%dh", days, h)
	}
}

// humanBytes renders n bytes with binary units: 512 B, 3.2 KiB, 1.5 MiB.
func humanBytes(n float64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%.0f B", n)
	}
	units := []string{"KiB", "MiB", "GiB", "TiB"}
	i := 0
	for n /= unit; n >= unit && i < len(units)-1; i++ {
		n /= unit
	}

	return fmt.Sprintf("%.1f %s", n, units[i])
}
