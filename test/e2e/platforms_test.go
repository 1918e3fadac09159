package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/devtool/devtool/pkg/run"
	"github.com/devtool/devtool/test/testenv"
)

// TestBuildTwoPlatformsNative is issue 9's "a two-platform native build whose index lists
// both", through the built binary: `devtool build --platform linux/amd64,linux/arm64 --push`
// from a two-platform base pushes an index whose entries are linux/amd64 and linux/arm64, each
// image's config has that architecture and the Dockerfile's ENV and LABEL; the report's digest
// is the index's. The same platforms in another order reuse the image (same input-digest tag);
// one platform is another tag; a platform the base lacks fails naming the base and platform.
func TestBuildTwoPlatformsNative(t *testing.T) {
	bin := devtoolBinary(t)
	host := testenv.StartRegistry(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	base, err := testenv.PushBusyboxIndex(ctx, host, "linux/amd64", "linux/arm64")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for p, content := range map[string]string{
		"devfile.yaml": `schemaVersion: 2.2.0
metadata: {name: multi}
components:
  - name: app
    image:
      imageName: app
      dockerfile: {uri: Dockerfile, buildContext: ., args: ["BASE={{BASE}}"]}
`,
		"Dockerfile": "ARG BASE\nFROM ${BASE}\nARG TARGETARCH\nENV ARCH=$TARGETARCH GREETING=hello\nLABEL org.opencontainers.image.title=multi\nCOPY app.txt /srv/\n",
		"app.txt":    "hello\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, p), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	build := func(platforms string) (*run.Report, string, error) {
		t.Helper()
		cmd := exec.CommandContext(ctx, bin, "build", "--devfile", dir, "--image-registry", host+"/e2e", "--var", "BASE="+base,
			"--builder", "native", "--push", "--platform", platforms, "-o", "json")
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
		var out, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &stderr
		err := cmd.Run()
		t.Logf("devtool build --platform %s\nstderr:\n%s", platforms, stderr.String())
		var rep run.Report
		if err == nil {
			if jerr := json.Unmarshal(out.Bytes(), &rep); jerr != nil {
				t.Fatalf("stdout is not a JSON report: %v\n%s", jerr, out.String())
			}
		}
		return &rep, stderr.String(), err
	}

	rep, _, err := build("linux/amd64,linux/arm64")
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	if len(rep.Images) != 1 || rep.Images[0].Builder != "native" || rep.Images[0].Cached || rep.Images[0].Digest == "" {
		t.Fatalf("report images = %+v, want one native, uncached, pushed build", rep.Images)
	}
	img := rep.Images[0]
	r, err := name.ParseReference(img.Ref())
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(r)
	if err != nil {
		t.Fatalf("pulling the index %s: %v", img.Ref(), err)
	}
	if d, _ := idx.Digest(); d.String() != img.Digest {
		t.Errorf("index digest %s, report digest %s", d, img.Digest)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range im.Manifests {
		i, err := idx.Image(m.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := i.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s config=%s/%s env=%s label=%s", m.Platform, cf.OS, cf.Architecture,
			strings.Join(cf.Config.Env[1:], " "), cf.Config.Labels["org.opencontainers.image.title"]))
	}
	want := []string{
		"linux/amd64 config=linux/amd64 env=ARCH=amd64 GREETING=hello label=multi",
		"linux/arm64 config=linux/arm64 env=ARCH=arm64 GREETING=hello label=multi",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("index entries (-want +got):\n%s", diff)
	}

	// The platform set is part of the input digest; its order is not.
	again, _, err := build("linux/arm64, linux/amd64")
	if err != nil {
		t.Fatalf("rebuild: %v", err)
	}
	if len(again.Images) != 1 || !again.Images[0].Cached || again.Images[0].Ref() != img.Ref() {
		t.Errorf("same platforms in another order: images = %+v, want %s reused", again.Images, img.Ref())
	}
	one, _, err := build("linux/amd64")
	if err != nil {
		t.Fatalf("one platform: %v", err)
	}
	if len(one.Images) != 1 || one.Images[0].Cached || one.Images[0].Tag == img.Tag {
		t.Errorf("one platform: images = %+v, want a new build with a tag other than %s", one.Images, img.Tag)
	}

	_, stderr, err := build("linux/amd64,linux/s390x")
	var xe *exec.ExitError
	if !errors.As(err, &xe) {
		t.Fatalf("a platform the base lacks: err = %v, want a non-zero exit", err)
	}
	for _, w := range []string{"FROM " + base, "has no linux/s390x image (it has linux/amd64, linux/arm64)"} {
		if !strings.Contains(stderr, w) {
			t.Errorf("a platform the base lacks: stderr does not contain %q", w)
		}
	}
}

// TestDeployTwoPlatforms: `devtool deploy --platform linux/amd64,linux/arm64` builds the hello
// sample for both platforms from a two-platform base and pins the Deployment to the index
// digest, which lists both platforms.
func TestDeployTwoPlatforms(t *testing.T) {
	e := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	base, err := testenv.PushBusyboxIndex(ctx, e.registry, "linux/amd64", "linux/arm64")
	if err != nil {
		t.Fatal(err)
	}
	dir := sample(t, "hello")
	rep, _, err := devtool(t, "deploy", "--devfile", dir, "--kubeconfig", e.kubeconfig, "--image-registry", e.registry+"/demo",
		"--var", "BASE_IMAGE="+base, "--var", "NAMESPACE=platforms-e2e", "--platform", "linux/amd64,linux/arm64", "-o", "json")
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	if len(rep.Images) != 1 || rep.Images[0].Digest == "" {
		t.Fatalf("report images = %+v, want one pushed image", rep.Images)
	}
	ref := rep.Images[0].Ref()
	dep, err := e.get(t, deployments, "platforms-e2e", "hello")
	if err != nil {
		t.Fatal(err)
	}
	cs, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
	if got := cs[0].(map[string]any)["image"]; got != ref {
		t.Errorf("Deployment image = %v, want %s", got, ref)
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(r)
	if err != nil {
		t.Fatalf("pulling %s as an index: %v", ref, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range im.Manifests {
		got = append(got, m.Platform.String())
	}
	if diff := cmp.Diff([]string{"linux/amd64", "linux/arm64"}, got); diff != "" {
		t.Errorf("index platforms (-want +got):\n%s", diff)
	}
}
