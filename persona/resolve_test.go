package persona

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"strings"
	"testing"
)

func TestResolve_source(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"CLAUDE.md":             "# {{project}}\n",
		".claude/settings.json": `{"model": "{{ model }}"}`,
	})
	empty := t.TempDir()
	vars := map[string]string{"project": "Acme", "model": "opus"}

	tests := []struct {
		name    string
		src     Source
		want    Files
		wantErr error
		wantMsg []string
	}{
		{
			name: "directory",
			src:  Source{Dir: dir},
			want: Files{"CLAUDE.md": "# Acme\n", ".claude/settings.json": `{"model": "opus"}`},
		},
		{
			name: "in memory",
			src:  Source{Files: Files{"a/b.md": "{{project}}"}},
			want: Files{"a/b.md": "Acme"},
		},
		{
			name:    "both set",
			src:     Source{Dir: dir, Files: Files{}},
			wantErr: ErrInvalid,
			wantMsg: []string{"not both"},
		},
		{name: "neither set", src: Source{}, wantErr: ErrInvalid,
			wantMsg: []string{"set Dir or Files"}},
		{name: "no files in memory", src: Source{Files: Files{}}, wantErr: ErrInvalid,
			wantMsg: []string{"no files"}},
		{name: "no files in the directory", src: Source{Dir: empty}, wantErr: ErrInvalid,
			wantMsg: []string{empty, "no files"}},
		{name: "missing directory", src: Source{Dir: dir + "/missing"}, wantErr: ErrInvalid,
			wantMsg: []string{"missing", "does not exist"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, err := Resolve(tc.src, vars)
			if tc.wantErr != nil {
				checkErr(t, err, tc.wantErr, tc.wantMsg...)

				return
			}
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if !maps.Equal(res.Files, tc.want) {
				t.Errorf("Resolve = %q, want %q", res.Files, tc.want)
			}
		})
	}
}

func TestResolve_invalidFiles(t *testing.T) {
	t.Parallel()
	many := Files{}
	for i := range MaxFiles + 1 {
		many[fmt.Sprintf("f%d", i)] = ""
	}
	heavy := Files{}
	for i := range MaxTotalSize/MaxFileSize + 1 {
		heavy[fmt.Sprintf("f%d", i)] = strings.Repeat("x", MaxFileSize)
	}

	tests := []struct {
		name    string
		files   Files
		wantErr error
		wantMsg string
	}{
		{name: "parent dir", files: Files{"../x": ""}, wantErr: ErrInvalid, wantMsg: `"../x"`},
		{name: "absolute", files: Files{"/etc/passwd": ""}, wantErr: ErrInvalid,
			wantMsg: `"/etc/passwd" is absolute`},
		{name: "climbs out in the middle", files: Files{"a/../../b": ""}, wantErr: ErrInvalid,
			wantMsg: `"a/../../b" contains ".."`},
		{name: "dot dot inside", files: Files{"a/../b": ""}, wantErr: ErrInvalid,
			wantMsg: `contains ".."`},
		{name: "empty path", files: Files{"": "x"}, wantErr: ErrInvalid,
			wantMsg: "empty file path"},
		{name: "NUL", files: Files{"a\x00b": ""}, wantErr: ErrInvalid, wantMsg: "NUL"},
		{name: "not UTF-8", files: Files{"a/\xff": ""}, wantErr: ErrInvalid,
			wantMsg: `"a/\xff" is not valid UTF-8`},
		{name: "too long", files: Files{strings.Repeat("a/", 2048) + "b": ""},
			wantErr: ErrInvalid, wantMsg: "4097 bytes, over the limit of 4096"},
		{name: "dot", files: Files{".": ""}, wantErr: ErrInvalid, wantMsg: "persona root"},
		{name: "leading dot slash", files: Files{"./a": ""}, wantErr: ErrInvalid,
			wantMsg: `not clean; write "a"`},
		{name: "double slash", files: Files{"a//b": ""}, wantErr: ErrInvalid, wantMsg: "not clean"},
		{name: "trailing slash", files: Files{"a/": ""}, wantErr: ErrInvalid, wantMsg: "not clean"},
		{name: "file where a directory must be", files: Files{"a": "", "a/b/c": ""},
			wantErr: ErrInvalid, wantMsg: `"a" is a file, so "a/b/c" cannot be inside it`},
		{name: "file over MaxFileSize", files: Files{"big": strings.Repeat("x", MaxFileSize+1)},
			wantErr: ErrTooLarge, wantMsg: `"big" is 1048577 bytes`},
		{name: "more than MaxFiles", files: many, wantErr: ErrTooLarge, wantMsg: "501 files"},
		{name: "more than MaxTotalSize", files: heavy, wantErr: ErrTooLarge,
			wantMsg: "MaxTotalSize"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Resolve(Source{Files: tc.files}, nil)
			checkErr(t, err, tc.wantErr, tc.wantMsg)
		})
	}
}

func TestResolve_tooLargeAfterSubstitution(t *testing.T) {
	t.Parallel()
	nine := Files{}
	for i := range MaxTotalSize/MaxFileSize + 1 {
		nine[fmt.Sprintf("f%d", i)] = "{{v}}"
	}

	tests := []struct {
		name    string
		files   Files
		value   string
		wantMsg string
	}{
		{
			name:    "one file past MaxFileSize",
			files:   Files{"a.md": "{{v}}{{v}}"},
			value:   strings.Repeat("x", MaxFileSize/2+1),
			wantMsg: `"a.md" grows past 1048576 bytes (MaxFileSize)`,
		},
		{
			name:    "all files past MaxTotalSize",
			files:   nine,
			value:   strings.Repeat("x", MaxFileSize),
			wantMsg: `files up to "f8" grow past 8388608 bytes (MaxTotalSize)`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Resolve(Source{Files: tc.files}, map[string]string{"v": tc.value})
			checkErr(t, err, ErrTooLarge, tc.wantMsg)
		})
	}
}

func TestResolve_missingVars(t *testing.T) {
	t.Parallel()
	files := Files{
		"CLAUDE.md": "# {{project}}\n\nTeam: {{ team }}\n{{project}} {{project}}\n",
		".claude/agents/reviewer.md": "Review {{project}} for {{owner}}.\n" +
			"Model {{model}}; escaped {{{{ignored}}\n",
		"notes.md": strings.Repeat("{{many}}\n", 12),
	}
	tests := []struct {
		name    string
		vars    map[string]string
		want    []MissingVar
		wantMsg string
	}{
		{
			name: "all missing at once, sorted",
			vars: map[string]string{"model": "opus"},
			want: []MissingVar{
				{Key: "many", Uses: []Use{
					{Path: "notes.md", Lines: []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}},
				}},
				{Key: "owner", Uses: []Use{{Path: ".claude/agents/reviewer.md", Lines: []int{1}}}},
				{Key: "project", Uses: []Use{
					{Path: ".claude/agents/reviewer.md", Lines: []int{1}},
					{Path: "CLAUDE.md", Lines: []int{1, 4}},
				}},
				{Key: "team", Uses: []Use{{Path: "CLAUDE.md", Lines: []int{3}}}},
			},
			wantMsg: "resolve persona: no value for persona variables: " +
				"many (notes.md:1,2,3,4,5,6,7,8,9,10 and 2 more); " +
				"owner (.claude/agents/reviewer.md:1); " +
				"project (.claude/agents/reviewer.md:1, CLAUDE.md:1,4); " +
				"team (CLAUDE.md:3)",
		},
		{
			name: "one missing",
			vars: map[string]string{"project": "p", "team": "t", "owner": "o", "many": "m"},
			want: []MissingVar{
				{Key: "model", Uses: []Use{{Path: ".claude/agents/reviewer.md", Lines: []int{2}}}},
			},
			wantMsg: "resolve persona: no value for persona variable: " +
				"model (.claude/agents/reviewer.md:2)",
		},
		{
			name: "an empty value counts as set",
			vars: map[string]string{
				"project": "", "team": "", "owner": "", "many": "", "model": "",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Resolve(Source{Files: files}, tc.vars)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Resolve: %v", err)
				}

				return
			}
			var missing *MissingVarsError
			if !errors.As(err, &missing) {
				t.Fatalf("error = %v, want a *MissingVarsError", err)
			}
			if !reflect.DeepEqual(missing.Missing, tc.want) {
				t.Errorf("Missing = %+v\nwant      %+v", missing.Missing, tc.want)
			}
			if err.Error() != tc.wantMsg {
				t.Errorf("error = %q\nwant      %q", err, tc.wantMsg)
			}
			if !strings.Contains(missing.Advice(), "{{{{") {
				t.Errorf("Advice %q does not mention the escape", missing.Advice())
			}
		})
	}
}

func TestResolve_version(t *testing.T) {
	t.Parallel()
	base := Files{
		"CLAUDE.md":                  "# {{project}}\n",
		".claude/settings.json":      "{}",
		".claude/agents/reviewer.md": "Review {{ project }}.\n",
	}
	vars := map[string]string{"project": "Acme", "unused": "x"}
	// Computed outside Go from the encoding documented on Resolved.Version; a change
	// here changes the Version of every persona already deployed.
	const pinned = "sha256:a9572b646284b38a859c199280480533aff938603d3498ef2c649fb848b3dccd"

	// version resolves files a number of times, since map order varies from one
	// iteration to the next, and requires the same Version every time.
	version := func(t *testing.T, files Files, vars map[string]string) string {
		t.Helper()
		var first string
		for i := range 20 {
			res, err := Resolve(Source{Files: files}, vars)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if i == 0 {
				first = res.Version
			} else if res.Version != first {
				t.Fatalf("Version = %s, then %s for the same files", first, res.Version)
			}
		}

		return first
	}
	if got := version(t, base, vars); got != pinned {
		t.Fatalf("Version = %s, want %s", got, pinned)
	}

	tests := []struct {
		name  string
		files Files
		vars  map[string]string
		same  bool
	}{
		{name: "built in another order", files: reversed(base), same: true},
		{name: "an unused var changes", files: base,
			vars: map[string]string{"project": "Acme", "unused": "y"}, same: true},
		{name: "the same content written literally", same: true, files: Files{
			"CLAUDE.md":                  "# Acme\n",
			".claude/settings.json":      "{}",
			".claude/agents/reviewer.md": "Review Acme.\n",
		}},
		{name: "a used var changes", files: base, vars: map[string]string{"project": "Acmf"}},
		{name: "one byte changes", files: with(base, ".claude/settings.json", "{ }")},
		{name: "a path changes",
			files: with(without(base, ".claude/settings.json"), ".claude/settings.jsonc", "{}")},
		{name: "an empty file is added", files: with(base, "x", "")},
		{name: "a file is removed", files: without(base, ".claude/settings.json")},
		{name: "bytes move from content to path",
			files: with(without(base, "CLAUDE.md"), "CLAUDE.md#", " {{project}}\n")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			vars := tc.vars
			if vars == nil {
				vars = map[string]string{"project": "Acme"}
			}
			got := version(t, tc.files, vars)
			if tc.same && got != pinned {
				t.Errorf("Version = %s, want %s", got, pinned)
			}
			if !tc.same && got == pinned {
				t.Errorf("Version = %s, want it to change", got)
			}
		})
	}
}

// reversed returns a copy of files built by inserting its entries in reverse order.
func reversed(files Files) Files {
	paths := keysOf(files)
	out := Files{}
	for i := len(paths) - 1; i >= 0; i-- {
		out[paths[i]] = files[paths[i]]
	}

	return out
}

// without returns a copy of files without the file at p.
func without(files Files, p string) Files {
	out := maps.Clone(files)
	delete(out, p)

	return out
}

// with returns a copy of files with the file at p set to content.
func with(files Files, p, content string) Files {
	out := maps.Clone(files)
	out[p] = content

	return out
}
