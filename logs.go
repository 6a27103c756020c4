package sandstorm

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/longrun/sandstorm/store"
)

// LogsRequest reads a session's log. Without Cursor (nil) it reads the last
// Lines lines (all of the log when Lines is 0); with Cursor it reads forward
// from that byte offset. Wait, up to MaxLogWait, holds the call until new
// output arrives or the session ends, to a tenth of a second.
type LogsRequest struct {
	Sandbox    string
	Identifier string
	SessionID  string
	Cursor     *int64
	MaxBytes   int
	Lines      int
	Wait       time.Duration
}

// LogChunk is a range of a session's log. Text ends at a line boundary unless
// a single line is longer than the chunk, or the session has ended; reading
// again from NextCursor continues exactly where Text stops, so no line is
// skipped or repeated.
type LogChunk struct {
	SessionID  string `json:"session_id"`
	Text       string `json:"text"`
	Cursor     int64  `json:"cursor"`
	NextCursor int64  `json:"next_cursor"`
	Size       int64  `json:"size"`
	Running    bool   `json:"running"`
	Status     string `json:"status"`
	// More is true when the log holds bytes past NextCursor already.
	More bool `json:"more"`
}

// Log waits. One exec holds at most maxExecWait inside the machine: Fly
// answers an exec within about a minute, and the exec's own timeout (45 s)
// stays well past it. readLog counts its wait in logWaitSteps; a remaining
// wait shorter than one step is not worth another exec.
const (
	maxExecWait = 20 * time.Second
	logWaitStep = 100 * time.Millisecond
)

// GetSessionLogs reads a session's log from the machine. Without Wait it
// costs one exec; with Wait it holds one exec of up to maxExecWait inside the
// machine after another until new output arrives, the session ends, Wait has
// passed or ctx ends, so every wait up to MaxLogWait is honoured whole.
func (m *Manager) GetSessionLogs(ctx context.Context, r LogsRequest) (*LogChunk, error) {
	if r.MaxBytes == 0 {
		r.MaxBytes = DefaultLogChunk
	}
	if err := r.check(); err != nil {
		return nil, err
	}
	rec, err := m.findSession(ctx, r.Sandbox, r.Identifier, r.SessionID)
	if err != nil {
		return nil, err
	}
	t, err := m.running(ctx, r.Sandbox)
	if err != nil {
		return nil, err
	}
	from := int64(0)
	switch {
	case r.Cursor != nil:
		from = *r.Cursor
	case r.Lines > 0:
		from = -1
	}

	// The wait passes inside the machine in real time, whatever m.now says.
	deadline := time.Now().Add(r.Wait)
	var chunk *LogChunk
	var p SessionProbe
	for {
		wait := min(time.Until(deadline), maxExecWait)
		if chunk, p, err = m.readLogOnce(ctx, t, rec.LogPath, from, r, wait); err != nil {
			return nil, err
		}
		// Every read starts at from, so an empty one loses nothing.
		if chunk.Text != "" || p.State != "running" ||
			time.Until(deadline) < logWaitStep || ctx.Err() != nil {
			break
		}
	}
	chunk.SessionID = rec.ID
	chunk.Running = p.State == "running"
	if !chunk.Running && rec.Status == store.SessionRunning {
		m.finish(ctx, &rec, p)
	}
	chunk.Status = rec.Status
	chunk.trim(r.Lines, r.Cursor != nil)

	return chunk, nil
}

// check validates a LogsRequest's limits.
func (r LogsRequest) check() error {
	if r.MaxBytes < 1 || r.MaxBytes > MaxLogChunk {
		return invalidf(fmt.Sprintf("Use 1 to %d and page with next_cursor.", MaxLogChunk),
			"max_bytes %d is out of range", r.MaxBytes)
	}
	if r.Wait < 0 || r.Wait > MaxLogWait {
		return invalidf("Use 0 to 60000 ms.", "wait %s is out of range", r.Wait)
	}
	if r.Lines < 0 {
		return invalidf("Use 0 or more.", "lines %d is negative", r.Lines)
	}
	if r.Cursor != nil && *r.Cursor < 0 {
		return invalidf("Use the next_cursor of an earlier call, or omit cursor.",
			"cursor %d is negative", *r.Cursor)
	}

	return nil
}

// readLogOnce runs readLog once for r from byte from (-1: r.Lines before the
// end), waiting up to wait, rounded up to a step, for the log to grow.
func (m *Manager) readLogOnce(ctx context.Context, t target, logPath string, from int64,
	r LogsRequest, wait time.Duration,
) (*LogChunk, SessionProbe, error) {
	steps := max(0, int64((wait+logWaitStep-1)/logWaitStep))
	out, err := m.plainTimeout(ctx, t, 45, readLog, strings.TrimSuffix(logPath, ".log"),
		strconv.FormatInt(from, 10), strconv.Itoa(r.MaxBytes),
		strconv.FormatInt(steps, 10), strconv.Itoa(r.Lines))
	if err != nil {
		return nil, SessionProbe{}, err
	}

	return parseChunk(out)
}

// parseChunk reads readLog's answer.
func parseChunk(out string) (*LogChunk, SessionProbe, error) {
	lines := strings.SplitN(out, "\n", 3)
	if len(lines) < 2 {
		return nil, SessionProbe{}, fmt.Errorf("read session log: unexpected answer %q", out)
	}
	off, err := strconv.ParseInt(strings.TrimSpace(lines[0]), 10, 64)
	if err != nil {
		return nil, SessionProbe{}, fmt.Errorf("read session log offset: %w", err)
	}
	p, err := parseProbe(lines[1])
	if err != nil {
		return nil, p, err
	}
	var data []byte
	if len(lines) == 3 {
		if data, err = base64.StdEncoding.DecodeString(strings.TrimSpace(lines[2])); err != nil {
			return nil, p, fmt.Errorf("decode session log: %w", err)
		}
	}

	return &LogChunk{Text: string(data), Cursor: off, Size: p.LogSize}, p, nil
}

// trim ends the chunk at a line boundary, keeping a partial last line only
// when it is all there is or the session has ended, and, reading forward,
// at most lines lines. It sets NextCursor and More.
func (c *LogChunk) trim(lines int, forward bool) {
	text := []byte(c.Text)
	end := int64(len(text))
	if c.Running || c.Cursor+end < c.Size {
		if i := bytes.LastIndexByte(text, '\n'); i >= 0 {
			text = text[:i+1]
		}
	}
	if forward && lines > 0 {
		n := 0
		for i, b := range text {
			if b == '\n' {
				n++
				if n == lines {
					text = text[:i+1]
					break
				}
			}
		}
	}
	c.Text = string(text)
	c.NextCursor = c.Cursor + int64(len(text))
	c.More = c.NextCursor < c.Size
}

// WatchLogs calls fn with each line of a session's log from byte offset from,
// as it is written, until the session ends and its log is read, fn returns an
// error, or ctx ends. It returns the offset after the last line passed to fn.
func (m *Manager) WatchLogs(ctx context.Context, sandbox, sessionID string, from int64,
	fn func(line string) error,
) (int64, error) {
	cursor := from
	for {
		c := cursor
		chunk, err := m.GetSessionLogs(ctx, LogsRequest{Sandbox: sandbox, SessionID: sessionID,
			Cursor: &c, MaxBytes: MaxLogChunk, Wait: 20 * time.Second})
		if err != nil {
			return cursor, err
		}
		for _, line := range strings.SplitAfter(chunk.Text, "\n") {
			if line == "" {
				continue
			}
			if err := fn(strings.TrimSuffix(line, "\n")); err != nil {
				return cursor, err
			}
			cursor += int64(len(line))
		}
		if !chunk.Running && !chunk.More {
			return cursor, nil
		}
	}
}
