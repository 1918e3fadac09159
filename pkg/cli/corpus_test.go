package cli

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// corpusDir is testdata/corpus/dev (a copy of ../shared/corpus/dev, kept in the repository so
// the test runs on a clean checkout), or $DEVTOOL_CORPUS, or ../shared/corpus/dev beside the
// checkout.
func corpusDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("DEVTOOL_CORPUS"); d != "" {
		return d
	}
	if abs, err := filepath.Abs(filepath.Join("..", "..", "testdata", "corpus", "dev")); err == nil {
		if st, err := os.Stat(abs); err == nil && st.IsDir() {
			return abs
		}
	}
	dir, _ := os.Getwd()
	for i := 0; i < 6; i++ {
		for _, c := range []string{filepath.Join(dir, "shared", "corpus", "dev"), filepath.Join(dir, "..", "shared", "corpus", "dev")} {
			if st, err := os.Stat(c); err == nil && st.IsDir() {
				return c
			}
		}
		dir = filepath.Dir(dir)
	}
	if os.Getenv("DEVTOOL_REQUIRE_TESTENV") == "1" {
		t.Fatal("corpus ../shared/corpus/dev not found (set DEVTOOL_CORPUS)")
	}
	t.Skip("corpus ../shared/corpus/dev not found (set DEVTOOL_CORPUS)")
	return ""
}

type corpusCase struct {
	name, dir, kind string
	registryParent  string // parent id when the devfile has a registry parent
	// missingManifests are kubernetes/openshift uri files the corpus could not include
	// (SOURCE.txt "unresolved local references"): component name → uri.
	missingManifests map[string]string
}

var (
	kindLine   = regexp.MustCompile(`(?m)^kind:\s*(\w+)`)
	parentLine = regexp.MustCompile(`(?m)^\s*- parent \{.*"id": "([^"]+)"`)
	missingURI = regexp.MustCompile(`(?m)^\s*- (?:kubernetes|openshift)\.uri (\S+) \(component (\S+)\)`)
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
	// odo runs exec commands of a deploy in a Kubernetes Job; devtool does not yet (docs/decisions.md).
	"devfile-deploy-exec.yaml": {"render", []string{`command "deploy-exec"`, "exec commands in a deploy are not supported"}},
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

func loadCorpus(t *testing.T) []corpusCase {
	root := corpusDir(t)
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var cases []corpusCase
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		src, err := os.ReadFile(filepath.Join(root, e.Name(), "SOURCE.txt"))
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		c := corpusCase{name: e.Name(), dir: filepath.Join(root, e.Name())}
		if m := kindLine.FindSubmatch(src); m != nil {
			c.kind = string(m[1])
		}
		if m := parentLine.FindSubmatch(src); m != nil {
			c.registryParent = string(m[1])
		}
		for _, m := range missingURI.FindAllSubmatch(src, -1) {
			if c.missingManifests == nil {
				c.missingManifests = map[string]string{}
			}
			c.missingManifests[string(m[2])] = string(m[1])
		}
		cases = append(cases, c)
	}
	if len(cases) == 0 {
		t.Fatal("empty corpus")
	}
	return cases
}

// copyTree copies a corpus case into a temp project dir.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if rel == "SOURCE.txt" {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func runCLI(t *testing.T, ctx context.Context, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	env := map[string]string{}
	err = Main(ctx, args, Streams{In: strings.NewReader(""), Out: &out, Err: &errb}, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	return out.String(), errb.String(), err
}

// TestCorpus runs validate, plan and render over every real devfile in the corpus
// (testdata/corpus/dev). Valid cases succeed; invalid ones fail with exit code 2 and an error
// naming the offending part; cases with a remote registry parent fail fast (offline) naming the
// parent; manifests referenced by uri that the corpus could not include first fail validation
// naming the component, then get a stand-in ConfigMap; nothing hangs.
func TestCorpus(t *testing.T) {
	for _, c := range loadCorpus(t) {
		t.Run(c.name, func(t *testing.T) {
			dir := copyTree(t, c.dir)
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
			case c.kind == "invalid":
				want, ok := suffixMatch(invalidWant, c.name)
				if !ok {
					t.Fatalf("no expectation for invalid case %s: add it to invalidWant", c.name)
				}
				for _, cmd := range []string{"validate", "plan", "render"} {
					_, _, err := run(cmd)
					expectFail(cmd, err, want...)
				}
				return
			case c.registryParent != "":
				for _, cmd := range []string{"validate", "plan", "render"} {
					_, _, err := run(cmd)
					expectFail(cmd, err, fmt.Sprintf("parent id %q", c.registryParent), "not supported yet")
				}
				return
			}
			if len(c.missingManifests) > 0 {
				_, _, err := run("validate")
				for comp, uri := range c.missingManifests {
					expectFail("validate", err, "components[name="+comp+"]", "does not exist")
					p := filepath.Join(dir, uri)
					if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
						t.Fatal(err)
					}
					standIn := fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stand-in-%s\ndata:\n  uri: %q\n", strings.ToLower(comp), uri)
					if err := os.WriteFile(p, []byte(standIn), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			edge, rejected := suffixMatch(edgeWant, c.name)
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
			}
			if rejected {
				t.Fatalf("%s was expected to fail at %s", c.name, edge.cmd)
			}
		})
	}
}
