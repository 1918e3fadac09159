// Package e2e runs the devtool command in process against the real thing: a loopback OCI
// registry, the busybox base image pushed to it, and a real kube-apiserver + etcd
// (test/testenv). It checks the acceptance criteria of the deploy spine end to end.
package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/devtool/devtool/pkg/cli"
	"github.com/devtool/devtool/pkg/deploy"
	"github.com/devtool/devtool/pkg/event"
	"github.com/devtool/devtool/pkg/run"
	docschema "github.com/devtool/devtool/test/schema"
	"github.com/devtool/devtool/test/testenv"
)

var (
	deployments  = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	configmaps   = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	namespaces   = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	widgets      = schema.GroupVersionResource{Group: "example.devtool.dev", Version: "v1", Resource: "widgets"}
	clusterroles = schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"}
	batchJobs    = schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}
)

type env struct {
	kubeconfig string
	registry   string
	base       string
	client     dynamic.Interface
}

func setup(t *testing.T) *env {
	t.Helper()
	srv := testenv.APIServerForTest(t)
	host := testenv.StartRegistry(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	base, err := testenv.PushBusybox(ctx, host)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", srv.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &env{kubeconfig: srv.Kubeconfig, registry: host, base: base, client: dc}
}

// sample copies testdata/samples/<name> into a new project directory.
func sample(t *testing.T, name string) string {
	t.Helper()
	return testenv.CopyTree(t, filepath.Join("..", "..", "testdata", "samples", name), t.TempDir())
}

func devtool(t *testing.T, args ...string) (*run.Report, string, error) {
	t.Helper()
	return devtoolEnv(t, nil, args...)
}

// devtoolEnv is devtool with env as devtool's environment (nil: empty).
func devtoolEnv(t *testing.T, env map[string]string, args ...string) (*run.Report, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	err := cli.Main(ctx, args, cli.Streams{In: strings.NewReader(""), Out: &out, Err: &errb}, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	t.Logf("devtool %s\nstderr:\n%s", strings.Join(args, " "), errb.String())
	// Every JSON document and --progress=json event the e2e tests produce matches its schema
	// in docs/schemas (the versioned JSON contract).
	joined := " " + strings.Join(args, " ") + " "
	if strings.Contains(joined, " -o json ") && out.Len() > 0 {
		if serr := docschema.Document(out.Bytes()); serr != nil {
			t.Errorf("devtool %s: stdout: %v", strings.Join(args, " "), serr)
		}
	}
	if strings.Contains(joined, " --progress=json ") || strings.Contains(joined, " --progress json ") {
		if _, serr := docschema.Events(errb.Bytes()); serr != nil {
			t.Errorf("devtool %s: progress: %v", strings.Join(args, " "), serr)
		}
	}
	var rep run.Report
	if jerr := json.Unmarshal(out.Bytes(), &rep); jerr != nil && err == nil {
		t.Fatalf("stdout is not a JSON report: %v\n%s", jerr, out.String())
	}
	return &rep, errb.String(), err
}

func (e *env) get(t *testing.T, gvr schema.GroupVersionResource, ns, name string) (*unstructured.Unstructured, error) {
	t.Helper()
	ctx := context.Background()
	if ns == "" {
		return e.client.Resource(gvr).Get(ctx, name, metav1.GetOptions{})
	}
	return e.client.Resource(gvr).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
}

// TestDeploySample is the README's demo as a test: the hello sample is built natively from its
// Dockerfile, pushed to the loopback registry, and its Deployment runs the pushed image pinned
// by digest; a second deploy rebuilds nothing and changes no object.
func TestDeploySample(t *testing.T) {
	e := setup(t)
	dir := sample(t, "hello")
	args := []string{"deploy", "--devfile", dir, "--kubeconfig", e.kubeconfig, "--image-registry", e.registry + "/demo",
		"--var", "BASE_IMAGE=" + e.base, "--var", "NAMESPACE=hello-e2e", "-o", "json"}

	rep, _, err := devtool(t, args...)
	if err != nil {
		t.Fatalf("first deploy: %v", err)
	}
	if len(rep.Images) != 1 || rep.Images[0].Cached || rep.Images[0].Builder != "native" {
		t.Fatalf("first deploy images = %+v, want one native, uncached build", rep.Images)
	}
	ref := rep.Images[0].Ref()
	if !regexp.MustCompile(`^` + regexp.QuoteMeta(e.registry) + `/demo/hello-hello:[0-9a-f]+@sha256:[0-9a-f]{64}$`).MatchString(ref) {
		t.Errorf("image ref %q: want <registry>/demo/hello-hello:<input digest>@sha256:…", ref)
	}
	// The registry really has it, with that digest.
	r, _ := name.ParseReference(ref)
	desc, err := remote.Head(r)
	if err != nil {
		t.Fatalf("registry does not have %s: %v", ref, err)
	}
	if desc.Digest.String() != rep.Images[0].Digest {
		t.Errorf("registry digest %s != reported %s", desc.Digest, rep.Images[0].Digest)
	}
	dep, err := e.get(t, deployments, "hello-e2e", "hello")
	if err != nil {
		t.Fatal(err)
	}
	containers, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
	if got := containers[0].(map[string]any)["image"]; got != ref {
		t.Errorf("Deployment image = %v, want %s", got, ref)
	}
	if l := dep.GetLabels(); l["app.kubernetes.io/managed-by"] != "devtool" || l["app.kubernetes.io/name"] != "hello" {
		t.Errorf("labels = %v", l)
	}
	for _, mf := range dep.GetManagedFields() {
		if mf.Manager != deploy.ProjectFieldManager("hello") || mf.Operation != metav1.ManagedFieldsOperationApply {
			t.Errorf("managed field entry %s/%s: want only server-side apply by devtool's field manager of the project", mf.Manager, mf.Operation)
		}
	}
	rvs := map[string]string{}
	for _, o := range rep.Objects {
		rvs[o.Kind+"/"+o.Name] = o.ResourceVersion
		if o.Action != "created" {
			t.Errorf("%s/%s: action %s, want created", o.Kind, o.Name, o.Action)
		}
	}
	if len(rep.Objects) != 4 {
		t.Errorf("objects = %+v, want Namespace, ConfigMap, Deployment, Service", rep.Objects)
	}
	// The inventory (ApplySet parent) is in the deploy's namespace ("default": no -n).
	parent, err := e.get(t, configmaps, "default", "devtool-applyset-hello")
	if err != nil {
		t.Fatalf("inventory: %v", err)
	}

	rep2, _, err := devtool(t, args...)
	if err != nil {
		t.Fatalf("second deploy: %v", err)
	}
	if len(rep2.Images) != 1 || !rep2.Images[0].Cached || rep2.Images[0].Ref() != ref {
		t.Errorf("second deploy images = %+v, want the same image, cached", rep2.Images)
	}
	for _, o := range rep2.Objects {
		if o.Action != "unchanged" || o.ResourceVersion != rvs[o.Kind+"/"+o.Name] {
			t.Errorf("second deploy changed %s/%s: action %s, resourceVersion %s → %s", o.Kind, o.Name, o.Action, rvs[o.Kind+"/"+o.Name], o.ResourceVersion)
		}
	}
	dep2, err := e.get(t, deployments, "hello-e2e", "hello")
	if err != nil {
		t.Fatal(err)
	}
	if dep2.GetResourceVersion() != dep.GetResourceVersion() {
		t.Errorf("Deployment resourceVersion changed: %s → %s", dep.GetResourceVersion(), dep2.GetResourceVersion())
	}
	if parent2, err := e.get(t, configmaps, "default", "devtool-applyset-hello"); err != nil || parent2.GetResourceVersion() != parent.GetResourceVersion() {
		t.Errorf("the inventory changed on a deploy that changed nothing (err %v)", err)
	}

	// A change in the build context produces a new image and a configured Deployment.
	if err := os.WriteFile(filepath.Join(dir, "www", "index.html"), []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rep3, _, err := devtool(t, args...)
	if err != nil {
		t.Fatalf("third deploy: %v", err)
	}
	if rep3.Images[0].Cached || rep3.Images[0].Ref() == ref {
		t.Errorf("after a source change: images = %+v, want a new build", rep3.Images)
	}
	for _, o := range rep3.Objects {
		want := "unchanged"
		if o.Kind == "Deployment" {
			want = "configured"
		}
		if string(o.Action) != want {
			t.Errorf("third deploy %s/%s: %s, want %s", o.Kind, o.Name, o.Action, want)
		}
	}
}

// TestDeployMultiObject applies a CRD with a custom resource of it, a cluster-scoped ClusterRole,
// a Namespace and a ConfigMap in one deploy.
func TestDeployMultiObject(t *testing.T) {
	e := setup(t)
	dir := sample(t, "multi")
	rep, _, err := devtool(t, "deploy", "--devfile", dir, "--kubeconfig", e.kubeconfig, "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Objects) != 5 {
		t.Errorf("objects = %+v, want 5", rep.Objects)
	}
	w, err := e.get(t, widgets, "multi-demo", "first-widget")
	if err != nil {
		t.Fatalf("custom resource: %v", err)
	}
	if size, _, _ := unstructured.NestedInt64(w.Object, "spec", "size"); size != 3 {
		t.Errorf("widget size = %d", size)
	}
	if _, err := e.get(t, clusterroles, "", "multi-widget-reader"); err != nil {
		t.Errorf("cluster-scoped ClusterRole: %v", err)
	}
	if cr, err := e.get(t, clusterroles, "", "multi-widget-reader"); err == nil && cr.GetNamespace() != "" {
		t.Errorf("ClusterRole got namespace %q", cr.GetNamespace())
	}
	rep2, stderr, err := devtool(t, "deploy", "--devfile", dir, "--kubeconfig", e.kubeconfig, "-o", "json", "--progress", "json")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range rep2.Objects {
		if o.Action != "unchanged" {
			t.Errorf("re-apply %s/%s: %s, want unchanged", o.Kind, o.Name, o.Action)
		}
	}
	// --progress=json: stderr is NDJSON, every step starts and succeeds, in plan order.
	var lifecycle []string
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		var ev event.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("stderr line is not a JSON event: %q: %v", line, err)
		}
		if ev.Time.IsZero() || ev.Type == "" {
			t.Errorf("event without time or type: %q", line)
		}
		if ev.Type == event.StepStarted || ev.Type == event.StepSucceeded || ev.Type == event.StepFailed {
			lifecycle = append(lifecycle, string(ev.Type)+" "+ev.Step)
		}
	}
	want := []string{"stepStarted apply-platform", "stepSucceeded apply-platform", "stepStarted apply-app", "stepSucceeded apply-app"}
	if strings.Join(lifecycle, ",") != strings.Join(want, ",") {
		t.Errorf("step events = %v, want %v", lifecycle, want)
	}
}

// TestInvalidObjectChangesNothing: one invalid object among valid ones stops the deploy before
// the image is built and before any object is created.
func TestInvalidObjectChangesNothing(t *testing.T) {
	e := setup(t)
	dir := sample(t, "hello")
	df := filepath.Join(dir, "devfile.yaml")
	b, _ := os.ReadFile(df)
	// A Service port out of range: schema-valid YAML, rejected by the API server's validation.
	bad := strings.Replace(string(b), "ports: [{name: http, port: 80, targetPort: 8080}]", "ports: [{name: http, port: 99999, targetPort: 8080}]", 1)
	if bad == string(b) {
		t.Fatal("sample changed: cannot inject the invalid port")
	}
	if err := os.WriteFile(df, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, err := devtool(t, "deploy", "--devfile", dir, "--kubeconfig", e.kubeconfig, "--image-registry", e.registry+"/demo",
		"--var", "BASE_IMAGE="+e.base, "--var", "NAMESPACE=invalid-e2e", "-o", "json")
	if err == nil {
		t.Fatal("deploy with an invalid Service succeeded")
	}
	code, exit := cli.Classify(err)
	if exit != cli.ExitDeploy || code != "InvalidManifest" {
		t.Errorf("Classify = %s/%d, want InvalidManifest/%d", code, exit, cli.ExitDeploy)
	}
	if !strings.Contains(err.Error(), "Service") || !strings.Contains(err.Error(), "hello") {
		t.Errorf("error does not name the Service: %v", err)
	}
	for _, o := range []struct {
		gvr      schema.GroupVersionResource
		ns, name string
	}{{namespaces, "", "invalid-e2e"}, {configmaps, "invalid-e2e", "hello-config"}, {deployments, "invalid-e2e", "hello"}} {
		if _, err := e.get(t, o.gvr, o.ns, o.name); !apierrors.IsNotFound(err) {
			t.Errorf("%s %s/%s exists after a failed preflight (err=%v)", o.gvr.Resource, o.ns, o.name, err)
		}
	}
	if strings.Contains(stderr, "building image") {
		t.Errorf("the build started although the preflight failed:\n%s", stderr)
	}
	if repo, _ := name.NewRepository(e.registry + "/demo/hello-hello"); repo.String() != "" {
		if tags, err := remote.List(repo); err == nil && len(tags) > 0 {
			t.Errorf("image was pushed although the preflight failed: %v", tags)
		}
	}
}

// TestUnreachableCluster fails before building, naming the server.
func TestUnreachableCluster(t *testing.T) {
	host := testenv.StartRegistry(t)
	kc := testenv.UnreachableKubeconfig(t, "https://127.0.0.1:1")
	dir := sample(t, "hello")
	_, stderr, err := devtool(t, "deploy", "--devfile", dir, "--kubeconfig", kc, "--image-registry", host+"/demo", "-o", "json")
	if err == nil {
		t.Fatal("deploy to an unreachable cluster succeeded")
	}
	if !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("error does not name the server: %v", err)
	}
	if _, exit := cli.Classify(err); exit != cli.ExitDeploy {
		t.Errorf("exit %d, want %d", exit, cli.ExitDeploy)
	}
	if strings.Contains(stderr, "building image") {
		t.Errorf("build started before the cluster check:\n%s", stderr)
	}
}

var _ = fmt.Sprint

// TestDeployRunDockerfileWithBuildah: a Dockerfile with RUN cannot be built natively, so
// --builder auto picks a container engine (buildah here, from Debian's package), builds it,
// pushes it to the loopback registry and deploys the Deployment pinned to the pushed digest.
func TestDeployRunDockerfileWithBuildah(t *testing.T) {
	needBuildah(t)
	e := setup(t)
	dir := writeProject(t, map[string]string{
		"Dockerfile": "ARG BASE\nFROM ${BASE}\nRUN mkdir -p /srv && echo built-with-run > /srv/greeting\nCOPY app.txt /srv/app.txt\nCMD [\"cat\", \"/srv/greeting\"]\n",
		"app.txt":    "hello from the build context\n",
		"devfile.yaml": `schemaVersion: 2.2.0
metadata: {name: runner}
variables:
  BASE: placeholder
components:
  - name: img
    image:
      imageName: runner
      dockerfile: {uri: Dockerfile, buildContext: ., args: ["BASE={{BASE}}"]}
  - name: k8s
    kubernetes:
      inlined: |
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: runner}
        spec:
          selector: {matchLabels: {app: runner}}
          template:
            metadata: {labels: {app: runner}}
            spec:
              containers: [{name: main, image: runner}]
` + buildThenApply,
	})
	// --builder auto picks the first engine that works here: podman where it is installed,
	// buildah (which the tests install) otherwise. RUN steps on the host's network (all three
	// engines take the flag): podman's default bridge network would add a bridge and
	// iptables chains to the host (docs/engines.md).
	rep, stderr, err := devtoolEnv(t, map[string]string{"ODO_IMAGE_BUILD_ARGS": "--network=host"}, "deploy", "--devfile", dir, "--kubeconfig", e.kubeconfig, "-n", "default",
		"--image-registry", e.registry+"/e2e", "--var", "BASE="+e.base, "-o", "json")
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	if len(rep.Images) != 1 || !slices.Contains([]string{"podman", "docker", "buildah"}, rep.Images[0].Builder) || rep.Images[0].Digest == "" {
		t.Fatalf("images = %+v, want one engine build with a digest", rep.Images)
	}
	if !strings.Contains(stderr, rep.Images[0].Builder+": line 3: RUN needs a container engine") {
		t.Errorf("progress does not say why buildah was chosen:\n%s", stderr)
	}
	ref := rep.Images[0].Ref()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r)
	if err != nil {
		t.Fatalf("registry does not have %s: %v", ref, err)
	}
	if d, _ := img.Digest(); d.String() != rep.Images[0].Digest {
		t.Errorf("registry digest %s != reported %s", d, rep.Images[0].Digest)
	}
	// The RUN instruction ran: its file is in the image.
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	found := ""
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		if strings.TrimPrefix(h.Name, "./") == "srv/greeting" {
			b, _ := io.ReadAll(tr)
			found = string(b)
		}
	}
	if found != "built-with-run\n" {
		t.Errorf("/srv/greeting in the pushed image = %q, want the RUN output", found)
	}
	dep, err := e.get(t, deployments, "default", "runner")
	if err != nil {
		t.Fatal(err)
	}
	cs, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
	if got := cs[0].(map[string]any)["image"]; got != ref {
		t.Errorf("Deployment image = %v, want %s", got, ref)
	}
}

// needBuildah skips the test when buildah is not installed, or fails it under
// $DEVTOOL_REQUIRE_TESTENV=1 (make test installs it).
func needBuildah(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("buildah"); err != nil {
		if testenv.Required() {
			t.Fatal("buildah is not installed (apt-get install buildah; make deps does it)")
		}
		t.Skip("buildah is not installed")
	}
}

// buildThenApply is the commands block of the test devfiles: build image component img, then
// apply kubernetes component k8s, as the default deploy command.
const buildThenApply = `commands:
  - id: build
    apply: {component: img}
  - id: apply
    apply: {component: k8s}
  - id: deploy
    composite: {commands: [build, apply], group: {kind: deploy, isDefault: true}}
`

// writeProject writes files (relative path → content) into a new project directory.
func writeProject(t *testing.T, files map[string]string) string {
	t.Helper()
	return testenv.WriteProject(t, files)
}

// TestCancelDuringBuild: cancelling (what SIGINT/SIGTERM do in cmd/devtool) while an engine
// build runs stops it promptly with exit code 130, and nothing is applied.
func TestCancelDuringBuild(t *testing.T) {
	needBuildah(t)
	e := setup(t)
	dir := writeProject(t, map[string]string{
		"Dockerfile": "ARG BASE\nFROM ${BASE}\nRUN sleep 120\n",
		"devfile.yaml": `schemaVersion: 2.2.0
metadata: {name: slow}
components:
  - name: img
    image: {imageName: slow, dockerfile: {uri: Dockerfile, args: ["BASE={{BASE}}"]}}
  - name: k8s
    kubernetes:
      inlined: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: after-slow-build, namespace: default}
` + buildThenApply,
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb bytes.Buffer
	started := make(chan struct{})
	var once sync.Once
	sink := event.LineWriter(func(line string) {
		if strings.Contains(line, "building image component") {
			once.Do(func() { close(started) })
		}
	})
	go func() {
		select {
		case <-started:
			time.Sleep(2 * time.Second) // let buildah get into the RUN
			cancel()
		case <-time.After(time.Minute):
			cancel()
		}
	}()
	start := time.Now()
	err := cli.Main(ctx, []string{"deploy", "--devfile", dir, "--kubeconfig", e.kubeconfig, "--image-registry", e.registry + "/e2e",
		"--var", "BASE=" + e.base, "--builder", "buildah"},
		cli.Streams{In: strings.NewReader(""), Out: &out, Err: io.MultiWriter(&errb, sink)}, func(string) (string, bool) { return "", false })
	took := time.Since(start)
	t.Logf("stderr:\n%s", errb.String())
	if code, exit := cli.Classify(err); code != "Cancelled" || exit != cli.ExitCancelled {
		t.Fatalf("Classify = %s/%d, want Cancelled/%d (err: %v)", code, exit, cli.ExitCancelled, err)
	}
	if took > 30*time.Second {
		t.Errorf("cancellation took %s; the RUN sleeps 120 s, so the engine was not stopped", took)
	}
	if _, err := e.get(t, configmaps, "default", "after-slow-build"); !apierrors.IsNotFound(err) {
		t.Errorf("the apply step ran after a cancelled build (or lookup failed: %v)", err)
	}
}

// TestBuildThenDeployWithImages is the CI flow of design.md §1: `devtool build --push -o json`
// writes a BuildReport, and `devtool deploy --images` deploys those images without building.
func TestBuildThenDeployWithImages(t *testing.T) {
	e := setup(t)
	dir := sample(t, "hello")
	common := []string{"--devfile", dir, "--image-registry", e.registry + "/ci", "--var", "BASE_IMAGE=" + e.base, "--var", "NAMESPACE=ci-e2e", "-o", "json"}
	built, _, err := devtool(t, append([]string{"build", "--push"}, common...)...)
	if err != nil {
		t.Fatal(err)
	}
	if len(built.Images) != 1 || built.Images[0].Digest == "" {
		t.Fatalf("build report images = %+v", built.Images)
	}
	b, err := json.Marshal(built)
	if err != nil {
		t.Fatal(err)
	}
	imagesFile := filepath.Join(t.TempDir(), "build.json")
	if err := os.WriteFile(imagesFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	// Remove the Dockerfile: a deploy with --images must not need the build inputs.
	if err := os.Remove(filepath.Join(dir, "Dockerfile")); err != nil {
		t.Fatal(err)
	}
	rep, stderr, err := devtool(t, append([]string{"deploy", "--kubeconfig", e.kubeconfig, "--images", imagesFile}, common...)...)
	if err != nil {
		t.Fatal(err)
	}
	ref := built.Images[0].Ref()
	if !strings.Contains(stderr, "using "+ref+" from --images") {
		t.Errorf("progress does not say the image came from --images:\n%s", stderr)
	}
	dep, err := e.get(t, deployments, "ci-e2e", "hello")
	if err != nil {
		t.Fatal(err)
	}
	cs, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
	if got := cs[0].(map[string]any)["image"]; got != ref {
		t.Errorf("Deployment image = %v, want %s from the build report", got, ref)
	}
	if len(rep.Images) != 1 || rep.Images[0].Ref() != ref {
		t.Errorf("deploy report images = %+v", rep.Images)
	}
	// Not a report: a clear input error before anything runs.
	if err := os.WriteFile(imagesFile, []byte(`{"kind": "Plan"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err = devtool(t, append([]string{"deploy", "--kubeconfig", e.kubeconfig, "--images", imagesFile}, common...)...)
	if code, _ := cli.Classify(err); code != "InvalidInput" || !strings.Contains(err.Error(), "BuildReport") {
		t.Errorf("deploy --images with a Plan document: %s %v", code, err)
	}
}
