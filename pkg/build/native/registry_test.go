package native

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/devtool/devtool/pkg/build"
	"github.com/devtool/devtool/test/testenv"
)

// TestBasicAuthRegistry: a registry requiring basic auth is pushed to with the credentials
// of a docker config file (build.Credentials.DockerConfig, what DOCKER_CONFIG points at), its
// base image pulled with them too; without credentials the error names the registry and
// says how to log in, and never contains the password.
func TestBasicAuthRegistry(t *testing.T) {
	const user, password = "dev", "s3cr3t-pa55"
	reg := testenv.StartSecureRegistry(t, user, password, false)
	basic := &authn.Basic{Username: user, Password: password}
	base, err := testenv.PushBusybox(context.Background(), testenv.StartRegistry(t))
	if err != nil {
		t.Fatal(err)
	}
	// Copy the base into the auth registry, so that FROM needs the credentials too.
	baseRef, _ := name.ParseReference(base, name.Insecure)
	img, err := remote.Image(baseRef)
	if err != nil {
		t.Fatal(err)
	}
	privBase, _ := name.NewTag(reg.Host+"/base/busybox:1", name.Insecure)
	if err := remote.Write(privBase, img, remote.WithAuth(basic)); err != nil {
		t.Fatal(err)
	}

	req := project(t, "FROM "+privBase.String()+"\nCOPY f /f\n", map[string]file{"f": {content: "hello"}})
	req.Repository, req.Tag, req.Push = reg.Host+"/app", "v1", true

	t.Run("with credentials", func(t *testing.T) {
		policy := build.RegistryPolicy{Auth: build.Credentials{DockerConfig: testenv.WriteDockerConfig(t, reg.Host, user, password)}}
		res, log := mustBuild(t, New(WithRegistryPolicy(policy)), req)
		if strings.Contains(log, password) {
			t.Errorf("the build log shows the password:\n%s", log)
		}
		pushed, _ := name.NewDigest(req.Repository+"@"+res.Digest, name.Insecure)
		got, err := remote.Image(pushed, remote.WithAuth(basic))
		if err != nil {
			t.Fatalf("pulling the pushed image back: %v", err)
		}
		ls, err := got.Layers()
		if err != nil {
			t.Fatal(err)
		}
		if e := layerEntries(t, ls[len(ls)-1])["f"]; e.Content != "hello" {
			t.Errorf("pushed image's f = %+v, want content hello", e)
		}
	})
	t.Run("auth.json after an unrelated docker config", func(t *testing.T) {
		other := testenv.WriteDockerConfig(t, "other.example:5000", "x", "y")
		authJSON := testenv.WriteDockerConfig(t, reg.Host, user, password) + "/config.json"
		policy := build.RegistryPolicy{Auth: build.Credentials{DockerConfig: other, AuthFiles: []string{"/nonexistent/auth.json", authJSON}}}
		mustBuild(t, New(WithRegistryPolicy(policy)), req)
	})
	for _, tc := range []struct {
		name   string
		policy build.RegistryPolicy
	}{
		{"no credentials", build.RegistryPolicy{Auth: build.Credentials{DockerConfig: t.TempDir()}}},
		{"wrong password", build.RegistryPolicy{Auth: build.Credentials{DockerConfig: testenv.WriteDockerConfig(t, reg.Host, user, "wrong-"+password)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, log, err := runBuild(t, New(WithRegistryPolicy(tc.policy)), req)
			if err == nil {
				t.Fatal("Build succeeded without valid credentials")
			}
			for _, want := range []string{"registry " + reg.Host + " refused access", "docker login " + reg.Host, "FROM " + privBase.String()} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			if strings.Contains(err.Error()+log, password) {
				t.Errorf("the error or log shows the password: %v\n%s", err, log)
			}
		})
	}
}

// TestTLSRegistryWithPrivateCA: a registry served over HTTPS with a certificate from a private
// CA is pulled from and pushed to when its CA bundle is configured (RegistryConfig.CAFile),
// and the cache's lookup (build.RemoteRegistry) with the same policy finds the pushed tag.
// When the registry is marked secure without the CA, or given another CA, the build fails
// with an error naming the registry and the fix.
func TestTLSRegistryWithPrivateCA(t *testing.T) {
	reg := testenv.StartSecureRegistry(t, "", "", true)
	other := testenv.StartSecureRegistry(t, "", "", true) // only its CA is used
	withCA := build.RegistryPolicy{Registries: []build.RegistryConfig{{Host: reg.Host, CAFile: reg.CAFile}}}
	tr, err := withCA.Transport(nil)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(mustRef(t, base(t)))
	if err != nil {
		t.Fatal(err)
	}
	privBase, _ := name.NewTag(reg.Host + "/base/busybox:1")
	if err := remote.Write(privBase, img, remote.WithTransport(tr)); err != nil {
		t.Fatalf("seeding the TLS registry through the policy's transport: %v", err)
	}
	req := project(t, "FROM "+privBase.String()+"\nCOPY f /f\n", map[string]file{"f": {content: "tls"}})
	req.Repository, req.Tag, req.Push = reg.Host+"/app", "v1", true

	t.Run("CA configured", func(t *testing.T) {
		res, _ := mustBuild(t, New(WithRegistryPolicy(withCA)), req)
		d, found, err := build.RemoteRegistry(withCA).Digest(context.Background(), req.Repository+":v1")
		if err != nil || !found || d != res.Digest {
			t.Errorf("cache lookup = %q, %v, %v; want %s, true, nil", d, found, err, res.Digest)
		}
	})
	no := false
	for _, tc := range []struct {
		name   string
		policy build.RegistryPolicy
	}{
		{"marked secure, no CA", build.RegistryPolicy{Registries: []build.RegistryConfig{{Host: reg.Host, Insecure: &no}}}},
		{"another CA", build.RegistryPolicy{Registries: []build.RegistryConfig{{Host: reg.Host, CAFile: other.CAFile}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runBuild(t, New(WithRegistryPolicy(tc.policy)), req)
			if err == nil {
				t.Fatal("Build succeeded without the registry's CA")
			}
			for _, want := range []string{"registry " + reg.Host + " presents a certificate signed by an unknown authority", "--registry-ca " + reg.Host + "=CA.pem"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("build error %q does not contain %q", err, want)
				}
			}
			_, _, err = build.RemoteRegistry(tc.policy).Digest(context.Background(), req.Repository+":v1")
			if err == nil || !strings.Contains(err.Error(), "unknown authority") || !strings.Contains(err.Error(), reg.Host) {
				t.Errorf("cache lookup error = %v, want the unknown authority named with the registry", err)
			}
		})
	}
	t.Run("unreadable CA bundle", func(t *testing.T) {
		p := build.RegistryPolicy{Registries: []build.RegistryConfig{{Host: reg.Host, CAFile: "/nonexistent/ca.pem"}}}
		_, _, err := runBuild(t, New(WithRegistryPolicy(p)), req)
		if err == nil || !strings.Contains(err.Error(), "/nonexistent/ca.pem") {
			t.Errorf("Build error = %v, want one naming the CA file", err)
		}
	})
}

// TestMirror: a base image is pulled from the mirror configured for its registry first; a
// mirror without the image falls back to the registry itself.
func TestMirror(t *testing.T) {
	upstream, mirror, empty := testenv.StartRegistry(t), testenv.StartRegistry(t), testenv.StartRegistry(t)
	img, err := remote.Image(mustRef(t, base(t)))
	if err != nil {
		t.Fatal(err)
	}
	onMirror, _ := name.NewTag(mirror+"/base/busybox:1", name.Insecure)
	if err := remote.Write(onMirror, img); err != nil {
		t.Fatal(err)
	}
	req := project(t, "FROM "+upstream+"/base/busybox:1\nENV A=1\n", nil)
	// upstream does not have the image: only the mirror can serve it.
	p := build.RegistryPolicy{Registries: []build.RegistryConfig{{Host: upstream, Mirrors: []string{empty, mirror}}}}
	mustBuild(t, New(WithRegistryPolicy(p)), req)
	if _, _, err := runBuild(t, New(), req); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("without the mirror: error %v, want not found (the test would prove nothing)", err)
	}
}

func base(t *testing.T) string {
	t.Helper()
	b, err := testenv.PushBusybox(context.Background(), testenv.StartRegistry(t))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
