package remote_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	registryLibrary "github.com/devfile/registry-support/registry-library/library"
	"github.com/google/go-cmp/cmp"

	"github.com/devtool/devtool/pkg/remote"
	"github.com/devtool/devtool/test/testenv"
)

func stackByName(t *testing.T, name, version string) testenv.DevfileStack {
	t.Helper()
	for _, s := range testenv.CorpusStacks(t) {
		if s.Name == name && s.Version == version {
			return s
		}
	}
	t.Fatalf("corpus has no stack %s %s", name, version)
	return testenv.DevfileStack{}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestStack fetches corpus stacks from the loopback devfile registry: by exact version, the
// default (highest, no version) and "latest"; the devfile is the REST API's and the resources
// come from the OCI artifact; unknown stacks and versions fail naming the registry and what
// exists.
func TestStack(t *testing.T) {
	stacks := testenv.CorpusStacks(t)
	reg := testenv.StartDevfileRegistry(t, stacks)
	c := remote.New(remote.Options{CacheDir: t.TempDir()})
	py3 := stackByName(t, "python", "3.0.0")
	for _, tc := range []struct{ version, want string }{{"3.0.0", "3.0.0"}, {"2.1.0", "2.1.0"}, {"", "3.0.0"}, {"latest", "3.0.0"}} {
		t.Run("python@"+tc.version, func(t *testing.T) {
			st, err := c.Stack(context.Background(), reg.URL, "python", tc.version)
			if err != nil {
				t.Fatal(err)
			}
			if st.Version != tc.want {
				t.Errorf("version %s, want %s", st.Version, tc.want)
			}
			src := stackByName(t, "python", tc.want)
			if diff := cmp.Diff(readFile(t, filepath.Join(src.Dir, "devfile.yaml")), string(st.Devfile)); diff != "" {
				t.Errorf("devfile differs (-want +got):\n%s", diff)
			}
		})
	}
	st, err := c.Stack(context.Background(), reg.URL, "python", "3.0.0")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(readFile(t, filepath.Join(py3.Dir, "kubernetes", "deploy.yaml")), readFile(t, filepath.Join(st.Dir, "kubernetes", "deploy.yaml"))); diff != "" {
		t.Errorf("resource kubernetes/deploy.yaml differs (-want +got):\n%s", diff)
	}
	for _, tc := range []struct {
		id, version string
		want        []string
	}{
		{"python", "9.9.9", []string{reg.URL, `no version 9.9.9`, "available: 2.1.0, 3.0.0"}},
		{"cobol", "", []string{reg.URL, `no stack "cobol"`, "nodejs"}},
	} {
		_, err := c.Stack(context.Background(), reg.URL, tc.id, tc.version)
		if err == nil {
			t.Fatalf("%s %s: no error", tc.id, tc.version)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s %s: error %q does not contain %q", tc.id, tc.version, err, w)
			}
		}
	}
}

// TestRegistryLibraryReadsTestRegistry checks the loopback registry against devfile/
// registry-support's own client (registry-library): its index (old and v2), its stack link
// and its OCI pull give what the corpus stack holds.
func TestRegistryLibraryReadsTestRegistry(t *testing.T) {
	reg := testenv.StartDevfileRegistry(t, testenv.CorpusStacks(t))
	idx, err := registryLibrary.GetRegistryIndex(reg.URL, registryLibrary.RegistryOptions{NewIndexSchema: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(idx) != 0 {
		t.Errorf("index with no type asked: %d entries, want 0 (the library asks for none)", len(idx))
	}
	idx, err = registryLibrary.GetRegistryIndex(reg.URL, registryLibrary.RegistryOptions{NewIndexSchema: true}, "stack")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range idx {
		names = append(names, s.Name)
	}
	if diff := cmp.Diff([]string{"java-springboot", "nodejs", "python"}, names); diff != "" {
		t.Errorf("v2index stacks (-want +got):\n%s", diff)
	}
	link, err := registryLibrary.GetStackLink(reg.URL, "python:2.1.0", registryLibrary.RegistryOptions{NewIndexSchema: true})
	if err != nil {
		t.Fatal(err)
	}
	if link != "devfile-catalog/python:2.1.0" {
		t.Errorf("stack link %q", link)
	}
	old, err := registryLibrary.GetRegistryIndex(reg.URL, registryLibrary.RegistryOptions{}, "stack")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range old {
		if s.Name == "python" && s.Version != "3.0.0" {
			t.Errorf("/index: python default version %s, want 3.0.0", s.Version)
		}
	}
	dest := t.TempDir()
	if err := registryLibrary.PullStackFromRegistry(reg.URL, "python:3.0.0", dest, registryLibrary.RegistryOptions{NewIndexSchema: true}); err != nil {
		t.Fatal(err)
	}
	src := stackByName(t, "python", "3.0.0")
	for _, f := range []string{"devfile.yaml", "kubernetes/deploy.yaml"} {
		if diff := cmp.Diff(readFile(t, filepath.Join(src.Dir, f)), readFile(t, filepath.Join(dest, f))); diff != "" {
			t.Errorf("registry-library pulled %s differently (-want +got):\n%s", f, diff)
		}
	}
}

// TestStackOffline: after one online fetch the stack comes from the cache with the registry
// stopped; without the cache (or online with the registry stopped) the error names the
// registry and fails fast.
func TestStackOffline(t *testing.T) {
	reg := testenv.StartDevfileRegistry(t, testenv.CorpusStacks(t))
	cache := t.TempDir()
	online := remote.New(remote.Options{CacheDir: cache})
	want, err := online.Stack(context.Background(), reg.URL, "nodejs", "2.2.0")
	if err != nil {
		t.Fatal(err)
	}
	reg.Stop()
	start := time.Now()
	_, err = online.Stack(context.Background(), reg.URL, "nodejs", "2.2.0")
	if err == nil || !strings.Contains(err.Error(), "devfile registry "+reg.URL) || !strings.Contains(err.Error(), "--offline") {
		t.Errorf("stopped registry: error %v; want one naming the registry and --offline", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("stopped registry: failed after %s", d)
	}
	offline := remote.New(remote.Options{CacheDir: cache, Offline: true})
	got, err := offline.Stack(context.Background(), reg.URL, "nodejs", "2.2.0")
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Devfile) != string(want.Devfile) || got.Version != "2.2.0" {
		t.Errorf("offline stack differs: version %s", got.Version)
	}
	_, err = offline.Stack(context.Background(), reg.URL, "python", "3.0.0")
	var re *remote.Error
	if !errors.As(err, &re) || !re.Offline || !strings.Contains(err.Error(), "not in the cache") {
		t.Errorf("offline cache miss: %v", err)
	}
}

// TestGet covers the HTTP client's limits against real loopback servers.
func TestGet(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.yaml"), []byte("kind: ConfigMap\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	files := testenv.StartFileServer(t, dir)
	var flaky atomic.Int64
	flakySrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if flaky.Add(1) < 3 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(flakySrv.Close)
	hole := testenv.StartBlackHole(t)
	big := testenv.StartOversizeServer(t)
	c := remote.New(remote.Options{Timeout: 500 * time.Millisecond, MaxSize: 1 << 20, Backoff: 10 * time.Millisecond})

	b, err := c.Get(context.Background(), "manifest uri", files+"/a.yaml", "")
	if err != nil || string(b) != "kind: ConfigMap\n" {
		t.Errorf("file server: %q, %v", b, err)
	}
	b, err = c.Get(context.Background(), "x", flakySrv.URL, "")
	if err != nil || string(b) != "ok" || flaky.Load() != 3 {
		t.Errorf("503 twice then 200: %q, %v after %d requests; want ok after 3", b, err, flaky.Load())
	}

	for _, tc := range []struct {
		name, url string
		as        any
		want      string
	}{
		{"404", files + "/missing.yaml", new(*remote.StatusError), "HTTP 404"},
		{"black hole", hole + "/x.yaml", new(*remote.TimeoutError), "no complete response within 500ms"},
		{"oversize", big + "/x.yaml", new(*remote.SizeError), "larger than the 1048576-byte limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := c.Get(context.Background(), "manifest uri", tc.url, "")
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.As(err, tc.as) {
				t.Errorf("error %T %v is not %T", err, err, tc.as)
			}
			for _, w := range []string{tc.want, tc.url, "manifest uri"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %s", d)
			}
		})
	}

	// A cancelled context ends a hanging request at once.
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	slow := remote.New(remote.Options{Timeout: time.Minute})
	if _, err := slow.Get(ctx, "x", hole, ""); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// TestGitFile clones from the loopback git server (git-http-backend): default branch, branch,
// tag and commit hash; a missing file and a missing revision fail naming the repository; no
// clone is left in TMPDIR; offline reads the cached copy.
func TestGitFile(t *testing.T) {
	gs := testenv.StartGitServer(t)
	first := gs.Commit(t, "app.git", "main", map[string]string{"Dockerfile": "FROM one\n", "build/Dockerfile": "FROM nested\n"})
	gs.Tag(t, "app.git", "v1", first)
	gs.Commit(t, "app.git", "main", map[string]string{"Dockerfile": "FROM two\n"})
	gs.Commit(t, "app.git", "dev", map[string]string{"Dockerfile": "FROM dev\n"})
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	cache := t.TempDir()
	c := remote.New(remote.Options{CacheDir: cache})
	repo := gs.URL + "/app.git"
	for _, tc := range []struct{ rev, file, want string }{
		{"", "", "FROM two\n"},
		{"main", "Dockerfile", "FROM two\n"},
		{"dev", "", "FROM dev\n"},
		{"v1", "", "FROM one\n"},
		{first, "build/Dockerfile", "FROM nested\n"},
	} {
		b, err := c.GitFile(context.Background(), repo, tc.rev, tc.file)
		if err != nil {
			t.Errorf("rev %q file %q: %v", tc.rev, tc.file, err)
			continue
		}
		if string(b) != tc.want {
			t.Errorf("rev %q file %q: %q, want %q", tc.rev, tc.file, b, tc.want)
		}
	}
	for _, tc := range []struct{ rev, file, want string }{
		{"main", "nope/Dockerfile", "no file nope/Dockerfile"},
		{"no-such-branch", "", `no branch or tag "no-such-branch"`},
	} {
		_, err := c.GitFile(context.Background(), repo, tc.rev, tc.file)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "git repository "+repo) {
			t.Errorf("rev %q file %q: %v; want %q naming the repository", tc.rev, tc.file, err, tc.want)
		}
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("clones left in TMPDIR: %v", left)
	}
	off := remote.New(remote.Options{CacheDir: cache, Offline: true})
	if b, err := off.GitFile(context.Background(), repo, "dev", ""); err != nil || string(b) != "FROM dev\n" {
		t.Errorf("offline: %q, %v", b, err)
	}
}

// TestStackConcurrent: concurrent fetches of one stack into one cache all succeed (two image
// components may name the same devfileRegistry stack).
func TestStackConcurrent(t *testing.T) {
	reg := testenv.StartDevfileRegistry(t, testenv.CorpusStacks(t))
	c := remote.New(remote.Options{CacheDir: t.TempDir()})
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			st, err := c.Stack(context.Background(), reg.URL, "python", "3.0.0")
			if err == nil {
				_, err = os.Stat(filepath.Join(st.Dir, "kubernetes", "deploy.yaml"))
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// TestRedact: credentials in URLs never reach a message.
func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"https://registry.devfile.io/devfiles":               "https://registry.devfile.io/devfiles",
		"https://bob:s3cret@git.example/r.git":               "https://bob:xxxxx@git.example/r.git",
		"https://ghp_token@github.com/o/r.git":               "https://xxxxx@github.com/o/r.git",
		`Get "http://u:p@127.0.0.1:1/x": connection refused`: `Get "http://u:xxxxx@127.0.0.1:1/x": connection refused`,
		"no url here": "no url here",
		"two http://a:b@h1/x and https://c:d@h2 end": "two http://a:xxxxx@h1/x and https://c:xxxxx@h2 end",
	} {
		if got := remote.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
	hole := testenv.StartBlackHole(t)
	u := strings.Replace(hole, "http://", "http://user:topsecret@", 1) + "/p.yaml"
	c := remote.New(remote.Options{Timeout: 200 * time.Millisecond})
	_, err := c.Get(context.Background(), "parent uri", u, "")
	if err == nil || strings.Contains(err.Error(), "topsecret") {
		t.Errorf("error %v shows the password", err)
	}
}
