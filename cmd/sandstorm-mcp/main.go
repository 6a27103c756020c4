// Command sandstorm-mcp serves Sandstorm's MCP tools for sandboxes on Fly.io
// Machines, and carries the subcommands that support it: flylocal, a
// Fly-compatible local server, and bench.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// subcommands maps a first argument to its entry point. Serving MCP is the
// default when the first argument is a flag or absent.
var subcommands = map[string]func(ctx context.Context, args []string, stderr io.Writer) error{
	"flylocal": runFlylocal,
	"bench":    runBench,
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "sandstorm-mcp:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	if len(args) > 0 {
		if cmd, ok := subcommands[args[0]]; ok {
			return cmd(ctx, args[1:], stderr)
		}
		if args[0] != "" && args[0][0] != '-' {
			return fmt.Errorf("unknown subcommand %q; run sandstorm-mcp -h for usage", args[0])
		}
	}

	return runServe(ctx, args, stderr)
}

// newLogger returns a text logger on w at the given level name.
func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("parse log level %q: want debug, info, warn or error", level)
	}

	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// envOr returns the value of the environment variable key, or def when unset.
func envOr(key, def string) string {
	if v, ok := os.LookupEnv(key); ok && v != "" {
		return v
	}

	return def
}
