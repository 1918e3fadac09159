package cli

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/devtool/devtool/pkg/build"
	"github.com/devtool/devtool/test/testenv"
)

// TestBuildRemoteDockerfiles builds (native builder, pushed to a loopback OCI registry) an
// image from a Dockerfile on a plain HTTP server (dockerfile.uri), one in a repository on the
// loopback git server (dockerfile.git) and one from a stack of the loopback devfile registry
// (dockerfile.devfileRegistry). Each builds; changing each remote Dockerfile changes its
// input-digest tag and leaves the others' alone; a second build of unchanged inputs reuses the
// pushed tags (cached).
func TestBuildRemoteDockerfiles(t *testing.T) {
	if _, err := os.Stat(testenv.BusyboxBin); err != nil {
		if testenv.Required() {
			t.Fatalf("%s=1 but %s is missing (apt-get install busybox-static)", testenv.EnvRequire, testenv.BusyboxBin)
		}
		t.Skipf("%s is missing: apt-get install busybox-static (the base image of the test builds)", testenv.BusyboxBin)
	}
	host := testenv.StartRegistry(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	base, err := testenv.PushBusybox(ctx, host)
	if err != nil {
		t.Fatalf("PushBusybox: %v", err)
	}
	dockerfile := func(v string) string { return "FROM " + base + "\nCOPY app.txt /app.txt\nENV V=" + v + "\n" }

	site := t.TempDir()
	writeTestFile(t, filepath.Join(site, "Dockerfile"), dockerfile("uri-1"))
	srv := testenv.StartFileServer(t, site)
	gs := testenv.StartGitServer(t)
	gs.Commit(t, "app.git", "main", map[string]string{"docker/Dockerfile": dockerfile("git-1")})
	stack := t.TempDir()
	writeTestFile(t, filepath.Join(stack, "devfile.yaml"), "schemaVersion: 2.2.0\nmetadata: {name: s}\n")
	writeTestFile(t, filepath.Join(stack, "Dockerfile"), dockerfile("reg-1"))
	reg := testenv.StartDevfileRegistry(t, []testenv.DevfileStack{{Name: "builder", Version: "1.0.0", Dir: stack}})

	proj := t.TempDir()
	// The context is app/, not the project: devfile.yaml (edited below when the registry moves)
	// would otherwise be part of every input digest.
	writeTestFile(t, filepath.Join(proj, "app", "app.txt"), "hello\n")
	writeTestFile(t, filepath.Join(proj, "devfile.yaml"), `schemaVersion: 2.2.0
metadata: {name: remote}
components:
  - name: from-uri
    image: {imageName: from-uri, dockerfile: {uri: '`+srv+`/Dockerfile', buildContext: app}}
  - name: from-git
    image:
      imageName: from-git
      dockerfile:
        buildContext: app
        git: {remotes: {origin: '`+gs.URL+`/app.git'}, checkoutFrom: {revision: main}, fileLocation: docker/Dockerfile}
  - name: from-registry
    image: {imageName: from-registry, dockerfile: {devfileRegistry: {id: builder, registryUrl: '`+reg.URL+`'}, buildContext: app}}
`)
	env := map[string]string{"DEVTOOL_CACHE_DIR": t.TempDir()}
	buildAll := func() map[string]build.Result {
		t.Helper()
		stdout, stderr, err := runCLIEnv(t, ctx, env, "build", "--devfile", proj, "--builder", "native", "--push", "--image-registry", host+"/t", "-o", "json")
		if err != nil {
			t.Fatalf("build: %v\nstderr: %s", err, stderr)
		}
		var rep struct{ Images []build.Result }
		if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
			t.Fatalf("build report: %v\n%s", err, stdout)
		}
		out := map[string]build.Result{}
		for _, im := range rep.Images {
			out[im.Name] = im
		}
		if len(out) != 3 {
			t.Fatalf("built %d images, want 3: %s", len(out), stdout)
		}
		return out
	}
	first := buildAll()
	for name, r := range first {
		if r.Cached || r.Digest == "" {
			t.Errorf("%s: %+v; want a fresh pushed build", name, r)
		}
	}
	again := buildAll()
	for name, r := range again {
		if !r.Cached || r.Tag != first[name].Tag {
			t.Errorf("%s unchanged: %+v; want the cached tag %s", name, r, first[name].Tag)
		}
	}
	changes := []struct {
		name   string
		change func()
	}{
		{"from-uri", func() { writeTestFile(t, filepath.Join(site, "Dockerfile"), dockerfile("uri-2")) }},
		{"from-git", func() { gs.Commit(t, "app.git", "main", map[string]string{"docker/Dockerfile": dockerfile("git-2")}) }},
		{"from-registry", func() {
			writeTestFile(t, filepath.Join(stack, "Dockerfile"), dockerfile("reg-2"))
			reg.Stop()
			// A registry serves what it was started with: restart it (new port, below).
			reg = testenv.StartDevfileRegistry(t, []testenv.DevfileStack{{Name: "builder", Version: "1.0.0", Dir: stack}})
		}},
	}
	prev := first
	for _, ch := range changes {
		oldURL := reg.URL
		ch.change()
		if reg.URL != oldURL {
			b, _ := os.ReadFile(filepath.Join(proj, "devfile.yaml"))
			writeTestFile(t, filepath.Join(proj, "devfile.yaml"), strings.ReplaceAll(string(b), oldURL, reg.URL))
		}
		got := buildAll()
		for name, r := range got {
			changed := r.Tag != prev[name].Tag
			if changed != (name == ch.name) {
				t.Errorf("after changing %s's Dockerfile: %s tag %s → %s (changed %v)", ch.name, name, prev[name].Tag, r.Tag, changed)
			}
			if name == ch.name && r.Cached {
				t.Errorf("%s: changed Dockerfile was not rebuilt", name)
			}
		}
		prev = got
	}
}

func writeTestFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRenderTemplatedManifestURIOffline: a kubernetes uri that needs variables is read after
// substitution through the same client as the devfile (pkg/run), so after one online render
// `render --offline` gives the same output with the server gone, while an online render fails
// naming the URL.
func TestRenderTemplatedManifestURIOffline(t *testing.T) {
	site := t.TempDir()
	writeTestFile(t, filepath.Join(site, "cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-http}\ndata: {k: v}\n")
	srv := httptest.NewServer(http.FileServer(http.Dir(site)))
	defer srv.Close()
	proj := t.TempDir()
	writeTestFile(t, filepath.Join(proj, "devfile.yaml"), `schemaVersion: 2.2.0
metadata: {name: tmpl}
variables: {site: '`+srv.URL+`'}
components:
  - name: k8s
    kubernetes: {uri: '{{site}}/cm.yaml'}
commands:
  - id: deploy
    apply: {component: k8s, group: {kind: deploy, isDefault: true}}
`)
	env := map[string]string{"DEVTOOL_CACHE_DIR": t.TempDir()}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	online, stderr, err := runCLIEnv(t, ctx, env, "render", "--devfile", proj)
	if err != nil || !strings.Contains(online, "name: from-http") {
		t.Fatalf("render: %v\n%s\nstderr: %s", err, online, stderr)
	}
	srv.Close()
	offline, stderr, err := runCLIEnv(t, ctx, env, "render", "--devfile", proj, "--offline")
	if err != nil {
		t.Fatalf("render --offline: %v\nstderr: %s", err, stderr)
	}
	if online != offline {
		t.Errorf("offline render differs:\n%s\nvs\n%s", online, offline)
	}
	_, _, err = runCLIEnv(t, ctx, env, "render", "--devfile", proj)
	if err == nil || !strings.Contains(err.Error(), srv.URL+"/cm.yaml") {
		t.Errorf("render with the server gone: %v; want an error naming the URL", err)
	}
}

// TestRegistryURLChecked: a --registry-url or DEVTOOL_REGISTRY_URL that is not an http(s) URL
// is a usage error naming where it came from, before anything is loaded or fetched.
func TestRegistryURLChecked(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{}, []string{"--registry-url", "registry.devfile.io"}, `--registry-url "registry.devfile.io": must be an http(s) URL`},
		{map[string]string{"DEVTOOL_REGISTRY_URL": "ftp://mirror"}, nil, `DEVTOOL_REGISTRY_URL "ftp://mirror": must be an http(s) URL`},
	} {
		_, _, err := runCLIEnv(t, context.Background(), tc.env, append([]string{"validate", "--devfile", "/nonexistent"}, tc.args...)...)
		if code, exit := Classify(err); exit != ExitInvalid || code != "Usage" {
			t.Errorf("%v: %s/%d (%v), want a usage error", tc.args, code, exit, err)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
	}
}
