package devfile

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/devtool/devtool/pkg/remote"
	"github.com/devtool/devtool/test/testenv"
)

// dirState is every path under dir with its mode, size and modification time: what "nothing
// was written" compares.
func dirState(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, fmt.Sprintf("%s %s %d %s", rel, info.Mode(), info.Size(), info.ModTime()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLoadRegistryParents loads every corpus case whose parent lives in a registry against the
// loopback devfile registry (as a --registry-url mirror of registry.devfile.io): the parent's
// components and commands are merged in, nothing is written to the project or the working
// directory, and after stopping the registry the same load works offline from the cache and
// fails fast online, naming the registry.
func TestLoadRegistryParents(t *testing.T) {
	reg := testenv.StartDevfileRegistry(t, testenv.CorpusStacks(t))
	cache := t.TempDir()
	var cases []testenv.CorpusCase
	for _, c := range testenv.Corpus(t) { // before Chdir: the corpus is found from the module root
		if c.RegistryParent != "" {
			cases = append(cases, c)
		}
	}
	cwd := t.TempDir()
	t.Chdir(cwd)
	if len(cases) < 5 {
		t.Fatalf("%d corpus cases with registry parents, want ≥ 5", len(cases))
	}
	online := LoadOptions{Remote: remote.New(remote.Options{CacheDir: cache}), RegistryURL: reg.URL}
	offline := LoadOptions{Remote: remote.New(remote.Options{CacheDir: cache, Offline: true}), RegistryURL: reg.URL}
	projects := map[string]string{}
	want := map[string]*Devfile{}
	for _, c := range cases {
		dir := testenv.CopyProject(t, c) // the offline subtests below load it again
		projects[c.Name] = dir
		t.Run(c.Name, func(t *testing.T) {
			before, beforeCwd := dirState(t, dir), dirState(t, cwd)
			d, err := Load(context.Background(), dir, online)
			if err != nil {
				t.Fatal(err)
			}
			want[c.Name] = d
			if diff := cmp.Diff(before, dirState(t, dir)); diff != "" {
				t.Errorf("project directory changed:\n%s", diff)
			}
			if diff := cmp.Diff(beforeCwd, dirState(t, cwd)); diff != "" {
				t.Errorf("working directory changed:\n%s", diff)
			}
			if _, ok := d.Command("deploy"); !ok {
				// Every registry parent in the corpus provides or the child adds a deploy command.
				var ids []string
				for _, cmd := range d.Commands {
					ids = append(ids, cmd.ID)
				}
				t.Errorf("no deploy command after merging the parent; commands %v", ids)
			}
			var kinds []string
			for _, comp := range d.Components {
				kinds = append(kinds, string(comp.Kind))
			}
			if !strings.Contains(strings.Join(kinds, " "), "container") {
				t.Errorf("parent's container component missing: kinds %v", kinds)
			}
		})
	}
	reg.Stop()
	for _, c := range cases {
		t.Run("offline/"+c.Name, func(t *testing.T) {
			d, err := Load(context.Background(), projects[c.Name], offline)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want[c.Name], d); diff != "" {
				t.Errorf("offline load differs (-online +offline):\n%s", diff)
			}
			start := time.Now()
			_, err = Load(context.Background(), projects[c.Name], online)
			if err == nil || !strings.Contains(err.Error(), "devfile registry "+reg.URL) {
				t.Errorf("stopped registry: %v; want an error naming the registry", err)
			}
			if d := time.Since(start); d > 30*time.Second {
				t.Errorf("stopped registry: took %s", d)
			}
		})
	}
}

// TestLoadRemoteParentResources: a registry parent's relative manifest uri that the project
// lacks is read from the stack's copy in the cache, while a file the project has wins (odo
// copies stack files without overwriting); a uri parent's relative uris resolve against its URL.
func TestLoadRemoteParentResources(t *testing.T) {
	reg := testenv.StartDevfileRegistry(t, testenv.CorpusStacks(t))
	cache := t.TempDir()
	opts := LoadOptions{Remote: remote.New(remote.Options{CacheDir: cache})}
	proj := t.TempDir()
	write(t, proj, "devfile.yaml", "schemaVersion: 2.2.0\nmetadata: {name: p}\nparent: {id: python, version: 3.0.0, registryUrl: '"+reg.URL+"'}\n")
	d, err := Load(context.Background(), proj, opts)
	if err != nil {
		t.Fatal(err)
	}
	stack := filepath.Join(testenv.CorpusDir(t), "devfile-samples+devfile-sample-python-basic__devfile.yaml@v2.0.0", "_parent", "python-3.0.0")
	wantYAML, _ := os.ReadFile(filepath.Join(stack, "kubernetes", "deploy.yaml"))
	var m *Manifest
	for _, c := range d.Components {
		if c.Manifest != nil {
			m = c.Manifest
		}
	}
	if m == nil || m.Content != string(wantYAML) || !strings.HasPrefix(m.Source, cache) {
		t.Fatalf("stack manifest: %+v; want the stack's kubernetes/deploy.yaml from the cache %s", m, cache)
	}
	write(t, proj, "kubernetes/deploy.yaml", "kind: ConfigMap\n")
	if d, err = Load(context.Background(), proj, opts); err != nil {
		t.Fatal(err)
	}
	for _, c := range d.Components {
		if c.Manifest != nil && c.Manifest.Content != "kind: ConfigMap\n" {
			t.Errorf("project file did not win: source %s", c.Manifest.Source)
		}
	}

	// A uri parent on a plain HTTP server, with a manifest next to it.
	site := t.TempDir()
	write(t, site, "stacks/base.yaml", `schemaVersion: 2.2.0
metadata: {name: base}
components:
  - name: k8s
    kubernetes: {uri: manifests/cm.yaml}
commands:
  - id: deploy
    apply: {component: k8s, group: {kind: deploy, isDefault: true}}
`)
	write(t, site, "stacks/manifests/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-url}\n")
	srv := testenv.StartFileServer(t, site)
	proj2 := t.TempDir()
	write(t, proj2, "devfile.yaml", "schemaVersion: 2.2.0\nmetadata: {name: child}\nparent: {uri: '"+srv+"/stacks/base.yaml'}\n")
	before := dirState(t, proj2)
	d, err = Load(context.Background(), proj2, opts)
	if err != nil {
		t.Fatal(err)
	}
	k8s, ok := d.Component("k8s")
	if !ok || k8s.Manifest.Source != srv+"/stacks/manifests/cm.yaml" || !strings.Contains(k8s.Manifest.Content, "from-url") {
		t.Errorf("uri parent manifest: %+v", k8s)
	}
	if diff := cmp.Diff(before, dirState(t, proj2)); diff != "" {
		t.Errorf("project changed:\n%s", diff)
	}
}

// TestLoadRemoteErrors: unreachable and unsupported remote references fail with one message
// naming what the user wrote, quickly.
func TestLoadRemoteErrors(t *testing.T) {
	hole := testenv.StartBlackHole(t)
	big := testenv.StartOversizeServer(t)
	opts := LoadOptions{Remote: remote.New(remote.Options{CacheDir: t.TempDir(), Timeout: 2 * time.Second, MaxSize: 64 << 10})}
	for _, tc := range []struct {
		name, parent string
		want         []string
	}{
		{"black hole uri", "parent: {uri: '" + hole + "/p.yaml'}", []string{"parent.uri", hole + "/p.yaml", "no complete response within 2s"}},
		{"oversize uri", "parent: {uri: '" + big + "/p.yaml'}", []string{big + "/p.yaml", "larger than"}},
		{"black hole registry", "parent: {id: nodejs, registryUrl: '" + hole + "'}", []string{"devfile registry " + hole, `stack "nodejs"`, "--offline"}},
		{"kubernetes", "parent: {kubernetes: {name: tmpl, namespace: ns}}", []string{"parent.kubernetes", `"tmpl"`, "does not read DevWorkspaceTemplates"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proj := t.TempDir()
			write(t, proj, "devfile.yaml", "schemaVersion: 2.2.0\nmetadata: {name: x}\n"+tc.parent+"\n")
			start := time.Now()
			_, err := Load(context.Background(), proj, opts)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %s", d)
			}
		})
	}
}

// TestLoadRemoteDockerfiles fetches Dockerfiles from an http(s) uri, the loopback git server
// and the loopback devfile registry into the cache (Dockerfile.Fetched); a changed source gives
// a new fetched path, the project is left alone.
func TestLoadRemoteDockerfiles(t *testing.T) {
	site := t.TempDir()
	write(t, site, "Dockerfile", "FROM from-uri\n")
	srv := testenv.StartFileServer(t, site)
	gs := testenv.StartGitServer(t)
	gs.Commit(t, "app.git", "main", map[string]string{"build/Dockerfile": "FROM from-git\n"})
	stackDir := t.TempDir()
	write(t, stackDir, "devfile.yaml", "schemaVersion: 2.2.0\nmetadata: {name: s}\ncomponents:\n  - name: img\n    image: {imageName: s, dockerfile: {uri: docker/Dockerfile}}\n")
	write(t, stackDir, "docker/Dockerfile", "FROM from-registry\n")
	reg := testenv.StartDevfileRegistry(t, []testenv.DevfileStack{{Name: "builder", Version: "1.0.0", Dir: stackDir}})
	cache := t.TempDir()
	opts := LoadOptions{Remote: remote.New(remote.Options{CacheDir: cache})}
	proj := t.TempDir()
	write(t, proj, "devfile.yaml", `schemaVersion: 2.2.0
metadata: {name: r}
components:
  - name: a
    image: {imageName: a, dockerfile: {uri: '`+srv+`/Dockerfile'}}
  - name: b
    image:
      imageName: b
      dockerfile:
        git: {remotes: {origin: '`+gs.URL+`/app.git'}, checkoutFrom: {revision: main}, fileLocation: build/Dockerfile}
  - name: c
    image: {imageName: c, dockerfile: {devfileRegistry: {id: builder, registryUrl: '`+reg.URL+`'}}}
`)
	before := dirState(t, proj)
	load := func() map[string]*Dockerfile {
		t.Helper()
		d, err := Load(context.Background(), proj, opts)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]*Dockerfile{}
		for _, c := range d.Components {
			out[c.Name] = c.Image.Dockerfile
		}
		return out
	}
	got := load()
	for name, want := range map[string]string{"a": "FROM from-uri\n", "b": "FROM from-git\n", "c": "FROM from-registry\n"} {
		df := got[name]
		b, err := os.ReadFile(df.Fetched)
		if err != nil || string(b) != want || !strings.HasPrefix(df.Fetched, cache) {
			t.Errorf("%s: fetched %s (%q, %v); want %q in the cache", name, df.Fetched, b, err, want)
		}
	}
	if got["b"].Remote != "git "+gs.URL+"/app.git" || got["c"].Remote != "registry builder" || got["a"].Remote != "uri "+srv+"/Dockerfile" {
		t.Errorf("remotes: %q %q %q", got["a"].Remote, got["b"].Remote, got["c"].Remote)
	}
	write(t, site, "Dockerfile", "FROM from-uri\nENV V=2\n")
	gs.Commit(t, "app.git", "main", map[string]string{"build/Dockerfile": "FROM from-git\nENV V=2\n"})
	again := load()
	if again["a"].Fetched == got["a"].Fetched || again["b"].Fetched == got["b"].Fetched {
		t.Errorf("a changed remote Dockerfile kept its fetched path: %s, %s", again["a"].Fetched, again["b"].Fetched)
	}
	if again["c"].Fetched != got["c"].Fetched {
		t.Errorf("an unchanged Dockerfile got a new path")
	}
	if diff := cmp.Diff(before, dirState(t, proj)); diff != "" {
		t.Errorf("project changed:\n%s", diff)
	}
}
