package s2i_test

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/devtool/devtool/pkg/build"
	"github.com/devtool/devtool/pkg/build/engine"
	"github.com/devtool/devtool/pkg/build/native"
	"github.com/devtool/devtool/pkg/build/s2i"
	"github.com/devtool/devtool/test/testenv"
)

// requireBuildah skips the test when buildah cannot run here, or fails it when
// DEVTOOL_REQUIRE_TESTENV=1 (`make test`; test/testenv/install-deps.sh installs buildah).
func requireBuildah(t *testing.T) {
	t.Helper()
	why := ""
	switch {
	case !engine.Available(context.Background(), engine.Buildah):
		why = "buildah is not available (apt-get install buildah, or test/testenv/install-deps.sh)"
	case os.Geteuid() != 0:
		why = "buildah tests run as root (rootless needs /etc/subuid entries)"
	}
	if why == "" {
		return
	}
	if os.Getenv(testenv.EnvRequire) == "1" {
		t.Fatalf("%s=1: %s", testenv.EnvRequire, why)
	}
	t.Skip(why)
}

// buildah returns buildah with storage private to the test.
func buildah(t *testing.T) build.Builder {
	dir := t.TempDir()
	return engine.New(engine.Buildah, engine.WithGlobalFlags(
		"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "run"), "--storage-driver", "vfs"))
}

func source(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, c := range files {
		p = filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(c), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// imageFiles pulls ref and returns the image (its config) and the content of the files under
// /opt/app-root/src, by name.
func imageFiles(t *testing.T, ref string) (*v1.ConfigFile, map[string]string) {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	files := map[string]string{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if rest, ok := strings.CutPrefix(h.Name, "opt/app-root/src/"); ok && h.Typeflag == tar.TypeReg {
			b, _ := io.ReadAll(tr)
			files[rest] = string(b)
		}
	}
	return cf, files
}

// TestBuildahIncremental: buildah builds the Dockerfile that s2i generates from a fake builder
// image in a loopback registry (labels read with go-containerregistry over plain HTTP, which
// s2i's own inspection cannot do), pushes it, and the image pulled back has the assemble
// script's output (ASSEMBLED, build-count 1, the sources), User 1001 and the run script as
// Cmd. A second, incremental build after a source change restores the artifacts that
// save-artifacts took from the first image (build-count 2, PREVIOUS 1), and :latest follows.
func TestBuildahIncremental(t *testing.T) {
	requireBuildah(t)
	ctx := context.Background()
	host := testenv.StartRegistry(t)
	builder, err := testenv.PushS2IBuilder(ctx, host, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := build.Cached(s2i.New(buildah(t)), build.RemoteRegistry(build.RegistryPolicy{}))
	src := source(t, map[string]string{"index.txt": "hello from s2i\n"})
	req := build.Request{
		Name: "app", ContextDir: src, Repository: host + "/out/s2i-app", Push: true,
		S2I: &build.S2I{BuilderImage: builder, Incremental: true},
	}
	var log strings.Builder
	first, err := b.Build(ctx, req, &log)
	if err != nil {
		t.Fatalf("first build: %v\n%s", err, log.String())
	}
	if first.Digest == "" || first.Cached || first.Builder != "s2i/buildah" {
		t.Fatalf("first build result %+v, want a pushed digest built by s2i/buildah", first)
	}
	if !strings.Contains(log.String(), "does not exist yet") {
		t.Errorf("first build log does not say there is no previous image:\n%s", log.String())
	}
	cf, files := imageFiles(t, first.Ref())
	if files["ASSEMBLED"] == "" || files["index.txt"] != "hello from s2i\n" || files["build-count"] != "1\n" {
		t.Errorf("first image files = %q, want ASSEMBLED, index.txt and build-count 1", files)
	}
	if _, ok := files["PREVIOUS"]; ok {
		t.Errorf("first image has PREVIOUS: artifacts restored from nowhere")
	}
	if cmd := strings.Join(cf.Config.Cmd, " "); !strings.HasSuffix(cmd, "/usr/libexec/s2i/run") {
		t.Errorf("Cmd = %q, want the run script", cf.Config.Cmd)
	}
	if cf.Config.User != "1001" {
		t.Errorf("User = %q, want 1001 (the assemble user)", cf.Config.User)
	}
	if got := cf.Config.Labels["io.openshift.s2i.build.image"]; got != builder {
		t.Errorf("label io.openshift.s2i.build.image = %q, want %q", got, builder)
	}

	// The same inputs again: the input-digest tag exists, nothing is built.
	again, err := b.Build(ctx, req, io.Discard)
	if err != nil || !again.Cached || again.Digest != first.Digest {
		t.Fatalf("unchanged rebuild = %+v, %v; want cached %s", again, err, first.Digest)
	}

	if err := os.WriteFile(filepath.Join(src, "index.txt"), []byte("hello again\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	log.Reset()
	second, err := b.Build(ctx, req, &log)
	if err != nil {
		t.Fatalf("incremental build: %v\n%s", err, log.String())
	}
	if second.Cached || second.Tag == first.Tag {
		t.Fatalf("second build %+v: a source change must change the input-digest tag", second)
	}
	if !strings.Contains(log.String(), "reusing the artifacts of "+host+"/out/s2i-app@"+first.Digest) {
		t.Errorf("second build log does not name the previous image %s:\n%s", first.Digest, log.String())
	}
	_, files = imageFiles(t, second.Ref())
	if files["build-count"] != "2\n" || files["PREVIOUS"] != "1\n" || files["index.txt"] != "hello again\n" {
		t.Errorf("incremental image files = %q, want build-count 2, PREVIOUS 1 (restored artifacts) and the new index.txt", files)
	}
	latest, err := name.ParseReference(host+"/out/s2i-app:"+s2i.PreviousTag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Head(latest)
	if err != nil || desc.Digest.String() != second.Digest {
		t.Errorf(":%s = %v, %v; want the incremental build %s", s2i.PreviousTag, desc, err, second.Digest)
	}
}

// TestBuildahNotIncremental: with incrementalBuild false an existing previous image is not
// used (build-count stays 1) and :latest is not moved.
func TestBuildahNotIncremental(t *testing.T) {
	requireBuildah(t)
	ctx := context.Background()
	host := testenv.StartRegistry(t)
	builder, err := testenv.PushS2IBuilder(ctx, host, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := s2i.New(buildah(t))
	src := source(t, map[string]string{"index.txt": "x\n"})
	req := build.Request{Name: "app", ContextDir: src, Repository: host + "/out/plain", Tag: s2i.PreviousTag, Push: true,
		S2I: &build.S2I{BuilderImage: builder}}
	if _, err := b.Build(ctx, req, io.Discard); err != nil {
		t.Fatal(err)
	}
	res, err := b.Build(ctx, req, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	_, files := imageFiles(t, res.Ref())
	if files["build-count"] != "1\n" {
		t.Errorf("build-count = %q, want 1: a non-incremental build must not restore artifacts", files["build-count"])
	}
}

// TestNativeRefused: the native builder cannot RUN assemble; Explain and Build say so and
// name the image, before anything is read from a registry.
func TestNativeRefused(t *testing.T) {
	b := s2i.New(native.New())
	req := build.Request{Name: "app", ContextDir: t.TempDir(), Repository: "127.0.0.1:1/x", S2I: &build.S2I{BuilderImage: "127.0.0.1:1/b"}}
	_, err := b.Build(context.Background(), req, io.Discard)
	var ne *s2i.NeedsEngineError
	if !errors.As(err, &ne) || !strings.Contains(err.Error(), `image "app"`) || !strings.Contains(err.Error(), "--builder auto, podman, docker or buildah") {
		t.Errorf("Build error = %v, want NeedsEngineError naming the image and the fix", err)
	}
	if _, err := b.Explain(context.Background(), req); !errors.As(err, &ne) {
		t.Errorf("Explain error = %v, want NeedsEngineError", err)
	}
}

// TestPassThrough: a Dockerfile request keeps its builder name, config and input-digest tag
// under s2i.New (adding s2i changes no existing image tag).
func TestPassThrough(t *testing.T) {
	ctx := context.Background()
	src := source(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY a /a\n", "a": "a"})
	req := build.Request{Name: "x", ContextDir: src, Dockerfile: filepath.Join(src, "Dockerfile"), Repository: "r/x"}
	inner := native.New()
	plain, err := build.Cached(inner, nil).(build.Tagger).Tag(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	wrapped, err := build.Cached(s2i.New(inner), nil).(build.Tagger).Tag(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if plain != wrapped {
		t.Errorf("tag under s2i.New = %s, want the plain tag %s", wrapped, plain)
	}
	if n := s2i.New(inner).Name(); n != "native" {
		t.Errorf("Name = %q, want the inner builder's", n)
	}
}

// TestInputDigest: the input-digest tag of an s2i request changes with the source, the
// builder image's digest (same reference, new content), a local scripts directory's content
// and the incremental flag, and only with those.
func TestInputDigest(t *testing.T) {
	ctx := context.Background()
	host := testenv.StartRegistry(t)
	builder, err := testenv.PushS2IBuilder(ctx, host, nil)
	if err != nil {
		t.Fatal(err)
	}
	src := source(t, map[string]string{"index.txt": "v1\n", ".dockerignore": "index.txt\n"})
	scripts := source(t, map[string]string{"assemble": "#!/bin/sh\necho 1\n"})
	b := build.Cached(s2i.New(engine.New(engine.Buildah)), nil).(build.Tagger)
	req := build.Request{Name: "app", ContextDir: src, Repository: host + "/out/a",
		S2I: &build.S2I{BuilderImage: builder, ScriptsURL: "file://" + scripts, Incremental: true}}
	tag := func() string {
		t.Helper()
		s, err := b.Tag(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	seen := map[string]string{}
	check := func(what string, wantNew bool) {
		t.Helper()
		got := tag()
		prev, dup := "", false
		for w, s := range seen {
			if s == got {
				prev, dup = w, true
			}
		}
		if wantNew && dup {
			t.Errorf("%s: tag %s equals the tag of %q", what, got, prev)
		}
		if !wantNew && !dup {
			t.Errorf("%s: tag %s changed", what, got)
		}
		seen[what] = got
	}
	check("base", true)
	check("same inputs", false)
	// .dockerignore does not apply: s2i copies index.txt whatever it says.
	if err := os.WriteFile(filepath.Join(src, "index.txt"), []byte("v2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	check("source changed", true)
	if err := os.WriteFile(filepath.Join(scripts, "assemble"), []byte("#!/bin/sh\necho 2\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	check("scripts changed", true)
	if _, err := testenv.PushS2IBuilder(ctx, host, map[string]string{"version": "2"}); err != nil {
		t.Fatal(err)
	}
	check("builder image pushed again with other content", true)
	req.S2I.Incremental = false
	check("not incremental", true)

	req.S2I.BuilderImage = host + "/no/such-builder:1"
	if _, err := b.Tag(ctx, req); err == nil || !strings.Contains(err.Error(), `builder image "`+host+`/no/such-builder:1"`) {
		t.Errorf("missing builder image: error %v, want one naming it", err)
	}
}

// TestExplainAuto: under Auto, an s2i request is explained as source-to-image built by the
// engine Auto picks for a Dockerfile with RUN; with only the native candidate the error says
// a container engine is needed. No registry is contacted.
func TestExplainAuto(t *testing.T) {
	ctx := context.Background()
	req := build.Request{Name: "app", ContextDir: t.TempDir(), Repository: "127.0.0.1:1/x", S2I: &build.S2I{BuilderImage: "127.0.0.1:1/builder:1"}}
	engineOK := build.Candidate{Builder: engine.New(engine.Buildah), Available: func(context.Context) bool { return true }}
	nativeC := build.Candidate{Builder: native.New(), Accepts: native.Supports}
	why, err := s2i.New(build.Auto(nativeC, engineOK)).Explain(ctx, req)
	if err != nil || !strings.HasPrefix(why, "s2i: source-to-image with builder 127.0.0.1:1/builder:1, the generated Dockerfile built by buildah") {
		t.Errorf("Explain = %q, %v; want s2i built by buildah", why, err)
	}
	_, err = s2i.New(build.Auto(nativeC)).Explain(ctx, req)
	if err == nil || !strings.Contains(err.Error(), "source-to-image needs a container engine") {
		t.Errorf("Explain with native only: %v, want an error saying an engine is needed", err)
	}
}

// TestBuilderImageCredentials: the builder image is read with the registry policy's
// credentials (a docker config), as every builder reads registries: with them the input
// digest is computed from the builder's digest; without them the registry refuses and the
// error names it, without the password.
func TestBuilderImageCredentials(t *testing.T) {
	ctx := context.Background()
	plain := testenv.StartRegistry(t)
	src, err := testenv.PushS2IBuilder(ctx, plain, nil)
	if err != nil {
		t.Fatal(err)
	}
	srcRef, err := name.ParseReference(src, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(srcRef, remote.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	const user, password = "s2i-user", "s2i-secret-password"
	sec := testenv.StartSecureRegistry(t, user, password, false)
	dst, err := name.ParseReference(sec.Host+"/s2i/builder:1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(dst, img, remote.WithContext(ctx), remote.WithAuth(&authn.Basic{Username: user, Password: password})); err != nil {
		t.Fatal(err)
	}
	req := build.Request{Name: "app", ContextDir: source(t, map[string]string{"index.txt": "x\n"}), Repository: sec.Host + "/out/app",
		S2I: &build.S2I{BuilderImage: dst.String()}}

	policy := build.RegistryPolicy{Auth: build.Credentials{DockerConfig: testenv.WriteDockerConfig(t, sec.Host, user, password)}}
	if _, err := s2i.New(native.New(), s2i.WithRegistryPolicy(policy)).HashInputs(ctx, req); err != nil {
		t.Fatalf("HashInputs with credentials: %v", err)
	}
	_, err = s2i.New(native.New(), s2i.WithRegistryPolicy(build.RegistryPolicy{Auth: build.Credentials{DockerConfig: t.TempDir()}})).HashInputs(ctx, req)
	if err == nil {
		t.Fatal("HashInputs without credentials succeeded; want the registry's refusal")
	}
	if !strings.Contains(err.Error(), sec.Host) || strings.Contains(err.Error(), password) {
		t.Errorf("error %q: want it to name %s and not contain the password", err, sec.Host)
	}
}
