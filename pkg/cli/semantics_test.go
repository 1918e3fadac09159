package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeProject writes files (name → content) into a new project directory.
func writeProject(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// undefinedInDeploy is a devfile whose deploy command uses two undefined variables, one in an
// image component's build arg and one in a manifest; the build command is fine.
const undefinedInDeploy = `schemaVersion: 2.2.0
metadata: {name: u}
components:
  - name: img
    image:
      imageName: app
      dockerfile: {uri: Dockerfile, args: ["VERSION={{APP_VERSION}}"]}
  - name: m
    kubernetes:
      inlined: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: "{{CONFIG_NAME}}"}
commands:
  - id: build
    apply: {component: img}
  - id: d
    apply: {component: m}
  - id: all
    composite: {commands: [build, d], group: {kind: deploy, isDefault: true}}
`

// TestStrictEveryVerb: the variables a deploy command uses are checked by every verb that
// plans it (issue 6: "validate --strict and plan --strict pass a devfile whose deploy command
// uses an undefined variable; only render notices"). Without --strict each verb warns on
// stderr naming the variable and where it is used; with --strict each fails with
// UndefinedVariable (exit 2) before touching a cluster — deploy's kubeconfig points at a
// closed port.
func TestStrictEveryVerb(t *testing.T) {
	dir := writeProject(t, map[string]string{"devfile.yaml": undefinedInDeploy, "Dockerfile": "FROM scratch\n"})
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
contexts: [{name: c, context: {cluster: c, user: u, namespace: ns}}]
users: [{name: u, user: {token: x}}]
current-context: c
`), 0o600); err != nil {
		t.Fatal(err)
	}
	where := []string{`"APP_VERSION"`, "components[name=img].image.dockerfile.args", `"CONFIG_NAME"`, "components[name=m].kubernetes"}
	for _, verb := range [][]string{
		{"validate"},
		{"plan"},
		{"render", "--image-registry", "registry.example/me"},
		{"deploy", "--kubeconfig", kubeconfig, "--image-registry", "127.0.0.1:1/me", "--builder", "native"},
	} {
		t.Run(verb[0], func(t *testing.T) {
			args := append(append([]string{}, verb...), "--devfile", dir)
			if verb[0] != "deploy" { // deploy without --strict would go on to the cluster
				_, stderr, err := runCLI(t, context.Background(), args...)
				if err != nil {
					t.Fatalf("without --strict: %v\n%s", err, stderr)
				}
				for _, w := range where {
					if !strings.Contains(stderr, w) {
						t.Errorf("without --strict, stderr does not name %s:\n%s", w, stderr)
					}
				}
			}
			_, _, err := runCLI(t, context.Background(), append(args, "--strict")...)
			if code, exit := Classify(err); code != "UndefinedVariable" || exit != ExitInvalid {
				t.Fatalf("--strict: %s/%d, want UndefinedVariable/%d (%v)", code, exit, ExitInvalid, err)
			}
			for _, w := range where {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("--strict error does not name %s:\n%v", w, err)
				}
			}
			// Defining them with --var satisfies --strict.
			_, stderr, err := runCLI(t, context.Background(), append(args[:len(args):len(args)], "--strict", "--var", "APP_VERSION=1", "--var", "CONFIG_NAME=c")...)
			if verb[0] != "deploy" && err != nil {
				t.Errorf("--strict with both defined: %v\n%s", err, stderr)
			}
			if code, _ := Classify(err); verb[0] == "deploy" && code == "UndefinedVariable" {
				t.Errorf("deploy --strict with both defined: %v", err)
			}
		})
	}
}

// TestStableProblemOrder: the same invalid devfile gives byte-identical `validate -o json`
// (and text) ten times over (issue 6: the order of schema problems changed from run to run).
func TestStableProblemOrder(t *testing.T) {
	dir := writeProject(t, map[string]string{"devfile.yaml": `schemaVersion: 2.1.0
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
`})
	var firstJSON, firstText string
	for i := range 10 {
		stdout, _, err := runCLI(t, context.Background(), "validate", "--devfile", dir, "-o", "json")
		if code, _ := Classify(err); code != "InvalidDevfile" {
			t.Fatalf("validate: %s (%v)", code, err)
		}
		_, _, err = runCLI(t, context.Background(), "validate", "--devfile", dir)
		if i == 0 {
			firstJSON, firstText = stdout, err.Error()
			for _, bad := range []string{"interface {}", "map[", "set exactly one"} {
				if strings.Contains(firstJSON, bad) {
					t.Errorf("-o json contains %q:\n%s", bad, firstJSON)
				}
			}
			if !strings.Contains(firstText, "set schemaVersion: 2.2.0") {
				t.Errorf("no schemaVersion hint:\n%s", firstText)
			}
			continue
		}
		if stdout != firstJSON {
			t.Fatalf("run %d: -o json differs from run 0:\n%s\n---\n%s", i, firstJSON, stdout)
		}
		if err.Error() != firstText {
			t.Fatalf("run %d: text differs from run 0:\n%s\n---\n%s", i, firstText, err)
		}
	}
}

// TestValidateMissingDockerfile: validate reports a missing local Dockerfile as it reports a
// missing manifest file: InvalidDevfile (exit 2), naming the component's dockerfile.uri.
func TestValidateMissingDockerfile(t *testing.T) {
	dir := writeProject(t, map[string]string{"devfile.yaml": `schemaVersion: 2.2.0
metadata: {name: m}
components:
  - name: img
    image: {imageName: app, dockerfile: {uri: docker/Dockerfile}}
  - name: other
    image: {imageName: other, dockerfile: {uri: sub/Dockerfile, buildContext: sub}}
`, "sub/Dockerfile": "FROM scratch\n"})
	_, _, err := runCLI(t, context.Background(), "validate", "--devfile", dir)
	if code, exit := Classify(err); code != "InvalidDevfile" || exit != ExitInvalid {
		t.Fatalf("validate: %s/%d (%v)", code, exit, err)
	}
	for _, w := range []string{"components[name=img].image.dockerfile.uri", `"docker/Dockerfile"`, "add the Dockerfile or fix `dockerfile.uri`"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not contain %q: %v", w, err)
		}
	}
	if strings.Contains(err.Error(), "components[name=other]") {
		t.Errorf("sub/Dockerfile exists, but: %v", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "docker"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "docker", "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, err := runCLI(t, context.Background(), "validate", "--devfile", dir); err != nil {
		t.Errorf("validate with the Dockerfile: %v\n%s", err, stderr)
	}
}

// TestRenderNothingNote: render of a command that applies no manifest says so on stderr
// instead of printing nothing at all; stdout stays empty (it holds only results).
func TestRenderNothingNote(t *testing.T) {
	dir := writeProject(t, map[string]string{"devfile.yaml": undefinedInDeploy, "Dockerfile": "FROM scratch\n"})
	stdout, stderr, err := runCLI(t, context.Background(), "render", "--devfile", dir, "--command", "build", "--var", "APP_VERSION=1")
	if err != nil {
		t.Fatalf("render: %v\n%s", err, stderr)
	}
	if stdout != "" {
		t.Errorf("stdout = %q, want nothing", stdout)
	}
	for _, w := range []string{`command "build" applies no kubernetes or openshift manifest`, "only builds img", "devtool build"} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr does not contain %q:\n%s", w, stderr)
		}
	}
	// A command that does apply manifests prints them and no note.
	stdout, stderr, err = runCLI(t, context.Background(), "render", "--devfile", dir, "--command", "d", "--var", "CONFIG_NAME=c")
	if err != nil || !strings.Contains(stdout, "kind: ConfigMap") || strings.Contains(stderr, "nothing to render") {
		t.Errorf("render --command d: err=%v stdout=%q stderr=%q", err, stdout, stderr)
	}
}

// TestRenderImageNamesAsSelectors renders a devfile after odo v3's
// tests/examples/source/devfiles/nodejs/devfile-image-names-as-selectors.yaml: the relative
// imageName "nodejs-devtools" selects containers by short name whatever registry, tag or digest
// they carry (devfile/library imageNameSelector.go); a longer name and an absolute image that
// no component builds are left alone.
func TestRenderImageNamesAsSelectors(t *testing.T) {
	const digest = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
	dir := writeProject(t, map[string]string{"Dockerfile": "FROM scratch\n", "devfile.yaml": `schemaVersion: 2.2.0
metadata: {name: my-image-name-as-selector}
components:
  - name: img
    image: {imageName: nodejs-devtools, dockerfile: {uri: Dockerfile}}
  - name: k8s
    kubernetes:
      inlined: |
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: d}
        spec:
          selector: {matchLabels: {app: d}}
          template:
            metadata: {labels: {app: d}}
            spec:
              initContainers:
              - {name: i, image: "nodejs-devtools:some-tag"}
              containers:
              - {name: a, image: "quay.io/someone/nodejs-devtools:1.2@` + digest + `"}
              - {name: b, image: "nodejs-devtools007"}
              - {name: c, image: "ttl.sh/astra-dev-node:1h"}
commands:
  - id: b
    apply: {component: img}
  - id: d
    apply: {component: k8s}
  - id: all
    composite: {commands: [b, d], group: {kind: deploy, isDefault: true}}
`})
	stdout, stderr, err := runCLI(t, context.Background(), "render", "--devfile", dir, "--image-registry", "registry.example/me")
	if err != nil {
		t.Fatalf("render: %v\n%s", err, stderr)
	}
	built := "registry.example/me/my-image-name-as-selector-nodejs-devtools"
	for _, want := range []string{"name: i\n", "name: a\n"} {
		i := strings.Index(stdout, want)
		if i < 0 || !strings.Contains(stdout[max(0, i-200):i], "image: "+built) {
			t.Errorf("container %q does not run %s:\n%s", strings.TrimSpace(want), built, stdout)
		}
	}
	for _, kept := range []string{"image: nodejs-devtools007", "image: ttl.sh/astra-dev-node:1h"} {
		if !strings.Contains(stdout, kept) {
			t.Errorf("render changed %q:\n%s", kept, stdout)
		}
	}
	if n := strings.Count(stdout, built); n != 2 {
		t.Errorf("%s appears %d times, want 2:\n%s", built, n, stdout)
	}
}
