package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/longrun/sandstorm/flyclient/flylocal"
)

// runFlylocal serves flylocal standalone so that any Fly tooling can be pointed
// at it, and prints its base URL on stdout.
func runFlylocal(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("flylocal", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:4280", "address to listen on")
	stateDir := fs.String("state-dir", defaultFlylocalDir(),
		"directory holding apps, machines, volumes and snapshots")
	token := fs.String("token", os.Getenv("FLYLOCAL_TOKEN"),
		"API token clients must present (any token is accepted when empty)")
	org := fs.String("org", "personal", "organization slug")
	latency := fs.Duration("latency", 0, "delay added to every API request")
	boot := fs.Duration("boot", 0, "time a machine spends in starting")
	snapshot := fs.Duration("snapshot", 0, "time a snapshot spends in progress")
	rateLimits := fs.Bool("rate-limits", false, "enforce Fly's per-action rate limits with 429")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	logger, err := newLogger(stderr, *logLevel)
	if err != nil {
		return err
	}

	srv, err := flylocal.New(flylocal.Options{
		StateDir:         *stateDir,
		Token:            *token,
		OrgSlug:          *org,
		Latency:          *latency,
		BootDuration:     *boot,
		SnapshotDuration: *snapshot,
		RateLimits:       *rateLimits,
		Logger:           logger,
	})
	if err != nil {
		return fmt.Errorf("start flylocal: %w", err)
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *listen, err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(shutdownCtx)
	}()
	fmt.Printf("http://%s\n", ln.Addr())
	logger.Info("flylocal serving", "url", "http://"+ln.Addr().String(), "state_dir", *stateDir)
	if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve flylocal: %w", err)
	}

	return nil
}

// defaultFlylocalDir is flylocal's state directory under the user's state home.
func defaultFlylocalDir() string {
	return filepath.Join(stateHome(), "sandstorm-mcp", "flylocal")
}

// stateHome is $XDG_STATE_HOME, or ~/.local/state when unset.
func stateHome() string {
	if dir := os.Getenv("XDG_STATE_HOME"); dir != "" {
		return dir
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return os.TempDir()
	}

	return filepath.Join(home, ".local", "state")
}
