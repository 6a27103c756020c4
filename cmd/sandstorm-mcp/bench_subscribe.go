package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"golang.org/x/sync/errgroup"

	"github.com/longrun/sandstorm"
	"github.com/longrun/sandstorm/agents"
	"github.com/longrun/sandstorm/resources"
)

// tickProgram writes the time in nanoseconds, one line every $D seconds, $N
// times: a session whose lines say when they were written.
const tickProgram = `i=0
while [ $i -lt "${N:-60}" ]; do date +%s%N; sleep "${D:-1}"; i=$((i + 1)); done`

var registerTick = sync.OnceValue(func() error {
	a, err := agents.NewCommandAgent("tick",
		[]string{"/bin/sh", "-c", tickProgram, "tick", agents.PromptPlaceholder})
	if err != nil {
		return err
	}

	return agents.Register(a)
})

// subscriptionResult is what measureSubscriptions found.
type subscriptionResult struct {
	sandboxes, logs int
	window          time.Duration
	requests        int64
	latency         []time.Duration
}

// measureSubscriptions subscribes an MCP client over OS pipes to the logs of
// 5 ticking sessions in each of 10 sandboxes, counts the Fly requests the
// server makes to follow them, and times how long a line takes to become an
// update notification.
func (b *bench) measureSubscriptions(ctx context.Context) (*subscriptionResult, error) {
	if err := registerTick(); err != nil {
		return nil, err
	}
	res := &subscriptionResult{sandboxes: 10, logs: 50, window: 20 * time.Second}
	uris, err := b.tickingSessions(ctx, res.sandboxes, res.logs/res.sandboxes)
	if err != nil {
		return nil, err
	}
	// A quiet session in a sandbox of its own: its log grows only when the
	// bench appends a line, at a time the bench knows.
	if _, err := b.manager.Create(ctx, sandstorm.CreateRequest{Name: "probe", MemoryMB: 256,
		CPUs: 1, Agent: "tick"}); err != nil {
		return nil, err
	}
	quiet, err := b.manager.StartAgentSession(ctx, sandstorm.StartSessionRequest{
		Sandbox: "probe", Identifier: "quiet", Prompt: "wait",
		Env: map[string]string{"N": "1", "D": "600"}})
	if err != nil {
		return nil, err
	}
	watched := resources.LogURI("probe", quiet.ID)
	uris = append(uris, watched)

	updates := make(chan time.Time, 1024)
	opts := &sdk.ClientOptions{ResourceUpdatedHandler: func(_ context.Context,
		r *sdk.ResourceUpdatedNotificationRequest,
	) {
		if r.Params.URI == watched {
			select {
			case updates <- time.Now():
			default:
			}
		}
	}}
	cs, stop, err := b.serveStdio(ctx, opts, "2025-11-25")
	if err != nil {
		return nil, err
	}
	defer stop()
	for _, uri := range uris {
		if err := cs.Subscribe(ctx, &sdk.SubscribeParams{URI: uri}); err != nil {
			return nil, fmt.Errorf("subscribe %s: %w", uri, err)
		}
	}

	time.Sleep(3 * time.Second) // let every watcher take its first reading
	before := b.requests.Load()
	end := time.Now().Add(res.window)
	for time.Now().Before(end) {
		lat, err := b.appendAndWait(ctx, quiet, updates)
		if err != nil {
			return nil, err
		}
		if lat > 0 {
			res.latency = append(res.latency, lat)
		}
		time.Sleep(time.Second)
	}
	res.requests = b.requests.Load() - before - int64(len(res.latency))

	return res, nil
}

// appendAndWait appends a line to a session's log and returns the time from
// just before the append until the client is told the log changed, or 0 when
// no update came within 5 s.
func (b *bench) appendAndWait(ctx context.Context, s *sandstorm.Session,
	updates <-chan time.Time,
) (time.Duration, error) {
	for len(updates) > 0 {
		<-updates
	}
	start := time.Now()
	if _, err := b.manager.Exec(ctx, sandstorm.ExecRequest{Sandbox: s.Sandbox,
		Command: `echo line >>"$LOG"`, Env: map[string]string{"LOG": s.LogPath},
		Timeout: 5 * time.Second}); err != nil {
		return 0, err
	}
	select {
	case at := <-updates:
		return at.Sub(start), nil
	case <-time.After(5 * time.Second):
		return 0, nil
	}
}

// tickingSessions creates sandboxes with the tick agent, starts perSandbox
// ticking sessions in each, and returns the sessions' log URIs.
func (b *bench) tickingSessions(ctx context.Context, sandboxes, perSandbox int,
) ([]string, error) {
	uris := make([]string, sandboxes*perSandbox)
	g, gctx := errgroup.WithContext(ctx)
	for i := range sandboxes {
		g.Go(func() error {
			name := fmt.Sprintf("tick%d", i)
			if _, err := b.manager.Create(gctx, sandstorm.CreateRequest{Name: name,
				MemoryMB: 256, CPUs: 1, Agent: "tick"}); err != nil {
				return err
			}
			for j := range perSandbox {
				s, err := b.manager.StartAgentSession(gctx, sandstorm.StartSessionRequest{
					Sandbox: name, Identifier: fmt.Sprintf("t%d", j), Prompt: "tick",
					Env: map[string]string{"N": "120", "D": "1"}})
				if err != nil {
					return err
				}
				uris[i*perSandbox+j] = resources.LogURI(name, s.ID)
			}

			return nil
		})
	}

	return uris, g.Wait()
}
