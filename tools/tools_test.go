package tools_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/longrun/sandstorm"
	"github.com/longrun/sandstorm/flyclient"
	"github.com/longrun/sandstorm/store"
	"github.com/longrun/sandstorm/tools"
)

// update rewrites the golden files and the README's tool table from the
// current definitions: go test ./tools -update.
var update = flag.Bool("update", os.Getenv("UPDATE_GOLDEN") != "", "rewrite golden files")

func testManager(t *testing.T) *sandstorm.Manager {
	t.Helper()
	st, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	m, err := sandstorm.New(flyclient.New("unused", flyclient.WithBaseURL("http://127.0.0.1:1")),
		st, sandstorm.Config{})
	if err != nil {
		t.Fatal(err)
	}

	return m
}

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}

		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test ./tools -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s changed; if intended, run go test ./tools -update.\ngot:\n%s", name, got)
	}
}

func TestTools_Definitions(t *testing.T) {
	for _, tool := range tools.All(testManager(t)) {
		t.Run(tool.Tool.Name, func(t *testing.T) {
			raw, err := json.MarshalIndent(tool.Tool, "", "  ")
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			golden(t, filepath.Join("tools", tool.Tool.Name+".json"), append(raw, '\n'))

			var def struct {
				Annotations map[string]any `json:"annotations"`
				InputSchema struct {
					Type                 string                    `json:"type"`
					Properties           map[string]map[string]any `json:"properties"`
					AdditionalProperties *bool                     `json:"additionalProperties"`
				} `json:"inputSchema"`
			}
			if err := json.Unmarshal(raw, &def); err != nil {
				t.Fatal(err)
			}
			for _, hint := range []string{"readOnlyHint", "destructiveHint", "idempotentHint",
				"openWorldHint"} {
				if _, ok := def.Annotations[hint]; !ok {
					t.Errorf("annotation %s is not set", hint)
				}
			}
			if def.InputSchema.Type != "object" {
				t.Errorf("input schema type = %q, want object", def.InputSchema.Type)
			}
			if ap := def.InputSchema.AdditionalProperties; ap == nil || *ap {
				t.Errorf("input schema allows unknown arguments")
			}
			for name, prop := range def.InputSchema.Properties {
				if d, _ := prop["description"].(string); d == "" {
					t.Errorf("property %s has no description", name)
				}
			}
		})
	}
}

// TestTools_READMETable keeps the README's tool table equal to the definitions.
func TestTools_READMETable(t *testing.T) {
	const begin, end = "<!-- tools:begin -->\n", "<!-- tools:end -->"
	path := filepath.Join("..", "README.md")
	readme, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	before, rest, ok1 := strings.Cut(string(readme), begin)
	_, after, ok2 := strings.Cut(rest, end)
	if !ok1 || !ok2 {
		t.Fatalf("README.md lacks the %q and %q markers", begin, end)
	}
	table := tools.Markdown(tools.All(testManager(t)))
	if *update {
		out := before + begin + table + end + after
		if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}

		return
	}
	if got, _, _ := strings.Cut(rest, end); got != table {
		t.Errorf("README tool table is stale; run go test ./tools -update.\nwant:\n%s", table)
	}
}
