package engine_test

import (
	"archive/tar"
	"bytes"
	"context"
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
	"github.com/devtool/devtool/test/testenv"
)

// TestEngineSecureRegistries: buildah and podman build a RUN Dockerfile whose base image is
// on, and push to, (1) a registry requiring basic auth, with the credentials from a docker
// config file (given to the engine as --authfile), and (2) a registry served over TLS with a
// private CA (given as --cert-dir, TLS verification on). The pushed image is pulled back and
// its RUN output checked; the password is not in the build log.
func TestEngineSecureRegistries(t *testing.T) {
	for _, k := range []engine.Kind{engine.Buildah, engine.Podman} {
		t.Run(string(k), func(t *testing.T) { testSecureRegistries(t, k) })
	}
}

func testSecureRegistries(t *testing.T, k engine.Kind) {
	requireEngine(t, k)
	const user, password = "bob", "engine-pa55"
	base, err := testenv.PushBusybox(context.Background(), testenv.StartRegistry(t))
	if err != nil {
		t.Fatal(err)
	}
	baseImg, err := remote.Image(mustParse(t, base))
	if err != nil {
		t.Fatal(err)
	}
	authReg := testenv.StartSecureRegistry(t, user, password, false)
	tlsReg := testenv.StartSecureRegistry(t, "", "", true)
	basic := &authn.Basic{Username: user, Password: password}
	tests := []struct {
		name   string
		host   string
		policy build.RegistryPolicy
		pull   []remote.Option
	}{
		{"basic auth", authReg.Host, build.RegistryPolicy{Auth: build.Credentials{DockerConfig: testenv.WriteDockerConfig(t, authReg.Host, user, password)}},
			[]remote.Option{remote.WithAuth(basic)}},
		{"private CA", tlsReg.Host, build.RegistryPolicy{Registries: []build.RegistryConfig{{Host: tlsReg.Host, CAFile: tlsReg.CAFile}}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := tc.policy.Transport(nil)
			if err != nil {
				t.Fatal(err)
			}
			opts := append([]remote.Option{remote.WithTransport(tr)}, tc.pull...)
			privBase := tc.host + "/base/busybox:1"
			if err := remote.Write(mustParse(t, privBase).(name.Tag), baseImg, opts...); err != nil {
				t.Fatalf("seeding %s: %v", privBase, err)
			}
			req := project(t, "FROM "+privBase+"\nRUN echo built-by-engine > /out.txt\nCOPY app.txt /app.txt\n")
			req.Repository, req.Tag, req.Push = tc.host+"/app", "v1", true
			b := policyEngine(t, k, tc.policy)
			var log bytes.Buffer
			res, err := b.Build(context.Background(), req, &log)
			if err != nil {
				t.Fatalf("Build: %v\n%s", err, log.String())
			}
			if strings.Contains(log.String(), password) {
				t.Errorf("the build log shows the password")
			}
			if tc.host == tlsReg.Host && strings.Contains(log.String(), "--tls-verify=false") {
				t.Errorf("the engine ran with --tls-verify=false for a registry with a CA:\n%s", log.String())
			}
			img, err := remote.Image(mustParse(t, req.Repository+"@"+res.Digest), opts...)
			if err != nil {
				t.Fatalf("pulling the pushed image back: %v", err)
			}
			files := extract(t, img)
			if files["out.txt"] != "built-by-engine\n" || files["app.txt"] != "from the build context\n" {
				t.Errorf("pushed image: out.txt %q, app.txt %q", files["out.txt"], files["app.txt"])
			}
		})
	}
}

// policyEngine is newEngine's engine (storage private to the test) with registry policy p.
func policyEngine(t *testing.T, k engine.Kind, p build.RegistryPolicy) build.Builder {
	t.Helper()
	// podman refuses a runroot longer than 50 characters: t.TempDir's names are too long.
	dir, err := os.MkdirTemp("", "dt-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	flags := []string{"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "run"), "--storage-driver", "vfs"}
	opts := []engine.Option{engine.WithRegistryPolicy(p)}
	if k == engine.Podman {
		flags = append(flags, "--cgroup-manager", "cgroupfs", "--events-backend", "file")
		opts = append(opts, engine.WithIsolation("chroot"))
	}
	return engine.New(k, append(opts, engine.WithGlobalFlags(flags...))...)
}

func mustParse(t *testing.T, ref string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func extract(t *testing.T, img v1.Image) map[string]string {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	files := map[string]string{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			b, _ := io.ReadAll(tr)
			files[strings.TrimPrefix(h.Name, "/")] = string(b)
		}
	}
}

// TestEngineMirror: with a mirror configured for the base image's registry, buildah and
// podman get a registries.conf (--registries-conf) naming it and pull the base from the
// mirror; the registry itself does not have the image, so without the mirror the build fails.
func TestEngineMirror(t *testing.T) {
	for _, k := range []engine.Kind{engine.Buildah, engine.Podman} {
		t.Run(string(k), func(t *testing.T) { testMirror(t, k) })
	}
}

func testMirror(t *testing.T, k engine.Kind) {
	requireEngine(t, k)
	base, err := testenv.PushBusybox(context.Background(), testenv.StartRegistry(t))
	if err != nil {
		t.Fatal(err)
	}
	upstream, mirror, target := testenv.StartRegistry(t), testenv.StartRegistry(t), testenv.StartRegistry(t)
	img, err := remote.Image(mustParse(t, base))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(mustParse(t, mirror+"/base/busybox:1").(name.Tag), img); err != nil {
		t.Fatal(err)
	}
	req := project(t, "FROM "+upstream+"/base/busybox:1\nRUN echo via-mirror > /out.txt\n")
	req.Repository, req.Tag, req.Push = target+"/app", "v1", true
	build1 := func(p build.RegistryPolicy) (build.Result, string, error) {
		b := policyEngine(t, k, p)
		var log bytes.Buffer
		res, err := b.Build(context.Background(), req, &log)
		return res, log.String(), err
	}
	res, log, err := build1(build.RegistryPolicy{Registries: []build.RegistryConfig{{Host: upstream, Mirrors: []string{mirror}}}})
	if err != nil {
		t.Fatalf("Build with the mirror: %v\n%s", err, log)
	}
	got, err := remote.Image(mustParse(t, req.Repository+"@"+res.Digest))
	if err != nil {
		t.Fatal(err)
	}
	if f := extract(t, got)["out.txt"]; f != "via-mirror\n" {
		t.Errorf("out.txt = %q", f)
	}
	if _, log, err := build1(build.RegistryPolicy{}); err == nil {
		t.Errorf("Build without the mirror succeeded; the test proves nothing:\n%s", log)
	}
}
