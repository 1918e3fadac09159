package native

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	golog "log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/devtool/devtool/pkg/build"
	"github.com/devtool/devtool/test/testenv"
)

// registryWithBusybox starts an in-process registry and pushes the busybox base image to it.
func registryWithBusybox(t testing.TB) (host, base string) {
	t.Helper()
	host = testenv.StartRegistry(t)
	base, err := testenv.PushBusybox(context.Background(), host)
	if err != nil {
		t.Fatalf("PushBusybox: %v", err)
	}
	return host, base
}

// file is a test file: content and mode (0644 when zero). A name ending in "/" is a directory.
type file struct {
	content string
	mode    os.FileMode
}

// writeTree writes files under dir with exact modes (independent of the umask).
func writeTree(t testing.TB, dir string, files map[string]file) {
	t.Helper()
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		f := files[n]
		p := filepath.Join(dir, filepath.FromSlash(n))
		if strings.HasSuffix(n, "/") {
			mode := f.mode
			if mode == 0 {
				mode = 0o755
			}
			if err := os.MkdirAll(p, mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, mode); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := f.mode
		if mode == 0 {
			mode = 0o644
		}
		if err := os.WriteFile(p, []byte(f.content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
}

// project writes a build context with a Dockerfile and returns the request for it.
func project(t testing.TB, dockerfile string, files map[string]file) build.Request {
	t.Helper()
	dir := t.TempDir()
	writeTree(t, dir, files)
	df := filepath.Join(dir, "Dockerfile")
	if err := os.WriteFile(df, []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	return build.Request{Name: "test", ContextDir: dir, Dockerfile: df}
}

func runBuild(t testing.TB, b *Builder, req build.Request) (build.Result, string, error) {
	t.Helper()
	var log bytes.Buffer
	res, err := b.Build(context.Background(), req, &log)
	return res, log.String(), err
}

func mustBuild(t testing.TB, b *Builder, req build.Request) (build.Result, string) {
	t.Helper()
	res, log, err := runBuild(t, b, req)
	if err != nil {
		t.Fatalf("Build: %v\nlog:\n%s", err, log)
	}
	return res, log
}

func pull(t testing.TB, ref string) v1.Image {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r)
	if err != nil {
		t.Fatalf("pulling %s: %v", ref, err)
	}
	return img
}

// tarEntry is what the tests check of a layer's tar entry.
type tarEntry struct {
	Type    byte
	Mode    int64
	UID     int
	GID     int
	Link    string
	Content string
}

// layerEntries lists a layer's tar entries and checks the reproducibility rules every entry
// must follow: epoch mtime, no user/group names, sorted names.
func layerEntries(t testing.TB, l v1.Layer) map[string]tarEntry {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	out := map[string]tarEntry{}
	prev := ""
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if !h.ModTime.Equal(time.Unix(0, 0)) {
			t.Errorf("%s: mtime %v, want the epoch", h.Name, h.ModTime)
		}
		if h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: uname %q gname %q, want none", h.Name, h.Uname, h.Gname)
		}
		if h.Name < prev {
			t.Errorf("tar entries not sorted: %s after %s", h.Name, prev)
		}
		prev = h.Name
		e := tarEntry{Type: h.Typeflag, Mode: h.Mode, UID: h.Uid, GID: h.Gid, Link: h.Linkname}
		if h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			e.Content = string(b)
		}
		out[h.Name] = e
	}
}

func layers(t testing.TB, img v1.Image) []v1.Layer {
	t.Helper()
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

func configOf(t testing.TB, img v1.Image) *v1.ConfigFile {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	return cf
}

func dir(mode int64, uid, gid int) tarEntry {
	return tarEntry{Type: tar.TypeDir, Mode: mode, UID: uid, GID: gid}
}

func reg(mode int64, uid, gid int, content string) tarEntry {
	return tarEntry{Type: tar.TypeReg, Mode: mode, UID: uid, GID: gid, Content: content}
}

// TestHelloSample builds testdata/samples/hello natively, pushes it and checks the pushed
// image's config and layers.
func TestHelloSample(t *testing.T) {
	host, base := registryWithBusybox(t)
	sample, err := filepath.Abs("../../../testdata/samples/hello")
	if err != nil {
		t.Fatal(err)
	}
	req := build.Request{
		Name:       "hello",
		ContextDir: sample,
		Dockerfile: filepath.Join(sample, "Dockerfile"),
		Args:       []string{"BASE_IMAGE=" + base},
		Repository: host + "/hello",
		Tag:        "v1",
		Push:       true,
	}
	res, log := mustBuild(t, New(), req)

	want := build.Result{Name: "hello", Repository: host + "/hello", Tag: "v1", Digest: res.Digest, Builder: "native"}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("Result (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(res.Digest, "sha256:") {
		t.Errorf("Digest = %q, want sha256:…", res.Digest)
	}
	for _, line := range []string{
		"STEP 2/9: FROM ${BASE_IMAGE}\n",
		"STEP 4/9: COPY www/ ./\n",
		"pushing " + host + "/hello:v1\n",
		"pushed " + host + "/hello:v1@" + res.Digest + "\n",
	} {
		if !strings.Contains(log, line) {
			t.Errorf("log lacks %q:\n%s", line, log)
		}
	}

	img := pull(t, host+"/hello:v1")
	if d, err := img.Digest(); err != nil || d.String() != res.Digest {
		t.Fatalf("pushed digest %v (%v), Result.Digest %s", d, err, res.Digest)
	}
	cf := configOf(t, img)
	wantCfg := v1.Config{
		Cmd:          []string{"/bin/sh", "/usr/local/bin/serve.sh"},
		Env:          []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "PORT=8080"},
		User:         "65534",
		WorkingDir:   "/srv/www",
		ExposedPorts: map[string]struct{}{"8080/tcp": {}},
	}
	if diff := cmp.Diff(wantCfg, cf.Config); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
		t.Errorf("platform %s/%s", cf.OS, cf.Architecture)
	}
	if !cf.Created.Time.Equal(time.Unix(0, 0)) {
		t.Errorf("Created = %v, want the epoch", cf.Created)
	}

	ls := layers(t, img)
	if len(ls) != 4 { // busybox, WORKDIR, COPY www/, COPY serve.sh
		t.Fatalf("%d layers, want 4", len(ls))
	}
	index, err := os.ReadFile(filepath.Join(sample, "www", "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	serve, err := os.ReadFile(filepath.Join(sample, "serve.sh"))
	if err != nil {
		t.Fatal(err)
	}
	fileMode := func(p string) int64 {
		fi, err := os.Stat(filepath.Join(sample, p))
		if err != nil {
			t.Fatal(err)
		}
		return int64(fi.Mode().Perm())
	}
	wantLayers := []map[string]tarEntry{
		{"srv/": dir(0o755, 0, 0), "srv/www/": dir(0o755, 0, 0)},
		{"srv/www/index.html": reg(fileMode("www/index.html"), 0, 0, string(index))},
		{
			// /usr exists in busybox: only the missing directories are in the layer.
			"usr/local/":             dir(0o755, 0, 0),
			"usr/local/bin/":         dir(0o755, 0, 0),
			"usr/local/bin/serve.sh": reg(fileMode("serve.sh"), 0, 0, string(serve)),
		},
	}
	for i, want := range wantLayers {
		if diff := cmp.Diff(want, layerEntries(t, ls[i+1])); diff != "" {
			t.Errorf("layer %d (-want +got):\n%s", i+1, diff)
		}
	}
	wantHistory := []string{"WORKDIR /srv/www", "COPY www/ ./", "COPY serve.sh /usr/local/bin/serve.sh", "ENV PORT=8080", "EXPOSE 8080", "USER 65534", `CMD ["/bin/sh", "/usr/local/bin/serve.sh"]`}
	var gotHistory []string
	for _, h := range cf.History[1:] {
		gotHistory = append(gotHistory, h.CreatedBy)
	}
	if diff := cmp.Diff(wantHistory, gotHistory); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
}

// TestCopyLayers checks COPY's layer contents: .dockerignore with "!" exceptions, --chown,
// --chmod, wildcards, directory sources, destinations with and without a trailing slash.
func TestCopyLayers(t *testing.T) {
	_, base := registryWithBusybox(t)
	files := map[string]file{
		".dockerignore":          {content: "app/secret.env\napp/logs\n!app/logs/important.log\n*.md\n"},
		"app/":                   {mode: 0o755},
		"app/index.html":         {content: "<h1>hi</h1>"},
		"app/secret.env":         {content: "TOKEN=x"},
		"app/keep/":              {mode: 0o750},
		"app/keep/x.txt":         {content: "x", mode: 0o600},
		"app/logs/":              {mode: 0o755},
		"app/logs/debug.log":     {content: "noise"},
		"app/logs/important.log": {content: "keep me"},
		"run.sh":                 {content: "#!/bin/sh\n", mode: 0o755},
		"a.txt":                  {content: "a"},
		"b.txt":                  {content: "b"},
		"README.md":              {content: "ignored"},
		"conf":                   {content: "c"},
	}
	tests := []struct {
		name string
		copy string
		want map[string]tarEntry
	}{{
		name: "directory with dockerignore and chown",
		copy: "COPY --chown=1000:1001 app/ /srv/app/",
		want: map[string]tarEntry{
			"srv/":                       dir(0o755, 1000, 1001),
			"srv/app/":                   dir(0o755, 1000, 1001),
			"srv/app/index.html":         reg(0o644, 1000, 1001, "<h1>hi</h1>"),
			"srv/app/keep/":              dir(0o750, 1000, 1001),
			"srv/app/keep/x.txt":         reg(0o600, 1000, 1001, "x"),
			"srv/app/logs/":              dir(0o755, 1000, 1001),
			"srv/app/logs/important.log": reg(0o644, 1000, 1001, "keep me"),
		},
	}, {
		name: "file into new directory with chmod",
		copy: "COPY --chmod=0700 run.sh /usr/local/bin/",
		want: map[string]tarEntry{
			"usr/local/":           dir(0o755, 0, 0),
			"usr/local/bin/":       dir(0o755, 0, 0),
			"usr/local/bin/run.sh": reg(0o700, 0, 0, "#!/bin/sh\n"),
		},
	}, {
		name: "file to a new name",
		copy: "COPY run.sh /bin/start",
		want: map[string]tarEntry{"bin/start": reg(0o755, 0, 0, "#!/bin/sh\n")},
	}, {
		name: "file into an existing directory without trailing slash",
		copy: "COPY conf /etc",
		want: map[string]tarEntry{"etc/conf": reg(0o644, 0, 0, "c")},
	}, {
		name: "ADD of a plain local file",
		copy: "ADD --chown=5 conf /etc/conf.d/",
		want: map[string]tarEntry{
			"etc/conf.d/":     dir(0o755, 5, 5),
			"etc/conf.d/conf": reg(0o644, 5, 5, "c"),
		},
	}, {
		name: "wildcard",
		copy: "COPY *.txt /txt/",
		want: map[string]tarEntry{
			"txt/":      dir(0o755, 0, 0),
			"txt/a.txt": reg(0o644, 0, 0, "a"),
			"txt/b.txt": reg(0o644, 0, 0, "b"),
		},
	}, {
		name: "context root, relative destination, chown by name",
		copy: "WORKDIR /ctx\nCOPY --chown=root:root . .",
		want: map[string]tarEntry{
			"ctx/.dockerignore":          reg(0o644, 0, 0, "app/secret.env\napp/logs\n!app/logs/important.log\n*.md\n"),
			"ctx/Dockerfile":             reg(0o644, 0, 0, ""), // content checked below
			"ctx/a.txt":                  reg(0o644, 0, 0, "a"),
			"ctx/app/":                   dir(0o755, 0, 0),
			"ctx/app/index.html":         reg(0o644, 0, 0, "<h1>hi</h1>"),
			"ctx/app/keep/":              dir(0o750, 0, 0),
			"ctx/app/keep/x.txt":         reg(0o600, 0, 0, "x"),
			"ctx/app/logs/":              dir(0o755, 0, 0),
			"ctx/app/logs/important.log": reg(0o644, 0, 0, "keep me"),
			"ctx/b.txt":                  reg(0o644, 0, 0, "b"),
			"ctx/conf":                   reg(0o644, 0, 0, "c"),
			"ctx/run.sh":                 reg(0o755, 0, 0, "#!/bin/sh\n"),
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dockerfile := "FROM " + base + "\n" + tt.copy + "\n"
			req := project(t, dockerfile, files)
			if e, ok := tt.want["ctx/Dockerfile"]; ok {
				e.Content = dockerfile
				tt.want["ctx/Dockerfile"] = e
			}
			b := New()
			res, _ := mustBuild(t, b, req)
			// Build without Push; push the same request to inspect what the registry gets.
			req.Repository, req.Tag, req.Push = strings.SplitN(base, "/", 2)[0]+"/copy", "t", true
			pushed, _ := mustBuild(t, b, req)
			if pushed.Digest != res.Digest {
				t.Errorf("digest without push %s, pushed %s", res.Digest, pushed.Digest)
			}
			ls := layers(t, pull(t, req.Repository+"@"+pushed.Digest))
			got := layerEntries(t, ls[len(ls)-1])
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("last layer (-want +got):\n%s", diff)
			}
		})
	}
}

// TestConfig checks the instructions that only change the image config, and ARG/ENV
// expansion.
func TestConfig(t *testing.T) {
	_, base := registryWithBusybox(t)
	t.Setenv("FROM_ENV", "from-the-environment") // not read: a bare build arg is unset
	tests := []struct {
		name       string
		dockerfile string
		args       []string
		want       v1.Config
		wantAuthor string
	}{{
		name: "ARG before FROM with the base as build arg",
		dockerfile: `ARG BASE_IMAGE=example.invalid/none:latest
FROM ${BASE_IMAGE}
ARG BASE_IMAGE
ENV BASE=$BASE_IMAGE
`,
		args: []string{"BASE_IMAGE=" + base},
		want: v1.Config{
			Cmd: []string{"/bin/sh"},
			Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "BASE=" + base},
		},
	}, {
		name: "ARG default, stage scope, ENV over ARG, bare build arg unset",
		dockerfile: `ARG GLOBAL=global-default
ARG BASE
FROM $BASE
ARG LOCAL=local-default
ARG X=from-arg
ARG FROM_ENV
ENV X=from-env
ENV A="${GLOBAL:-not-redeclared}" B=$LOCAL C=${X} D=${UNSET:-fallback} E=$FROM_ENV PATH=/app:$PATH
`,
		args: []string{"BASE=" + base, "FROM_ENV", "LOCAL=from-build-arg", "LOCAL"},
		want: v1.Config{
			Cmd: []string{"/bin/sh"},
			Env: []string{"PATH=/app:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "X=from-env",
				"A=not-redeclared", "B=local-default", "C=from-env", "D=fallback", "E="},
		},
	}, {
		name: "WORKDIR ENV EXPOSE USER CMD ENTRYPOINT LABEL STOPSIGNAL VOLUME HEALTHCHECK",
		dockerfile: `FROM ` + base + `
ENV APP=/opt/app PORT=8080
WORKDIR $APP
WORKDIR bin
LABEL org.opencontainers.image.title="my app" version=1.0
LABEL path=$APP
EXPOSE $PORT 53/udp 9000-9001
USER 1000:1000
ENTRYPOINT ["/opt/app/bin/server", "--port", "8080"]
CMD ["--verbose"]
STOPSIGNAL SIGQUIT
VOLUME ["/data", "/cache"]
HEALTHCHECK --interval=5s --retries=3 CMD wget -q -O- http://localhost:8080/ || exit 1
MAINTAINER someone@example.com
`,
		want: v1.Config{
			Entrypoint:   []string{"/opt/app/bin/server", "--port", "8080"},
			Cmd:          []string{"--verbose"},
			Env:          []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "APP=/opt/app", "PORT=8080"},
			WorkingDir:   "/opt/app/bin",
			Labels:       map[string]string{"org.opencontainers.image.title": "my app", "version": "1.0", "path": "/opt/app"},
			ExposedPorts: map[string]struct{}{"8080/tcp": {}, "53/udp": {}, "9000/tcp": {}, "9001/tcp": {}},
			User:         "1000:1000",
			StopSignal:   "SIGQUIT",
			Volumes:      map[string]struct{}{"/data": {}, "/cache": {}},
			Healthcheck: &v1.HealthConfig{
				Test:     []string{"CMD-SHELL", "wget -q -O- http://localhost:8080/ || exit 1"},
				Interval: 5 * time.Second,
				Retries:  3,
			},
		},
		wantAuthor: "someone@example.com",
	}, {
		name: "shell form with SHELL; ENTRYPOINT resets the inherited CMD",
		dockerfile: `FROM ` + base + `
SHELL ["/bin/ash", "-eo", "pipefail", "-c"]
ENTRYPOINT exec /bin/server --flag "$HOME"
`,
		want: v1.Config{
			Entrypoint: []string{"/bin/ash", "-eo", "pipefail", "-c", `exec /bin/server --flag "$HOME"`},
			Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			Shell:      []string{"/bin/ash", "-eo", "pipefail", "-c"},
		},
	}, {
		name: "shell-form CMD",
		dockerfile: `FROM ` + base + `
CMD echo "hello $NAME"
`,
		want: v1.Config{
			Cmd: []string{"/bin/sh", "-c", `echo "hello $NAME"`},
			Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := project(t, tt.dockerfile, nil)
			req.Args = tt.args
			host := strings.SplitN(base, "/", 2)[0]
			req.Repository, req.Push = host+"/config", true
			res, _ := mustBuild(t, New(), req)
			if res.Tag != "latest" {
				t.Errorf("Tag = %q, want latest", res.Tag)
			}
			cf := configOf(t, pull(t, host+"/config:latest"))
			if diff := cmp.Diff(tt.want, cf.Config); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
			if cf.Author != tt.wantAuthor {
				t.Errorf("Author = %q, want %q", cf.Author, tt.wantAuthor)
			}
		})
	}
}

// TestWorkdirOwnedByUser: WORKDIR creates missing directories owned by USER (buildkit),
// and creates nothing when the directory exists.
func TestWorkdirOwnedByUser(t *testing.T) {
	host, base := registryWithBusybox(t)
	req := project(t, "FROM "+base+"\nUSER 1000\nWORKDIR /home/app\nWORKDIR /tmp\n", nil)
	req.Repository, req.Push = host+"/wd", true
	res, _ := mustBuild(t, New(), req)
	img := pull(t, req.Repository+"@"+res.Digest)
	ls := layers(t, img)
	if len(ls) != 2 {
		t.Fatalf("%d layers, want 2 (busybox + WORKDIR /home/app)", len(ls))
	}
	want := map[string]tarEntry{"home/": dir(0o755, 1000, 1000), "home/app/": dir(0o755, 1000, 1000)}
	if diff := cmp.Diff(want, layerEntries(t, ls[1])); diff != "" {
		t.Errorf("WORKDIR layer (-want +got):\n%s", diff)
	}
	cf := configOf(t, img)
	var empty []bool
	for _, h := range cf.History[1:] {
		empty = append(empty, h.EmptyLayer)
	}
	if diff := cmp.Diff([]bool{true, false, true}, empty); diff != "" {
		t.Errorf("history EmptyLayer (-want +got):\n%s", diff)
	}
}

// TestReproducible: the same inputs give the same digest, whatever the files' mtimes, the
// context's location or the Builder instance; a changed file changes it.
func TestReproducible(t *testing.T) {
	host, base := registryWithBusybox(t)
	dockerfile := "ARG BASE\nFROM $BASE\nWORKDIR /app\nCOPY . .\nCOPY --chown=10:20 data/ /data/\nENV A=1\nCMD [\"/app/run.sh\"]\n"
	files := map[string]file{
		"run.sh":     {content: "#!/bin/sh\necho hi\n", mode: 0o755},
		"data/":      {},
		"data/x.txt": {content: "x"},
		"data/sub/":  {},
		"data/sub/y": {content: "y"},
	}
	req1 := project(t, dockerfile, files)
	req1.Args = []string{"BASE=" + base}
	req2 := project(t, dockerfile, files) // another directory
	req2.Args = req1.Args

	r1, _ := mustBuild(t, New(), req1)
	// Different mtimes on every file.
	later := time.Now().Add(time.Hour)
	if err := filepath.Walk(req2.ContextDir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chtimes(p, later, later)
	}); err != nil {
		t.Fatal(err)
	}
	r2, _ := mustBuild(t, New(), req2)
	req2.Repository, req2.Tag, req2.Push = host+"/repro", "a", true
	r3, _ := mustBuild(t, New(), req2)
	if r1.Digest != r2.Digest || r2.Digest != r3.Digest {
		t.Errorf("digests differ for the same inputs: %s, %s, %s (pushed)", r1.Digest, r2.Digest, r3.Digest)
	}

	if err := os.WriteFile(filepath.Join(req2.ContextDir, "data", "x.txt"), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	r4, _ := mustBuild(t, New(), req2)
	if r4.Digest == r1.Digest {
		t.Errorf("digest %s unchanged after a file changed", r4.Digest)
	}
	req2.Args = append(req2.Args, "SOURCE_DATE_EPOCH=1700000000")
	r5, _ := mustBuild(t, New(), req2)
	if r5.Digest == r4.Digest {
		t.Errorf("digest %s unchanged after SOURCE_DATE_EPOCH changed", r5.Digest)
	}
	cf := configOf(t, pull(t, req2.Repository+"@"+r5.Digest))
	if want := time.Unix(1700000000, 0); !cf.Created.Time.Equal(want) {
		t.Errorf("Created = %v, want %v", cf.Created.Time, want)
	}
}

// TestFromScratch builds an image with no base: an OCI image with one layer.
func TestFromScratch(t *testing.T) {
	host := testenv.StartRegistry(t)
	req := project(t, "FROM scratch\nCOPY hello.txt /\nCMD [\"/hello.txt\"]\n", map[string]file{"hello.txt": {content: "hello"}})
	req.Repository, req.Tag, req.Push = host+"/scratch", "v1", true
	res, _ := mustBuild(t, New(), req)
	img := pull(t, host+"/scratch:v1")
	mt, err := img.MediaType()
	if err != nil || mt != types.OCIManifestSchema1 {
		t.Errorf("media type %s (%v), want %s", mt, err, types.OCIManifestSchema1)
	}
	cf := configOf(t, img)
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
		t.Errorf("platform %s/%s, want linux/%s", cf.OS, cf.Architecture, runtime.GOARCH)
	}
	if diff := cmp.Diff([]string{"/hello.txt"}, cf.Config.Cmd); diff != "" {
		t.Errorf("Cmd (-want +got):\n%s", diff)
	}
	ls := layers(t, img)
	if len(ls) != 1 {
		t.Fatalf("%d layers, want 1", len(ls))
	}
	if diff := cmp.Diff(map[string]tarEntry{"hello.txt": reg(0o644, 0, 0, "hello")}, layerEntries(t, ls[0])); diff != "" {
		t.Errorf("layer (-want +got):\n%s", diff)
	}
	if d, _ := img.Digest(); d.String() != res.Digest {
		t.Errorf("pushed %s, Result.Digest %s", d, res.Digest)
	}
}

// TestPlatforms builds two platforms into an index; TARGETARCH follows the platform.
func TestPlatforms(t *testing.T) {
	host := testenv.StartRegistry(t)
	req := project(t, "FROM scratch\nARG TARGETARCH\nENV ARCH=$TARGETARCH\nCOPY f /f\n", map[string]file{"f": {content: "f"}})
	req.Platforms = []string{"linux/amd64", "linux/arm64"}
	req.Repository, req.Push = host+"/multi", true
	res, log := mustBuild(t, New(), req)
	if !strings.Contains(log, "[linux/arm64] STEP 4/4: COPY f /f") {
		t.Errorf("log lacks the arm64 step:\n%s", log)
	}
	r, err := name.ParseReference(host + "/multi:latest")
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(r)
	if err != nil {
		t.Fatalf("pulling the index: %v", err)
	}
	if d, _ := idx.Digest(); d.String() != res.Digest {
		t.Errorf("index digest %s, Result.Digest %s", d, res.Digest)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range im.Manifests {
		img, err := idx.Image(m.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf := configOf(t, img)
		got = append(got, fmt.Sprintf("%s %s/%s %v", m.Platform, cf.OS, cf.Architecture, cf.Config.Env))
	}
	want := []string{"linux/amd64 linux/amd64 [ARCH=amd64]", "linux/arm64 linux/arm64 [ARCH=arm64]"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("index manifests (-want +got):\n%s", diff)
	}
}

// TestPlatformsFromBaseIndex builds two platforms from a two-platform base index (issue 9,
// item 4): each platform's image starts from that platform's base manifest (its layer digests
// and architecture), the Dockerfile's ENV, LABEL and COPY apply to both, the pushed index lists
// both platforms, and the Result digest is the index's.
func TestPlatformsFromBaseIndex(t *testing.T) {
	host := testenv.StartRegistry(t)
	base, err := testenv.PushBusyboxIndex(context.Background(), host, "linux/amd64", "linux/arm64/v8")
	if err != nil {
		t.Fatalf("PushBusyboxIndex: %v", err)
	}
	req := project(t, "FROM "+base+"\nARG TARGETARCH\nENV ARCH=$TARGETARCH\nLABEL org.example.app=hello\nCOPY f /srv/f\n", map[string]file{"f": {content: "hello"}})
	req.Platforms = []string{"linux/arm64/v8", "linux/amd64"}
	req.Repository, req.Tag, req.Push = host+"/multi", "v1", true
	res, log := mustBuild(t, New(), req)
	for _, p := range []string{"linux/amd64", "linux/arm64/v8"} {
		if !strings.Contains(log, "["+p+"] base image "+base+"@sha256:") {
			t.Errorf("log does not show the %s base manifest:\n%s", p, log)
		}
	}

	r, err := name.ParseReference(host + "/multi:v1")
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(r)
	if err != nil {
		t.Fatalf("pulling the index: %v", err)
	}
	if d, _ := idx.Digest(); d.String() != res.Digest {
		t.Errorf("index digest %s, Result.Digest %s", d, res.Digest)
	}
	baseRef, err := name.ParseReference(base)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range im.Manifests {
		img, err := idx.Image(m.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf := configOf(t, img)
		got = append(got, fmt.Sprintf("%s config=%s/%s/%s env=%v labels=%v", m.Platform, cf.OS, cf.Architecture, cf.Variant, cf.Config.Env, cf.Config.Labels))

		// The image extends that platform's base image: the base's layer, then the COPY layer.
		baseImg, err := remote.Image(baseRef, remote.WithPlatform(*m.Platform))
		if err != nil {
			t.Fatal(err)
		}
		bl, il := layers(t, baseImg), layers(t, img)
		if len(il) != len(bl)+1 {
			t.Fatalf("%s: %d layers, want the base's %d + 1", m.Platform, len(il), len(bl))
		}
		for i := range bl {
			bd, _ := bl[i].Digest()
			id, _ := il[i].Digest()
			if bd != id {
				t.Errorf("%s: layer %d is %s, want the base's %s", m.Platform, i, id, bd)
			}
		}
		if diff := cmp.Diff(map[string]tarEntry{"srv/": dir(0o755, 0, 0), "srv/f": reg(0o644, 0, 0, "hello")}, layerEntries(t, il[len(il)-1])); diff != "" {
			t.Errorf("%s: COPY layer (-want +got):\n%s", m.Platform, diff)
		}
	}
	path := "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	want := []string{
		"linux/arm64/v8 config=linux/arm64/v8 env=[" + path + " ARCH=arm64] labels=map[org.example.app:hello]",
		"linux/amd64 config=linux/amd64/ env=[" + path + " ARCH=amd64] labels=map[org.example.app:hello]",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("index manifests, in --platform order (-want +got):\n%s", diff)
	}
}

// TestPlatformMissingFromBase: a base index without a requested platform is an error naming
// the base, the platform and the platforms the base has; a single-platform base asked for
// another platform names both; nothing is pushed.
func TestPlatformMissingFromBase(t *testing.T) {
	host := testenv.StartRegistry(t)
	base, err := testenv.PushBusyboxIndex(context.Background(), host, "linux/amd64", "linux/arm64")
	if err != nil {
		t.Fatalf("PushBusyboxIndex: %v", err)
	}
	req := project(t, "FROM "+base+"\nENV A=1\n", nil)
	req.Platforms = []string{"linux/amd64", "linux/s390x"}
	req.Repository, req.Push = host+"/missing", true
	_, log, err := runBuild(t, New(), req)
	if err == nil {
		t.Fatalf("Build succeeded, want an error\nlog:\n%s", log)
	}
	want := fmt.Sprintf("image %q: Dockerfile %s line 1: FROM %s: the base image index has no linux/s390x image (it has linux/amd64, linux/arm64); use a base image built for linux/s390x, or leave linux/s390x out of the requested platforms",
		"test", req.Dockerfile, base)
	if got := err.Error(); got != want {
		t.Errorf("error:\n got %s\nwant %s", got, want)
	}
	r, _ := name.ParseReference(host + "/missing:latest")
	if _, err := remote.Head(r); err == nil {
		t.Errorf("%s was pushed despite the error", r)
	}

	// A single-platform base (an image, not an index) serves its own platform only.
	single, err := testenv.PushBusybox(context.Background(), host)
	if err != nil {
		t.Fatal(err)
	}
	other := "linux/arm64"
	if runtime.GOARCH == "arm64" {
		other = "linux/amd64"
	}
	req = project(t, "FROM "+single+"\nENV A=1\n", nil)
	req.Platforms = []string{"linux/" + runtime.GOARCH, other}
	req.Repository, req.Push = host+"/missing", true
	_, log, err = runBuild(t, New(), req)
	if err == nil {
		t.Fatalf("Build from a single-platform base succeeded, want an error\nlog:\n%s", log)
	}
	want = fmt.Sprintf("image %q: Dockerfile %s line 1: FROM %s: the base image is linux/%s, not %s", "test", req.Dockerfile, single, runtime.GOARCH, other)
	if got := err.Error(); got != want {
		t.Errorf("single-platform base:\n got %s\nwant %s", got, want)
	}
	if _, err := remote.Head(r); err == nil {
		t.Errorf("%s was pushed despite the error", r)
	}
}

// TestErrors checks that failures name the image, the Dockerfile, the line and the cause.
func TestErrors(t *testing.T) {
	host, base := registryWithBusybox(t)
	tests := []struct {
		name        string
		dockerfile  string
		files       map[string]file
		args        []string
		wantLine    int
		wantMsg     string // after `image "test": Dockerfile <path> line N: `; <ctx> is the context dir
		unsupported bool
	}{{
		name:        "RUN",
		dockerfile:  "FROM " + base + "\nENV A=1\n\nRUN echo hi\n",
		wantLine:    4,
		wantMsg:     "RUN needs a container engine",
		unsupported: true,
	}, {
		name:       "missing COPY source",
		dockerfile: "FROM " + base + "\nWORKDIR /srv\nCOPY www/ /srv/www/\n",
		wantLine:   3,
		wantMsg:    "COPY www/: no such file or directory in the build context <ctx>",
	}, {
		name:       "COPY source excluded by .dockerignore",
		dockerfile: "FROM " + base + "\nCOPY secret.env /\n",
		files:      map[string]file{".dockerignore": {content: "*.env\n"}, "secret.env": {content: "x"}},
		wantLine:   2,
		wantMsg:    "COPY secret.env: no such file or directory in the build context <ctx> (excluded by .dockerignore)",
	}, {
		name:       "missing base image",
		dockerfile: "ARG BASE=" + host + "/nope/missing:1.0\nFROM $BASE\n",
		wantLine:   2,
		wantMsg:    "FROM " + host + "/nope/missing:1.0: image not found in registry " + host + ": ",
	}, {
		name:       "unreachable registry",
		dockerfile: "FROM 127.0.0.1:1/base:1\n",
		wantLine:   1,
		wantMsg:    "FROM 127.0.0.1:1/base:1: cannot reach registry 127.0.0.1:1: ",
	}, {
		name:       "base platform mismatch",
		dockerfile: "FROM --platform=linux/s390x " + base + "\n",
		wantLine:   1,
		wantMsg:    "FROM " + base + ": the base image is linux/" + runtime.GOARCH + ", not linux/s390x",
	}, {
		name:        "ADD of a local archive",
		dockerfile:  "FROM " + base + "\nADD a.tar.gz /\n",
		files:       map[string]file{"a.tar.gz": {content: "\x1f\x8b\x08\x00rest"}},
		wantLine:    2,
		wantMsg:     "ADD a.tar.gz: extracting a local archive is not supported by the native builder; use COPY to copy it as is, or a container engine",
		unsupported: true,
	}, {
		name:       "unknown --chown user",
		dockerfile: "FROM " + base + "\nCOPY f /f\nCOPY --chown=www f /g\n",
		files:      map[string]file{"f": {content: "f"}},
		wantLine:   3,
		wantMsg:    `COPY --chown=www: user "www" not found in the image's /etc/passwd (use a numeric uid)`,
	}, {
		name:        "multi-stage",
		dockerfile:  "FROM " + base + " AS a\nFROM " + base + "\nCOPY --from=a /x /x\n",
		wantLine:    2,
		wantMsg:     "multi-stage build (second FROM) needs a container engine",
		unsupported: true,
	}, {
		name:       "empty FROM after expansion",
		dockerfile: "ARG BASE\nFROM ${BASE}\n",
		wantLine:   2,
		wantMsg:    "FROM ${BASE}: the image reference is empty (is the build arg set?)",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := project(t, tt.dockerfile, tt.files)
			req.Args = tt.args
			_, log, err := runBuild(t, New(), req)
			if err == nil {
				t.Fatalf("Build succeeded, want an error\nlog:\n%s", log)
			}
			t.Logf("error: %v", err)
			var be *Error
			if !errors.As(err, &be) {
				t.Fatalf("error %T %v, want *native.Error", err, err)
			}
			if be.Line != tt.wantLine {
				t.Errorf("Line = %d, want %d (%v)", be.Line, tt.wantLine, err)
			}
			prefix := fmt.Sprintf("image %q: Dockerfile %s line %d: ", "test", req.Dockerfile, tt.wantLine)
			want := prefix + strings.ReplaceAll(tt.wantMsg, "<ctx>", req.ContextDir)
			if got := err.Error(); got != want && !(strings.HasSuffix(want, ": ") && strings.HasPrefix(got, want)) {
				t.Errorf("error:\n got %s\nwant %s", got, want)
			}
			if got := errors.Is(err, ErrUnsupported); got != tt.unsupported {
				t.Errorf("errors.Is(err, ErrUnsupported) = %v, want %v", got, tt.unsupported)
			}
		})
	}
}

func TestSupports(t *testing.T) {
	tests := []struct {
		name       string
		dockerfile string
		wantOK     bool
		wantReason string
	}{
		{"config and copies", "ARG B=busybox\nFROM $B AS app\nWORKDIR /a\nCOPY --chown=1:1 --chmod=0644 . .\nADD f /f\nENV A=1\nLABEL a=b\nEXPOSE 80\nUSER 1\nCMD x\nENTRYPOINT [\"y\"]\nSTOPSIGNAL 9\nHEALTHCHECK CMD true\nVOLUME /v\nSHELL [\"/bin/sh\", \"-c\"]\n", true, "in-process, the Dockerfile needs no RUN"},
		{"RUN", "FROM busybox\nCOPY a /a\n\nRUN make\n", false, "line 4: RUN needs a container engine"},
		{"multi-stage", "FROM busybox AS a\nFROM busybox\n", false, "line 2: multi-stage build (second FROM) needs a container engine"},
		{"COPY --from", "FROM busybox\nCOPY --from=other /a /a\n", false, "line 2: COPY --from needs a multi-stage build or another image; use a container engine"},
		{"ONBUILD", "FROM busybox\nONBUILD COPY . /app\n", false, "line 2: ONBUILD is not supported by the native builder"},
		{"ADD URL", "FROM busybox\nADD https://example.com/x /x\n", false, "line 2: ADD https://example.com/x: remote sources (URLs, git) are not supported by the native builder"},
		{"here-document", "FROM busybox\nCOPY <<EOF /a\nhello\nEOF\n", false, "line 2: COPY with a here-document is not supported by the native builder"},
		{"unsupported flag", "FROM busybox\nCOPY --parents a/b /x/\n", false, "line 2: COPY --parents is not supported by the native builder"},
		{"unknown instruction", "FROM busybox\nFROBNICATE x\n", false, "line 2: unknown instruction FROBNICATE"},
		{"ENV before FROM", "ENV A=1\nFROM busybox\n", false, "line 1: ENV before FROM: only ARG may come before the first FROM"},
		{"no FROM", "ARG A=1\n", false, "no FROM instruction"},
		{"parse error", "FROM busybox\nCMD [\"a\", 1]\n", false, "line 2: parsing Dockerfile: "},
		{"empty", "# nothing\n", false, "line 1: parsing Dockerfile: file with no instructions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, reason := Supports([]byte(tt.dockerfile))
			if ok != tt.wantOK {
				t.Errorf("ok = %v, want %v (reason %q)", ok, tt.wantOK, reason)
			}
			if reason != tt.wantReason && !(strings.HasSuffix(tt.wantReason, ": ") && strings.HasPrefix(reason, tt.wantReason)) {
				t.Errorf("reason:\n got %q\nwant %q", reason, tt.wantReason)
			}
		})
	}
}

// cancelTransport cancels a context on the first registry request it sees, then forwards it.
type cancelTransport struct {
	cancel context.CancelFunc
	inner  http.RoundTripper
}

func (c *cancelTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.cancel()
	return c.inner.RoundTrip(r)
}

func TestCancelled(t *testing.T) {
	host, base := registryWithBusybox(t)
	req := project(t, "FROM "+base+"\nCOPY f /f\n", map[string]file{"f": {content: "f"}})
	req.Repository, req.Push = host+"/cancel", true

	t.Run("before the build", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := New().Build(ctx, req, io.Discard)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v, want context.Canceled", err)
		}
	})
	t.Run("during a registry call", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		b := New(WithTransport(&cancelTransport{cancel: cancel, inner: http.DefaultTransport}))
		_, err := b.Build(ctx, req, io.Discard)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v, want context.Canceled", err)
		}
		if !strings.Contains(err.Error(), `image "test"`) {
			t.Errorf("error %q does not name the image", err)
		}
		r, err := name.ParseReference(host + "/cancel:latest")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := remote.Head(r); err == nil {
			t.Errorf("%s was pushed by a cancelled build", r)
		}
	})
}

// TestSymlinkSourceToExcludedFile: docker sends a symlink but not an excluded target, so
// COPY through the link must not copy what .dockerignore excludes (nor what the input digest
// does not hash).
func TestSymlinkSourceToExcludedFile(t *testing.T) {
	_, base := registryWithBusybox(t)
	tests := []struct {
		name, copy string
		exceptions bool
	}{
		{name: "file", copy: "COPY link /x"},
		{name: "directory", copy: "COPY linkdir/ /x/"},
		{name: "file through a linked directory", copy: "COPY linkdir/token /x"},
		{name: "file with exceptions in .dockerignore", copy: "COPY link /x", exceptions: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ignore := "secret.txt\nsecrets\n"
			if tt.exceptions {
				ignore += "!other\n"
			}
			req := project(t, "FROM "+base+"\n"+tt.copy+"\n", map[string]file{
				".dockerignore": {content: ignore},
				"secret.txt":    {content: "TOKEN"},
				"secrets/token": {content: "TOKEN"},
				"public/ok.txt": {content: "ok"},
			})
			for link, target := range map[string]string{"link": "secret.txt", "linkdir": "secrets"} {
				if err := os.Symlink(target, filepath.Join(req.ContextDir, link)); err != nil {
					t.Fatal(err)
				}
			}
			_, log, err := runBuild(t, New(), req)
			if err == nil || !errors.Is(err, errNotInContext) {
				t.Errorf("Build error = %v, want the excluded target reported missing\nlog:\n%s", err, log)
			}
		})
	}
	t.Run("kept target", func(t *testing.T) {
		req := project(t, "FROM "+base+"\nCOPY link /x\n", map[string]file{".dockerignore": {content: "secret.txt\n"}, "ok.txt": {content: "ok"}})
		if err := os.Symlink("ok.txt", filepath.Join(req.ContextDir, "link")); err != nil {
			t.Fatal(err)
		}
		mustBuild(t, New(), req)
	})
}

// TestInheritedShell: shell-form CMD and ENTRYPOINT use the SHELL of the base image when the
// Dockerfile sets none (docker, buildkit).
func TestInheritedShell(t *testing.T) {
	host, base := registryWithBusybox(t)
	img := pull(t, base)
	cf := configOf(t, img).DeepCopy()
	cf.Config.Shell = []string{"/bin/ash", "-eo", "pipefail", "-c"}
	withShell, err := mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	shellBase := host + "/shellbase:1"
	tag, err := name.NewTag(shellBase, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, withShell); err != nil {
		t.Fatal(err)
	}
	req := project(t, "FROM "+shellBase+"\nCMD echo hi\n", nil)
	req.Repository, req.Push = host+"/inherited", true
	res, _ := mustBuild(t, New(), req)
	got := configOf(t, pull(t, req.Repository+"@"+res.Digest)).Config.Cmd
	if diff := cmp.Diff([]string{"/bin/ash", "-eo", "pipefail", "-c", "echo hi"}, got); diff != "" {
		t.Errorf("Cmd (-want +got):\n%s", diff)
	}
}

// schemeRecorder records the URL schemes of the requests it sees and fails them all.
type schemeRecorder struct {
	mu      sync.Mutex
	schemes []string
}

func (r *schemeRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.schemes = append(r.schemes, req.URL.Scheme+"://"+req.URL.Host)
	r.mu.Unlock()
	return nil, errors.New("no network in this test")
}

// TestNoPlainHTTPToPrivateRegistries: ggcr falls back to plain HTTP for RFC 1918 addresses by
// itself; the native builder allows plain HTTP only for loopback registries (and those its
// RegistryPolicy lists, TestRegistryPolicy), also with WithTransport.
func TestNoPlainHTTPToPrivateRegistries(t *testing.T) {
	rec := &schemeRecorder{}
	req := project(t, "FROM 10.0.0.1:5000/base:1\n", nil)
	if _, _, err := runBuild(t, New(WithTransport(rec)), req); err == nil {
		t.Fatal("Build succeeded without a registry")
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.schemes) == 0 {
		t.Fatal("the transport saw no request")
	}
	for _, s := range rec.schemes {
		if strings.HasPrefix(s, "http://") {
			t.Errorf("plain HTTP request to %s", s)
		}
	}
}

func TestFSViewResolve(t *testing.T) {
	v := newFSView()
	v.add("usr", fsNode{typ: tar.TypeDir})
	v.add("usr/bin", fsNode{typ: tar.TypeDir})
	v.add("bin", fsNode{typ: tar.TypeSymlink, link: "usr/bin"})
	v.add("abs", fsNode{typ: tar.TypeSymlink, link: "/usr"})
	v.add("loop", fsNode{typ: tar.TypeSymlink, link: "loop"})
	v.add("usr/bin/sh", fsNode{typ: tar.TypeReg})
	tests := []struct {
		in     string
		want   string
		exists bool
	}{
		{"bin/sh", "usr/bin/sh", true},
		{"abs/bin", "usr/bin", true},
		{"bin/new/x", "usr/bin/new/x", false},
		{"usr/../bin", "usr/bin", true},
		{"loop/x", "loop/x", false},
		{"", "", true},
	}
	for _, tt := range tests {
		got, exists := v.resolve(tt.in)
		if got != tt.want || exists != tt.exists {
			t.Errorf("resolve(%q) = %q, %v; want %q, %v", tt.in, got, exists, tt.want, tt.exists)
		}
	}
	v.remove("usr")
	if _, ok := v.nodes["usr/bin/sh"]; ok {
		t.Errorf("remove(usr) left usr/bin/sh")
	}
}

// BenchmarkNativeBuild builds a small context (20 files) on busybox and pushes it to a loopback
// registry. The base image's file list is cached by the Builder after the first iteration.
func BenchmarkNativeBuild(b *testing.B) {
	host, base := registryWithBusybox(b)
	files := map[string]file{"static/": {}}
	for i := range 20 {
		files[fmt.Sprintf("static/f%02d.txt", i)] = file{content: strings.Repeat("x", 1024*i)}
	}
	req := project(b, "FROM "+base+"\nWORKDIR /srv\nCOPY static/ ./static/\nENV A=1\nCMD [\"/bin/sh\"]\n", files)
	req.Repository, req.Tag, req.Push = host+"/bench", "b", true
	bl := New()
	for b.Loop() {
		if _, err := bl.Build(context.Background(), req, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

// aliasTransport is a transport that dials to for every "host:port" in aliases, as if DNS
// resolved those names to a loopback registry.
func aliasTransport(aliases map[string]string) http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	var d net.Dialer
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if to, ok := aliases[addr]; ok {
			addr = to
		}
		return d.DialContext(ctx, network, addr)
	}
	return t
}

// TestRegistryPolicy: a plain-HTTP registry whose name is not loopback (here a name that maps
// to the loopback test registry) is reached for the base image and the push only when the
// RegistryPolicy marks it insecure; DEVTOOL_INSECURE_REGISTRIES is pkg/cli's to read.
func TestRegistryPolicy(t *testing.T) {
	host, base := registryWithBusybox(t)
	_, port, err := net.SplitHostPort(host)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(build.EnvInsecureRegistries, "registry.devtool.test,registry.devtool.local") // not read
	tests := []struct {
		name         string
		host         string // the registry's name, without port
		fromLoopback bool   // FROM the registry's loopback address: only the push uses the name
		policy       build.RegistryPolicy
		wantErr      string // "" for success
	}{
		{name: "no policy", host: "registry.devtool.test", wantErr: "server gave HTTP response to HTTPS client"},
		// ggcr falls back to plain HTTP for *.local by itself; the builder refuses it.
		{name: "no policy, ggcr's plain-HTTP fallback", host: "registry.devtool.local", wantErr: "refusing plain HTTP"},
		{name: "another registry listed", host: "registry.devtool.local", policy: build.RegistryPolicy{Insecure: []string{"other.devtool.local"}}, wantErr: "refusing plain HTTP"},
		{name: "listed", host: "registry.devtool.test", policy: build.RegistryPolicy{Insecure: []string{"registry.devtool.test"}}},
		{name: "listed with its port", host: "registry.devtool.test", policy: build.RegistryPolicy{Insecure: []string{"registry.devtool.test:" + port}}},
		{name: "listed, *.local", host: "registry.devtool.local", policy: build.RegistryPolicy{Insecure: []string{"registry.devtool.local"}}},
		{name: "push, no policy", host: "registry.devtool.local", fromLoopback: true, wantErr: "refusing plain HTTP"},
		{name: "push, listed", host: "registry.devtool.local", fromLoopback: true, policy: build.RegistryPolicy{Insecure: []string{"registry.devtool.local"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			alias := tc.host + ":" + port
			from := alias + strings.TrimPrefix(base, host)
			if tc.fromLoopback {
				from = base
			}
			req := project(t, "FROM "+from+"\nCOPY f /f\n", map[string]file{"f": {content: "f"}})
			req.Repository, req.Tag, req.Push = alias+"/policy", "v1", true
			b := New(WithTransport(aliasTransport(map[string]string{alias: host})), WithRegistryPolicy(tc.policy))
			res, log, err := runBuild(t, b, req)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Build error = %v, want one containing %q\nlog:\n%s", err, tc.wantErr, log)
				}
				want := "FROM " + alias
				if tc.fromLoopback {
					want = "pushing " + alias
				}
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
				t.Logf("error: %v", err)
				return
			}
			if err != nil {
				t.Fatalf("Build: %v\nlog:\n%s", err, log)
			}
			img := pull(t, host+"/policy:v1")
			d, err := img.Digest()
			if err != nil {
				t.Fatal(err)
			}
			if res.Digest != d.String() {
				t.Errorf("Result.Digest %s, the registry has %s", res.Digest, d)
			}
		})
	}
}

// TestInsecureRegistryOverTLS: a registry reached "insecurely" that speaks HTTPS with a
// certificate nobody trusts (here a loopback one; listed registries take the same path) is
// used without certificate verification, as build.RemoteRegistry does.
func TestInsecureRegistryOverTLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(registry.New(registry.Logger(golog.New(io.Discard, "", 0))))
	srv.Config.ErrorLog = golog.New(io.Discard, "", 0) // TLS handshakes the client gives up
	srv.StartTLS()
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "https://")
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	base, err := name.NewTag(host + "/base:1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(base, img, remote.WithTransport(srv.Client().Transport)); err != nil {
		t.Fatal(err)
	}
	req := project(t, "FROM "+base.String()+"\nENV A=1\n", nil)
	req.Repository, req.Push = host+"/tls", true
	res, out := mustBuild(t, New(), req)
	pushed, err := name.NewDigest(req.Repository + "@" + res.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := remote.Head(pushed, remote.WithTransport(srv.Client().Transport)); err != nil {
		t.Errorf("the registry does not have %s: %v\nlog:\n%s", pushed, err, out)
	}
}
