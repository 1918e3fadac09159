package e2e

import (
	"context"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/devtool/devtool/pkg/cli"
	"github.com/devtool/devtool/pkg/deploy"
)

func ownedProject(name, ns string, objects ...string) string {
	return `schemaVersion: 2.2.0
metadata: {name: ` + name + `}
components:
  - name: k8s
    kubernetes:
      inlined: |
        apiVersion: v1
        kind: Namespace
        metadata: {name: ` + ns + `}
` + strings.Join(objects, "") + `commands:
  - id: deploy
    apply: {component: k8s, group: {kind: deploy, isDefault: true}}
`
}

func configMapDoc(name, ns, value string) string {
	return "        ---\n        apiVersion: v1\n        kind: ConfigMap\n        metadata: {name: " + name + ", namespace: " + ns + "}\n        data: {owner: " + value + "}\n"
}

// TestNeverDestroyWhatDevtoolDidNotCreate (the trust issue's acceptance, through the CLI): an
// object made with kubectl in the target namespace survives deploy (refused without
// --adopt), deploy --prune and undeploy; two projects with an object of the same name
// conflict instead of overwriting; undeploy keeps a Namespace that holds foreign objects and
// says so.
func TestNeverDestroyWhatDevtoolDidNotCreate(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	const ns = "trust-e2e"
	a := writeProject(t, map[string]string{"devfile.yaml": ownedProject("proj-a", ns, configMapDoc("shared", ns, "a"), configMapDoc("only-a", ns, "a"))})
	deployA := func(extra ...string) error {
		_, _, err := devtool(t, append([]string{"deploy", "--devfile", a, "--kubeconfig", e.kubeconfig, "-n", ns, "-o", "json"}, extra...)...)
		return err
	}
	a2 := writeProject(t, map[string]string{"devfile.yaml": ownedProject("proj-a", ns, configMapDoc("only-a", ns, "a"))})
	deployA2 := func(extra ...string) error {
		_, _, err := devtool(t, append([]string{"deploy", "--devfile", a2, "--kubeconfig", e.kubeconfig, "-n", ns, "-o", "json"}, extra...)...)
		return err
	}
	if err := deployA2(); err != nil {
		t.Fatal(err)
	}
	// 1. A ConfigMap "shared" made with kubectl (another field manager, no devtool labels) in
	// the project's namespace: a deploy whose manifests also hold "shared" is refused before
	// anything changes.
	mine := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "shared", "namespace": ns}, "data": map[string]any{"owner": "kubectl"}}}
	if _, err := e.client.Resource(configmaps).Namespace(ns).Create(ctx, mine, metav1.CreateOptions{FieldManager: "kubectl-create"}); err != nil {
		t.Fatal(err)
	}
	before, _ := e.get(t, configmaps, ns, "only-a")
	err := deployA()
	if code, exit := cli.Classify(err); code != "NotOwned" || exit != cli.ExitDeploy || !strings.Contains(err.Error(), "shared") || !strings.Contains(err.Error(), "--adopt") {
		t.Fatalf("deploy over a kubectl object: %s/%d %v; want NotOwned naming it and --adopt", code, exit, err)
	}
	if after, _ := e.get(t, configmaps, ns, "only-a"); after.GetResourceVersion() != before.GetResourceVersion() {
		t.Errorf("a refused deploy changed only-a")
	}
	// 2. deploy and deploy --prune of the project without "shared" leave it alone.
	for _, extra := range [][]string{nil, {"--prune"}} {
		if err := deployA2(extra...); err != nil {
			t.Fatalf("deploy %v: %v", extra, err)
		}
	}
	if got, err := e.get(t, configmaps, ns, "shared"); err != nil || got.Object["data"].(map[string]any)["owner"] != "kubectl" {
		t.Fatalf("kubectl's ConfigMap after deploy --prune: %v %v", got, err)
	}
	// 3. A second project with a ConfigMap "only-a" conflicts instead of taking it over.
	b := writeProject(t, map[string]string{"devfile.yaml": ownedProject("proj-b", ns, configMapDoc("only-a", ns, "b"))})
	_, _, err = devtool(t, "deploy", "--devfile", b, "--kubeconfig", e.kubeconfig, "-n", ns, "-o", "json")
	if err == nil {
		t.Fatal("project B took over project A's ConfigMap")
	}
	if got, _ := e.get(t, configmaps, ns, "only-a"); got == nil || got.Object["data"].(map[string]any)["owner"] != "a" {
		t.Errorf("project A's ConfigMap changed: %v", got)
	}
	// 4. undeploy deletes A's ConfigMap, keeps kubectl's and therefore the Namespace, and says so.
	rep, _, err := devtool(t, "undeploy", "--devfile", a2, "--kubeconfig", e.kubeconfig, "-n", ns, "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.get(t, configmaps, ns, "only-a"); !apierrors.IsNotFound(err) {
		t.Errorf("undeploy left only-a (err=%v)", err)
	}
	if _, err := e.get(t, configmaps, ns, "shared"); err != nil {
		t.Errorf("undeploy deleted kubectl's ConfigMap: %v", err)
	}
	got, err := e.get(t, namespaces, "", ns)
	if err != nil || got.GetDeletionTimestamp() != nil {
		t.Errorf("undeploy deleted the Namespace that holds kubectl's ConfigMap: %v %v", got, err)
	}
	kept := false
	for _, o := range rep.Objects {
		if o.Kind == "Namespace" && o.Action == deploy.Kept && strings.Contains(o.Note, "shared") {
			kept = true
		}
	}
	if !kept {
		t.Errorf("undeploy report does not say the Namespace was kept because of ConfigMap shared: %+v", rep.Objects)
	}
}
