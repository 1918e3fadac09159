package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/invopop/jsonschema"

	"github.com/devtool/devtool/pkg/event"
	"github.com/devtool/devtool/pkg/run"
	"github.com/devtool/devtool/test/schema"
)

// documentKinds are every JSON document devtool writes (-o json), by kind, and the Go type
// that writes it; "Event" is one --progress=json line.
var documentKinds = map[string]any{
	"BuildReport":      run.Report{},
	"DeployReport":     run.Report{},
	"UndeployReport":   run.Report{},
	"DiffReport":       run.DiffReport{},
	"Description":      run.Description{},
	"ImageList":        run.ImageList{},
	"Plan":             PlanDocument{},
	"ValidationReport": ValidationReport{},
	"Version":          VersionDocument{},
	"Error":            ErrorDocument{},
	"Event":            event.Event{},
}

// TestSchemasUpToDate: docs/schemas holds a JSON Schema for each kind, generated from the Go
// types (invopop/jsonschema), apiVersion and kind fixed; -update rewrites them. Fields without
// omitempty are required; other fields are allowed (documents only ever gain fields).
func TestSchemasUpToDate(t *testing.T) {
	kinds := make([]string, 0, len(documentKinds))
	for k := range documentKinds {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, kind := range kinds {
		r := &jsonschema.Reflector{ExpandedStruct: true, AllowAdditionalProperties: true}
		s := r.Reflect(documentKinds[kind])
		s.ID = jsonschema.ID("https://devtool.dev/schemas/v1alpha1/" + kind + ".json")
		s.Title = kind
		if kind != "Event" {
			if p, ok := s.Properties.Get("kind"); ok {
				p.Const = kind
			}
			if p, ok := s.Properties.Get("apiVersion"); ok {
				p.Const = run.APIVersion
			}
		}
		b, err := json.MarshalIndent(s, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, '\n')
		path := filepath.Join(schema.Dir(), kind+".json")
		if *update {
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./pkg/cli -run TestSchemasUpToDate -update)", err)
		}
		if diff := cmp.Diff(string(want), string(b)); diff != "" {
			t.Errorf("%s is out of date (-docs +types); run go test ./pkg/cli -run TestSchemasUpToDate -update:\n%s", path, diff)
		}
	}
}

// TestGoldensMatchSchemas: every JSON golden (real outputs of the commands) validates.
func TestGoldensMatchSchemas(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	if len(files) == 0 {
		t.Fatal("no JSON goldens")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := schema.Document(b); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
