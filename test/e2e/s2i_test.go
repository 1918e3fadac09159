package e2e

import (
	"archive/tar"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/devtool/devtool/test/testenv"
)

// TestBuildS2ISample: `devtool build --push --builder buildah` on testdata/samples/s2i-hello
// (an `image.s2i` component) with the fake builder image in a loopback registry: the report
// names builder s2i/buildah and a digest, the registry has it, the image holds the sample's
// index.txt and the assemble script's ASSEMBLED, its Cmd is the run script; a second build
// with nothing changed is cached; describe shows the s2i component.
func TestBuildS2ISample(t *testing.T) {
	needBuildah(t)
	host := testenv.StartRegistry(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	builder, err := testenv.PushS2IBuilder(ctx, host, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := sample(t, "s2i-hello")
	args := []string{"build", "--push", "--builder", "buildah", "--devfile", dir, "--image-registry", host + "/e2e", "--var", "BUILDER_IMAGE=" + builder, "-o", "json"}
	rep, stderr, err := devtool(t, args...)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	if len(rep.Images) != 1 || rep.Images[0].Builder != "s2i/buildah" || rep.Images[0].Digest == "" || rep.Images[0].Cached {
		t.Fatalf("images = %+v, want one s2i/buildah build with a digest", rep.Images)
	}
	if !strings.Contains(stderr, "s2i: source-to-image with builder "+builder) {
		t.Errorf("progress does not say the image is built with source-to-image:\n%s", stderr)
	}
	ref := rep.Images[0].Ref()
	if !strings.HasPrefix(ref, host+"/e2e/s2i-hello-app:") {
		t.Errorf("image ref %s, want the relative name under --image-registry", ref)
	}
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r)
	if err != nil {
		t.Fatalf("registry does not have %s: %v", ref, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cmd := strings.Join(cf.Config.Cmd, " "); !strings.HasSuffix(cmd, "/usr/libexec/s2i/run") {
		t.Errorf("Cmd = %q, want the builder's run script", cf.Config.Cmd)
	}
	files := map[string]string{}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		if rest, ok := strings.CutPrefix(h.Name, "opt/app-root/src/"); ok {
			b, _ := io.ReadAll(tr)
			files[rest] = string(b)
		}
	}
	if files["index.txt"] != "Hello from a source-to-image build\n" || files["ASSEMBLED"] == "" {
		t.Errorf("app files in the image = %q, want the sample's index.txt and assemble's ASSEMBLED", files)
	}

	again, _, err := devtool(t, args...)
	if err != nil {
		t.Fatalf("second build: %v", err)
	}
	if len(again.Images) != 1 || !again.Images[0].Cached || again.Images[0].Ref() != ref {
		t.Errorf("second build images = %+v, want %s cached (same source, scripts and builder digest)", again.Images, ref)
	}
}

// TestS2IBadInput: source-to-image settings devtool cannot use are refused before anything
// is built, naming the field and the fix.
func TestS2IBadInput(t *testing.T) {
	for _, tc := range []struct{ name, s2i, want string }{
		{"image stream", `{builderImageNamespace: openshift, builderImageStreamTag: "python:3.11"}`, "set builderImage to the builder image's reference"},
		{"scripts outside", `{builderImage: 127.0.0.1:1/builder, scriptLocation: ../scripts}`, "s2i.scriptLocation"},
		{"bad builder", `{builderImage: "Not A Ref"}`, `s2i builderImage "Not A Ref"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeProject(t, map[string]string{"index.txt": "x\n", "devfile.yaml": "schemaVersion: 2.2.0\nmetadata: {name: bad}\ncomponents:\n- name: img\n  image:\n    imageName: 127.0.0.1:1/app\n    s2i: " + tc.s2i + "\n"})
			_, _, err := devtool(t, "build", "--devfile", dir, "--builder", "buildah", "-o", "json")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestDeployS2ISample: `devtool deploy` of testdata/samples/s2i-hello against the test API
// server builds the s2i image with buildah and
// pins exactly the reported image, by digest, into the sample's Deployment.
func TestDeployS2ISample(t *testing.T) {
	needBuildah(t)
	e := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	builder, err := testenv.PushS2IBuilder(ctx, e.registry, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := sample(t, "s2i-hello")
	rep, _, err := devtool(t, "deploy", "--devfile", dir, "--kubeconfig", e.kubeconfig, "--builder", "buildah",
		"--image-registry", e.registry+"/e2e", "--var", "BUILDER_IMAGE="+builder, "--var", "NAMESPACE=default", "-o", "json")
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	if len(rep.Images) != 1 || rep.Images[0].Builder != "s2i/buildah" || rep.Images[0].Digest == "" {
		t.Fatalf("images = %+v, want one s2i/buildah build", rep.Images)
	}
	dep, err := e.get(t, deployments, "default", "s2i-hello")
	if err != nil {
		t.Fatal(err)
	}
	cs, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
	if got := cs[0].(map[string]any)["image"]; got != rep.Images[0].Ref() {
		t.Errorf("Deployment image = %v, want the s2i build %s", got, rep.Images[0].Ref())
	}
}
