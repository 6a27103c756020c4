package main

import (
	"log"
	"log/slog"
)

// slogLogger adapts logger for libraries that take a *log.Logger.
func slogLogger(logger *slog.Logger) *log.Logger {
	return slog.NewLogLogger(logger.Handler(), slog.LevelWarn)
}
