package persona

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Sentinels for the ways a persona can be refused; errors.Is finds them in the errors
// [LoadDir] and [Resolve] return. Missing variables come as a [*MissingVarsError] instead,
// and a failure to read the host's file system keeps its os error.
var (
	// ErrInvalid marks a persona that breaks a rule: a bad path, a symlink that escapes
	// or dangles, a symlink loop, a device or socket, or a [Source] with both or neither
	// of its fields set.
	ErrInvalid = errors.New("invalid persona")
	// ErrTooLarge marks a persona over [MaxFileSize], [MaxTotalSize] or [MaxFiles].
	ErrTooLarge = errors.New("persona too large")
)

// maxLinesShown caps how many lines per file a MissingVarsError message lists; the
// error's fields keep them all.
const maxLinesShown = 10

// MissingVarsError reports every placeholder key that has no value, sorted by key. Find it
// with errors.As.
type MissingVarsError struct {
	Missing []MissingVar
}

// MissingVar is one key without a value and every place it is used, sorted by path and
// then line.
type MissingVar struct {
	Key  string
	Uses []Use
}

// Use is one file and the 1-based lines in it where a key appears.
type Use struct {
	Path  string
	Lines []int
}

// Keys returns the missing keys in order.
func (e *MissingVarsError) Keys() []string {
	keys := make([]string, len(e.Missing))
	for i, m := range e.Missing {
		keys[i] = m.Key
	}

	return keys
}

// Advice says what the caller can do about the error, for a message to a person.
func (e *MissingVarsError) Advice() string {
	return "Give a value for each of these variables, or write {{{{ where a literal {{ is meant."
}

// Error lists each key with the files and lines that use it, for example
// `no value for persona variables: project (CLAUDE.md:3,9); team (a.md:1)`.
func (e *MissingVarsError) Error() string {
	var b strings.Builder
	b.WriteString("no value for persona variable")
	if len(e.Missing) > 1 {
		b.WriteString("s")
	}
	b.WriteString(": ")
	for i, m := range e.Missing {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(m.Key)
		b.WriteString(" (")
		for j, u := range m.Uses {
			if j > 0 {
				b.WriteString(", ")
			}
			writeUse(&b, u)
		}
		b.WriteString(")")
	}

	return b.String()
}

// writeUse writes path:l1,l2,... with at most maxLinesShown lines.
func writeUse(b *strings.Builder, u Use) {
	b.WriteString(u.Path)
	b.WriteString(":")
	for i, line := range u.Lines {
		if i == maxLinesShown {
			fmt.Fprintf(b, " and %d more", len(u.Lines)-maxLinesShown)

			break
		}
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(strconv.Itoa(line))
	}
}
