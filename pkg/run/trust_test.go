package run

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devtool/devtool/pkg/build"
	"github.com/devtool/devtool/pkg/deploy"
	"github.com/devtool/devtool/pkg/devfile"
	"github.com/devtool/devtool/pkg/plan"
	"github.com/devtool/devtool/pkg/remote"
	"github.com/devtool/devtool/pkg/vars"
	"github.com/devtool/devtool/test/testenv"
)

const imageDevfile = `schemaVersion: 2.2.0
metadata: {name: shop}
components:
  - name: img
    image: {imageName: quay.example/shop/img, dockerfile: DOCKERFILE}
commands:
  - id: build
    apply: {component: img}
  - id: deploy
    composite: {commands: [build], group: {kind: deploy, isDefault: true}}
`

// TestBuildInputsStayInProject: a devfile cannot make devtool read (and push) files outside
// the project, and a file that is not a Dockerfile is refused without showing its content.
func TestBuildInputsStayInProject(t *testing.T) {
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("root:x:0:0:SECRET-LINE\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, dockerfile string
		files            map[string]string
		link             string // project-relative name of a symlink to outside
		want             []string
		notWant          string
	}{
		{name: "relative context escapes", dockerfile: "{uri: Dockerfile, buildContext: ../../../../../../" + strings.TrimPrefix(outside, "/") + "}", want: []string{"dockerfile.buildContext", "outside the project directory", "--allow-outside-project"}},
		{name: "absolute context", dockerfile: "{uri: Dockerfile, buildContext: " + outside + "}", want: []string{"dockerfile.buildContext", "outside the project directory"}},
		{name: "absolute dockerfile", dockerfile: "{uri: " + filepath.Join(outside, "Dockerfile") + ", buildContext: .}", want: []string{"dockerfile.uri", "outside the project directory"}},
		{name: "symlinked context", dockerfile: "{uri: Dockerfile, buildContext: ./ctx}", link: "ctx", files: map[string]string{"Dockerfile": "FROM scratch\n"}, want: []string{"dockerfile.buildContext", "outside the project directory"}},
		{name: "a host file as Dockerfile", dockerfile: "{uri: ./passwd, buildContext: .}", files: map[string]string{"passwd": "root:x:0:0:SECRET-LINE\n"}, want: []string{"not a Dockerfile"}, notWant: "SECRET-LINE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{"devfile.yaml": strings.Replace(imageDevfile, "DOCKERFILE", tc.dockerfile, 1)}
			for k, v := range tc.files {
				files[k] = v
			}
			d, _ := project(t, files)
			if tc.link != "" {
				if err := os.Symlink(outside, filepath.Join(d.Dir, tc.link)); err != nil {
					t.Fatal(err)
				}
			}
			b := &fakeBuilder{}
			_, err := (&Runner{Choose: func(build.Request, []byte) (build.Builder, string, error) { return b, "", nil }}).Build(context.Background(), d, nil, Options{})
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("err = %v, want an InputError", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if tc.notWant != "" && strings.Contains(err.Error(), tc.notWant) {
				t.Errorf("error shows the file's content: %v", err)
			}
			if len(b.calls) != 0 {
				t.Errorf("built %d images, want none", len(b.calls))
			}
		})
	}
}

// TestBuildArgsNeverFromTheEnvironment: a bare build arg takes its value from the variables,
// or from the environment only when the user named it (--build-arg-env); else it stays unset.
func TestBuildArgsNeverFromTheEnvironment(t *testing.T) {
	t.Setenv("CI_SECRET", "hunter2")
	df := "{uri: Dockerfile, buildContext: ., args: [CI_SECRET, FROM_VAR, ALLOWED, FIXED=1]}"
	d, _ := project(t, map[string]string{"devfile.yaml": strings.Replace(imageDevfile, "DOCKERFILE", df, 1), "Dockerfile": "FROM scratch\n"})
	b := &fakeBuilder{}
	r := NewBuild(&Configuration{Builder: chooseBuilder{func(build.Request, []byte) (build.Builder, string, error) { return b, "", nil }}})
	p, err := plan.CompileBuild(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	proj := Project{Devfile: d, Vars: []vars.Layer{{Source: "--var", Values: map[string]string{"FROM_VAR": "v"}}}, BuildArgEnv: map[string]string{"ALLOWED": "a"}}
	if _, err := r.Run(context.Background(), proj, p); err != nil {
		t.Fatal(err)
	}
	want := []string{"CI_SECRET", "FROM_VAR=v", "ALLOWED=a", "FIXED=1"}
	if got := b.calls[0].Args; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("args = %v, want %v", got, want)
	}
}

// TestVariableWithLineBreakRefused: a --var value with line breaks cannot add objects to a
// manifest.
func TestVariableWithLineBreakRefused(t *testing.T) {
	d, p := project(t, map[string]string{"devfile.yaml": `schemaVersion: 2.2.0
metadata: {name: shop}
variables: {NAME: web}
components:
  - name: k8s
    kubernetes:
      inlined: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: "{{NAME}}"}
commands:
  - id: deploy
    apply: {component: k8s, group: {kind: deploy, isDefault: true}}
`})
	evil := "web\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: x, namespace: kube-system}"
	dep := &fakeDeployer{}
	_, err := (&Runner{Deployer: dep}).Deploy(context.Background(), d, p, Options{Vars: []vars.Layer{{Source: "--var", Values: map[string]string{"NAME": evil}}}})
	var ve *ValueError
	if !errors.As(err, &ve) || ve.Variable != "NAME" || ve.Source != "--var" {
		t.Fatalf("err = %v, want a ValueError naming NAME from --var", err)
	}
	if len(dep.calls) != 0 {
		t.Errorf("deployer calls %v, want none", dep.calls)
	}
}

// TestRemoteDockerfile: a Dockerfile from an http(s) uri (a loopback file server) is built
// from its fetched copy in the cache, never from the project's own ./Dockerfile, with the
// project as build context; buildContext outside the project is still refused; a remote
// Dockerfile Load did not fetch (a uri with variables) is refused naming the component.
func TestRemoteDockerfile(t *testing.T) {
	site := t.TempDir()
	if err := os.WriteFile(filepath.Join(site, "Dockerfile"), []byte("FROM remote\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := testenv.StartFileServer(t, site)
	cache := t.TempDir()
	load := func(df string) (*devfile.Devfile, *plan.Plan) {
		t.Helper()
		dir := t.TempDir()
		for n, c := range map[string]string{"devfile.yaml": strings.Replace(imageDevfile, "DOCKERFILE", df, 1), "Dockerfile": "FROM local\n"} {
			if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		d, err := devfile.Load(context.Background(), dir, devfile.LoadOptions{Remote: remote.New(remote.Options{CacheDir: cache})})
		if err != nil {
			t.Fatal(err)
		}
		p, err := plan.Compile(d, plan.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return d, p
	}
	deployWith := func(d *devfile.Devfile, p *plan.Plan) (*fakeBuilder, error) {
		b := &fakeBuilder{}
		_, err := (&Runner{Choose: func(build.Request, []byte) (build.Builder, string, error) { return b, "", nil }, Deployer: &fakeDeployer{}}).Deploy(context.Background(), d, p, Options{ImageRegistry: "127.0.0.1:5000/me"})
		return b, err
	}

	d, p := load("{uri: '" + srv + "/Dockerfile', buildContext: .}")
	b, err := deployWith(d, p)
	if err != nil {
		t.Fatal(err)
	}
	fetched := d.Components[0].Image.Dockerfile.Fetched
	if len(b.calls) != 1 || b.calls[0].Dockerfile != fetched || b.calls[0].ContextDir != d.Dir || !strings.HasPrefix(fetched, cache) {
		t.Fatalf("build calls %+v; want one with Dockerfile %s (in the cache) and context %s", b.calls, fetched, d.Dir)
	}
	if got, _ := os.ReadFile(b.calls[0].Dockerfile); string(got) != "FROM remote\n" {
		t.Errorf("built Dockerfile %q", got)
	}

	d, p = load("{uri: '" + srv + "/Dockerfile', buildContext: ..}")
	if b, err := deployWith(d, p); err == nil || !strings.Contains(err.Error(), "outside the project directory") || len(b.calls) != 0 {
		t.Errorf("buildContext ..: err = %v, %d builds; want the outside-project refusal", err, len(b.calls))
	}

	d, p = load("{uri: '" + srv + "/{{dir}}/Dockerfile', buildContext: .}")
	if b, err := deployWith(d, p); err == nil || !strings.Contains(err.Error(), `image component "img"`) || !strings.Contains(err.Error(), "was not fetched") || len(b.calls) != 0 {
		t.Errorf("templated uri: err = %v; want a refusal naming the component", err)
	}
}

// TestPrebuiltNeedsNoRegistry: deploy --images does not ask for --image-registry, even for a
// relative imageName.
func TestPrebuiltNeedsNoRegistry(t *testing.T) {
	df := "{uri: Dockerfile, buildContext: .}"
	d, p := project(t, map[string]string{"devfile.yaml": strings.Replace(strings.Replace(imageDevfile, "DOCKERFILE", df, 1), "quay.example/shop/img", "img", 1)})
	pre := map[string]build.Result{"img": {Name: "img", Repository: "ci.example/img", Tag: "t", Digest: "sha256:" + strings.Repeat("c", 64)}}
	rep, err := (&Runner{Deployer: &fakeDeployer{}}).Deploy(context.Background(), d, p, Options{Prebuilt: pre})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Images) != 1 || rep.Images[0].Repository != "ci.example/img" {
		t.Errorf("images = %+v", rep.Images)
	}
	_ = deploy.DryRunNone
}

// TestCheckDockerfile: what counts as a Dockerfile (docker's parser accepts comments, parser
// directives, ARGs before FROM, any case, a BOM).
func TestCheckDockerfile(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"FROM scratch\n", true},
		{"\xef\xbb\xbf# syntax=docker/dockerfile:1\n\nARG BASE=x\nfrom ${BASE}\n", true},
		{"  FROM \\\n  scratch\n", true},
		{"root:x:0:0:root:/root:/bin/bash\n", false},
		{"", false},
		{"RUN echo\nFROM scratch\n", false},
	} {
		if err := checkDockerfile([]byte(tc.in)); (err == nil) != tc.ok {
			t.Errorf("checkDockerfile(%q) = %v, want ok=%v", tc.in, err, tc.ok)
		}
	}
}
