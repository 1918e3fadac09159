package run

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/devtool/devtool/pkg/build"
	"github.com/devtool/devtool/pkg/deploy"
)

// fakeDiffer is a fakeDeployer that can diff: it records the requests and returns diffs.
type fakeDiffer struct {
	fakeDeployer
	diffReqs []deploy.DiffRequest
	prunes   []bool
	diffs    []deploy.ObjectDiff
	diffErr  error
}

func (d *fakeDiffer) Diff(ctx context.Context, req deploy.DiffRequest) ([]deploy.ObjectDiff, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, "diff")
	d.diffReqs = append(d.diffReqs, req)
	d.prunes = append(d.prunes, req.Prune)
	return d.diffs, d.diffErr
}

// byKind sorts objects by kind and name (parallel apply steps apply in any order).
func byKind(objs []*unstructured.Unstructured) []map[string]any {
	sorted := append([]*unstructured.Unstructured(nil), objs...)
	sort.Slice(sorted, func(i, j int) bool {
		return sorted[i].GetKind()+sorted[i].GetName() < sorted[j].GetKind()+sorted[j].GetName()
	})
	out := make([]map[string]any, len(sorted))
	for i, o := range sorted {
		out[i] = o.Object
	}
	return out
}

// TestDiffSendsWhatDeployApplies: with the images of a build report (--images), diff hands the
// Differ exactly the objects, namespace, conflict mode and ApplySet that deploy applies, and
// does nothing else with the cluster.
func TestDiffSendsWhatDeployApplies(t *testing.T) {
	d, p := twoImageProject(t)
	digest := "sha256:" + strings.Repeat("b", 64)
	prebuilt := map[string]build.Result{
		"front": {Name: "front", Repository: "127.0.0.1:5000/me/shop-front", Tag: "v7", Digest: digest},
		"back":  {Name: "back", Repository: "quay.example/team/back", Tag: "v7", Digest: digest},
	}
	opts := Options{ImageRegistry: "127.0.0.1:5000/me", Namespace: "team", ForceConflicts: true, Prebuilt: prebuilt, Version: "v1.2.3", Prune: true}

	dep := &fakeDeployer{}
	deployOpts := opts
	deployOpts.Push = true
	if _, err := (&Runner{Deployer: dep}).Deploy(context.Background(), d, p, deployOpts); err != nil {
		t.Fatal(err)
	}
	var applied []*unstructured.Unstructured
	for _, req := range dep.applied {
		applied = append(applied, req.Objects...)
	}

	dif := &fakeDiffer{diffs: []deploy.ObjectDiff{{Kind: "Deployment", Name: "front", Action: deploy.Unchanged}}}
	rep, err := (&Runner{Deployer: dif}).Diff(context.Background(), d, p, opts)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"diff"}, dif.calls); diff != "" {
		t.Errorf("deployer calls (-want +got):\n%s", diff)
	}
	req := dif.diffReqs[0]
	if diff := cmp.Diff(byKind(applied), byKind(req.Objects)); diff != "" {
		t.Errorf("diff objects differ from the deploy's (-deploy +diff):\n%s", diff)
	}
	if req.Namespace != "team" || !req.ForceConflicts || !dif.prunes[0] {
		t.Errorf("request namespace %q force %v prune %v", req.Namespace, req.ForceConflicts, dif.prunes[0])
	}
	if req.ApplySet == nil || dep.applied[0].ApplySet == nil {
		t.Fatal("no ApplySet")
	}
	if diff := cmp.Diff(*dep.applied[0].ApplySet, *req.ApplySet); diff != "" {
		t.Errorf("ApplySet (-deploy +diff):\n%s", diff)
	}
	if rep.Kind != "DiffReport" || rep.APIVersion != APIVersion || rep.Differences || len(rep.Notes) != 0 || rep.Inventory == nil || rep.Inventory.ID != req.ApplySet.ID() {
		t.Errorf("report = %+v", rep)
	}
}

// TestDiffWithoutBuild: diff builds nothing and needs no Dockerfile; images that builds would
// produce are shown as their repository, and a note says so. Differences is set when an
// object would be created, changed or pruned; a cluster error is a *PreflightError.
func TestDiffWithoutBuild(t *testing.T) {
	d, p := project(t, map[string]string{ // no Dockerfile
		"devfile.yaml": twoImages,
		"k8s/shop-ns.yaml": `apiVersion: v1
kind: Pod
metadata: {name: back}
spec: {containers: [{name: c, image: "quay.example/team/back:latest"}]}
`,
	})
	sink := &recordSink{}
	dif := &fakeDiffer{diffs: []deploy.ObjectDiff{
		{Kind: "Deployment", Namespace: "shop-ns", Name: "front", Action: deploy.Unchanged},
		{Kind: "Pod", Namespace: "shop-ns", Name: "back", Action: deploy.Changed, Diff: "diff -u -N …"},
	}}
	r := &Runner{Deployer: dif, Sink: sink}
	rep, err := r.Diff(context.Background(), d, p, Options{ImageRegistry: "127.0.0.1:5000/me"})
	if err != nil {
		t.Fatal(err)
	}
	var images []string
	for _, o := range dif.diffReqs[0].Objects {
		images = append(images, deploy.ImagesOf([]*unstructured.Unstructured{o})...)
	}
	sort.Strings(images)
	if diff := cmp.Diff([]string{"127.0.0.1:5000/me/shop-front", "quay.example/team/back"}, images); diff != "" {
		t.Errorf("images (-want +got):\n%s", diff)
	}
	if len(rep.Notes) != 2 || !strings.Contains(rep.Notes[0], `"front"`) || !strings.Contains(rep.Notes[0], "127.0.0.1:5000/me/shop-front") || !strings.Contains(rep.Notes[0], "--images") {
		t.Errorf("notes = %q", rep.Notes)
	}
	if !rep.Differences || len(rep.Objects) != 2 {
		t.Errorf("report = %+v, want the two objects and differences", rep)
	}
	var last string
	for _, e := range sink.events {
		last = e.Message
	}
	if last != "differences: 1 changed (1 unchanged)" {
		t.Errorf("last event %q", last)
	}

	dif.diffs = []deploy.ObjectDiff{{Kind: "Pod", Name: "back", Action: deploy.Unchanged}}
	sink.events = nil
	if rep, err = r.Diff(context.Background(), d, p, Options{ImageRegistry: "127.0.0.1:5000/me"}); err != nil || rep.Differences {
		t.Errorf("all unchanged: differences %v, err %v", rep.Differences, err)
	}
	if last := sink.events[len(sink.events)-1].Message; last != "no differences (1 unchanged)" {
		t.Errorf("last event %q", last)
	}

	dif.diffErr = &deploy.ValidationError{Problems: []deploy.ObjectProblem{{Object: "Pod v1 shop-ns/back", Message: "rejected"}}}
	_, err = r.Diff(context.Background(), d, p, Options{ImageRegistry: "127.0.0.1:5000/me"})
	var pe *PreflightError
	var ve *deploy.ValidationError
	if !errors.As(err, &pe) || !errors.As(err, &ve) {
		t.Errorf("error = %v, want a *PreflightError wrapping the *ValidationError", err)
	}
}

// TestDiffReportJSON pins the shape of the DiffReport document (-o json).
func TestDiffReportJSON(t *testing.T) {
	rep := DiffReport{
		APIVersion: APIVersion, Kind: "DiffReport", Command: "deploy", Differences: true,
		Objects: []deploy.ObjectDiff{
			{APIVersion: "v1", Kind: "ConfigMap", Namespace: "ns", Name: "c", Action: deploy.Changed, Source: `component "k8s", devfile.yaml`, Diff: "diff -u -N LIVE/v1.ConfigMap.ns.c MERGED/v1.ConfigMap.ns.c\n…"},
			{APIVersion: "example.dev/v1", Kind: "Gadget", Namespace: "ns", Name: "g", Action: deploy.Created, Note: "not dry-run: …", Diff: "…",
				Merged: &unstructured.Unstructured{Object: map[string]any{"kind": "Gadget"}}},
			{APIVersion: "v1", Kind: "Service", Namespace: "ns", Name: "s", Action: deploy.Unchanged},
		},
		Notes:     []string{"image component \"img\" is not built by diff: …"},
		Inventory: &Inventory{Kind: "ConfigMap", Namespace: "ns", Name: "devtool-applyset-p", ID: "applyset-x-v1"},
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "apiVersion": "devtool.dev/v1alpha1",
  "kind": "DiffReport",
  "command": "deploy",
  "differences": true,
  "objects": [
    {
      "apiVersion": "v1",
      "kind": "ConfigMap",
      "namespace": "ns",
      "name": "c",
      "action": "changed",
      "source": "component \"k8s\", devfile.yaml",
      "diff": "diff -u -N LIVE/v1.ConfigMap.ns.c MERGED/v1.ConfigMap.ns.c\n…"
    },
    {
      "apiVersion": "example.dev/v1",
      "kind": "Gadget",
      "namespace": "ns",
      "name": "g",
      "action": "created",
      "note": "not dry-run: …",
      "diff": "…"
    },
    {
      "apiVersion": "v1",
      "kind": "Service",
      "namespace": "ns",
      "name": "s",
      "action": "unchanged"
    }
  ],
  "notes": [
    "image component \"img\" is not built by diff: …"
  ],
  "inventory": {
    "kind": "ConfigMap",
    "namespace": "ns",
    "name": "devtool-applyset-p",
    "id": "applyset-x-v1"
  }
}`
	if diff := cmp.Diff(want, string(b)); diff != "" {
		t.Errorf("DiffReport JSON (-want +got):\n%s", diff)
	}
}
