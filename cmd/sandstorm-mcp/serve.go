package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/mark3labs/mcp-go/server"

	"github.com/longrun/sandstorm"
	"github.com/longrun/sandstorm/flyclient"
	"github.com/longrun/sandstorm/flyclient/flylocal"
	"github.com/longrun/sandstorm/prompts"
	"github.com/longrun/sandstorm/resources"
	"github.com/longrun/sandstorm/store"
	"github.com/longrun/sandstorm/tools"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// serveConfig is the server's configuration from flags and the environment.
type serveConfig struct {
	token       string
	machinesURL string
	promURL     string
	stateDir    string
	logLevel    string
	manager     sandstorm.Config
	lifecycle   lifecycleConfig
}

func parseServeFlags(args []string, stderr io.Writer) (serveConfig, error) {
	var c serveConfig
	fs := flag.NewFlagSet("sandstorm-mcp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	fs.StringVar(&c.manager.Org, "org", envOr("FLY_ORG", sandstorm.DefaultOrg),
		"Fly organization slug (FLY_ORG)")
	fs.StringVar(&c.manager.Prefix, "prefix", envOr("SANDSTORM_PREFIX", sandstorm.DefaultPrefix),
		"prefix of every sandbox's Fly app name (SANDSTORM_PREFIX)")
	fs.StringVar(&c.manager.Image, "image", envOr("SANDSTORM_IMAGE", sandstorm.DefaultImage),
		"default sandbox image (SANDSTORM_IMAGE)")
	fs.StringVar(&c.manager.Region, "region", envOr("SANDSTORM_REGION", sandstorm.DefaultRegion),
		"default Fly region (SANDSTORM_REGION)")
	fs.StringVar(&c.stateDir, "state-dir",
		envOr("SANDSTORM_STATE_DIR", filepath.Join(stateHome(), "sandstorm-mcp")),
		"directory for the database and the local backend (SANDSTORM_STATE_DIR)")
	fs.StringVar(&c.machinesURL, "fly-api-url",
		envOr("FLY_FLAPS_BASE_URL", "https://api.machines.dev"),
		"Fly Machines API base URL (FLY_FLAPS_BASE_URL)")
	fs.StringVar(&c.promURL, "fly-prometheus-url",
		envOr("FLY_PROMETHEUS_URL", "https://api.fly.io/prometheus"),
		"Fly Prometheus API base URL (FLY_PROMETHEUS_URL)")
	fs.StringVar(&c.logLevel, "log-level", envOr("SANDSTORM_LOG_LEVEL", "info"),
		"debug, info, warn or error (SANDSTORM_LOG_LEVEL)")
	env := lifecycleFlags(fs, &c.lifecycle, &c.manager)
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if env.err != nil {
		return c, env.err
	}
	if c.lifecycle.interval <= 0 {
		return c, fmt.Errorf("lifecycle interval %s must be positive", c.lifecycle.interval)
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q; run sandstorm-mcp -h for usage", fs.Arg(0))
	}
	c.token = os.Getenv("FLY_API_TOKEN")

	return c, nil
}

const usage = `Usage: sandstorm-mcp [flags]            serve MCP on stdio
       sandstorm-mcp flylocal [flags]   serve the Fly-compatible local backend
       sandstorm-mcp bench [flags]      measure against flylocal

Without FLY_API_TOKEN the server runs on an embedded flylocal, where machines
are local processes. Flags:
`

// runServe serves MCP on stdio until ctx ends or the client disconnects.
func runServe(ctx context.Context, args []string, stderr io.Writer) error {
	cfg, err := parseServeFlags(args, stderr)
	if err != nil {
		return err
	}
	logger, err := newLogger(stderr, cfg.logLevel)
	if err != nil {
		return err
	}
	if err := registerCommandAgents(os.Getenv("SANDSTORM_AGENTS")); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	app, err := openApp(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer app.Close()

	stdio := server.NewStdioServer(app.mcp)
	stdio.SetErrorLogger(slogLogger(logger))
	err = stdio.Listen(ctx, os.Stdin, os.Stdout)
	if errors.Is(err, context.Canceled) || errors.Is(err, io.EOF) {
		return nil
	}

	return err
}

// appServer holds everything a running server owns, for orderly shutdown.
type appServer struct {
	mcp     *server.MCPServer
	manager *sandstorm.Manager
	closers []func() error
}

// Close releases what openApp acquired, in reverse order.
func (a *appServer) Close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		_ = a.closers[i]()
	}
}

// openApp opens the store, connects to Fly (or starts the embedded flylocal)
// and builds the MCP server.
func openApp(ctx context.Context, cfg serveConfig, logger *slog.Logger) (*appServer, error) {
	app := &appServer{}
	if err := os.MkdirAll(cfg.stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	fly, err := connectFly(cfg, logger, app)
	if err != nil {
		app.Close()
		return nil, err
	}
	st, err := store.OpenSQLite(ctx, filepath.Join(cfg.stateDir, "sandstorm.db"))
	if err != nil {
		app.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	app.closers = append(app.closers, st.Close)
	mc := cfg.manager
	mc.Logger = logger.With("component", "manager")
	if mc.Webhook, err = webhookFromEnv(logger); err != nil {
		app.Close()
		return nil, err
	}
	app.manager, err = sandstorm.New(fly, st, mc)
	if err != nil {
		app.Close()
		return nil, err
	}
	var poller *resources.Poller
	app.mcp, poller = newMCPServer(app.manager, logger)
	app.closers = append(app.closers, func() error { poller.Stop(); return nil })
	app.closers = append(app.closers, startLifecycle(app.manager, cfg.lifecycle,
		logger.With("component", "lifecycle")))

	return app, nil
}

// connectFly returns a client for real Fly when a token is set, and otherwise
// starts flylocal on a loopback port and returns a client for it.
func connectFly(cfg serveConfig, logger *slog.Logger, app *appServer) (*flyclient.Client, error) {
	flyLog := logger.With("component", "flyclient")
	if cfg.token != "" {
		return flyclient.New(cfg.token, flyclient.WithBaseURL(cfg.machinesURL),
			flyclient.WithPrometheusURL(cfg.promURL), flyclient.WithLogger(flyLog)), nil
	}

	local, err := flylocal.New(flylocal.Options{
		StateDir: filepath.Join(cfg.stateDir, "flylocal"),
		OrgSlug:  cfg.manager.Org,
		Logger:   logger.With("component", "flylocal"),
	})
	if err != nil {
		return nil, fmt.Errorf("start embedded flylocal: %w", err)
	}
	app.closers = append(app.closers, local.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for embedded flylocal: %w", err)
	}
	hs := &http.Server{Handler: local, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	app.closers = append(app.closers, hs.Close)
	url := "http://" + ln.Addr().String()
	logger.Warn("no FLY_API_TOKEN: running on the embedded flylocal, where machines are "+
		"local processes", "url", url, "state_dir", filepath.Join(cfg.stateDir, "flylocal"))

	return flyclient.New("flylocal", flyclient.WithBaseURL(url),
		flyclient.WithPrometheusURL(url+"/prometheus"), flyclient.WithLogger(flyLog)), nil
}

// newMCPServer builds the MCP server with every tool, resource and prompt,
// and starts the poller that keeps the resources current; the caller stops it.
func newMCPServer(m *sandstorm.Manager, logger *slog.Logger,
) (*server.MCPServer, *resources.Poller) {
	hooks := &server.Hooks{}
	s := server.NewMCPServer("sandstorm", version,
		server.WithToolCapabilities(true),
		server.WithResourceCapabilities(true, true),
		server.WithPromptCapabilities(true),
		server.WithLogging(),
		server.WithRecovery(),
		server.WithResourceRecovery(),
		server.WithHooks(hooks),
		server.WithToolHandlerMiddleware(tools.DrainNotifications),
		server.WithInstructions(instructions),
	)
	s.AddTools(tools.All(m)...)
	prompts.Register(s)
	resources.RegisterNotices(s, hooks, m)
	poller := resources.Register(s, hooks, m,
		resources.Options{Logger: logger.With("component", "resources")})
	poller.Start(context.Background())

	return s, poller
}

const instructions = `Sandstorm gives you persistent Linux sandboxes on Fly.io Machines.
Create one with sandbox_create, run commands with sandbox_exec, and move files with
sandbox_write_file and sandbox_read_file. Files under /data persist across
sandbox_pause and sandbox_resume; pause sandboxes you are not using, since a running
machine costs money. The server's idle policy warns about and then pauses sandboxes
that go quiet (no network traffic, agent output or tool calls); hold one for a long
quiet job with sandbox_keepalive. Env values are stored as secrets and cannot be read
back.`
