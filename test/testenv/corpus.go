package testenv

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// CorpusCase is one case of the devfile corpus (testdata/corpus/dev): a directory with
// devfile.yaml, the manifests it references where its source had them, and SOURCE.txt.
type CorpusCase struct {
	// Name is the directory name (repository + original path); Dir its absolute path.
	Name, Dir string
	// Kind is SOURCE.txt's kind: valid, edge or invalid.
	Kind string
	// RegistryParent is the parent id when the devfile has a registry parent.
	RegistryParent string
	// MissingManifests are kubernetes/openshift uri files the corpus could not include
	// (SOURCE.txt "unresolved local references"): component name → uri.
	MissingManifests map[string]string
}

var (
	kindLine   = regexp.MustCompile(`(?m)^kind:\s*(\w+)`)
	parentLine = regexp.MustCompile(`(?m)^\s*- parent \{.*"id": "([^"]+)"`)
	missingURI = regexp.MustCompile(`(?m)^\s*- (?:kubernetes|openshift)\.uri (\S+) \(component (\S+)\)`)
)

// CorpusDir is <module root>/testdata/corpus/dev (a copy of ../shared/corpus/dev kept in the
// repository so tests run on a clean checkout), or $DEVTOOL_CORPUS. Missing: the test is
// skipped, or fails under $DEVTOOL_REQUIRE_TESTENV=1.
func CorpusDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("DEVTOOL_CORPUS"); d != "" {
		return d
	}
	if root, err := ModuleRoot(); err == nil {
		d := filepath.Join(root, "testdata", "corpus", "dev")
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return d
		}
	}
	if Required() {
		t.Fatal("devfile corpus testdata/corpus/dev not found (set DEVTOOL_CORPUS)")
	}
	t.Skip("devfile corpus testdata/corpus/dev not found (set DEVTOOL_CORPUS)")
	return ""
}

// Corpus lists every case of CorpusDir, in directory order.
func Corpus(t testing.TB) []CorpusCase {
	t.Helper()
	root := CorpusDir(t)
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var cases []CorpusCase
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		src, err := os.ReadFile(filepath.Join(root, e.Name(), "SOURCE.txt"))
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		c := CorpusCase{Name: e.Name(), Dir: filepath.Join(root, e.Name())}
		if m := kindLine.FindSubmatch(src); m != nil {
			c.Kind = string(m[1])
		}
		if m := parentLine.FindSubmatch(src); m != nil {
			c.RegistryParent = string(m[1])
		}
		for _, m := range missingURI.FindAllSubmatch(src, -1) {
			if c.MissingManifests == nil {
				c.MissingManifests = map[string]string{}
			}
			c.MissingManifests[string(m[2])] = string(m[1])
		}
		cases = append(cases, c)
	}
	if len(cases) == 0 {
		t.Fatal("empty corpus")
	}
	return cases
}

// CopyProject copies a corpus case (without SOURCE.txt) into a new temporary project
// directory and returns it: tests never write into the corpus.
func CopyProject(t testing.TB, c CorpusCase) string {
	t.Helper()
	dst := CopyTree(t, c.Dir, t.TempDir())
	if err := os.Remove(filepath.Join(dst, "SOURCE.txt")); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return dst
}

// CopyTree copies the directories and regular files under src into dst (created if needed),
// keeping permission bits and adding the owner's write bit so tests can edit the copies, and
// returns dst. Other file types (symlinks, devices) are skipped.
func CopyTree(t testing.TB, src, dst string) string {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, info.Mode().Perm()|0o200)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// WriteStandInManifests writes, for each of c.MissingManifests, a ConfigMap named
// stand-in-<component> at the uri inside project dir.
func WriteStandInManifests(t testing.TB, c CorpusCase, dir string) {
	t.Helper()
	for comp, uri := range c.MissingManifests {
		p := filepath.Join(dir, uri)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		standIn := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stand-in-" + strings.ToLower(comp) + "\ndata:\n  uri: \"" + uri + "\"\n"
		if err := os.WriteFile(p, []byte(standIn), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
