package resources

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/longrun/sandstorm"
)

// gone stands for the status of a sandbox that does not exist.
const gone = "gone"

// statusLoop reads a sandbox's status every StatusInterval, and at once when
// nudged, and marks its status URI when the status differs from the last
// reading. The first reading is the baseline and marks nothing.
func (p *Poller) statusLoop(ctx context.Context, name string, l *loop) {
	uri := StatusURI(name)
	bo := backoff{min: p.opts.StatusInterval, max: p.opts.MaxBackoff}
	fl := failureLog{log: p.log, what: "poll sandbox status", sandbox: name}
	var prev string
	first, nudged := true, false
	for {
		cur, err := p.statusOf(ctx, name)
		if ctx.Err() != nil {
			return
		}
		delay := p.opts.StatusInterval
		if err != nil {
			fl.fail(err)
			delay = bo.next()
			// A nudge means the Manager changed the sandbox: say so even
			// though it cannot be read now.
			if nudged {
				p.thr.mark(uri)
			}
		} else {
			fl.ok()
			bo.reset()
			if !first && cur != prev {
				p.thr.mark(uri)
				// Its sessions may have changed with it, as when the
				// machine stopped without the Manager doing it.
				p.onChange(sandstorm.Change{Sandbox: name, Kind: changePolled})
			}
			prev, first = cur, false
			l.markReady(0)
		}
		nudged = l.wait(ctx, delay)
		if ctx.Err() != nil {
			return
		}
	}
}

// statusOf returns a sandbox's status as JSON for comparison, or gone.
func (p *Poller) statusOf(ctx context.Context, name string) (string, error) {
	sb, err := p.m.Get(ctx, name)
	if errors.Is(err, sandstorm.ErrNotFound) {
		return gone, nil
	}
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(sb)
	if err != nil {
		return "", fmt.Errorf("encode status of %s: %w", name, err)
	}

	return string(b), nil
}
