package persona

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"maps"
	"slices"
	"strings"
)

// Source is a persona given either as a directory on the server host or as files in
// memory. Exactly one of Dir and Files must be set; a non-nil empty Files counts as set.
type Source struct {
	// Dir is a directory on the server host, read with LoadDir.
	Dir string
	// Files is the persona itself, held to the same path rules and limits as LoadDir.
	Files Files
}

// Resolved is a persona with every placeholder substituted, ready to deploy.
type Resolved struct {
	// Files are the persona's files with their placeholders substituted.
	Files Files
	// Version is "sha256:" and the hex SHA-256 of each path and then its content, in
	// sorted path order, each preceded by its length as an 8-byte big-endian integer. The
	// same files give the same Version on every run, whatever the map order; any change
	// to a path or a byte gives a new one.
	Version string
}

// Resolve loads src and substitutes vars for the placeholders in every file's content;
// paths are left as they are. Values are inserted verbatim: a placeholder inside a value
// is not expanded, and "{{{{" inside a value is not unescaped. Variables no file uses are
// ignored.
//
// A source that breaks a path rule or has no files is ErrInvalid, one over a limit before
// or after substitution is ErrTooLarge, and placeholders without a value are reported
// together, every key with every file and line that uses it, as a *MissingVarsError.
func Resolve(src Source, vars map[string]string) (*Resolved, error) {
	files, err := load(src)
	if err != nil {
		return nil, err
	}
	if err := checkVars(files, vars); err != nil {
		return nil, fmt.Errorf("resolve persona: %w", err)
	}

	out, err := substitute(files, vars)
	if err != nil {
		return nil, fmt.Errorf("resolve persona: %w", err)
	}

	return &Resolved{Files: out, Version: version(out)}, nil
}

// load returns the files of src, checked against the rules.
func load(src Source) (Files, error) {
	switch {
	case src.Dir != "" && src.Files != nil:
		return nil, fmt.Errorf("resolve persona: %w: set Dir or Files, not both", ErrInvalid)
	case src.Dir != "":
		files, err := LoadDir(src.Dir)
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("load persona %s: %w: no files", src.Dir, ErrInvalid)
		}

		return files, nil
	case src.Files != nil:
		if len(src.Files) == 0 {
			return nil, fmt.Errorf("resolve persona: %w: no files", ErrInvalid)
		}
		if err := validate(src.Files); err != nil {
			return nil, fmt.Errorf("resolve persona: %w", err)
		}

		return src.Files, nil
	default:
		return nil, fmt.Errorf("resolve persona: %w: set Dir or Files", ErrInvalid)
	}
}

// checkVars returns a *MissingVarsError listing every placeholder without a value.
func checkVars(files Files, vars map[string]string) error {
	uses := map[string]map[string][]int{} // key, path, lines
	for p, content := range files {
		for seg := range segments(content) {
			if seg.key == "" {
				continue
			}
			if _, ok := vars[seg.key]; ok {
				continue
			}
			if uses[seg.key] == nil {
				uses[seg.key] = map[string][]int{}
			}
			lines := uses[seg.key][p]
			if len(lines) == 0 || lines[len(lines)-1] != seg.line {
				uses[seg.key][p] = append(lines, seg.line)
			}
		}
	}
	if len(uses) == 0 {
		return nil
	}

	e := &MissingVarsError{}
	for _, key := range slices.Sorted(maps.Keys(uses)) {
		m := MissingVar{Key: key}
		for _, p := range slices.Sorted(maps.Keys(uses[key])) {
			m.Uses = append(m.Uses, Use{Path: p, Lines: uses[key][p]})
		}
		e.Missing = append(e.Missing, m)
	}

	return e
}

// substitute returns files with every placeholder replaced, stopping as soon as a file or
// the whole persona grows past its limit.
func substitute(files Files, vars map[string]string) (Files, error) {
	out := make(Files, len(files))
	total := 0
	for _, p := range slices.Sorted(maps.Keys(files)) {
		var b strings.Builder
		b.Grow(len(files[p]))
		for seg := range segments(files[p]) {
			if seg.key == "" {
				b.WriteString(seg.text)
			} else {
				b.WriteString(vars[seg.key])
			}
			if b.Len() > MaxFileSize {
				return nil, fmt.Errorf("%w: %q grows past %d bytes (MaxFileSize) "+
					"when its variables are substituted", ErrTooLarge, p, MaxFileSize)
			}
			if total+b.Len() > MaxTotalSize {
				return nil, fmt.Errorf("%w: files up to %q grow past %d bytes (MaxTotalSize) "+
					"when their variables are substituted", ErrTooLarge, p, MaxTotalSize)
			}
		}
		out[p] = b.String()
		total += b.Len()
	}

	return out, nil
}

// version returns the Resolved.Version of files.
func version(files Files) string {
	h := sha256.New()
	for _, p := range slices.Sorted(maps.Keys(files)) {
		writeField(h, p)
		writeField(h, files[p])
	}

	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// writeField writes s to h preceded by its length, so that no two sequences of fields
// hash the same bytes.
func writeField(h hash.Hash, s string) {
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(s))))
	h.Write([]byte(s))
}
