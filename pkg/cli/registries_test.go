package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/devtool/devtool/pkg/build"
	"github.com/devtool/devtool/test/testenv"
)

// TestRegistryPolicyPrecedence: per registry and setting, flag > environment > registries
// file; the file's relative CA paths are relative to the file; credentials locations follow
// DOCKER_CONFIG, REGISTRY_AUTH_FILE, XDG_RUNTIME_DIR and XDG_CONFIG_HOME.
func TestRegistryPolicyPrecedence(t *testing.T) {
	cfgHome := t.TempDir()
	ca := testenv.StartSecureRegistry(t, "", "", true).CAFile
	if err := os.MkdirAll(filepath.Join(cfgHome, "devtool"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfgHome, "devtool", "ca.pem"), mustRead(t, ca), 0o644); err != nil {
		t.Fatal(err)
	}
	file := `registries:
- host: a.lan
  ca: ca.pem
  mirrors: [m1.lan]
- host: b.lan:5000
  insecure: true
- host: c.lan
  insecure: false
`
	if err := os.WriteFile(filepath.Join(cfgHome, "devtool", "registries.yaml"), []byte(file), 0o644); err != nil {
		t.Fatal(err)
	}
	yes, no := true, false
	tests := []struct {
		name  string
		env   map[string]string
		flags []string
		want  build.RegistryPolicy
	}{
		{
			name: "file only",
			env:  map[string]string{"XDG_CONFIG_HOME": cfgHome, "HOME": "/home/u"},
			want: build.RegistryPolicy{
				Registries: []build.RegistryConfig{
					{Host: "a.lan", CAFile: filepath.Join(cfgHome, "devtool", "ca.pem"), Mirrors: []string{"m1.lan"}},
					{Host: "b.lan:5000", Insecure: &yes},
					{Host: "c.lan", Insecure: &no},
				},
				Auth: build.Credentials{DockerConfig: "/home/u/.docker", AuthFiles: []string{filepath.Join(cfgHome, "containers", "auth.json")}},
			},
		},
		{
			name: "env over file, flag over env",
			env: map[string]string{"XDG_CONFIG_HOME": cfgHome, "DOCKER_CONFIG": "/dc", "REGISTRY_AUTH_FILE": "/auth.json",
				build.EnvInsecureRegistries: "c.lan", EnvRegistryMirrors: "a.lan=m2.lan,a.lan=m3.lan", EnvRegistryCA: "b.lan:5000=" + ca},
			flags: []string{"--registry-mirror", "a.lan=m4.lan", "--insecure-registry", "a.lan"},
			want: build.RegistryPolicy{
				Insecure: []string{"c.lan", "a.lan"},
				Registries: []build.RegistryConfig{
					{Host: "a.lan", Insecure: &yes, CAFile: filepath.Join(cfgHome, "devtool", "ca.pem"), Mirrors: []string{"m4.lan"}},
					{Host: "b.lan:5000", CAFile: ca},
					{Host: "c.lan", Insecure: &yes},
				},
				Auth: build.Credentials{DockerConfig: "/dc", AuthFiles: []string{"/auth.json"}},
			},
		},
		{
			name:  "explicit file, runtime auth.json",
			env:   map[string]string{"XDG_RUNTIME_DIR": "/run/u", "HOME": "/home/u"},
			flags: []string{"--registries-config", filepath.Join(cfgHome, "devtool", "registries.yaml")},
			want: build.RegistryPolicy{
				Registries: []build.RegistryConfig{
					{Host: "a.lan", CAFile: filepath.Join(cfgHome, "devtool", "ca.pem"), Mirrors: []string{"m1.lan"}},
					{Host: "b.lan:5000", Insecure: &yes},
					{Host: "c.lan", Insecure: &no},
				},
				Auth: build.Credentials{DockerConfig: "/home/u/.docker", AuthFiles: []string{"/run/u/containers/auth.json", "/home/u/.config/containers/auth.json"}},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := &globals{getenv: func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }}
			root := newRootCommand(g)
			if err := root.PersistentFlags().Parse(tc.flags); err != nil {
				t.Fatal(err)
			}
			got, err := g.resolveRegistries()
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("policy (-want +got):\n%s", d)
			}
		})
	}
}

// TestRegistryConfigErrors: bad registry settings are usage errors naming what the user wrote,
// reported before anything is built.
func TestRegistryConfigErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "registries.yaml")
	if err := os.WriteFile(bad, []byte("registries:\n- host: x\n  cert: /a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--registry-ca", "reg.lan"}, nil, `--registry-ca "reg.lan": want HOST=FILE`},
		{[]string{"--registry-ca", "reg.lan=/nonexistent/ca.pem"}, nil, "registry reg.lan: CA bundle /nonexistent/ca.pem"},
		{[]string{"--registry-mirror", "https://reg.lan=m"}, nil, "without a scheme"},
		{[]string{"--registries-config", bad}, nil, "registries file " + bad},
		{nil, map[string]string{EnvRegistriesConfig: "/nonexistent/registries.yaml"}, "/nonexistent/registries.yaml"},
		{nil, map[string]string{EnvRegistryCA: "reg.lan:5000"}, EnvRegistryCA + ` "reg.lan:5000": want HOST=FILE`},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, _, err := runCLIEnv(t, context.Background(), tc.env, append([]string{"build", "--devfile", sampleDir("hello")}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one containing %q", err, tc.want)
			}
			if _, code := Classify(err); code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
		})
	}
}

// regProject writes a devfile project whose one image component is pushed to
// registry/app, built FROM base.
func regProject(t *testing.T, registry, base string) string {
	t.Helper()
	dir := t.TempDir()
	devfile := `schemaVersion: 2.2.0
metadata:
  name: reg
components:
  - name: app
    image:
      imageName: ` + registry + `/app
      dockerfile:
        uri: ./Dockerfile
        buildContext: .
`
	for n, c := range map[string]string{"devfile.yaml": devfile, "Dockerfile": "FROM " + base + "\nCOPY f /f\n", "f": "hello\n"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func mustRead(t *testing.T, f string) []byte {
	t.Helper()
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBuildPushAuthRegistry: `devtool build --push --builder native` to a registry requiring
// basic auth succeeds with the credentials of the docker config DOCKER_CONFIG names, and the
// password appears nowhere in stdout or stderr (text, -o json, --progress json, -v); without
// credentials the error names the registry and how to log in.
func TestBuildPushAuthRegistry(t *testing.T) {
	const user, password = "ci", "pa55-w0rd-xyzzy"
	reg := testenv.StartSecureRegistry(t, user, password, false)
	base, err := testenv.PushBusybox(context.Background(), testenv.StartRegistry(t))
	if err != nil {
		t.Fatal(err)
	}
	dir := regProject(t, reg.Host, base)
	env := map[string]string{"DOCKER_CONFIG": testenv.WriteDockerConfig(t, reg.Host, user, password)}
	for _, mode := range [][]string{{"-o", "text"}, {"-o", "json", "--progress", "json", "-v"}} {
		args := append([]string{"build", "--push", "--builder", "native", "--tag", "v1", "--devfile", dir}, mode...)
		out, errOut, err := runCLIEnv(t, context.Background(), env, args...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, errOut)
		}
		if !strings.Contains(out, reg.Host+"/app") || !strings.Contains(out, "sha256:") {
			t.Errorf("%v: stdout does not list the pushed image:\n%s", mode, out)
		}
		if strings.Contains(out+errOut, password) {
			t.Errorf("%v: the password is printed:\n%s\n%s", mode, out, errOut)
		}
	}
	before := reg.Requests()
	out, errOut, err := runCLIEnv(t, context.Background(), map[string]string{"DOCKER_CONFIG": t.TempDir()}, "build", "--push", "--builder", "native", "--tag", "v2", "--devfile", dir, "-o", "json")
	if err == nil {
		t.Fatal("push without credentials succeeded")
	}
	for _, want := range []string{"registry " + reg.Host + " refused access", "docker login " + reg.Host} {
		if !strings.Contains(err.Error(), want) || !strings.Contains(out, want) {
			t.Errorf("error %q / JSON %s: want %q in both", err, out, want)
		}
	}
	if reg.Requests() != before {
		t.Errorf("the registry served %d requests without credentials", reg.Requests()-before)
	}
	// A wrong password: refused, and neither password is printed.
	wrong := map[string]string{"DOCKER_CONFIG": testenv.WriteDockerConfig(t, reg.Host, user, "wrong-"+password)}
	out, errOut, err = runCLIEnv(t, context.Background(), wrong, "build", "--push", "--builder", "native", "--tag", "v3", "--devfile", dir, "-o", "json", "--progress", "json", "-v")
	if err == nil || !strings.Contains(err.Error(), "refused access") {
		t.Errorf("wrong password: error %v, want refused access", err)
	}
	if strings.Contains(out+errOut+err.Error(), password) {
		t.Errorf("wrong password: a password is printed:\n%s\n%s", out, errOut)
	}
}

// TestBuildPushTLSRegistry: a registry served over HTTPS with a private CA works with the CA
// given by --registry-ca or by the registries file in the user's config dir — both the push
// and the cache lookup of a second build, which then skips the build — and without it (the
// registry marked secure in the file) fails naming the registry and the flag.
func TestBuildPushTLSRegistry(t *testing.T) {
	reg := testenv.StartSecureRegistry(t, "", "", true)
	base, err := testenv.PushBusybox(context.Background(), testenv.StartRegistry(t))
	if err != nil {
		t.Fatal(err)
	}
	dir := regProject(t, reg.Host, base)
	cfgHome := t.TempDir()
	if err := os.MkdirAll(filepath.Join(cfgHome, "devtool"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile := func(content string) {
		if err := os.WriteFile(filepath.Join(cfgHome, "devtool", "registries.yaml"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{"XDG_CONFIG_HOME": cfgHome}
	build := []string{"build", "--push", "--builder", "native", "--devfile", dir}

	writeFile("registries:\n- host: " + reg.Host + "\n  insecure: false\n")
	_, _, err = runCLIEnv(t, context.Background(), env, build...)
	if err == nil || !strings.Contains(err.Error(), "registry "+reg.Host+" presents a certificate signed by an unknown authority") ||
		!strings.Contains(err.Error(), "--registry-ca "+reg.Host+"=") {
		t.Fatalf("without the CA: error %v, want the unknown authority named with the registry and --registry-ca", err)
	}
	out, errOut, err := runCLIEnv(t, context.Background(), env, append(build, "--registry-ca", reg.Host+"="+reg.CAFile)...)
	if err != nil {
		t.Fatalf("with --registry-ca: %v\n%s", err, errOut)
	}
	if !strings.Contains(out, reg.Host+"/app:") {
		t.Errorf("stdout does not list the pushed image:\n%s", out)
	}
	writeFile("registries:\n- host: " + reg.Host + "\n  ca: " + reg.CAFile + "\n")
	out2, errOut, err := runCLIEnv(t, context.Background(), env, build...)
	if err != nil {
		t.Fatalf("with the registries file: %v\n%s", err, errOut)
	}
	if out2 != out || !strings.Contains(errOut, "cached") {
		t.Errorf("second build: stdout %q (first %q), want the same cached image; stderr:\n%s", out2, out, errOut)
	}
}
