package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/devtool/devtool/pkg/cli"
	"github.com/devtool/devtool/pkg/deploy/helm"
	"github.com/devtool/devtool/pkg/event"
	"github.com/devtool/devtool/pkg/run"
)

var secrets = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}

// rewrite replaces old by new in the project's devfile (the test fails if old is not there).
func rewrite(t *testing.T, dir, old, new string) {
	t.Helper()
	p := filepath.Join(dir, "devfile.yaml")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("devfile has no %q", old)
	}
	if err := os.WriteFile(p, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// releaseRecords are the names of Helm's release records in ns.
func (e *env) releaseRecords(t *testing.T, ns string) []string {
	t.Helper()
	l, err := e.client.Resource(secrets).Namespace(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "owner=helm"})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range l.Items {
		out = append(out, s.GetName())
	}
	return out
}

func releaseOf(t *testing.T, rep *run.Report) run.ReleaseResult {
	t.Helper()
	if len(rep.Releases) != 1 {
		t.Fatalf("releases = %+v, want one", rep.Releases)
	}
	return rep.Releases[0]
}

// The sample's Helm component in the proposal's spelling, and in the schema-valid one.
const (
	helmSpellingProposal = `    helm:
      chart: ./chart
      releaseName: hello
      namespace: "{{NAMESPACE}}"
      valuesFiles:
        - values-dev.yaml
      values:
        # CONTAINER_IMAGE is the image the build step before this one built, pinned by digest.
        image: "{{CONTAINER_IMAGE}}"
        greeting: "{{GREETING}}"
`
	helmSpellingCustom = `    custom:
      componentClass: helm
      embeddedResource:
        chart: ./chart
        releaseName: hello
        namespace: "{{NAMESPACE}}"
        valuesFiles: [values-dev.yaml]
        values: {image: "{{CONTAINER_IMAGE}}", greeting: "{{GREETING}}"}
`
)

// TestHelm is the Helm component end to end on the helm-hello sample (an image component, a
// manifest component and a Helm component, deployed by one `devtool deploy`):
//
//   - a chart whose template fails, and one whose rendered Service the API server refuses,
//     change nothing in the cluster and push nothing;
//   - both spellings (helm: and custom with componentClass helm) give the same plan and render;
//   - the deploy builds and pushes the image, creates the Namespace, installs the release
//     (revision 1) whose Deployment runs the built image pinned by digest; the JSON report
//     and the progress events show the release;
//   - a second deploy with nothing changed rebuilds nothing and leaves the revision at 1;
//   - a changed value upgrades it to revision 2; diff then shows nothing, and a further change
//     as a difference;
//   - deploy --prune of the devfile without the Helm component uninstalls the release;
//   - undeploy uninstalls a release again installed, and deletes the inventory's objects:
//     no release record and no object is left.
func TestHelm(t *testing.T) {
	e := setup(t)
	dir := sample(t, "helm-hello")
	const ns = "helm-e2e"
	common := []string{"--devfile", dir, "--kubeconfig", e.kubeconfig, "--image-registry", e.registry + "/demo",
		"--var", "BASE_IMAGE=" + e.base, "--var", "NAMESPACE=" + ns}
	deployArgs := append([]string{"deploy", "-o", "json"}, common...)
	nothingPushed := func(t *testing.T) {
		t.Helper()
		repo, err := name.NewRepository(e.registry + "/demo/helm-hello-hello")
		if err != nil {
			t.Fatal(err)
		}
		if tags, err := remote.List(repo); err == nil && len(tags) > 0 {
			t.Errorf("the image was pushed although the deploy failed before building: %v", tags)
		}
		if _, err := e.get(t, namespaces, "", ns); !apierrors.IsNotFound(err) {
			t.Errorf("namespace %s exists after a failed deploy (err=%v)", ns, err)
		}
	}

	t.Run("failing template changes nothing", func(t *testing.T) {
		tpl := filepath.Join(dir, "chart", "templates", "fail.yaml")
		writeFile(t, tpl, `{{ fail "the greeting is missing" }}`)
		defer os.Remove(tpl)
		_, _, err := devtool(t, deployArgs...)
		if code, exit := cli.Classify(err); exit != cli.ExitInvalid || !strings.Contains(err.Error(), "the greeting is missing") || !strings.Contains(err.Error(), `component "web"`) {
			t.Fatalf("deploy of a failing chart: %s/%d %v", code, exit, err)
		}
		nothingPushed(t)
	})
	t.Run("invalid object changes nothing", func(t *testing.T) {
		values := filepath.Join(dir, "values-dev.yaml")
		orig, err := os.ReadFile(values)
		if err != nil {
			t.Fatal(err)
		}
		// A Service port out of range: the chart renders, the API server refuses it.
		writeFile(t, values, strings.Replace(string(orig), "port: 80", "port: 99999", 1))
		defer writeFile(t, values, string(orig))
		_, stderr, err := devtool(t, deployArgs...)
		code, exit := cli.Classify(err)
		if exit != cli.ExitDeploy || code != "InvalidManifest" || !strings.Contains(err.Error(), "Service v1 "+ns+"/hello") {
			t.Fatalf("deploy of a chart rendering an invalid Service: %s/%d %v", code, exit, err)
		}
		if strings.Contains(stderr, "building image") {
			t.Errorf("the build started although the preflight failed")
		}
		nothingPushed(t)
	})

	t.Run("both spellings give the same plan and render", func(t *testing.T) {
		other := sample(t, "helm-hello")
		rewrite(t, other, helmSpellingProposal, helmSpellingCustom)
		for _, args := range [][]string{{"plan", "-o", "json"}, {"render", "--var", "NAMESPACE=" + ns}} {
			a, _, err := devtoolStreams(t, append(args, "--devfile", dir)...)
			if err != nil {
				t.Fatal(err)
			}
			b, _, err := devtoolStreams(t, append(args, "--devfile", other)...)
			if err != nil {
				t.Fatal(err)
			}
			if a != b || a == "" {
				t.Errorf("%s differs between the spellings:\n%s\n---\n%s", args[0], a, b)
			}
		}
	})

	// Deploy: build, Namespace, release (revision 1) running the built image by digest.
	rep, stderr, err := devtool(t, append(deployArgs, "--progress=json")...)
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	if len(rep.Images) != 1 || rep.Images[0].Cached {
		t.Fatalf("images = %+v, want one build", rep.Images)
	}
	ref := rep.Images[0].Ref()
	if !regexp.MustCompile(`^` + regexp.QuoteMeta(e.registry) + `/demo/helm-hello-hello:[0-9a-f]+@sha256:[0-9a-f]{64}$`).MatchString(ref) {
		t.Errorf("image ref %q", ref)
	}
	rel := releaseOf(t, rep)
	if rel.Component != "web" || rel.Name != "hello" || rel.Namespace != ns || rel.Revision != 1 || rel.Status != "deployed" || rel.Action != helm.Installed || rel.Chart != "hello-0.1.0" || len(rel.Objects) != 3 {
		t.Errorf("release = %+v", rel)
	}
	dep, err := e.get(t, deployments, ns, "hello")
	if err != nil {
		t.Fatal(err)
	}
	containers, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
	if got := containers[0].(map[string]any)["image"]; got != ref {
		t.Errorf("the chart's Deployment runs %v, want the built %s", got, ref)
	}
	if l := dep.GetLabels(); l["devtool.dev/project"] != "helm-hello" || l["app.kubernetes.io/managed-by"] != "Helm" {
		t.Errorf("Deployment labels = %v", l)
	}
	records := e.releaseRecords(t, ns)
	if len(records) != 1 || records[0] != "sh.helm.release.v1.hello.v1" {
		t.Errorf("release records = %v", records)
	}
	rec, err := e.get(t, secrets, ns, "sh.helm.release.v1.hello.v1")
	if err != nil {
		t.Fatal(err)
	}
	if l := rec.GetLabels(); l[run.LabelInventory] != rep.Inventory.ID || l[run.LabelProject] != "helm-hello" {
		t.Errorf("release record labels = %v, want the inventory ID %s", l, rep.Inventory.ID)
	}
	var steps []string
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		var ev event.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("progress line %q: %v", line, err)
		}
		if ev.Step == "install-chart" && (ev.Type == event.StepStarted || ev.Type == event.StepSucceeded) {
			steps = append(steps, string(ev.Type)+" "+ev.Kind)
		}
	}
	if strings.Join(steps, ",") != "stepStarted helm,stepSucceeded helm" {
		t.Errorf("events of the helm step = %v", steps)
	}

	// Nothing changed: nothing rebuilt, the revision stays.
	rep, _, err = devtool(t, deployArgs...)
	if err != nil {
		t.Fatalf("second deploy: %v", err)
	}
	if !rep.Images[0].Cached || rep.Images[0].Ref() != ref {
		t.Errorf("second deploy images = %+v, want the same image, cached", rep.Images)
	}
	if rel := releaseOf(t, rep); rel.Action != helm.Unchanged || rel.Revision != 1 {
		t.Errorf("second deploy release = %+v, want unchanged at revision 1", rel)
	}
	if dep2, err := e.get(t, deployments, ns, "hello"); err != nil || dep2.GetResourceVersion() != dep.GetResourceVersion() {
		t.Errorf("the Deployment changed on a deploy that changed nothing (err %v)", err)
	}

	// A changed value: revision 2.
	changed := append(deployArgs, "--var", "GREETING=Hello again")
	rep, _, err = devtool(t, changed...)
	if err != nil {
		t.Fatalf("deploy with a changed value: %v", err)
	}
	if rel := releaseOf(t, rep); rel.Action != helm.Upgraded || rel.Revision != 2 {
		t.Errorf("release = %+v, want upgraded to revision 2", rel)
	}
	cm, err := e.get(t, configmaps, ns, "hello-config")
	if err != nil {
		t.Fatal(err)
	}
	if g, _, _ := unstructured.NestedString(cm.Object, "data", "GREETING"); g != "Hello again" {
		t.Errorf("GREETING = %q", g)
	}
	diffArgs := append([]string{"diff"}, append(common, "--var", "GREETING=Hello again")...)
	if stdout, stderr, err := devtoolStreams(t, diffArgs...); err != nil || stdout != "" {
		t.Errorf("diff right after the upgrade: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
	}
	stdout, _, err := devtoolStreams(t, append([]string{"diff"}, append(common, "--var", "GREETING=Bye")...)...)
	if !strings.Contains(stdout, "+  GREETING: Bye") || err != cli.ErrDifferences {
		t.Errorf("diff of a changed value: %v\n%s", err, stdout)
	}

	// --prune without the Helm component: the release is uninstalled.
	pruned := sample(t, "helm-hello")
	rewrite(t, pruned, "commands: [build-image, create-namespace, install-chart]", "commands: [build-image, create-namespace]")
	rewrite(t, pruned, "  - id: install-chart\n    apply:\n      component: web\n", "")
	b, _ := os.ReadFile(filepath.Join(pruned, "devfile.yaml"))
	text := string(b)
	start, end := strings.Index(text, "  # devtool's Helm component"), strings.Index(text, "commands:\n")
	writeFile(t, filepath.Join(pruned, "devfile.yaml"), text[:start]+text[end:])
	prunedArgs := append([]string{"deploy", "-o", "json", "--prune", "--devfile", pruned}, common[2:]...)
	rep, _, err = devtool(t, prunedArgs...)
	if err != nil {
		t.Fatalf("deploy --prune: %v", err)
	}
	if rel := releaseOf(t, rep); rel.Action != helm.Uninstalled || rel.Name != "hello" {
		t.Errorf("pruned release = %+v", rel)
	}
	if _, err := e.get(t, deployments, ns, "hello"); !apierrors.IsNotFound(err) {
		t.Errorf("the release's Deployment survived the prune (err=%v)", err)
	}
	if r := e.releaseRecords(t, ns); len(r) != 0 {
		t.Errorf("release records after the prune: %v", r)
	}

	// Installed again, then undeploy: nothing left.
	if rep, _, err = devtool(t, deployArgs...); err != nil {
		t.Fatalf("deploy again: %v", err)
	}
	if rel := releaseOf(t, rep); rel.Action != helm.Installed || rel.Revision != 1 {
		t.Errorf("release installed again = %+v", rel)
	}
	rep, _, err = devtool(t, "undeploy", "--devfile", dir, "--kubeconfig", e.kubeconfig, "-o", "json")
	if err != nil {
		t.Fatalf("undeploy: %v", err)
	}
	if rel := releaseOf(t, rep); rel.Action != helm.Uninstalled {
		t.Errorf("undeploy release = %+v", rel)
	}
	if r := e.releaseRecords(t, ns); len(r) != 0 {
		t.Errorf("release records after undeploy: %v", r)
	}
	for _, o := range []struct {
		gvr      schema.GroupVersionResource
		ns, name string
	}{{deployments, ns, "hello"}, {configmaps, ns, "hello-config"}, {configmaps, "default", "devtool-applyset-helm-hello"}} {
		if _, err := e.get(t, o.gvr, o.ns, o.name); !apierrors.IsNotFound(err) {
			t.Errorf("%s %s/%s exists after undeploy (err=%v)", o.gvr.Resource, o.ns, o.name, err)
		}
	}
	if n, err := e.get(t, namespaces, "", ns); err == nil && n.GetDeletionTimestamp() == nil {
		t.Errorf("namespace %s was not deleted by undeploy", ns)
	}
}
