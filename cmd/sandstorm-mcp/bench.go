package main

import (
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/mark3labs/mcp-go/server"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/longrun/sandstorm"
	"github.com/longrun/sandstorm/agents"
	"github.com/longrun/sandstorm/flyclient"
	"github.com/longrun/sandstorm/flyclient/flylocal"
	"github.com/longrun/sandstorm/internal/stubagent"
	"github.com/longrun/sandstorm/store"
)

// benchConfig is what runBench measures against.
type benchConfig struct {
	latency, boot, snapshot time.Duration
	runs, calls             int
	lifecycle               lifecycleMix
}

// runBench measures create, pause and resume against flylocal with Fly-like
// latency, boot and snapshot times and Fly's rate limits on, and the cost of
// a tool call over stdio, and prints each as a ratio to its lower bound.
func runBench(ctx context.Context, args []string, stderr io.Writer) error {
	var c benchConfig
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&c.latency, "latency", 30*time.Millisecond, "delay of every API request")
	fs.DurationVar(&c.boot, "boot", time.Second, "time a machine spends starting")
	fs.DurationVar(&c.snapshot, "snapshot", time.Second, "time a snapshot takes")
	fs.IntVar(&c.runs, "runs", 5, "sandboxes to create, pause and resume")
	fs.IntVar(&c.calls, "calls", 200, "sandbox_get calls over stdio and direct, each")
	fs.IntVar(&c.lifecycle.sandboxes, "lifecycle-sandboxes", 1000,
		"sandboxes one lifecycle check judges (0 to skip)")
	fs.IntVar(&c.lifecycle.agents, "lifecycle-agents", 50,
		"of them, quiet ones with an agent session writing output")
	fs.IntVar(&c.lifecycle.idle, "lifecycle-idle", 20, "of them, idle ones to pause")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.runs < 1 || c.calls < 1 {
		return fmt.Errorf("-runs and -calls must be at least 1")
	}
	if l := c.lifecycle; l.sandboxes > 0 &&
		(l.agents < 0 || l.idle < 0 || l.agents+l.idle > l.sandboxes) {
		return fmt.Errorf("-lifecycle-agents and -lifecycle-idle must fit in " +
			"-lifecycle-sandboxes")
	}
	b, err := newBench(ctx, c)
	if err != nil {
		return err
	}
	defer b.close()

	res, err := b.run(ctx)
	if err != nil {
		return err
	}
	res.print(os.Stdout, c)

	return nil
}

// bench is a Manager on an in-process flylocal behind a real HTTP listener.
type bench struct {
	cfg           benchConfig
	fly           *flylocal.Server
	client        *flyclient.Client
	manager       *sandstorm.Manager
	limited       atomic.Int64
	requests      atomic.Int64
	responseBytes atomic.Int64
	closers       []func() error
}

func newBench(ctx context.Context, c benchConfig) (*bench, error) {
	b := &bench{cfg: c}
	dir, err := os.MkdirTemp("", "sandstorm-bench")
	if err != nil {
		return nil, err
	}
	b.closers = append(b.closers, func() error { return os.RemoveAll(dir) })
	b.fly, err = flylocal.New(flylocal.Options{
		StateDir:         filepath.Join(dir, "fly"),
		Latency:          c.latency,
		BootDuration:     c.boot,
		SnapshotDuration: c.snapshot,
		RateLimits:       true,
	})
	if err != nil {
		b.close()
		return nil, fmt.Errorf("start flylocal: %w", err)
	}
	b.closers = append(b.closers, b.fly.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.close()
		return nil, err
	}
	hs := &http.Server{Handler: b.countStatus(b.fly), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	b.closers = append(b.closers, hs.Close)

	url := "http://" + ln.Addr().String()
	b.client = flyclient.New("bench", flyclient.WithBaseURL(url))
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "sandstorm.db"))
	if err != nil {
		b.close()
		return nil, err
	}
	b.closers = append(b.closers, st.Close)
	b.manager, err = sandstorm.New(b.client, st, sandstorm.Config{Prefix: "bench-"})
	if err != nil {
		b.close()
		return nil, err
	}

	return b, nil
}

// countStatus counts the requests flylocal answers and those it rate-limits.
func (b *bench) countStatus(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		b.requests.Add(1)
		b.responseBytes.Add(sw.bytes)
		if sw.status == http.StatusTooManyRequests {
			b.limited.Add(1)
		}
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)

	return n, err
}

func (b *bench) close() {
	for i := len(b.closers) - 1; i >= 0; i-- {
		_ = b.closers[i]()
	}
}

// benchResult holds every measured duration.
type benchResult struct {
	create, sequential, pause, resume []time.Duration
	direct, stdio                     []time.Duration
	requests, limited                 int64
	logs                              logPolls
	subs                              *subscriptionResult
	life                              *lifecycleResult
}

// logPolls compares following a growing log by cursor with re-reading its
// last lines on every poll.
type logPolls struct {
	polls                int
	newBytes, cursorWire int64
	encodedNew           int64
	tailWire, tailLines  int64
}

func (b *bench) run(ctx context.Context) (*benchResult, error) {
	res := &benchResult{}
	small := sandstorm.CreateRequest{MemoryMB: 256, CPUs: 1}
	for i := range b.cfg.runs {
		name := fmt.Sprintf("s%d", i)
		req := small
		req.Name = name
		if err := timed(&res.create, func() error {
			_, err := b.manager.Create(ctx, req)
			return err
		}); err != nil {
			return nil, fmt.Errorf("create: %w", err)
		}
		if err := timed(&res.sequential, func() error {
			return b.sequentialCreate(ctx, fmt.Sprintf("bench-seq%d", i))
		}); err != nil {
			return nil, fmt.Errorf("sequential create: %w", err)
		}
		if err := timed(&res.pause, func() error {
			_, err := b.manager.Pause(ctx, name, nil)
			return err
		}); err != nil {
			return nil, fmt.Errorf("pause: %w", err)
		}
		if err := timed(&res.resume, func() error {
			_, err := b.manager.Resume(ctx, sandstorm.ResumeRequest{Name: name})
			return err
		}); err != nil {
			return nil, fmt.Errorf("resume: %w", err)
		}
	}
	// A paused sandbox's status comes from the store alone, so the stdio
	// comparison measures the protocol, not Fly's GET-machine rate limit.
	if _, err := b.manager.Pause(ctx, "s0", nil); err != nil {
		return nil, fmt.Errorf("pause before stdio calls: %w", err)
	}
	if err := b.measureStdio(ctx, res); err != nil {
		return nil, err
	}
	if err := b.measureLogPolls(ctx, &res.logs); err != nil {
		return nil, fmt.Errorf("log polls: %w", err)
	}
	subs, err := b.measureSubscriptions(ctx)
	if err != nil {
		return nil, fmt.Errorf("subscriptions: %w", err)
	}
	res.subs = subs
	res.requests, res.limited = b.requests.Load(), b.limited.Load()
	if b.cfg.lifecycle.sandboxes > 0 {
		if res.life, err = measureLifecycle(ctx, b.cfg, b.cfg.lifecycle); err != nil {
			return nil, fmt.Errorf("lifecycle: %w", err)
		}
	}

	return res, nil
}

// sequentialCreate performs a create's Fly calls one after another, as a
// create without any concurrency would.
func (b *bench) sequentialCreate(ctx context.Context, app string) error {
	c := b.client
	if _, err := c.CreateApp(ctx, flyclient.CreateAppRequest{Name: app, OrgSlug: "personal"}); err != nil {
		return err
	}
	vol, err := c.CreateVolume(ctx, app, flyclient.CreateVolumeRequest{Name: "data", SizeGB: 1})
	if err != nil {
		return err
	}
	for _, typ := range []string{flyclient.IPv6, flyclient.IPSharedV4} {
		if _, err := c.AssignIP(ctx, app, flyclient.AssignIPRequest{Type: typ}); err != nil {
			return err
		}
	}
	mach, err := c.CreateMachine(ctx, app, flyclient.CreateMachineRequest{
		Config: flyclient.MachineConfig{
			Image:  sandstorm.DefaultImage,
			Init:   flyclient.MachineInit{Exec: []string{"/bin/sleep", "inf"}},
			Mounts: []flyclient.MachineMount{{Volume: vol.ID, Path: sandstorm.MountPath}},
		},
	})
	if err != nil {
		return err
	}
	_, err = c.WaitMachine(ctx, app, mach.ID, flyclient.WaitOptions{Version: mach.InstanceID,
		Timeout: time.Minute})

	return err
}

// measureStdio times sandbox_get through an MCP client over OS pipes against
// direct Manager calls, alternating the two.
func (b *bench) measureStdio(ctx context.Context, res *benchResult) error {
	cs, stop, err := b.serveStdio(ctx, nil, "")
	if err != nil {
		return err
	}
	defer stop()

	params := &sdk.CallToolParams{Name: "sandbox_get", Arguments: map[string]any{"sandbox": "s0"}}
	for range b.cfg.calls {
		if err := timed(&res.direct, func() error {
			_, err := b.manager.Get(ctx, "s0")
			return err
		}); err != nil {
			return err
		}
		if err := timed(&res.stdio, func() error {
			r, err := cs.CallTool(ctx, params)
			if err == nil && r.IsError {
				err = fmt.Errorf("sandbox_get failed")
			}
			return err
		}); err != nil {
			return err
		}
	}

	return nil
}

// serveStdio serves the bench's Manager over OS pipes with the stdio
// transport to an SDK client with opts, pinned to the protocol version when it
// is not empty. stop ends both and waits for the server: mcp-go keeps one stdio
// session per process, so two servers must not overlap.
func (b *bench) serveStdio(ctx context.Context, opts *sdk.ClientOptions, protocol string,
) (*sdk.ClientSession, func(), error) {
	c2sR, c2sW, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	s2cR, s2cW, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	srv, poller := newMCPServer(b.manager, slog.New(slog.DiscardHandler))
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = server.NewStdioServer(srv).Listen(ctx, c2sR, s2cW)
	}()
	stopServer := func() {
		cancel()
		_ = c2sW.Close()
		<-served
		poller.Stop()
		_ = s2cR.Close()
	}
	cl := sdk.NewClient(&sdk.Implementation{Name: "bench", Version: version}, opts)
	cs, err := cl.Connect(ctx, &sdk.IOTransport{Reader: s2cR, Writer: c2sW},
		&sdk.ClientSessionOptions{ProtocolVersion: protocol})
	if err != nil {
		stopServer()
		return nil, nil, fmt.Errorf("connect over stdio: %w", err)
	}

	return cs, func() { _ = cs.Close(); stopServer() }, nil
}

// measureLogPolls follows a session writing a line every 50 ms, alternating a
// cursor read and a read of the last 50 lines, and counts the bytes of Fly's
// answers for each.
func (b *bench) measureLogPolls(ctx context.Context, lp *logPolls) error {
	if err := registerStub(); err != nil {
		return err
	}
	if _, err := b.manager.Create(ctx, sandstorm.CreateRequest{Name: "logs", MemoryMB: 256,
		CPUs: 1, Agent: stubagent.ID}); err != nil {
		return err
	}
	s, err := b.manager.StartAgentSession(ctx, sandstorm.StartSessionRequest{Sandbox: "logs",
		Identifier: "bench", Prompt: "write", Env: map[string]string{"STUB_LINES": "300",
			"STUB_DELAY": "0.05"}})
	if err != nil {
		return err
	}
	const tailLines = 50
	var cursor int64
	for lp.polls < 12 {
		c := cursor
		before := b.responseBytes.Load()
		chunk, err := b.manager.GetSessionLogs(ctx, sandstorm.LogsRequest{Sandbox: "logs",
			SessionID: s.ID, Cursor: &c, MaxBytes: sandstorm.MaxLogChunk})
		if err != nil {
			return err
		}
		lp.cursorWire += b.responseBytes.Load() - before
		n := chunk.NextCursor - cursor
		lp.newBytes += n
		lp.encodedNew += int64(base64.StdEncoding.EncodedLen(int(n)))
		cursor = chunk.NextCursor

		before = b.responseBytes.Load()
		if _, err := b.manager.GetSessionLogs(ctx, sandstorm.LogsRequest{Sandbox: "logs",
			SessionID: s.ID, Lines: tailLines, MaxBytes: sandstorm.MaxLogChunk}); err != nil {
			return err
		}
		lp.tailWire += b.responseBytes.Load() - before
		lp.tailLines = tailLines
		lp.polls++
	}

	return nil
}

var registerStub = sync.OnceValue(func() error {
	a, err := stubagent.Agent()
	if err != nil {
		return err
	}

	return agents.Register(a)
})

func timed(into *[]time.Duration, fn func() error) error {
	start := time.Now()
	if err := fn(); err != nil {
		return err
	}
	*into = append(*into, time.Since(start))

	return nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)

	return s[len(s)/2]
}

func (r *benchResult) print(w io.Writer, c benchConfig) {
	createBound := 3*c.latency + c.boot
	resumeBound := c.latency + c.boot
	pauseBound := 3*c.latency + c.snapshot
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "bench against flylocal: %s per request, %s boot, %s snapshot, "+
		"rate limits on, %d runs\n\n", c.latency, c.boot, c.snapshot, c.runs)
	fmt.Fprintln(tw, "measure\tmedian\tcompared with\tratio\ttarget")
	row := func(name string, got, base time.Duration, baseName, target string) {
		fmt.Fprintf(tw, "%s\t%s\t%s %s\t%.3f\t%s\n", name, got.Round(time.Millisecond),
			baseName, base.Round(time.Millisecond), float64(got)/float64(base), target)
	}
	row("create", median(r.create), createBound, "app→volume→machine→started", "≤ 1.15")
	row("create", median(r.create), median(r.sequential), "sequential create", "< 1")
	row("resume (intact volume)", median(r.resume), resumeBound, "machine→started", "≤ 1.10")
	row("pause", median(r.pause), pauseBound, "sync→snapshot→done→delete machine", "≤ 1.25")
	overhead := median(r.stdio) - median(r.direct)
	fmt.Fprintf(tw, "sandbox_get over stdio\t%s\tdirect Manager.Get %s\toverhead %s\t< 1ms\n",
		median(r.stdio).Round(time.Microsecond), median(r.direct).Round(time.Microsecond),
		overhead.Round(time.Microsecond))
	lp := r.logs
	if lp.polls > 0 {
		n := int64(lp.polls)
		fmt.Fprintf(tw, "log poll by cursor\t%d B\tnew log bytes %d B (%d B in base64)\t"+
			"overhead %d B\t≤ 1024 B\n", lp.cursorWire/n, lp.newBytes/n, lp.encodedNew/n,
			(lp.cursorWire-lp.encodedNew)/n)
		fmt.Fprintf(tw, "log poll of last %d lines\t%d B\tcursor poll %d B\t%.1fx\t\n",
			lp.tailLines, lp.tailWire/n, lp.cursorWire/n,
			float64(lp.tailWire)/float64(max(lp.cursorWire, 1)))
	}
	if sr := r.subs; sr != nil {
		if len(sr.latency) > 0 {
			fmt.Fprintf(tw, "log line → resources/updated\t%s\t%d lines, from before "+
				"the write\t\t< 2s\n", median(sr.latency).Round(time.Millisecond),
				len(sr.latency))
		} else {
			fmt.Fprintln(tw, "log line → resources/updated\tno update arrived\t\t\t< 2s")
		}
		fmt.Fprintf(tw, "Fly requests with %d subscribed logs in %d sandboxes\t%.1f/s\t"+
			"%d in %s\t\t\n", sr.logs, sr.sandboxes,
			float64(sr.requests)/sr.window.Seconds(), sr.requests, sr.window)
	}
	fmt.Fprintf(tw, "\nFly API requests: %d, answered 429 (rate limited): %d\n",
		r.requests, r.limited)
	if r.life != nil {
		r.life.print(tw, c)
	}
	_ = tw.Flush()
}
