package build_test

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/devtool/devtool/pkg/build"
)

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// TestKeychain: credentials come from the docker config (auths, docker.io under its legacy
// key, a credential helper run as docker-credential-NAME), then the auth.json files, in
// order; a registry nobody has is anonymous; an unparsable file is an error naming the file
// and not quoting it.
func TestKeychain(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	// A real credential helper, speaking docker-credential-helpers' protocol: "get" reads the
	// server URL on stdin and prints {"ServerURL","Username","Secret"}.
	helper := "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread url\nprintf '{\"ServerURL\":\"%s\",\"Username\":\"helper-user\",\"Secret\":\"helper-secret\"}' \"$url\"\n"
	if err := os.WriteFile(filepath.Join(bin, "docker-credential-devtooltest"), []byte(helper), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	docker := filepath.Join(dir, "docker")
	writeJSON(t, filepath.Join(docker, "config.json"), map[string]any{
		"auths": map[string]any{
			"reg.lan:5000":                map[string]string{"auth": b64("alice:pw1")},
			"https://index.docker.io/v1/": map[string]string{"auth": b64("hub:pw2")},
		},
		"credHelpers": map[string]string{"helped.lan": "devtooltest"},
	})
	auth1 := filepath.Join(dir, "auth1.json")
	writeJSON(t, auth1, map[string]any{"auths": map[string]any{"podman.lan": map[string]string{"auth": b64("pod:pw3")}, "reg.lan:5000": map[string]string{"auth": b64("shadowed:x")}}})
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"auths": {"x": SECRETCONTENT`), 0o600); err != nil {
		t.Fatal(err)
	}
	creds := build.Credentials{DockerConfig: docker, AuthFiles: []string{filepath.Join(dir, "missing.json"), auth1}}
	tests := []struct {
		registry string
		want     authn.AuthConfig // zero: anonymous
	}{
		{"reg.lan:5000", authn.AuthConfig{Username: "alice", Password: "pw1"}},
		{"index.docker.io", authn.AuthConfig{Username: "hub", Password: "pw2"}},
		{"helped.lan", authn.AuthConfig{Username: "helper-user", Password: "helper-secret"}},
		{"podman.lan", authn.AuthConfig{Username: "pod", Password: "pw3"}},
		{"nobody.lan", authn.AuthConfig{}},
	}
	for _, tc := range tests {
		t.Run(tc.registry, func(t *testing.T) {
			reg, err := name.NewRegistry(tc.registry)
			if err != nil {
				t.Fatal(err)
			}
			a, err := creds.Keychain().Resolve(reg)
			if err != nil {
				t.Fatal(err)
			}
			got, err := a.Authorization()
			if err != nil {
				t.Fatal(err)
			}
			got.Auth = "" // ggcr may fill either form
			if d := cmp.Diff(tc.want, *got); d != "" {
				t.Errorf("credentials (-want +got):\n%s", d)
			}
			p := build.RegistryPolicy{Auth: creds}
			doc, found, err := p.DockerConfigJSON(tc.registry)
			if err != nil || found != (tc.want != authn.AuthConfig{}) {
				t.Fatalf("DockerConfigJSON found=%v err=%v", found, err)
			}
			if found {
				var d struct {
					Auths map[string]struct{ Username, Password, Auth string } `json:"auths"`
				}
				if err := json.Unmarshal(doc, &d); err != nil {
					t.Fatal(err)
				}
				key := tc.registry
				if key == "index.docker.io" {
					key = authn.DefaultAuthKey
				}
				e := d.Auths[key]
				if e.Username != tc.want.Username || e.Password != tc.want.Password || e.Auth != b64(tc.want.Username+":"+tc.want.Password) {
					t.Errorf("dockerconfigjson entry %q = %+v", key, e)
				}
			}
		})
	}
	t.Run("unparsable file", func(t *testing.T) {
		reg, _ := name.NewRegistry("nobody.lan")
		_, err := build.Credentials{AuthFiles: []string{bad}}.Keychain().Resolve(reg)
		if err == nil || !strings.Contains(err.Error(), bad) || strings.Contains(err.Error(), "SECRETCONTENT") {
			t.Errorf("error = %v, want one naming %s without its content", err, bad)
		}
	})
}

// TestRegistryPolicyIsInsecure: a registry's own entry decides before the loopback default
// and the insecure list; a CA bundle alone means verified.
func TestRegistryPolicyIsInsecure(t *testing.T) {
	yes, no := true, false
	p := build.RegistryPolicy{
		Insecure: []string{"listed.lan"},
		Registries: []build.RegistryConfig{
			{Host: "127.0.0.1:5443", CAFile: "/ca.pem"},
			{Host: "localhost", Insecure: &no},
			{Host: "listed.lan:5000", Insecure: &no},
			{Host: "lan", Insecure: &yes},
		},
	}
	for host, want := range map[string]bool{
		"127.0.0.1:5000": true, "127.0.0.1:5443": false, "localhost:5000": false,
		"listed.lan": true, "listed.lan:6000": true, "listed.lan:5000": false,
		"lan:1": true, "quay.io": false,
	} {
		if got := p.IsInsecure(host); got != want {
			t.Errorf("IsInsecure(%q) = %v, want %v", host, got, want)
		}
	}
}

// TestDockerHubNames: a registry entry for Docker Hub applies under each of its names (image
// references resolve to index.docker.io; users write docker.io).
func TestDockerHubNames(t *testing.T) {
	p := build.RegistryPolicy{Registries: []build.RegistryConfig{{Host: "docker.io", Mirrors: []string{"mirror.lan:5000"}}}}
	for _, h := range []string{"docker.io", "index.docker.io", "registry-1.docker.io", "Docker.IO"} {
		if got := p.Mirrors(h); len(got) != 1 || got[0] != "mirror.lan:5000" {
			t.Errorf("Mirrors(%q) = %q", h, got)
		}
	}
	p = build.RegistryPolicy{Registries: []build.RegistryConfig{{Host: "index.docker.io", Mirrors: []string{"m"}}}}
	if got := p.Mirrors("docker.io"); len(got) != 1 {
		t.Errorf("an index.docker.io entry does not apply to docker.io: %q", got)
	}
	if got := p.Mirrors("quay.io"); got != nil {
		t.Errorf("Mirrors(quay.io) = %q", got)
	}
}
