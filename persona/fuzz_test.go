package persona

import (
	"errors"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// reference is the placeholder syntax written as a regular expression, kept apart from
// the hand-written scanner so that the fuzz test can compare the two. Go's leftmost-first
// matching tries the escape before a placeholder at each "{{", as the scanner does.
var reference = regexp.MustCompile(`\{\{\{\{|\{\{[ \t]*([A-Za-z_][A-Za-z0-9_.\-]*)[ \t]*\}\}`)

// placeholderRE matches any valid placeholder, escaped or not.
var placeholderRE = regexp.MustCompile(`\{\{[ \t]*[A-Za-z_][A-Za-z0-9_.\-]*[ \t]*\}\}`)

// substituteRef substitutes vars in content using the reference expression.
func substituteRef(content string, vars map[string]string) string {
	return reference.ReplaceAllStringFunc(content, func(m string) string {
		if m == "{{{{" {
			return "{{"
		}

		return vars[reference.FindStringSubmatch(m)[1]]
	})
}

// missingRef returns the sorted keys used in content that have no value in vars, using
// the reference expression.
func missingRef(content string, vars map[string]string) []string {
	var keys []string
	for _, m := range reference.FindAllStringSubmatch(content, -1) {
		if _, ok := vars[m[1]]; m[1] != "" && !ok {
			keys = append(keys, m[1])
		}
	}
	slices.Sort(keys)

	return slices.Compact(keys)
}

func FuzzResolve(f *testing.F) {
	seeds := []struct{ path, content, key, value string }{
		{"CLAUDE.md", "# {{project}}\n", "project", "Acme"},
		{"a/b.md", "{{ a }}{{b}}{{a}}", "a", "{{b}}"},
		{".claude/settings.json", `{"x": "{{{{ not }}", "y": "{{y}}"}`, "y", "}}"},
		{"x", "{{{a}}}{{{{{a}}", "a", "{"},
		{"x", "{{ {{a}} }}", "a", "k"},
		{"x", "${{ secrets.TOKEN }}", "secrets.TOKEN", "t"},
		{"x", "{{\ta.b-c\t}}\n{{missing}}", "a.b-c", ""},
		{"../x", "{{a}}", "a", "v"},
		{"a//b", "", "", ""},
		{"/abs", "{{", "{", "}"},
		{"nul\x00", "\x00{{\x00}}", "\x00", "\x00"},
	}
	for _, s := range seeds {
		f.Add(s.path, s.content, s.key, s.value)
	}

	f.Fuzz(func(t *testing.T, p, content, key, value string) {
		vars := map[string]string{key: value}
		res, err := Resolve(Source{Files: Files{p: content}}, vars)

		validPath := p != "." && fs.ValidPath(p) && !strings.ContainsRune(p, 0) && len(p) <= 4096
		var missing *MissingVarsError
		switch {
		case !validPath:
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Resolve with path %q: error = %v, want ErrInvalid", p, err)
			}

			return
		case errors.As(err, &missing):
			if got, want := missing.Keys(), missingRef(content, vars); !slices.Equal(got, want) {
				t.Fatalf("Resolve(%q) with %q: missing %q, reference gives %q",
					content, vars, got, want)
			}

			return
		case errors.Is(err, ErrTooLarge):
			return
		case err != nil:
			t.Fatalf("Resolve(%q): %v", content, err)
		}

		got := res.Files[p]
		if want := substituteRef(content, vars); got != want {
			t.Fatalf("Resolve(%q) with %q = %q, reference gives %q", content, vars, got, want)
		}

		// With a value that cannot be part of a placeholder and no escapes, nothing that
		// looks like a placeholder can survive.
		neutral, err := Resolve(Source{Files: Files{p: content}}, map[string]string{key: "#"})
		if err != nil {
			t.Fatalf("Resolve with a neutral value: %v", err)
		}
		if !strings.Contains(content, "{{{{") {
			if m := placeholderRE.FindString(neutral.Files[p]); m != "" {
				t.Fatalf("Resolve(%q) = %q, which still holds %q", content, neutral.Files[p], m)
			}
		}

		// Escaping any content and resolving it gives the content back.
		if len(Escape(content)) <= MaxFileSize {
			back, err := Resolve(Source{Files: Files{p: Escape(content)}}, nil)
			if err != nil || back.Files[p] != content {
				t.Fatalf("Resolve(Escape(%q)) = %v, %v", content, back, err)
			}
		}
	})
}
