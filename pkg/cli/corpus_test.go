package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/devtool/devtool/pkg/devfile"
	"github.com/devtool/devtool/test/testenv"
)

// invalidWant is what the error of each negative corpus case must contain: the offending
// command, component or field by name (devtool translates the library's JSON-schema messages).
var invalidWant = map[string][]string{
	"#composite-indirect-cycle":        {"commands[id=", "cannot indirectly reference itself"},
	"#composite-missing-subcommand":    {"commands[id=command4]", `"fakecommand"`, "does not exist"},
	"#composite-self-reference":        {"commands[id=command4]", "cannot reference itself"},
	"applyNoComponent.yaml":            {"commands[id=testapply].apply", `"component"`},
	"compositeBadParallel.yaml":        {"commands[id=compositetest1].composite.parallel", "boolean"},
	"kubernetesBothInlinedAndUri.yaml": {"components[name=testkubernetes]", "both inlined and uri"},
	"schemabad.yaml":                   {`schemaVersion "Invalid"`},
}

// edgeWant are edge cases devtool rejects on purpose, with the error each must give.
var edgeWant = map[string]struct {
	cmd  string // first command that fails; the ones before it succeed
	want []string
}{
	// A DevWorkspaceTemplateSpec body from devfile/api's variable tests: no schemaVersion.
	"variables_test-fixtures_all_devfile-good.yaml": {"validate", []string{"schemaVersion is missing"}},
}

// renderWant are cases whose render output must contain these lines.
var renderWant = map[string][]string{
	// odo runs the exec commands of a deploy in a Kubernetes Job, and so does devtool: render
	// shows the Job as deploy applies it (docs/decisions.md).
	"devfile-deploy-exec.yaml": {"kind: Job", "name: nodejs-prj1-api-abhz-deploy-exec", "- echo Hello world", "image: registry.access.redhat.com/ubi8/nodejs-14:latest", "restartPolicy: Never"},
}

func suffixMatch[T any](m map[string]T, name string) (T, bool) {
	for k, v := range m {
		if strings.HasSuffix(name, k) {
			return v, true
		}
	}
	var zero T
	return zero, false
}

func runCLI(t *testing.T, ctx context.Context, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	return runCLIEnv(t, ctx, map[string]string{}, args...)
}

// runCLIEnv is runCLI with env as the whole environment.
func runCLIEnv(t *testing.T, ctx context.Context, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	err = Main(ctx, args, Streams{In: strings.NewReader(""), Out: &out, Err: &errb}, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	return out.String(), errb.String(), err
}

// TestCorpus runs validate, plan and render over every real devfile in the corpus
// (testdata/corpus/dev). Valid cases succeed; invalid ones fail with exit code 2 and an error
// naming the offending part; cases with a registry parent succeed against the loopback devfile
// registry (DEVTOOL_REGISTRY_URL), fail within 30 s naming it once it is stopped, and succeed
// again with --offline from the cache, printing the same; manifests referenced by uri that the corpus could not include first fail validation
// naming the component, then get a stand-in ConfigMap; nothing hangs.
func TestCorpus(t *testing.T) {
	for _, c := range testenv.Corpus(t) {
		t.Run(c.Name, func(t *testing.T) {
			dir := testenv.CopyProject(t, c)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			start := time.Now()
			run := func(cmd string) (string, string, error) {
				stdout, stderr, err := runCLI(t, ctx, cmd, "--devfile", dir)
				if time.Since(start) > 15*time.Second {
					t.Fatalf("%s took %s: remote references must fail fast", cmd, time.Since(start))
				}
				return stdout, stderr, err
			}
			expectFail := func(cmd string, err error, want ...string) {
				t.Helper()
				if err == nil {
					t.Fatalf("%s succeeded; want an error containing %q", cmd, want)
				}
				if _, exit := Classify(err); exit != ExitInvalid {
					t.Errorf("%s: exit code %d, want %d (error: %v)", cmd, exit, ExitInvalid, err)
				}
				for _, w := range want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s: error does not contain %q:\n%v", cmd, w, err)
					}
				}
			}
			switch {
			case c.Kind == "invalid":
				want, ok := suffixMatch(invalidWant, c.Name)
				if !ok {
					t.Fatalf("no expectation for invalid case %s: add it to invalidWant", c.Name)
				}
				for _, cmd := range []string{"validate", "plan", "render"} {
					_, _, err := run(cmd)
					expectFail(cmd, err, want...)
				}
				return
			case c.RegistryParent != "":
				// Against the loopback devfile registry as a mirror of registry.devfile.io; then
				// with it stopped (fails fast, naming it); then --offline from the cache.
				reg := testenv.StartDevfileRegistry(t, testenv.CorpusStacks(t))
				env := map[string]string{"DEVTOOL_CACHE_DIR": t.TempDir(), "DEVTOOL_REGISTRY_URL": reg.URL}
				// The parent's image components build the project's Dockerfile, which the corpus
				// does not keep: validate names each one missing, then a stand-in lets the rest run.
				if _, _, err := runCLIEnv(t, ctx, env, "validate", "--devfile", dir); err != nil {
					found := missingDockerfileRE.FindAllStringSubmatch(err.Error(), -1)
					if len(found) == 0 {
						t.Fatalf("validate: %v", err)
					}
					for _, m := range found {
						path := filepath.Join(dir, filepath.FromSlash(m[1]))
						if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
							t.Fatal(err)
						}
						if err := os.WriteFile(path, []byte("FROM scratch\n"), 0o644); err != nil {
							t.Fatal(err)
						}
					}
				}
				outputs := map[string]string{}
				for _, cmd := range []string{"validate", "plan", "render"} {
					stdout, stderr, err := runCLIEnv(t, ctx, env, cmd, "--devfile", dir)
					if err != nil {
						t.Fatalf("%s: %v\nstderr: %s", cmd, err, stderr)
					}
					if strings.TrimSpace(stdout) == "" {
						t.Errorf("%s printed nothing", cmd)
					}
					outputs[cmd] = stdout
				}
				reg.Stop()
				for _, cmd := range []string{"validate", "plan", "render"} {
					start := time.Now()
					_, _, err := runCLIEnv(t, ctx, env, cmd, "--devfile", dir)
					if d := time.Since(start); d > 30*time.Second {
						t.Errorf("%s with the registry stopped took %s", cmd, d)
					}
					expectFail(cmd, err, "parent", "devfile registry "+reg.URL, fmt.Sprintf("stack %q", c.RegistryParent), "--offline")
					stdout, stderr, err := runCLIEnv(t, ctx, env, cmd, "--devfile", dir, "--offline")
					if err != nil {
						t.Fatalf("%s --offline: %v\nstderr: %s", cmd, err, stderr)
					}
					if diff := cmp.Diff(outputs[cmd], stdout); diff != "" {
						t.Errorf("%s --offline output differs from the online run (-online +offline):\n%s", cmd, diff)
					}
				}
				return
			}
			if len(c.MissingManifests) > 0 {
				_, _, err := run("validate")
				for comp := range c.MissingManifests {
					expectFail("validate", err, "components[name="+comp+"]", "does not exist")
				}
				testenv.WriteStandInManifests(t, c, dir)
			}
			if missing := missingDockerfiles(t, dir); len(missing) > 0 {
				// The corpus keeps devfiles, not their Dockerfiles: validate names each missing
				// one (as it does a missing manifest), then a stand-in lets the rest run.
				_, _, err := run("validate")
				for comp, path := range missing {
					expectFail("validate", err, "components[name="+comp+"].image.dockerfile.uri", "no such file")
					if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(path, []byte("FROM scratch\n"), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			edge, rejected := suffixMatch(edgeWant, c.Name)
			for _, cmd := range []string{"validate", "plan", "render"} {
				stdout, stderr, err := run(cmd)
				if rejected && cmd == edge.cmd {
					expectFail(cmd, err, edge.want...)
					return
				}
				if err != nil {
					t.Fatalf("%s: %v\nstderr: %s", cmd, err, stderr)
				}
				if strings.TrimSpace(stdout) == "" && cmd != "render" {
					t.Errorf("%s printed nothing", cmd)
				}
				if want, ok := suffixMatch(renderWant, c.Name); ok && cmd == "render" {
					for _, w := range want {
						if !strings.Contains(stdout, w) {
							t.Errorf("render output does not contain %q:\n%s", w, stdout)
						}
					}
				}
			}
			if rejected {
				t.Fatalf("%s was expected to fail at %s", c.Name, edge.cmd)
			}
		})
	}
}

// missingDockerfileRE finds the Dockerfiles validate reports missing: components[name=…].image.dockerfile.uri: dockerfile uri "PATH": stat … no such file.
var missingDockerfileRE = regexp.MustCompile(`\.image\.dockerfile\.uri: dockerfile uri "([^"]+)": stat [^:]+: no such file`)

// missingDockerfiles maps the image components of the devfile in dir whose local Dockerfile
// (a plain path inside dir) does not exist to where it should be.
func missingDockerfiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	d, err := devfile.Load(context.Background(), dir, devfile.LoadOptions{})
	if err != nil {
		return nil // the case's own checks report it
	}
	out := map[string]string{}
	for _, c := range d.Components {
		if c.Image == nil || c.Image.Dockerfile == nil || c.Image.Dockerfile.Remote != "" {
			continue
		}
		uri, bc := c.Image.Dockerfile.URI, c.Image.Dockerfile.BuildContext
		for _, v := range []string{"${PROJECTS_ROOT}", "${PROJECT_SOURCE}"} {
			bc = strings.ReplaceAll(bc, v, ".")
		}
		if strings.Contains(uri+bc, "{{") || strings.Contains(uri+bc, "$") || strings.Contains(uri, "://") || filepath.IsAbs(uri) || filepath.IsAbs(bc) {
			continue
		}
		p := filepath.Join(d.Dir, uri)
		if uri == "" {
			p = filepath.Join(d.Dir, bc, "Dockerfile")
		}
		if rel, err := filepath.Rel(d.Dir, p); err != nil || strings.HasPrefix(rel, "..") {
			continue
		}
		if _, err := os.Stat(p); err != nil {
			out[c.Name] = p
		}
	}
	return out
}
