package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/devtool/devtool/pkg/cli"
	"github.com/devtool/devtool/pkg/run"
)

var services = schema.GroupVersionResource{Version: "v1", Resource: "services"}

// devtoolText runs devtool with text output and returns stdout.
func devtoolText(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	err := cli.Main(ctx, args, cli.Streams{In: strings.NewReader(""), Out: &out, Err: &errb}, func(string) (string, bool) { return "", false })
	t.Logf("devtool %s\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), out.String(), errb.String())
	return out.String(), err
}

type row struct{ Kind, Namespace, Name, Action string }

func reportRows(rep *run.Report) []row {
	out := []row{}
	for _, o := range rep.Objects {
		out = append(out, row{o.Kind, o.Namespace, o.Name, string(o.Action)})
	}
	return out
}

// TestDeployPruneUndeploy is design.md §5's inventory end to end: deploy the hello sample,
// remove its Service from the devfile, deploy (the Service stays), deploy --prune (the Service
// is deleted, nothing else changes), undeploy (everything is deleted, the inventory too), and
// undeploy again (nothing to do, exit 0).
func TestDeployPruneUndeploy(t *testing.T) {
	e := setup(t)
	dir := sample(t, "hello")
	common := []string{"--devfile", dir, "--kubeconfig", e.kubeconfig}
	deployArgs := append([]string{"deploy", "--image-registry", e.registry + "/demo", "--var", "BASE_IMAGE=" + e.base, "--var", "NAMESPACE=prune-e2e", "-o", "json"}, common...)

	rep, _, err := devtool(t, deployArgs...)
	if err != nil {
		t.Fatalf("first deploy: %v", err)
	}
	if rep.Inventory == nil || rep.Inventory.Namespace != "default" || rep.Inventory.Name != "devtool-applyset-hello" || !strings.HasPrefix(rep.Inventory.ID, "applyset-") {
		t.Errorf("report inventory = %+v", rep.Inventory)
	}
	parent, err := e.get(t, configmaps, "default", "devtool-applyset-hello")
	if err != nil {
		t.Fatalf("inventory: %v", err)
	}
	id := parent.GetLabels()["applyset.kubernetes.io/id"]
	wantAnn := map[string]string{
		"applyset.kubernetes.io/tooling":               "devtool/v0",
		"applyset.kubernetes.io/contains-group-kinds":  "ConfigMap,Deployment.apps,Namespace,Service",
		"applyset.kubernetes.io/additional-namespaces": "prune-e2e",
	}
	if diff := cmp.Diff(wantAnn, parent.GetAnnotations()); diff != "" || id != rep.Inventory.ID {
		t.Errorf("inventory id %q (report: %q), annotations (-want +got):\n%s", id, rep.Inventory.ID, diff)
	}
	rvs := map[string]string{}
	for _, o := range rep.Objects {
		rvs[o.Kind] = o.ResourceVersion
	}
	for _, o := range []struct {
		gvr      schema.GroupVersionResource
		ns, name string
	}{{namespaces, "", "prune-e2e"}, {configmaps, "prune-e2e", "hello-config"}, {deployments, "prune-e2e", "hello"}, {services, "prune-e2e", "hello"}} {
		obj, err := e.get(t, o.gvr, o.ns, o.name)
		if err != nil {
			t.Fatal(err)
		}
		if got := obj.GetLabels()["applyset.kubernetes.io/part-of"]; got != id {
			t.Errorf("%s %s: part-of label %q, want %q", o.gvr.Resource, o.name, got, id)
		}
	}

	// The Service leaves the devfile.
	df := filepath.Join(dir, "devfile.yaml")
	b, err := os.ReadFile(df)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(b), "        ---\n        apiVersion: v1\n        kind: Service")
	j := strings.Index(string(b), "commands:")
	if i < 0 || j < i {
		t.Fatal("sample changed: cannot find its Service")
	}
	if err := os.WriteFile(df, []byte(string(b)[:i]+string(b)[j:]), 0o644); err != nil {
		t.Fatal(err)
	}

	// Without --prune the Service stays, and the inventory keeps listing it.
	rep, _, err = devtool(t, deployArgs...)
	if err != nil {
		t.Fatalf("deploy without the Service: %v", err)
	}
	if len(rep.Objects) != 3 {
		t.Errorf("objects = %+v, want 3 unchanged", rep.Objects)
	}
	if _, err := e.get(t, services, "prune-e2e", "hello"); err != nil {
		t.Errorf("the Service was deleted without --prune: %v", err)
	}
	if p, _ := e.get(t, configmaps, "default", "devtool-applyset-hello"); p == nil || p.GetResourceVersion() != parent.GetResourceVersion() {
		t.Errorf("the inventory changed without --prune")
	}

	// --prune deletes it; nothing else changes.
	rep, stderr, err := devtool(t, append(deployArgs, "--prune", "--progress", "text")...)
	if err != nil {
		t.Fatalf("deploy --prune: %v", err)
	}
	want := []row{
		{"Namespace", "", "prune-e2e", "unchanged"},
		{"ConfigMap", "prune-e2e", "hello-config", "unchanged"},
		{"Deployment", "prune-e2e", "hello", "unchanged"},
		{"Service", "prune-e2e", "hello", "pruned"},
	}
	if diff := cmp.Diff(want, reportRows(rep)); diff != "" {
		t.Errorf("deploy --prune report (-want +got):\n%s", diff)
	}
	for _, o := range rep.Objects {
		if o.Action == "unchanged" && o.ResourceVersion != rvs[o.Kind] {
			t.Errorf("%s %s: resourceVersion %s → %s", o.Kind, o.Name, rvs[o.Kind], o.ResourceVersion)
		}
	}
	if !strings.Contains(stderr, "Service prune-e2e/hello pruned") {
		t.Errorf("progress does not report the pruned Service:\n%s", stderr)
	}
	if _, err := e.get(t, services, "prune-e2e", "hello"); !apierrors.IsNotFound(err) {
		t.Errorf("Service after --prune: err = %v, want NotFound", err)
	}
	parent, err = e.get(t, configmaps, "default", "devtool-applyset-hello")
	if err != nil {
		t.Fatal(err)
	}
	if got := parent.GetAnnotations()["applyset.kubernetes.io/contains-group-kinds"]; got != "ConfigMap,Deployment.apps,Namespace" {
		t.Errorf("inventory group-kinds after prune = %q", got)
	}

	// undeploy --dry-run=server lists, deletes nothing.
	dry, _, err := devtool(t, append([]string{"undeploy", "--dry-run=server", "-o", "json"}, common...)...)
	if err != nil {
		t.Fatalf("undeploy --dry-run=server: %v", err)
	}
	if len(dry.Objects) != 3 || dry.Objects[0].Action != "would-delete" {
		t.Errorf("undeploy dry run = %+v", dry.Objects)
	}
	if _, err := e.get(t, deployments, "prune-e2e", "hello"); err != nil {
		t.Errorf("undeploy --dry-run=server deleted the Deployment: %v", err)
	}

	// undeploy deletes everything: namespaced objects first, the Namespace last, then the
	// inventory. A bare API server has no namespace controller: the Namespace stays Terminating.
	out, _, err := devtool(t, append([]string{"undeploy", "-o", "json"}, common...)...)
	if err != nil {
		t.Fatalf("undeploy: %v", err)
	}
	if out.Kind != "UndeployReport" || out.APIVersion != run.APIVersion {
		t.Errorf("undeploy document: %s %s", out.APIVersion, out.Kind)
	}
	wantDeleted := []row{
		{"ConfigMap", "prune-e2e", "hello-config", "deleted"},
		{"Deployment", "prune-e2e", "hello", "deleted"},
		{"Namespace", "", "prune-e2e", "deleted"},
	}
	if diff := cmp.Diff(wantDeleted, reportRows(out)); diff != "" {
		t.Errorf("undeploy report (-want +got):\n%s", diff)
	}
	for _, o := range []struct {
		gvr      schema.GroupVersionResource
		ns, name string
	}{{configmaps, "prune-e2e", "hello-config"}, {deployments, "prune-e2e", "hello"}, {namespaces, "", "prune-e2e"}, {configmaps, "default", "devtool-applyset-hello"}} {
		obj, err := e.get(t, o.gvr, o.ns, o.name)
		if err == nil && obj.GetDeletionTimestamp() == nil {
			t.Errorf("%s %s/%s survived undeploy", o.gvr.Resource, o.ns, o.name)
		} else if err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
	}

	// Again: nothing to do, exit 0, in text and JSON.
	stdout, err := devtoolText(t, append([]string{"undeploy"}, common...)...)
	if err != nil {
		t.Fatalf("second undeploy: %v", err)
	}
	if strings.TrimSpace(stdout) != "nothing deployed by devtool for hello in namespace default" {
		t.Errorf("second undeploy stdout = %q", stdout)
	}
	stdout, err = devtoolText(t, append([]string{"undeploy", "-o", "json"}, common...)...)
	var again run.Report
	if err != nil || json.Unmarshal([]byte(stdout), &again) != nil || again.Message == "" || len(again.Objects) != 0 {
		t.Errorf("second undeploy -o json: err %v, %s", err, stdout)
	}

	// --dry-run=client is not an undeploy mode.
	if _, err := devtoolText(t, append([]string{"undeploy", "--dry-run=client"}, common...)...); err == nil {
		t.Errorf("undeploy --dry-run=client succeeded")
	} else if code, _ := cli.Classify(err); code != "Usage" {
		t.Errorf("undeploy --dry-run=client: %s %v", code, err)
	}
}
