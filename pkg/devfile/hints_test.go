package devfile

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func loadText(t *testing.T, text string) error {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "devfile.yaml"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(context.Background(), dir, LoadOptions{})
	return err
}

// TestSchemaVersionHint: a field or group kind that only a newer schema has is reported as
// "set schemaVersion: X", where X is the version whose schema adds it — devfile/library
// v2.4.0's embedded schemas, pkg/devfile/parser/data/v2/{2.0.0,2.1.0,2.2.0,2.2.2}
// (image components, deployByDefault and the deploy group kind: 2.2.0; variables and
// attributes: 2.1.0; dependentProjects: 2.2.2) — and not as "set exactly one component type"
// beside "unknown field".
func TestSchemaVersionHint(t *testing.T) {
	const k8s = "  kubernetes: {inlined: \"apiVersion: v1\\nkind: ConfigMap\\nmetadata: {name: x}\\n\"}\n"
	tests := []struct {
		name, devfile string
		want          []Problem // nil: loads
	}{
		{"image component in 2.1.0", "schemaVersion: 2.1.0\nmetadata: {name: a}\ncomponents:\n- name: img\n  image: {imageName: a, dockerfile: {uri: Dockerfile}}\n",
			[]Problem{{"components[name=img].image", "image components need schemaVersion 2.2.0 or later, but this devfile has schemaVersion 2.1.0; set schemaVersion: 2.2.0"}}},
		{"deployByDefault in 2.0.0", "schemaVersion: 2.0.0\nmetadata: {name: a}\ncomponents:\n- name: k\n  kubernetes: {uri: m.yaml, deployByDefault: false}\n",
			[]Problem{{"components[name=k].kubernetes.deployByDefault", `field "deployByDefault" needs schemaVersion 2.2.0 or later, but this devfile has schemaVersion 2.0.0; set schemaVersion: 2.2.0`}}},
		{"deploy group kind in 2.1.0", "schemaVersion: 2.1.0\nmetadata: {name: a}\ncomponents:\n- name: k\n" + k8s + "commands:\n- id: d\n  apply: {component: k, group: {kind: deploy}}\n",
			[]Problem{{"commands[id=d].apply.group.kind", `group kind "deploy" needs schemaVersion 2.2.0 or later, but this devfile has schemaVersion 2.1.0; set schemaVersion: 2.2.0`}}},
		{"variables in 2.0.0", "schemaVersion: 2.0.0\nmetadata: {name: a}\nvariables: {x: y}\n",
			[]Problem{{"variables", `field "variables" needs schemaVersion 2.1.0 or later, but this devfile has schemaVersion 2.0.0; set schemaVersion: 2.1.0`}}},
		{"dependentProjects in 2.2.0", "schemaVersion: 2.2.0\nmetadata: {name: a}\ndependentProjects:\n- name: p\n  git: {remotes: {origin: https://example.com/p.git}}\n",
			[]Problem{{"dependentProjects", `field "dependentProjects" needs schemaVersion 2.2.2 or later, but this devfile has schemaVersion 2.2.0; set schemaVersion: 2.2.2`}}},
		{"several at once, sorted", "schemaVersion: 2.1.0\nmetadata: {name: a}\ncomponents:\n- name: k\n  kubernetes: {inlined: x, deployByDefault: true}\n- name: img\n  image: {imageName: a, dockerfile: {uri: Dockerfile}}\n",
			[]Problem{
				{"components[name=img].image", "image components need schemaVersion 2.2.0 or later, but this devfile has schemaVersion 2.1.0; set schemaVersion: 2.2.0"},
				{"components[name=k].kubernetes.deployByDefault", `field "deployByDefault" needs schemaVersion 2.2.0 or later, but this devfile has schemaVersion 2.1.0; set schemaVersion: 2.2.0`},
			}},
		// A field no schema has stays "unknown field", with no version advice.
		{"unknown everywhere", "schemaVersion: 2.2.0\nmetadata: {name: a}\ncomponents:\n- name: k\n  kubernetes: {inlined: x, colour: blue}\n",
			[]Problem{{"components[name=k].kubernetes", `unknown field "colour"`}}},
		{"image component in 2.2.0", "schemaVersion: 2.2.0\nmetadata: {name: a}\ncomponents:\n- name: img\n  image: {imageName: a, dockerfile: {uri: Dockerfile}}\n", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := loadText(t, tc.devfile)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Load = %v, want a *ValidationError", err)
			}
			if diff := cmp.Diff(tc.want, ve.Problems); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

// TestProblemsStableOrder loads a devfile with many schema problems (which the library
// reports in map iteration order) twenty times: the problems must be the same, in the same
// order (sorted by path, then message), every time.
func TestProblemsStableOrder(t *testing.T) {
	dir := t.TempDir()
	const bad = `schemaVersion: 2.1.0
metadata: {name: Bad_Name, attributes: 5}
variables: {A: {b: c}}
components:
- name: img
  image: {imageName: a, dockerfile: {uri: Dockerfile}}
- name: c
  attributes: [1]
  container: {image: x, env: {a: b}, memoryLimit: 5}
- name: k
  kubernetes: {inlined: x, uri: y, deployByDefault: true}
commands:
- id: d
  apply: {component: k, group: {kind: deploy}}
- id: e
  exec: {component: c, commandLine: 3, bogus: 1}
`
	if err := os.WriteFile(filepath.Join(dir, "devfile.yaml"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	var first []Problem
	for i := range 20 {
		_, err := Load(context.Background(), dir, LoadOptions{})
		var ve *ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("Load = %v, want a *ValidationError", err)
		}
		if i == 0 {
			first = ve.Problems
			if len(first) < 5 {
				t.Fatalf("want many problems, got %v", first)
			}
			for j := 1; j < len(first); j++ {
				if a, b := first[j-1], first[j]; a.Path > b.Path || (a.Path == b.Path && a.Message > b.Message) {
					t.Errorf("problems not sorted: %v before %v", a, b)
				}
			}
			continue
		}
		if diff := cmp.Diff(first, ve.Problems); diff != "" {
			t.Fatalf("load %d gave other problems (-first +now):\n%s", i, diff)
		}
	}
}

// TestPlainMessage: Go type spellings that YAML and encoding/json errors carry, as
// devfile/library passes them on, become devfile words.
func TestPlainMessage(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`yaml: invalid map key: map[interface {}]interface {}{"a":1}`, `yaml: a mapping key is itself a mapping or list ({"a":1}); keys must be plain values: quote the key or fix the indentation`},
		{`yaml: invalid map key: []interface {}{1, 2}`, `yaml: a mapping key is itself a mapping or list ({1, 2}); keys must be plain values: quote the key or fix the indentation`},
		{`json: cannot unmarshal string into Go struct field Container.env of type []v1alpha2.EnvVar`, `expected a list but got a string at env`},
		{`json: cannot unmarshal array into Go value of type map[string]interface {}`, `expected a mapping but got a list`},
		{`json: cannot unmarshal number into Go struct field DevfileMetadata.metadata.name of type string`, `expected a string but got a number at metadata.name`},
		{`got map[string]interface {} and []interface {}`, `got mapping and list`},
		{`components: expected an array`, `components: expected an array`},
	} {
		if got := plainMessage(tc.in); got != tc.want {
			t.Errorf("plainMessage(%q)\n = %q\nwant %q", tc.in, got, tc.want)
		}
		if strings.Contains(plainMessage(tc.in), "interface {}") {
			t.Errorf("plainMessage(%q) still spells a Go type", tc.in)
		}
	}
}
