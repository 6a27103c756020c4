package agents

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
)

// Names of a project's instructions file, as the agents read them.
const (
	claudeInstructions = "CLAUDE.md"
	agentsInstructions = "AGENTS.md"
)

// placePersona places persona files under projectDir, keeping each relative
// path, except that a root instructions file is renamed to instructions (the
// name the agent reads) when the persona has no file of that name.
func placePersona(
	id, projectDir string,
	files map[string]string,
	instructions string,
) (map[string]string, error) {
	if !path.IsAbs(projectDir) || strings.IndexByte(projectDir, 0) >= 0 {
		return nil, fmt.Errorf("place %s persona: project dir %q is not an absolute path: %w",
			id, projectDir, ErrInvalidInput)
	}
	root := path.Clean(projectDir)

	out := make(map[string]string, len(files))
	for _, rel := range slices.Sorted(maps.Keys(files)) {
		if err := checkPersonaPath(rel); err != nil {
			return nil, fmt.Errorf("place %s persona file %q: %w", id, rel, err)
		}
		dest := rel
		if instructions != "" && isInstructions(rel) {
			if _, own := files[instructions]; !own {
				dest = instructions
			}
		}
		dest = path.Join(root, dest)
		if _, dup := out[dest]; dup {
			return nil, fmt.Errorf("place %s persona file %q: another file also goes to %s: %w",
				id, rel, dest, ErrInvalidInput)
		}
		out[dest] = files[rel]
	}

	return out, nil
}

// isInstructions reports whether rel is an instructions file at the root.
func isInstructions(rel string) bool {
	return rel == claudeInstructions || rel == agentsInstructions
}

// checkPersonaPath accepts a clean, relative, slash-separated path that stays
// inside the project directory; its error wraps ErrInvalidInput.
func checkPersonaPath(rel string) error {
	if problem := personaPathProblem(rel); problem != "" {
		return fmt.Errorf("%s: %w", problem, ErrInvalidInput)
	}

	return nil
}

// personaPathProblem says what is wrong with a persona path, or "".
func personaPathProblem(rel string) string {
	switch {
	case rel == "":
		return "path is empty"
	case strings.IndexByte(rel, 0) >= 0:
		return "path contains a NUL byte"
	case path.IsAbs(rel):
		return "path is absolute; persona paths are relative to the project dir"
	case rel == ".." || strings.HasPrefix(rel, "../") || path.Clean(rel) == "..":
		return "path leaves the project dir"
	case rel == "." || path.Clean(rel) != rel:
		return fmt.Sprintf("path is not clean (want %q)", path.Clean(rel))
	}

	return ""
}
