package persona

import (
	"slices"
	"testing"
)

func TestResolve_substitution(t *testing.T) {
	t.Parallel()
	vars := map[string]string{
		"a":         "A",
		"b":         "B",
		"name":      "Acme",
		"a.b-c_1":   "dotted",
		"_x":        "under",
		"empty":     "",
		"loop":      "{{a}}",
		"escape":    "{{{{a}}",
		"multiline": "one\ntwo",
	}
	tests := []struct {
		name    string
		content string
		want    string
	}{
		{name: "no placeholders", content: "plain text\n", want: "plain text\n"},
		{name: "empty file", content: "", want: ""},
		{name: "bare", content: "Hello {{name}}!", want: "Hello Acme!"},
		{name: "spaces inside", content: "{{ name }}", want: "Acme"},
		{name: "space on one side", content: "{{name }}|{{  name}}", want: "Acme|Acme"},
		{name: "tabs inside", content: "{{\tname\t}}", want: "Acme"},
		{name: "repeated key", content: "{{a}}, {{a}}\n{{ a }}", want: "A, A\nA"},
		{name: "adjacent", content: "{{a}}{{b}}{{a}}", want: "ABA"},
		{name: "key with dots, dashes, digits", content: "{{a.b-c_1}}", want: "dotted"},
		{name: "key starting with underscore", content: "{{_x}}", want: "under"},
		{name: "empty value", content: "[{{empty}}]", want: "[]"},
		{name: "multi-line value", content: "{{multiline}}!", want: "one\ntwo!"},
		{name: "value with a placeholder is not expanded", content: "{{loop}}", want: "{{a}}"},
		{name: "value with an escape is not unescaped", content: "{{escape}}", want: "{{{{a}}"},
		{name: "unicode around", content: "héllo {{a}} ✓", want: "héllo A ✓"},

		{name: "escaped braces", content: "{{{{a}}", want: "{{a}}"},
		{name: "escaped unknown key", content: "{{{{ nope }}", want: "{{ nope }}"},
		{name: "escape then placeholder", content: "{{{{{{a}}", want: "{{A"},
		{name: "two escapes", content: "{{{{{{{{", want: "{{{{"},
		{name: "five braces", content: "{{{{{a}}", want: "{{{a}}"},
		{name: "escape alone", content: "x{{{{", want: "x{{"},
		{name: "closing braces need no escape", content: "}} {{a}}}}", want: "}} A}}"},

		{name: "triple braces", content: "{{{a}}}", want: "{A}"},
		{name: "go template kept", content: "{{ .Name }} {{- end }}",
			want: "{{ .Name }} {{- end }}"},
		{name: "handlebars block kept", content: "{{#each x}}{{/each}}",
			want: "{{#each x}}{{/each}}"},
		{name: "empty braces kept", content: "{{}} {{ }}", want: "{{}} {{ }}"},
		{name: "digit first kept", content: "{{1a}}", want: "{{1a}}"},
		{name: "space inside key kept", content: "{{a b}}", want: "{{a b}}"},
		{name: "newline inside kept", content: "{{\na}}", want: "{{\na}}"},
		{name: "unclosed kept", content: "{{a} {{a", want: "{{a} {{a"},
		{name: "single braces kept", content: "{a} {\"k\": {}}", want: "{a} {\"k\": {}}"},
		{name: "dollar before is text", content: "${{a}}", want: "$A"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, err := Resolve(Source{Files: Files{"f.md": tc.content}}, vars)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if got := res.Files["f.md"]; got != tc.want {
				t.Errorf("Resolve(%q) = %q, want %q", tc.content, got, tc.want)
			}
		})
	}
}

func TestResolve_pathsAreNotSubstituted(t *testing.T) {
	t.Parallel()
	res, err := Resolve(Source{Files: Files{"{{a}}.md": "{{a}}"}}, map[string]string{"a": "A"})
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	if got, ok := res.Files["{{a}}.md"]; !ok || got != "A" {
		t.Errorf("Resolve = %q, want {{a}}.md holding \"A\"", res.Files)
	}
}

func TestKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files Files
		want  []string
	}{
		{name: "no files", files: nil, want: nil},
		{name: "no placeholders", files: Files{"a": "{ {{ }} {{1}}"}, want: nil},
		{
			name: "sorted and distinct across files",
			files: Files{
				"CLAUDE.md":             "{{ project }} by {{team}}\n{{project}}",
				".claude/settings.json": `{"model": "{{model}}", "x": "{{ Team }}"}`,
			},
			want: []string{"Team", "model", "project", "team"},
		},
		{name: "escaped braces are not keys", files: Files{"a": "{{{{x}} {{y}}"},
			want: []string{"y"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := Keys(tc.files); !slices.Equal(got, tc.want) {
				t.Errorf("Keys = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestEscape(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		s    string
		want string // Escape(s)
	}{
		{name: "no braces", s: "plain", want: "plain"},
		{name: "placeholder", s: "{{a}}", want: "{{{{a}}"},
		{name: "github expression", s: "${{ secrets.TOKEN }}", want: "${{{{ secrets.TOKEN }}"},
		{name: "three braces", s: "{{{a}}}", want: "{{{{{a}}}"},
		{name: "four braces", s: "{{{{", want: "{{{{{{{{"},
		{name: "single brace", s: "{a}", want: "{a}"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := Escape(tc.s)
			if got != tc.want {
				t.Errorf("Escape(%q) = %q, want %q", tc.s, got, tc.want)
			}
			res, err := Resolve(Source{Files: Files{"f": got}}, nil)
			if err != nil {
				t.Fatalf("Resolve(Escape(%q)): %v", tc.s, err)
			}
			if res.Files["f"] != tc.s {
				t.Errorf("Resolve(Escape(%q)) = %q, want it back", tc.s, res.Files["f"])
			}
		})
	}
}
