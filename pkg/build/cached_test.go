package build_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/devtool/devtool/pkg/build"
	"github.com/devtool/devtool/test/testenv"
)

// writeTree writes files (slash paths relative to dir; a value starting with "->" makes a
// symlink to the rest) under dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(content, "->"); ok {
			if err := os.Symlink(target, full); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// newContext makes a build context with a .dockerignore (with a "!" exception) and a
// Dockerfile outside the context, and returns a Request for it.
func newContext(t *testing.T) build.Request {
	t.Helper()
	root := t.TempDir()
	ctxDir := filepath.Join(root, "ctx")
	writeTree(t, ctxDir, map[string]string{
		"app/main.txt":      "hello\n",
		"app/link":          "->main.txt",
		"logs/keep.log":     "kept by !logs/keep.log\n",
		"logs/debug.log":    "ignored\n",
		"tmp/cache.bin":     "ignored dir\n",
		"notes.md":          "ignored by *.md\n",
		"README.keep.md":    "kept by !README.keep.md\n",
		".dockerignore":     "tmp\nlogs\n!logs/keep.log\n*.md\n!README.keep.md\n",
		"sub/dir/deep.json": "{}\n",
	})
	writeTree(t, root, map[string]string{"Dockerfile": "FROM scratch\nARG A\nCOPY . /\n"})
	return build.Request{
		Name:       "backend",
		ContextDir: ctxDir,
		Dockerfile: filepath.Join(root, "Dockerfile"),
		Args:       []string{"A=1", "FROM_ENV"},
		Repository: "registry.example/app",
		Platforms:  []string{"linux/amd64"},
	}
}

func digestOf(t *testing.T, req build.Request, builder string) string {
	t.Helper()
	d, err := build.InputDigest(req, builder)
	if err != nil {
		t.Fatalf("InputDigest: %v", err)
	}
	return d
}

func TestInputDigest(t *testing.T) {
	t.Setenv("FROM_ENV", "env-value")
	base := newContext(t)
	d0 := digestOf(t, base, "buildah")
	if len(d0) != 64 || strings.Trim(d0, "0123456789abcdef") != "" {
		t.Fatalf("InputDigest = %q, want 64 lowercase hex characters", d0)
	}
	if again := digestOf(t, base, "buildah"); again != d0 {
		t.Fatalf("InputDigest not stable: %s then %s", d0, again)
	}

	tests := []struct {
		name   string
		change func(t *testing.T, req *build.Request)
		same   bool
	}{
		// Inputs that change the image change the digest.
		{name: "file content", change: func(t *testing.T, r *build.Request) { rewrite(t, r.ContextDir, "app/main.txt", "bye\n") }},
		{name: "new file", change: func(t *testing.T, r *build.Request) { rewrite(t, r.ContextDir, "app/new.txt", "") }},
		{name: "new empty dir", change: func(t *testing.T, r *build.Request) { mkdir(t, filepath.Join(r.ContextDir, "empty")) }},
		{name: "renamed file", change: func(t *testing.T, r *build.Request) {
			rename(t, filepath.Join(r.ContextDir, "sub/dir/deep.json"), filepath.Join(r.ContextDir, "sub/dir/deeper.json"))
		}},
		{name: "file mode", change: func(t *testing.T, r *build.Request) { chmod(t, filepath.Join(r.ContextDir, "app/main.txt"), 0o755) }},
		{name: "symlink target", change: func(t *testing.T, r *build.Request) {
			link := filepath.Join(r.ContextDir, "app/link")
			if err := os.Remove(link); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("other.txt", link); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "file re-included by ! exception", change: func(t *testing.T, r *build.Request) { rewrite(t, r.ContextDir, "logs/keep.log", "changed\n") }},
		{name: "md file re-included by ! exception", change: func(t *testing.T, r *build.Request) { rewrite(t, r.ContextDir, "README.keep.md", "changed\n") }},
		{name: ".dockerignore content", change: func(t *testing.T, r *build.Request) { rewrite(t, r.ContextDir, ".dockerignore", "tmp\n") }},
		{name: "Dockerfile", change: func(t *testing.T, r *build.Request) {
			rewrite(t, filepath.Dir(r.Dockerfile), "Dockerfile", "FROM scratch\nCOPY . /app/\n")
		}},
		{name: "build arg value", change: func(t *testing.T, r *build.Request) { r.Args = []string{"A=2", "FROM_ENV"} }},
		{name: "build arg added", change: func(t *testing.T, r *build.Request) { r.Args = append(r.Args, "B=1") }},
		{name: "KEY arg given a value", change: func(t *testing.T, r *build.Request) { r.Args = []string{"A=1", "FROM_ENV=env-value"} }},
		{name: "KEY arg given an empty value", change: func(t *testing.T, r *build.Request) { r.Args = []string{"A=1", "FROM_ENV="} }},
		{name: "KEY arg unsets an earlier value", change: func(t *testing.T, r *build.Request) { r.Args = []string{"A=1", "FROM_ENV", "A"} }},
		{name: "repeated arg: last wins", change: func(t *testing.T, r *build.Request) { r.Args = []string{"A=1", "FROM_ENV", "A=3"} }},
		{name: "platform", change: func(t *testing.T, r *build.Request) { r.Platforms = []string{"linux/arm64"} }},
		{name: "no platform", change: func(t *testing.T, r *build.Request) { r.Platforms = nil }},

		// What docker does not send, or what does not change the image, does not count.
		{name: "ignored dir file", same: true, change: func(t *testing.T, r *build.Request) { rewrite(t, r.ContextDir, "tmp/cache.bin", "other\n") }},
		{name: "new file in ignored dir", same: true, change: func(t *testing.T, r *build.Request) { rewrite(t, r.ContextDir, "tmp/more/x", "x") }},
		{name: "ignored file in dir with exception", same: true, change: func(t *testing.T, r *build.Request) { rewrite(t, r.ContextDir, "logs/debug.log", "more\n") }},
		{name: "ignored by glob", same: true, change: func(t *testing.T, r *build.Request) { rewrite(t, r.ContextDir, "notes.md", "edited\n") }},
		{name: "modification time", same: true, change: func(t *testing.T, r *build.Request) {
			old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
			if err := os.Chtimes(filepath.Join(r.ContextDir, "app/main.txt"), old, old); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "arg order", same: true, change: func(t *testing.T, r *build.Request) { r.Args = []string{"FROM_ENV", "A=1"} }},
		// A bare KEY is unset: the environment is not read, and it is the same as no KEY.
		{name: "KEY arg: environment changed", same: true, change: func(t *testing.T, r *build.Request) { t.Setenv("FROM_ENV", "other") }},
		{name: "KEY arg: environment empty", same: true, change: func(t *testing.T, r *build.Request) { t.Setenv("FROM_ENV", "") }},
		{name: "KEY arg: environment unset", same: true, change: func(t *testing.T, r *build.Request) { os.Unsetenv("FROM_ENV") }},
		{name: "KEY arg left out", same: true, change: func(t *testing.T, r *build.Request) { r.Args = []string{"A=1"} }},
		{name: "platform order and duplicates", same: true, change: func(t *testing.T, r *build.Request) {
			r.Platforms = []string{"linux/amd64", "linux/amd64"}
		}},
		{name: "request fields that are not inputs", same: true, change: func(t *testing.T, r *build.Request) {
			r.Name, r.Repository, r.Push = "other", "elsewhere.example/x", true
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("FROM_ENV", "env-value")
			req := newContext(t)
			if got := digestOf(t, req, "buildah"); got != d0 {
				t.Fatalf("fresh identical context: digest %s, want %s (absolute paths must not count)", got, d0)
			}
			tc.change(t, &req)
			got := digestOf(t, req, "buildah")
			if tc.same && got != d0 {
				t.Errorf("digest changed (%s → %s), want unchanged", d0, got)
			}
			if !tc.same && got == d0 {
				t.Errorf("digest unchanged (%s), want a different one", got)
			}
		})
	}

	t.Run("builder", func(t *testing.T) {
		if got := digestOf(t, base, "native"); got == d0 {
			t.Errorf("digest for builder native = buildah's %s, want different", got)
		}
	})
	t.Run("KEY arg unset, not empty", func(t *testing.T) {
		req := newContext(t)
		unset := digestOf(t, req, "buildah")
		req.Args = []string{"A=1", "FROM_ENV="}
		if empty := digestOf(t, req, "buildah"); empty == unset {
			t.Errorf("FROM_ENV unset and FROM_ENV= give the same digest %s", empty)
		}
	})
}

func TestInputDigestErrors(t *testing.T) {
	req := newContext(t)
	missing := req
	missing.Dockerfile = filepath.Join(t.TempDir(), "nope")
	if _, err := build.InputDigest(missing, "x"); err == nil || !strings.Contains(err.Error(), "Dockerfile") {
		t.Errorf("missing Dockerfile: err = %v, want one naming the Dockerfile", err)
	}
	noCtx := req
	noCtx.ContextDir = filepath.Join(t.TempDir(), "nope")
	if _, err := build.InputDigest(noCtx, "x"); err == nil || !strings.Contains(err.Error(), "build context") {
		t.Errorf("missing context: err = %v, want one naming the build context", err)
	}
	bad := newContext(t)
	rewrite(t, bad.ContextDir, ".dockerignore", "!\n")
	if _, err := build.InputDigest(bad, "x"); err == nil || !strings.Contains(err.Error(), ".dockerignore") {
		t.Errorf("malformed .dockerignore: err = %v, want one naming .dockerignore", err)
	}
}

func rewrite(t *testing.T, dir, rel, content string) {
	t.Helper()
	writeTreeReplace(t, filepath.Join(dir, filepath.FromSlash(rel)), content)
}

func writeTreeReplace(t *testing.T, full, content string) {
	t.Helper()
	mkdir(t, filepath.Dir(full))
	if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

func rename(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

func chmod(t *testing.T, p string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

// pushingBuilder is a real, tiny backend: it pushes a random image to Repository:Tag with
// go-containerregistry when asked to push, and counts its builds.
type pushingBuilder struct {
	mu    sync.Mutex
	calls []build.Request
}

func (b *pushingBuilder) Name() string { return "pushing" }

func (b *pushingBuilder) Build(ctx context.Context, req build.Request, log io.Writer) (build.Result, error) {
	b.mu.Lock()
	b.calls = append(b.calls, req)
	b.mu.Unlock()
	res := build.Result{Name: req.Name, Repository: req.Repository, Tag: req.Tag, Builder: b.Name()}
	if !req.Push {
		return res, nil
	}
	img, err := random.Image(512, 1)
	if err != nil {
		return build.Result{}, err
	}
	tag, err := name.NewTag(req.Repository+":"+req.Tag, name.Insecure)
	if err != nil {
		return build.Result{}, err
	}
	if err := remote.Write(tag, img, remote.WithContext(ctx)); err != nil {
		return build.Result{}, fmt.Errorf("image %q: %w", req.Name, err)
	}
	d, err := img.Digest()
	if err != nil {
		return build.Result{}, err
	}
	fmt.Fprintf(log, "pushed %s@%s\n", tag, d)
	res.Digest = d.String()
	return res, nil
}

func (b *pushingBuilder) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.calls)
}

// recordingRegistry records lookups and answers "not found"; for checking that a code path
// does not reach the registry.
type recordingRegistry struct {
	mu   sync.Mutex
	refs []string
}

func (r *recordingRegistry) Digest(_ context.Context, ref string) (string, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refs = append(r.refs, ref)
	return "", false, nil
}

func TestCachedReusesWhatTheRegistryHas(t *testing.T) {
	ctx := context.Background()
	host := testenv.StartRegistry(t)
	inner := &pushingBuilder{}
	b := build.Cached(inner, build.RemoteRegistry(build.RegistryPolicy{}))
	if b.Name() != "pushing" {
		t.Errorf("Name() = %q, want the inner builder's", b.Name())
	}
	req := newContext(t)
	req.Repository = host + "/app"
	req.Push = true
	wantTag := digestOf(t, req, "pushing")[:build.InputTagLen]

	var log1 bytes.Buffer
	first, err := b.Build(ctx, req, &log1)
	if err != nil {
		t.Fatalf("first build: %v", err)
	}
	if inner.count() != 1 || first.Cached || first.Tag != wantTag || !strings.HasPrefix(first.Digest, "sha256:") {
		t.Fatalf("first build: %d inner builds, result %+v; want 1 build, tag %s, a digest, not cached", inner.count(), first, wantTag)
	}
	if got := inner.calls[0].Tag; got != wantTag {
		t.Errorf("inner got Tag %q, want the input-digest tag %q", got, wantTag)
	}

	var log2 bytes.Buffer
	second, err := b.Build(ctx, req, &log2)
	if err != nil {
		t.Fatalf("second build: %v", err)
	}
	if inner.count() != 1 {
		t.Errorf("second build ran the inner builder (%d builds), want it skipped", inner.count())
	}
	want := build.Result{Name: "backend", Repository: host + "/app", Tag: wantTag, Digest: first.Digest, Builder: "pushing", Cached: true}
	if diff := cmp.Diff(want, second); diff != "" {
		t.Errorf("second build result (-want +got):\n%s", diff)
	}
	wantLine := fmt.Sprintf("cached: %s/app:%s@%s (the registry already has this input digest)\n", host, wantTag, first.Digest)
	if log2.String() != wantLine {
		t.Errorf("second build log = %q, want %q", log2.String(), wantLine)
	}

	// A changed input is a new tag: built again.
	rewrite(t, req.ContextDir, "app/main.txt", "changed\n")
	third, err := b.Build(ctx, req, io.Discard)
	if err != nil {
		t.Fatalf("third build: %v", err)
	}
	if inner.count() != 2 || third.Cached || third.Tag == wantTag {
		t.Errorf("after a change: %d builds, result %+v; want a second build with a new tag", inner.count(), third)
	}
}

func TestCachedExplicitTagAlwaysBuilds(t *testing.T) {
	host := testenv.StartRegistry(t)
	inner := &pushingBuilder{}
	b := build.Cached(inner, build.RemoteRegistry(build.RegistryPolicy{}))
	req := newContext(t)
	req.Repository, req.Tag, req.Push = host+"/app", "v1", true
	for i := range 2 {
		res, err := b.Build(context.Background(), req, io.Discard)
		if err != nil {
			t.Fatalf("build %d: %v", i, err)
		}
		if res.Cached || res.Tag != "v1" {
			t.Errorf("build %d: %+v, want tag v1 built, not cached", i, res)
		}
	}
	if inner.count() != 2 {
		t.Errorf("inner builds = %d, want 2 (an explicit tag proves nothing about the inputs)", inner.count())
	}
}

func TestCachedWithoutPushNeverContactsRegistry(t *testing.T) {
	req := newContext(t)
	req.Repository = "127.0.0.1:1/app" // nothing listens on port 1
	req.Push = false
	wantTag := digestOf(t, req, "pushing")[:build.InputTagLen]

	t.Run("remote", func(t *testing.T) {
		inner := &pushingBuilder{}
		res, err := build.Cached(inner, build.RemoteRegistry(build.RegistryPolicy{})).Build(context.Background(), req, io.Discard)
		if err != nil {
			t.Fatalf("Build: %v", err)
		}
		if inner.count() != 1 || res.Tag != wantTag || res.Cached {
			t.Errorf("%d builds, result %+v; want one build tagged %s", inner.count(), res, wantTag)
		}
	})
	t.Run("recorded", func(t *testing.T) {
		inner, reg := &pushingBuilder{}, &recordingRegistry{}
		if _, err := build.Cached(inner, reg).Build(context.Background(), req, io.Discard); err != nil {
			t.Fatalf("Build: %v", err)
		}
		if len(reg.refs) != 0 {
			t.Errorf("registry asked for %v without Push", reg.refs)
		}
		// Control: with Push the same wrapper does ask.
		push := req
		push.Push = true
		push.Repository = "registry.invalid/app" // the fake inner does not push here
		_, _ = build.Cached(&fakeBuilder{}, reg).Build(context.Background(), push, io.Discard)
		if diff := cmp.Diff([]string{"registry.invalid/app:" + wantTag}, reg.refs); diff != "" {
			t.Errorf("lookups with Push (-want +got):\n%s", diff)
		}
	})
}

// fakeBuilder succeeds without doing anything; for pure wrapper logic.
type fakeBuilder struct{}

func (fakeBuilder) Name() string { return "pushing" }
func (fakeBuilder) Build(_ context.Context, req build.Request, _ io.Writer) (build.Result, error) {
	return build.Result{Name: req.Name, Repository: req.Repository, Tag: req.Tag, Builder: "pushing"}, nil
}

func TestCachedUnreachableRegistryIsAnError(t *testing.T) {
	req := newContext(t)
	req.Repository = "127.0.0.1:1/app"
	req.Push = true
	inner := &pushingBuilder{}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := build.Cached(inner, build.RemoteRegistry(build.RegistryPolicy{})).Build(ctx, req, io.Discard)
	if err == nil {
		t.Fatal("Build succeeded, want an error for the unreachable registry")
	}
	for _, want := range []string{`image "backend"`, "registry 127.0.0.1:1", "check that the registry is reachable"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if inner.count() != 0 {
		t.Errorf("inner builder ran %d times after a registry error, want 0", inner.count())
	}
}

func TestCachedInputDigestError(t *testing.T) {
	req := newContext(t)
	req.Dockerfile = filepath.Join(t.TempDir(), "missing")
	inner := &pushingBuilder{}
	_, err := build.Cached(inner, &recordingRegistry{}).Build(context.Background(), req, io.Discard)
	if err == nil || !strings.Contains(err.Error(), `image "backend"`) {
		t.Errorf("err = %v, want an error naming the image", err)
	}
	if inner.count() != 0 {
		t.Errorf("inner ran after an input-digest error")
	}
}

func TestRemoteRegistryDigest(t *testing.T) {
	ctx := context.Background()
	host := testenv.StartRegistry(t)
	img, err := random.Image(128, 1)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(host+"/team/app:t1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img, remote.WithContext(ctx)); err != nil {
		t.Fatal(err)
	}
	want, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	reg := build.RemoteRegistry(build.RegistryPolicy{})
	tests := []struct {
		ref       string
		wantFound bool
		wantD     string
	}{
		{ref: host + "/team/app:t1", wantFound: true, wantD: want.String()},
		{ref: host + "/team/app:missing"},
		{ref: host + "/no/such/repo:t1"},
	}
	for _, tc := range tests {
		t.Run(tc.ref, func(t *testing.T) {
			d, found, err := reg.Digest(ctx, tc.ref)
			if err != nil {
				t.Fatalf("Digest: %v", err)
			}
			if found != tc.wantFound || d != tc.wantD {
				t.Errorf("Digest = %q, %v; want %q, %v", d, found, tc.wantD, tc.wantFound)
			}
		})
	}
	t.Run("bad reference", func(t *testing.T) {
		if _, _, err := reg.Digest(ctx, "UPPER/Case::x"); err == nil {
			t.Error("Digest of an invalid reference succeeded")
		}
	})
}

func TestRegistryPolicy(t *testing.T) {
	p := build.RegistryPolicy{Insecure: build.ParseRegistryList(" registry.lan , other.lan:5000,")}
	tests := map[string]bool{
		"127.0.0.1:5000":     true,
		"127.0.0.1":          true,
		"127.1.2.3:80":       true,
		"localhost:5000":     true,
		"localhost":          true,
		"[::1]:5000":         true,
		"::1":                true,
		"registry.lan":       true,
		"registry.lan:443":   true, // listed without a port: any port
		"other.lan:5000":     true,
		"other.lan:5001":     false, // listed with a port: that port only
		"other.lan":          false,
		"quay.io":            false,
		"index.docker.io":    false,
		"10.0.0.1:5000":      false,
		"localhost.example":  false,
		"notregistry.lan":    false,
		"registry.lan.evil":  false,
		"[2001:db8::1]:5000": false,
		"REGISTRY.LAN:5000":  true, // host names are case-insensitive
	}
	for host, want := range tests {
		if got := p.IsInsecure(host); got != want {
			t.Errorf("IsInsecure(%q) = %v, want %v", host, got, want)
		}
	}
	t.Run("zero policy: loopback only", func(t *testing.T) {
		t.Setenv(build.EnvInsecureRegistries, "registry.lan") // the environment is not read
		var zero build.RegistryPolicy
		for host, want := range map[string]bool{"127.0.0.1:5000": true, "localhost": true, "[::1]:5000": true, "registry.lan": false} {
			if got := zero.IsInsecure(host); got != want {
				t.Errorf("IsInsecure(%q) = %v, want %v", host, got, want)
			}
		}
	})
}

func TestParseRegistryList(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{" , ,", nil},
		{"registry.lan", []string{"registry.lan"}},
		{" registry.lan , other.lan:5000,", []string{"registry.lan", "other.lan:5000"}},
		{"a,,b ,[::2]:5000", []string{"a", "b", "[::2]:5000"}},
	}
	for _, tc := range tests {
		if diff := cmp.Diff(tc.want, build.ParseRegistryList(tc.in)); diff != "" {
			t.Errorf("ParseRegistryList(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}

func TestExecError(t *testing.T) {
	err := fmt.Errorf("step: %w", &build.ExecError{
		Name:     "backend",
		Argv:     []string{"/usr/bin/buildah", "--root", "/x", "build", "--isolation", "chroot", "-f", "Dockerfile", "."},
		ExitCode: 1,
		Output:   "STEP 2/3: RUN exit 3\nError: building at STEP \"RUN exit 3\": exit status 3",
		Err:      errors.New("exit status 1"),
	})
	want := "step: image \"backend\": buildah build … exited 1:\nSTEP 2/3: RUN exit 3\nError: building at STEP \"RUN exit 3\": exit status 3"
	if err.Error() != want {
		t.Errorf("Error() =\n%s\nwant\n%s", err, want)
	}
	var xe *build.ExecError
	if !errors.As(err, &xe) || xe.ExitCode != 1 {
		t.Errorf("errors.As did not find the ExecError")
	}

	cancelled := &build.ExecError{Name: "api", Argv: []string{"docker", "push", "x"}, ExitCode: -1, Err: context.Canceled}
	if !errors.Is(cancelled, context.Canceled) {
		t.Error("errors.Is(ExecError{Err: context.Canceled}, context.Canceled) = false")
	}
	if got, want := cancelled.Error(), `image "api": docker push … failed: context canceled`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// TestInputDigestIgnoreFiles: backends prefer other ignore files to <context>/.dockerignore
// (buildkit and native "<Dockerfile>.dockerignore", buildah and podman ".containerignore"), and
// "!" exceptions may use wildcards. A file that some backend sends must count.
func TestInputDigestIgnoreFiles(t *testing.T) {
	tests := []struct {
		name   string
		files  map[string]string // relative to the context; "../" for the Dockerfile's dir
		change string            // context file to rewrite
		same   bool
	}{
		{
			name:   "Dockerfile.dockerignore replaces .dockerignore",
			files:  map[string]string{".dockerignore": "data\n", "../Dockerfile.dockerignore": "tmp\n", "data/x": "1"},
			change: "data/x",
		},
		{
			name:   "Dockerfile.dockerignore content",
			files:  map[string]string{"../Dockerfile.dockerignore": "data\n", "data/x": "1"},
			change: "../Dockerfile.dockerignore",
		},
		{
			name:   ".containerignore replaces .dockerignore",
			files:  map[string]string{".dockerignore": "data\n", ".containerignore": "tmp\n", "data/x": "1"},
			change: "data/x",
		},
		{
			name:   "excluded by every ignore file",
			files:  map[string]string{".dockerignore": "data\n", ".containerignore": "data\n", "../Dockerfile.dockerignore": "data\n", "data/x": "1"},
			change: "data/x",
			same:   true,
		},
		{
			name:   "only a Dockerfile.dockerignore: engines without it send everything",
			files:  map[string]string{"../Dockerfile.dockerignore": "data\n", "data/x": "1"},
			change: "data/x",
		},
		{
			name:   "wildcard exception inside an excluded directory",
			files:  map[string]string{".dockerignore": "logs\n!**/keep.log\n", "logs/keep.log": "1", "logs/debug.log": "1"},
			change: "logs/keep.log",
		},
		{
			name:   "wildcard exception with a single star",
			files:  map[string]string{".dockerignore": "logs\n!*/keep.log\n", "logs/keep.log": "1"},
			change: "logs/keep.log",
		},
		{
			name:   "file under the excluded directory that no exception keeps",
			files:  map[string]string{".dockerignore": "logs\n!**/keep.log\n", "logs/keep.log": "1", "logs/debug.log": "1"},
			change: "logs/debug.log",
			same:   true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			ctxDir := filepath.Join(root, "ctx")
			mkdir(t, ctxDir)
			writeTree(t, root, map[string]string{"Dockerfile": "FROM scratch\nCOPY . /\n"})
			for p, c := range tc.files {
				rewrite(t, ctxDir, p, c)
			}
			req := build.Request{Name: "x", ContextDir: ctxDir, Dockerfile: filepath.Join(root, "Dockerfile")}
			before := digestOf(t, req, "native")
			rewrite(t, ctxDir, tc.change, "changed")
			after := digestOf(t, req, "native")
			if tc.same && after != before {
				t.Errorf("digest changed after rewriting %s, want unchanged", tc.change)
			}
			if !tc.same && after == before {
				t.Errorf("digest unchanged after rewriting %s: a stale image would be reused", tc.change)
			}
		})
	}
}

// TestCachedHonoursCancellation: a cancelled build neither asks the registry nor builds.
func TestCachedHonoursCancellation(t *testing.T) {
	req := newContext(t)
	req.Push = true
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	inner, reg := &pushingBuilder{}, &recordingRegistry{}
	_, err := build.Cached(inner, reg).Build(ctx, req, io.Discard)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if inner.count() != 0 || len(reg.refs) != 0 {
		t.Errorf("cancelled build: %d inner builds, registry asked for %v", inner.count(), reg.refs)
	}
}

// configuredBuilder is a fakeBuilder with construction-time settings.
type configuredBuilder struct {
	fakeBuilder
	cfg string
}

func (b configuredBuilder) Config() string { return b.cfg }

// TestCachedHashesBuilderConfig: builders whose settings change the image (engine build
// flags such as --target) get different tags for different settings.
func TestCachedHashesBuilderConfig(t *testing.T) {
	req := newContext(t)
	tag := func(b build.Builder) string {
		t.Helper()
		res, err := build.Cached(b, nil).Build(context.Background(), req, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		return res.Tag
	}
	plain := tag(fakeBuilder{})
	if plain != digestOf(t, req, "pushing")[:build.InputTagLen] {
		t.Errorf("a builder without Config: tag %s, want InputDigest(req, Name)", plain)
	}
	if empty := tag(configuredBuilder{cfg: ""}); empty != plain {
		t.Errorf("empty Config changed the tag: %s, want %s", empty, plain)
	}
	dev, prod := tag(configuredBuilder{cfg: "--target=dev"}), tag(configuredBuilder{cfg: "--target=prod"})
	if dev == prod || dev == plain {
		t.Errorf("tags %s (dev), %s (prod), %s (none): want all different", dev, prod, plain)
	}
}

type countingTransport struct{ n int }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n++
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: r}, nil
}

// TestHTTPSOnly: ggcr falls back to plain HTTP for RFC 1918 and *.local registries; only
// registries marked insecure may be reached that way.
func TestHTTPSOnly(t *testing.T) {
	p := build.RegistryPolicy{Insecure: []string{"registry.lan"}}
	tests := map[string]bool{
		"http://127.0.0.1:5000/v2/":     true,
		"http://localhost:5000/v2/":     true,
		"http://registry.lan:5000/v2/":  true,
		"https://10.0.0.1:5000/v2/":     true,
		"https://quay.io/v2/":           true,
		"http://10.0.0.1:5000/v2/":      false,
		"http://192.168.1.2/v2/":        false,
		"http://registry.local:5000/v2": false,
	}
	for url, want := range tests {
		inner := &countingTransport{}
		rt := build.HTTPSOnly(inner, p.IsInsecure)
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := rt.RoundTrip(req)
		if resp != nil {
			resp.Body.Close()
		}
		if got := err == nil && inner.n == 1; got != want {
			t.Errorf("%s: allowed = %v (err %v), want %v", url, got, err, want)
		}
	}
}

// TestCachedResolve: Resolve says which image a Build would produce without building: before the
// first build the input-digest tag is not in the registry; after it, the same tag and digest a
// cached Build returns. It asks the registry even without Push.
func TestCachedResolve(t *testing.T) {
	ctx := context.Background()
	host := testenv.StartRegistry(t)
	inner := &pushingBuilder{}
	b := build.Cached(inner, build.RemoteRegistry(build.RegistryPolicy{}))
	rv, ok := b.(build.Resolver)
	if !ok {
		t.Fatal("Cached does not implement build.Resolver")
	}
	req := newContext(t)
	req.Repository = host + "/app"
	wantTag := digestOf(t, req, "pushing")[:build.InputTagLen]

	before, found, err := rv.Resolve(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if found || before.Tag != wantTag || before.Digest != "" {
		t.Errorf("before any build: found %v, %+v; want not found with tag %s", found, before, wantTag)
	}
	req.Push = true
	built, err := b.Build(ctx, req, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	req.Push = false
	after, found, err := rv.Resolve(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	want := build.Result{Name: "backend", Repository: host + "/app", Tag: wantTag, Digest: built.Digest, Builder: "pushing", Cached: true}
	if diff := cmp.Diff(want, after); !found || diff != "" {
		t.Errorf("after the build: found %v (-want +got):\n%s", found, diff)
	}
	if inner.count() != 1 {
		t.Errorf("Resolve built something: %d inner builds, want 1", inner.count())
	}
}

// TestInputDigestPlatformSet: the set of platforms is an input (issue 9, item 4): another set
// gives another input-digest tag; the order and repeats of Request.Platforms do not count.
func TestInputDigestPlatformSet(t *testing.T) {
	req := newContext(t)
	digest := func(platforms ...string) string {
		r := req
		r.Platforms = platforms
		return digestOf(t, r, "native")
	}
	two := digest("linux/amd64", "linux/arm64")
	tests := []struct {
		name      string
		platforms []string
		same      bool
	}{
		{"same set", []string{"linux/amd64", "linux/arm64"}, true},
		{"other order", []string{"linux/arm64", "linux/amd64"}, true},
		{"repeated", []string{"linux/arm64", "linux/amd64", "linux/arm64"}, true},
		{"one of the two", []string{"linux/amd64"}, false},
		{"the other one", []string{"linux/arm64"}, false},
		{"a third added", []string{"linux/amd64", "linux/arm64", "linux/s390x"}, false},
		{"one replaced", []string{"linux/amd64", "linux/s390x"}, false},
		{"variant", []string{"linux/amd64", "linux/arm64/v8"}, false},
		{"none (the host's)", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := digest(tc.platforms...)
			if tc.same && got != two {
				t.Errorf("%v: digest %s, want %s as for [linux/amd64 linux/arm64]", tc.platforms, got, two)
			}
			if !tc.same && got == two {
				t.Errorf("%v: digest %s, the same as for [linux/amd64 linux/arm64]", tc.platforms, got)
			}
		})
	}
}
