package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/longrun/sandstorm"
	"github.com/longrun/sandstorm/flyclient"
	"github.com/longrun/sandstorm/flyclient/flylocal"
	"github.com/longrun/sandstorm/internal/clock"
	"github.com/longrun/sandstorm/lifecycle"
	"github.com/longrun/sandstorm/store"
)

// lifecycleMix is the population the lifecycle bench judges: most sandboxes
// busy on the network, some quiet with an agent at work, a few idle.
type lifecycleMix struct {
	sandboxes, agents, idle int
}

// lifecycleCycle is what one measured check cost.
type lifecycleCycle struct {
	name                  string
	wall                  time.Duration
	promQueries, requests int
	execs                 int
	limited               int
	allocBytes            uint64
	heapBytes             uint64
	report                *sandstorm.LifecycleReport
}

// lifecycleResult is what measureLifecycle found.
type lifecycleResult struct {
	mix    lifecycleMix
	setup  time.Duration
	cycles []lifecycleCycle
}

// measureLifecycle creates mix.sandboxes sandboxes on a flylocal of its own,
// then, with the configured latency per request and Fly's rate limits on,
// measures two checks: one that finds the idle sandboxes and starts their
// idle time, and one, half an hour later with warnings off, that pauses
// them. The agents' sandboxes are read with one exec each.
func measureLifecycle(ctx context.Context, c benchConfig, mix lifecycleMix,
) (*lifecycleResult, error) {
	if err := registerTick(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "sandstorm-bench-lifecycle")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	fl, err := flylocal.New(flylocal.Options{StateDir: filepath.Join(dir, "fly"),
		SnapshotDuration: c.snapshot, ScrapeInterval: time.Hour})
	if err != nil {
		return nil, fmt.Errorf("start flylocal: %w", err)
	}
	defer fl.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	var limited atomic.Int64
	count := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		fl.ServeHTTP(sw, r)
		if sw.status == http.StatusTooManyRequests {
			limited.Add(1)
		}
	})
	hs := &http.Server{Handler: count, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()
	url := "http://" + ln.Addr().String()
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "sandstorm.db"))
	if err != nil {
		return nil, err
	}
	defer st.Close()
	clock := clock.NewManual(time.Now().UTC().Add(3 * time.Hour).Truncate(time.Minute))
	start := clock.Now()
	m, err := sandstorm.New(flyclient.New("bench", flyclient.WithBaseURL(url),
		flyclient.WithPrometheusURL(url+"/prometheus")), st,
		sandstorm.Config{Prefix: "life-", Now: clock.Now})
	if err != nil {
		return nil, err
	}

	res := &lifecycleResult{mix: mix}
	t0 := time.Now()
	sbs, err := createMany(ctx, m, mix)
	if err != nil {
		return nil, err
	}
	res.setup = time.Since(t0)

	fl.SetLatency(c.latency)
	fl.SetRateLimits(true)
	cycles := []struct {
		name   string
		at     time.Duration
		policy lifecycle.Policy
	}{
		{"cycle finding the idle", 35 * time.Minute, lifecycle.Policy{}},
		{"cycle pausing the idle", 56 * time.Minute,
			lifecycle.Policy{WarnAfter: -1, PauseAfter: 20 * time.Minute}},
	}
	for _, cy := range cycles {
		clock.Set(start.Add(cy.at))
		writeTraffic(fl, sbs, mix, clock.Now())
		limited.Store(0)
		got, err := measureCycle(ctx, m, fl, cy.name, cy.policy)
		if err != nil {
			return nil, err
		}
		got.limited = int(limited.Load())
		res.cycles = append(res.cycles, *got)
	}

	return res, nil
}

// createMany creates the bench's sandboxes 32 at a time and starts a slow
// agent session in the first mix.agents of them.
func createMany(ctx context.Context, m *sandstorm.Manager, mix lifecycleMix,
) ([]*sandstorm.Sandbox, error) {
	sbs := make([]*sandstorm.Sandbox, mix.sandboxes)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(32)
	for i := range sbs {
		g.Go(func() error {
			req := sandstorm.CreateRequest{Name: fmt.Sprintf("l%04d", i), MemoryMB: 256,
				CPUs: 1}
			if i < mix.agents {
				req.Agent = "tick"
			}
			sb, err := m.Create(gctx, req)
			if err != nil {
				return fmt.Errorf("create %s: %w", req.Name, err)
			}
			sbs[i] = sb
			if i < mix.agents {
				_, err = m.StartAgentSession(gctx, sandstorm.StartSessionRequest{
					Sandbox: sb.Name, Identifier: "work", Prompt: "tick",
					Env: map[string]string{"N": "100000", "D": "1"}})
			}

			return err
		})
	}

	return sbs, g.Wait()
}

// writeTraffic writes a minute of eth0 samples over the 40 minutes before
// now for every sandbox: flat for the agents' and the idle ones, growing by
// 100 KiB a minute, received plus sent, for the rest.
func writeTraffic(fl *flylocal.Server, sbs []*sandstorm.Sandbox, mix lifecycleMix,
	now time.Time,
) {
	for i, sb := range sbs {
		var perMinute float64
		if i >= mix.agents+mix.idle {
			perMinute = 100 << 10
		}
		for k := 40; k >= 0; k-- {
			at := now.Add(-time.Duration(k) * time.Minute)
			// Counted from the epoch, the counters keep growing across calls.
			v := perMinute * float64(at.Unix()/60) / 2
			fl.AddNetworkSample(sb.App, sb.MachineID, at, v, v)
		}
	}
}

// measureCycle runs one lifecycle check and counts what it cost.
func measureCycle(ctx context.Context, m *sandstorm.Manager, fl *flylocal.Server,
	name string, policy lifecycle.Policy,
) (*lifecycleCycle, error) {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fl.ResetCounts()
	t0 := time.Now()
	r, err := m.RunLifecycleCheck(ctx, sandstorm.LifecycleConfig{Policy: policy})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	wall := time.Since(t0)
	runtime.ReadMemStats(&after)
	if len(r.Errors) > 0 {
		return nil, fmt.Errorf("%s: %d sandboxes failed, first %s: %s", name, len(r.Errors),
			r.Errors[0].Sandbox, r.Errors[0].Error)
	}

	cy := &lifecycleCycle{name: name, wall: wall, report: r,
		allocBytes: after.TotalAlloc - before.TotalAlloc, heapBytes: after.HeapAlloc}
	for route, n := range fl.RequestCounts() {
		switch {
		case strings.HasPrefix(route, "/prometheus/"):
			cy.promQueries += n
		case strings.HasSuffix(route, "/exec"):
			cy.execs += n
			cy.requests += n
		default:
			cy.requests += n
		}
	}

	return cy, nil
}

// print writes the lifecycle rows.
func (r *lifecycleResult) print(tw io.Writer, c benchConfig) {
	mix := r.mix
	fmt.Fprintf(tw, "\nlifecycle over %d sandboxes (%d busy, %d quiet with an agent, %d idle), "+
		"%s per request, rate limits on; set up in %s\n\n", mix.sandboxes,
		mix.sandboxes-mix.agents-mix.idle, mix.agents, mix.idle, c.latency,
		r.setup.Round(time.Second))
	fmt.Fprintln(tw, "cycle\twall\tPrometheus queries\tFly requests (execs)\t429s\t"+
		"allocated\theap after\tacted")
	for _, cy := range r.cycles {
		rep := cy.report
		fmt.Fprintf(tw, "%s\t%s\t%d (target 2)\t%d (%d)\t%d\t%.1f MiB\t%.1f MiB\t"+
			"%d idle, %d paused, %d unknown\n", cy.name, cy.wall.Round(time.Millisecond),
			cy.promQueries, cy.requests, cy.execs, cy.limited,
			float64(cy.allocBytes)/(1<<20), float64(cy.heapBytes)/(1<<20),
			rep.Idle, len(rep.Paused), rep.Unknown)
	}
}
