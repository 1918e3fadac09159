package cli

import (
	"bytes"
	"context"
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
}

var (
	kindLine   = regexp.MustCompile(`(?m)^kind:\s*(\w+)`)
	parentLine = regexp.MustCompile(`(?m)^\s*- parent \{.*"id": "([^"]+)"`)
)

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

// TestCorpus runs validate, plan and render over every real devfile in the corpus. Valid cases
// succeed; invalid ones fail with exit code 2 and an error naming the offending part; cases
// with a remote registry parent fail fast (offline) naming the parent; nothing hangs.
func TestCorpus(t *testing.T) {
	for _, c := range loadCorpus(t) {
		c := c
		t.Run(c.name, func(t *testing.T) {
			dir := copyTree(t, c.dir)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			start := time.Now()
			for _, cmd := range []string{"validate", "plan", "render"} {
				stdout, stderr, err := runCLI(t, ctx, cmd, "--devfile", dir)
				if time.Since(start) > 15*time.Second {
					t.Fatalf("%s took %s: remote references must fail fast", cmd, time.Since(start))
				}
				_, exit := Classify(err)
				switch {
				case c.kind == "invalid":
					if err == nil {
						t.Fatalf("%s: invalid devfile accepted\nstdout: %s", cmd, stdout)
					}
					if exit != ExitInvalid {
						t.Errorf("%s: exit code %d, want %d (error: %v)", cmd, exit, ExitInvalid, err)
					}
					t.Logf("%s: rejected as expected: %v", cmd, err)
					return
				case c.registryParent != "":
					if err == nil {
						t.Fatalf("%s: devfile with registry parent %q loaded offline?", cmd, c.registryParent)
					}
					if !strings.Contains(err.Error(), c.registryParent) {
						t.Errorf("%s: error does not name the parent %q: %v", cmd, c.registryParent, err)
					}
					t.Logf("%s: registry parent fails offline as expected: %v", cmd, err)
					return
				default:
					if err != nil {
						t.Fatalf("%s: %v\nstderr: %s", cmd, err, stderr)
					}
					if strings.TrimSpace(stdout) == "" && cmd != "render" {
						t.Errorf("%s printed nothing", cmd)
					}
				}
			}
		})
	}
}
