package devfile

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

// maxFuzzDevfile bounds the fuzzed devfile: the library's schema validation dominates an exec
// and grows with the input.
const maxFuzzDevfile = 64 << 10

// fuzzProject is the rest of the project each fuzzed devfile.yaml sits in: a local parent in the
// same directory, one in a subdirectory (the two flattening paths), and manifests for uris.
var fuzzProject = map[string]string{
	"parent.yaml": `schemaVersion: 2.2.0
metadata: {name: base}
variables: {registry: quay.io/base}
components:
  - name: runtime
    container: {image: "registry.access.redhat.com/ubi8/nodejs-18:latest", endpoints: [{name: http, targetPort: 3000}]}
  - name: image-build
    image: {imageName: "{{registry}}/app:latest", dockerfile: {uri: Dockerfile, buildContext: .}}
commands:
  - id: build-image
    apply: {component: image-build}
`,
	"base/parent.yaml": `schemaVersion: 2.2.0
metadata: {name: base-other-dir}
components:
  - name: k8s
    kubernetes: {uri: deploy.yaml}
commands:
  - id: deploy
    apply: {component: k8s, group: {kind: deploy, isDefault: true}}
`,
	"base/deploy.yaml":        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: base}\n",
	"deploy.yaml":             "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: top}\n",
	"kubernetes/deploy.yaml":  "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: my-app}\n",
	"kubernetes/service.yaml": "apiVersion: v1\nkind: Service\nmetadata: {name: my-app}\n",
}

// FuzzLoad loads a fuzzed devfile.yaml from a project directory. Load must never panic; a devfile
// it cannot use must come back as a *ValidationError with problems (never a recovered library
// panic), naming a file of the project; nothing may be written to the project or the working
// directory; and a loaded devfile has the names the library validated as unique.
func FuzzLoad(f *testing.F) {
	for _, pattern := range []string{
		filepath.Join("..", "..", "testdata", "corpus", "dev", "*", "devfile.yaml"),
		filepath.Join("testdata", "*", "devfile.yaml"),
		filepath.Join("testdata", "*", "*", "devfile.yaml"),
	} {
		paths, _ := filepath.Glob(pattern)
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	for _, s := range []string{
		"", "schemaVersion: 2.2.0\n", "schemaVersion: 2.2\n", "schemaVersion: 2.x\n", "- a\n- b\n",
		"schemaVersion: 2.2.0\ncomponents: [\n", "metadata: {name: x}\n", "null", "schemaVersion: ''\n",
		"schemaVersion: 2.2.0\nparent: {uri: ./parent.yaml}\n",
		"schemaVersion: 2.2.0\nparent: {uri: base/parent.yaml}\n",
		"schemaVersion: 2.2.0\nparent: {uri: ./devfile.yaml}\n",
		"schemaVersion: 2.2.0\nparent: {id: nodejs, registryUrl: \"https://registry.devfile.io\"}\n",
		"schemaVersion: 2.2.0\nparent: {kubernetes: {name: t, namespace: n}}\n",
		"schemaVersion: 2.2.0\ncomponents:\n  - name: p\n    plugin: {uri: parent.yaml}\n",
		"schemaVersion: 2.2.0\ncomponents:\n  - name: deploy\n    kubernetes: {uri: k8s/deploy.yaml}\n",
		"schemaVersion: 2.2.0\ncomponents:\n  - name: deploy\n    openshift: {uri: \"{{dir}}/deploy.yaml\"}\n",
		"schemaVersion: 2.2.0\ncomponents:\n  - name: web\n    container: {image: a}\n  - name: web\n    container: {image: b}\n",
		"schemaVersion: 2.2.0\ncommands:\n  - id: all\n    composite: {commands: [build, all]}\n  - id: build\n    composite: {commands: []}\n",
		"schemaVersion: 2.2.0\ncomponents:\n  - name: k8s\n    kubernetes: {inlined: \"kind: ConfigMap\"}\ncommands:\n  - id: a\n    apply: {component: k8s, group: {kind: deploy, isDefault: true}}\n  - id: b\n    apply: {component: k8s, group: {kind: deploy, isDefault: true}}\n",
		"schemaVersion: 2.1.0\nvariables: {mem: 1Gi}\ncomponents:\n  - name: c\n    container: {image: x, memoryLimit: \"{{mem}}\"}\n",
		"schemaVersion: 2.2.0\ncomponents:\n  - name: db\n    helm: {chart: ./charts/db, version: 1.2, values: {replicas: 2}, valuesFiles: [values.yaml], deployByDefault: true}\ncommands:\n  - id: deploy\n    apply: {component: db, group: {kind: deploy, isDefault: true}}\n",
		"schemaVersion: 2.2.0\nparent: {uri: parent.yaml}\ncomponents:\n  - name: db\n    custom: {componentClass: helm, embeddedResource: {chart: redis, repo: \"https://charts.example\", releaseName: r}}\n",
		"schemaVersion: 2.2.0\nparent: {uri: base/parent.yaml}\ncomponents:\n  - name: db\n    attributes: {a: b}\n    helm: {chart: \"oci://reg/charts/db\", namespace: \"{{ns}}\"}\n",
	} {
		f.Add([]byte(s))
	}

	proj := f.TempDir()
	for name, content := range fuzzProject {
		p := filepath.Join(proj, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			f.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			f.Fatal(err)
		}
	}
	devfile := filepath.Join(proj, "devfile.yaml")
	cwd, err := os.Getwd()
	if err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzDevfile || !hermetic(data) {
			t.Skip()
		}
		if err := os.WriteFile(devfile, data, 0o644); err != nil {
			t.Fatal(err)
		}
		before := [2][]string{listing(t, proj), names(t, cwd)}
		d, err := Load(context.Background(), proj, LoadOptions{HTTPTimeout: time.Second})
		after := [2][]string{listing(t, proj), names(t, cwd)}
		if diff := cmp.Diff(before, after); diff != "" {
			t.Fatalf("Load wrote files (-before +after):\n%s", diff)
		}
		if err != nil {
			checkFuzzError(t, err, proj)
			return
		}
		if d == nil || d.Path != devfile || d.Dir != proj || d.SchemaVersion == "" {
			t.Fatalf("Load returned %+v", d)
		}
		names := map[string]bool{}
		for _, c := range d.Components {
			if c.Name == "" || names[c.Name] {
				t.Errorf("component name %q empty or not unique", c.Name)
			}
			names[c.Name] = true
			if got, ok := d.Component(c.Name); !ok || got.Name != c.Name {
				t.Errorf("Component(%q) not found", c.Name)
			}
		}
		ids := map[string]bool{}
		for _, c := range d.Commands {
			id := strings.ToLower(c.ID)
			if id == "" || ids[id] {
				t.Errorf("command id %q empty or not unique", c.ID)
			}
			ids[id] = true
		}
	})
}

// checkFuzzError checks that err is a clear, typed Load error about a file of proj.
func checkFuzzError(t *testing.T, err error, proj string) {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Load error is %T, not a *ValidationError: %v", err, err)
	}
	if len(ve.Problems) == 0 {
		t.Fatalf("ValidationError without problems: %v", err)
	}
	for _, p := range ve.Problems {
		if strings.TrimSpace(p.Message) == "" {
			t.Fatalf("problem without a message: %v", err)
		}
	}
	if !strings.HasPrefix(ve.File, proj+string(filepath.Separator)) && ve.File != proj {
		t.Fatalf("ValidationError.File = %q, not a file of the project %s", ve.File, proj)
	}
	msg := err.Error()
	for _, bad := range []string{"panicked", "runtime error", "goroutine "} {
		if strings.Contains(msg, bad) {
			t.Fatalf("Load error is not a clear message (%q): %v", bad, err)
		}
	}
}

// hermetic reports whether loading data can only touch the project directory: its YAML decodes
// and no uri (any letter case, as the library's JSON decoding ignores case) is absolute, leaves
// the directory or names an http(s) URL. Data that does not decode is hermetic: Load stops at
// the YAML error.
func hermetic(data []byte) bool {
	var doc any
	if yaml.Unmarshal(data, &doc) != nil {
		return true
	}
	ok := true
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, child := range v {
				if s, isString := child.(string); isString && strings.EqualFold(k, "uri") {
					l := strings.ToLower(s)
					if filepath.IsAbs(s) || strings.Contains(s, "..") || strings.HasPrefix(l, "http") || strings.HasPrefix(s, "~") {
						ok = false
					}
				}
				walk(child)
			}
		case []any:
			for _, child := range v {
				walk(child)
			}
		}
	}
	walk(doc)
	return ok
}

// names lists the entries directly in dir except Go sources, which other work may change
// while the fuzzer runs (dir is the package directory).
func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") {
			out = append(out, e.Name())
		}
	}
	return out
}

// listing names the entries under dir with their sizes.
func listing(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		if p == filepath.Join(dir, "devfile.yaml") {
			out = append(out, p)
			return nil
		}
		out = append(out, p+" "+info.Mode().String()+" "+strconv.FormatInt(info.Size(), 10))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
