package deploy

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

var gvrDeployments = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}

// clusterState is the resourceVersion of every object of the kinds the diff tests use, in
// every namespace, and the objects' names: a diff must leave it exactly as it was.
func clusterState(t *testing.T, dyn dynamic.Interface) map[string]string {
	t.Helper()
	state := map[string]string{}
	for _, gvr := range []schema.GroupVersionResource{gvrConfigMaps, gvrServices, gvrDeployments, gvrNamespaces, gvrClusterRoles, gvrCRDs} {
		list, err := dyn.Resource(gvr).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range list.Items {
			state[fmt.Sprintf("%s %s/%s", gvr.Resource, o.GetNamespace(), o.GetName())] = o.GetResourceVersion()
		}
	}
	return state
}

var gvrCRDs = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

type diffRow struct {
	Kind, Namespace, Name string
	Action                Action
	Note                  string
}

func diffRows(ds []ObjectDiff) []diffRow {
	out := []diffRow{}
	for _, d := range ds {
		out = append(out, diffRow{d.Kind, d.Namespace, d.Name, d.Action, d.Note})
	}
	return out
}

// withLabels labels objects as pkg/run does (see TestApplyMultiObject for why it matters).
func withLabels(t *testing.T, text string) []*unstructured.Unstructured {
	t.Helper()
	objs := decode(t, text)
	SetLabels(objs, map[string]string{"app.kubernetes.io/managed-by": "devtool"})
	return objs
}

const diffDeployedV1 = `apiVersion: v1
kind: ConfigMap
metadata: {name: same, namespace: diff-home}
data: {k: v}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: edited, namespace: diff-home}
data: {color: blue, size: "1"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: diff-home}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "127.0.0.1:5000/web:1"}]
`

const diffDesiredV2 = `apiVersion: v1
kind: ConfigMap
metadata: {name: same, namespace: diff-home}
data: {k: v}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: edited, namespace: diff-home}
data: {color: red, size: "1"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: diff-home}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "127.0.0.1:5000/web:1"}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: brand-new, namespace: diff-home}
data: {fresh: "yes"}
`

// TestDiff: against the real API server, an object that does not exist is created (the diff
// holds the whole object as the server would store it), an identical one is unchanged with an
// empty diff, a changed field is in the diff of a changed object (a Deployment's generation,
// which the change bumps, is not), and nothing in the cluster changes.
func TestDiff(t *testing.T) {
	a, dyn := newApplier(t)
	ctx := context.Background()
	ns := decode(t, "apiVersion: v1\nkind: Namespace\nmetadata: {name: diff-home}\n")
	if _, err := a.Apply(ctx, nil, Request{Objects: append(ns, withLabels(t, diffDeployedV1)...)}); err != nil {
		t.Fatal(err)
	}
	before := clusterState(t, dyn)

	ds, err := a.Diff(ctx, DiffRequest{Request: Request{Objects: withLabels(t, diffDesiredV2), Namespace: "default"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []diffRow{
		{"ConfigMap", "diff-home", "same", Unchanged, ""},
		{"ConfigMap", "diff-home", "edited", Changed, ""},
		{"Deployment", "diff-home", "web", Changed, ""},
		{"ConfigMap", "diff-home", "brand-new", Created, ""},
	}
	if diff := cmp.Diff(want, diffRows(ds)); diff != "" {
		t.Fatalf("diff actions (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(before, clusterState(t, dyn)); diff != "" {
		t.Errorf("Diff changed the cluster (-before +after):\n%s", diff)
	}
	if _, err := dyn.Resource(gvrConfigMaps).Namespace("diff-home").Get(ctx, "brand-new", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Diff created brand-new (or the lookup failed: %v)", err)
	}

	same, edited, web, created := ds[0], ds[1], ds[2], ds[3]
	if same.Diff != "" || same.Live == nil || same.Merged == nil {
		t.Errorf("unchanged object: diff %q, live %v, merged %v", same.Diff, same.Live != nil, same.Merged != nil)
	}

	wantEdited := `diff -u -N LIVE/v1.ConfigMap.diff-home.edited MERGED/v1.ConfigMap.diff-home.edited
--- LIVE/v1.ConfigMap.diff-home.edited
+++ MERGED/v1.ConfigMap.diff-home.edited
@@ -1,6 +1,6 @@
 apiVersion: v1
 data:
-  color: blue
+  color: red
   size: "1"
 kind: ConfigMap
 metadata:
`
	if diff := cmp.Diff(wantEdited, edited.Diff); diff != "" {
		t.Errorf("changed ConfigMap's diff (-want +got):\n%s", diff)
	}

	if !strings.Contains(web.Diff, "\n-  replicas: 1\n+  replicas: 3\n") {
		t.Errorf("Deployment diff does not show the replicas change:\n%s", web.Diff)
	}
	for _, noise := range []string{"generation", "resourceVersion", "managedFields", "uid:", "creationTimestamp", "status:"} {
		if strings.Contains(web.Diff, noise) {
			t.Errorf("Deployment diff shows %s:\n%s", noise, web.Diff)
		}
	}
	// The live side is the whole live object, minus the masked fields: the API server's
	// defaults are there.
	if strategy, _, _ := unstructured.NestedString(web.Live.Object, "spec", "strategy", "type"); strategy != "RollingUpdate" {
		t.Errorf("live Deployment without the server's defaults: %v", web.Live.Object["spec"])
	}

	// Created: the whole object, as the dry-run create returned it, from an empty file.
	if !strings.HasPrefix(created.Diff, "diff -u -N LIVE/v1.ConfigMap.diff-home.brand-new MERGED/v1.ConfigMap.diff-home.brand-new\n--- LIVE/v1.ConfigMap.diff-home.brand-new\n+++ MERGED/v1.ConfigMap.diff-home.brand-new\n@@ -0,0 +1,") {
		t.Errorf("created object's diff headers:\n%s", created.Diff)
	}
	for _, line := range []string{"+apiVersion: v1", "+data:", `+  fresh: "yes"`, "+kind: ConfigMap", "+  name: brand-new", "+  namespace: diff-home", "+    app.kubernetes.io/managed-by: devtool"} {
		if !strings.Contains(created.Diff, line+"\n") {
			t.Errorf("created object's diff lacks %q:\n%s", line, created.Diff)
		}
	}
	if strings.Contains(created.Diff, "uid:") || strings.Contains(created.Diff, "creationTimestamp") || created.Live != nil {
		t.Errorf("created object: server-generated fields shown, or a live side:\n%s", created.Diff)
	}
}

// TestDiffConflict: a field another field manager owns makes the diff fail with the same
// *ConflictError (inside a *ValidationError) as the deploy; with ForceConflicts the diff shows
// the field taken over. The cluster is unchanged either way.
func TestDiffConflict(t *testing.T) {
	a, dyn := newApplier(t)
	ctx := context.Background()
	theirs := decode(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: diff-contested, namespace: default}\ndata: {color: blue}\n")[0]
	if _, err := dyn.Resource(gvrConfigMaps).Namespace("default").Apply(ctx, "diff-contested", theirs, metav1.ApplyOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	before := clusterState(t, dyn)
	ours := func(force bool) Request {
		return Request{Objects: decode(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: diff-contested, namespace: default}\ndata: {color: red}\n"), ForceConflicts: force}
	}
	_, err := a.Diff(ctx, DiffRequest{Request: ours(false)})
	var ve *ValidationError
	var ce *ConflictError
	if !errors.As(err, &ve) || !errors.As(err, &ce) {
		t.Fatalf("Diff error = %v, want a *ValidationError with a *ConflictError", err)
	}
	if diff := cmp.Diff([]FieldConflict{{Field: ".data.color", Manager: "kubectl-edit"}}, ce.Conflicts); diff != "" {
		t.Errorf("conflicts (-want +got):\n%s", diff)
	}
	ds, err := a.Diff(ctx, DiffRequest{Request: ours(true)})
	if err != nil {
		t.Fatalf("with ForceConflicts: %v", err)
	}
	if len(ds) != 1 || ds[0].Action != Changed || !strings.Contains(ds[0].Diff, "\n-  color: blue\n+  color: red\n") {
		t.Errorf("forced diff = %+v", ds)
	}
	if diff := cmp.Diff(before, clusterState(t, dyn)); diff != "" {
		t.Errorf("Diff changed the cluster (-before +after):\n%s", diff)
	}
}

// TestDiffNewNamespaceAndCRD: a Namespace and a CustomResourceDefinition of the request are
// dry-run (created); what lives in that namespace, and the custom resource, cannot be and are
// shown as rendered, with a note. An object in a namespace that nobody creates is a problem.
func TestDiffNewNamespaceAndCRD(t *testing.T) {
	a, dyn := newApplier(t)
	ctx := context.Background()
	before := clusterState(t, dyn)
	objs := withLabels(t, `apiVersion: example.devtool.dev/v1
kind: Doohickey
metadata: {name: d1, namespace: default}
spec: {size: 3}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: in-new-ns, namespace: diff-new-ns}
data: {k: v}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: doohickeys.example.devtool.dev}
spec:
  group: example.devtool.dev
  scope: Namespaced
  names: {plural: doohickeys, singular: doohickey, kind: Doohickey}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
---
apiVersion: v1
kind: Namespace
metadata: {name: diff-new-ns}
`)
	ds, err := a.Diff(ctx, DiffRequest{Request: Request{Objects: objs}})
	if err != nil {
		t.Fatal(err)
	}
	want := []diffRow{
		{"Namespace", "", "diff-new-ns", Created, ""},
		{"CustomResourceDefinition", "", "doohickeys.example.devtool.dev", Created, ""},
		{"Doohickey", "default", "d1", Created, noteNewCRD},
		{"ConfigMap", "diff-new-ns", "in-new-ns", Created, noteNewNamespace},
	}
	if diff := cmp.Diff(want, diffRows(ds)); diff != "" {
		t.Fatalf("diff actions (-want +got):\n%s", diff)
	}
	// Rendered as Apply would send it: the namespace filled in, the labels set.
	if !strings.Contains(ds[2].Diff, "+  namespace: default\n") || !strings.Contains(ds[3].Diff, "+    app.kubernetes.io/managed-by: devtool\n") {
		t.Errorf("rendered objects:\n%s\n%s", ds[2].Diff, ds[3].Diff)
	}
	// The Namespace comes from the API server (its defaults are there).
	if !strings.Contains(ds[0].Diff, "+  - kubernetes\n") {
		t.Errorf("Namespace not from a dry run (no spec.finalizers):\n%s", ds[0].Diff)
	}
	if diff := cmp.Diff(before, clusterState(t, dyn)); diff != "" {
		t.Errorf("Diff changed the cluster (-before +after):\n%s", diff)
	}

	_, err = a.Diff(ctx, DiffRequest{Request: Request{Objects: decode(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: diff-nowhere}\n")}})
	var ve *ValidationError
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), `namespace "diff-nowhere" does not exist`) {
		t.Errorf("object in a missing namespace: %v", err)
	}
}

// TestDiffApplySet: with the inventory, objects are compared as the deploy applies them (with
// the ApplySet member label: a redeploy of the same objects is unchanged), and members the
// request no longer holds are listed as pruned only with prune. Nothing is deleted.
func TestDiffApplySet(t *testing.T) {
	a, dyn := newApplier(t)
	ctx := context.Background()
	set := ApplySet{Name: ApplySetName("diff-inv"), Namespace: "default", Labels: map[string]string{"app.kubernetes.io/managed-by": "devtool"}}
	const v1 = `apiVersion: v1
kind: ConfigMap
metadata: {name: diff-inv-keep}
data: {k: v}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: diff-inv-gone}
data: {secret-ish: "not masked: a ConfigMap"}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: diff-inv-gone}
rules: []
`
	objs := withLabels(t, v1)
	for _, o := range objs {
		if o.GetKind() == "ConfigMap" {
			o.SetNamespace("default")
		}
	}
	deployRun(t, a, set, [][]*unstructured.Unstructured{objs}, false, DryRunNone)
	before := clusterState(t, dyn)

	// The same objects: unchanged, label included.
	ds, err := a.Diff(ctx, DiffRequest{Request: Request{Objects: withLabels(t, v1), ApplySet: &set}, Prune: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if d.Action != Unchanged {
			t.Errorf("%s %s: %s, want unchanged:\n%s", d.Kind, d.Name, d.Action, d.Diff)
		}
	}
	// Without the inventory the objects would lose the member label: changed.
	ds, err = a.Diff(ctx, DiffRequest{Request: Request{Objects: withLabels(t, v1)[:1]}})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 || ds[0].Action != Changed || !strings.Contains(ds[0].Diff, "\n-    "+LabelPartOf+": "+set.ID()+"\n") {
		t.Errorf("diff without the ApplySet = %+v", ds)
	}

	keepOnly := withLabels(t, v1)[:1]
	ds, err = a.Diff(ctx, DiffRequest{Request: Request{Objects: keepOnly, ApplySet: &set}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]diffRow{{"ConfigMap", "default", "diff-inv-keep", Unchanged, ""}}, diffRows(ds)); diff != "" {
		t.Errorf("without prune (-want +got):\n%s", diff)
	}
	ds, err = a.Diff(ctx, DiffRequest{Request: Request{Objects: withLabels(t, v1)[:1], ApplySet: &set}, Prune: true})
	if err != nil {
		t.Fatal(err)
	}
	want := []diffRow{
		{"ConfigMap", "default", "diff-inv-keep", Unchanged, ""},
		{"ConfigMap", "default", "diff-inv-gone", Pruned, ""},
		{"ClusterRole", "", "diff-inv-gone", Pruned, ""},
	}
	if diff := cmp.Diff(want, diffRows(ds)); diff != "" {
		t.Fatalf("with prune (-want +got):\n%s", diff)
	}
	gone := ds[1]
	if !strings.HasPrefix(gone.Diff, "diff -u -N LIVE/v1.ConfigMap.default.diff-inv-gone MERGED/v1.ConfigMap.default.diff-inv-gone\n") ||
		!strings.Contains(gone.Diff, "\n@@ -1,") || !strings.Contains(gone.Diff, " +0,0 @@\n") || !strings.Contains(gone.Diff, "\n-  name: diff-inv-gone\n") {
		t.Errorf("pruned object's diff:\n%s", gone.Diff)
	}
	if !strings.HasPrefix(ds[2].Diff, "diff -u -N LIVE/rbac.authorization.k8s.io.v1.ClusterRole..diff-inv-gone ") {
		t.Errorf("cluster-scoped object's diff name:\n%s", ds[2].Diff)
	}
	if diff := cmp.Diff(before, clusterState(t, dyn)); diff != "" {
		t.Errorf("Diff changed the cluster (-before +after):\n%s", diff)
	}
}

// TestMaskForDiff: what a diff leaves out, and kubectl's Secret masking.
func TestMaskForDiff(t *testing.T) {
	obj := func(s string) *unstructured.Unstructured {
		return decode(t, s)[0]
	}
	live := obj(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: ns
  uid: 0b5c
  resourceVersion: "41"
  generation: 1
  creationTimestamp: "2026-01-01T00:00:00Z"
  managedFields: [{manager: devtool, operation: Apply}]
  annotations: {deployment.kubernetes.io/revision: "1"}
spec: {replicas: 1}
status: {replicas: 1}
`)
	merged := obj(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: ns
  uid: 0b5c
  resourceVersion: "41"
  generation: 2
  creationTimestamp: "2026-01-01T00:00:00Z"
  managedFields: [{manager: devtool, operation: Apply}]
  annotations: {deployment.kubernetes.io/revision: "1"}
spec: {replicas: 3}
status: {replicas: 1}
`)
	l, m := maskForDiff(live, merged, false)
	wantLive := map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "web", "namespace": "ns", "annotations": map[string]any{"deployment.kubernetes.io/revision": "1"}},
		"spec":     map[string]any{"replicas": float64(1)}, // Decode's JSON numbers
	}
	if diff := cmp.Diff(wantLive, l.Object); diff != "" {
		t.Errorf("masked live (-want +got):\n%s", diff)
	}
	if r, _, _ := unstructured.NestedFieldNoCopy(m.Object, "spec", "replicas"); r != float64(3) || m.Object["status"] != nil || m.GetGeneration() != 0 {
		t.Errorf("masked merged = %v", m.Object)
	}
	if _, ok := live.Object["status"]; !ok || live.GetResourceVersion() != "41" {
		t.Errorf("maskForDiff changed its input")
	}
	// A manifest that sets status (a kind without a status subresource) keeps it.
	if l, _ := maskForDiff(live, merged, true); l.Object["status"] == nil {
		t.Errorf("status dropped although the manifest sets it")
	}

	secret := func(data string) *unstructured.Unstructured {
		return obj("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n" + data)
	}
	tests := []struct {
		name                 string
		live, merged         *unstructured.Unstructured
		wantLive, wantMerged map[string]any
	}{
		{
			name:       "changed, same, added, removed",
			live:       secret("data: {changed: YQ==, same: Yg==, removed: Yw==}\n"),
			merged:     secret("data: {changed: ZQ==, same: Yg==, added: ZA==}\n"),
			wantLive:   map[string]any{"changed": "*** (before)", "same": "***", "removed": "***"},
			wantMerged: map[string]any{"changed": "*** (after)", "same": "***", "added": "***"},
		},
		{
			name:       "created",
			merged:     secret("data: {k: YQ==}\n"),
			wantMerged: map[string]any{"k": "***"},
		},
		{
			name:     "pruned",
			live:     secret("data: {k: YQ==}\n"),
			wantLive: map[string]any{"k": "***"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, m := maskForDiff(tt.live, tt.merged, false)
			data := func(o *unstructured.Unstructured) map[string]any {
				if o == nil {
					return nil
				}
				d, _, _ := unstructured.NestedMap(o.Object, "data")
				return d
			}
			if diff := cmp.Diff(tt.wantLive, data(l)); diff != "" {
				t.Errorf("live data (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantMerged, data(m)); diff != "" {
				t.Errorf("merged data (-want +got):\n%s", diff)
			}
		})
	}
	// A rendered Secret (not dry-run) may carry stringData: masked too.
	_, m = maskForDiff(nil, secret("stringData: {password: hunter2}\n"), false)
	if got, _, _ := unstructured.NestedString(m.Object, "stringData", "password"); got != "***" {
		t.Errorf("stringData shown: %q", got)
	}
	// The diff of a changed Secret shows that a value changed, not the value.
	d := ObjectDiff{APIVersion: "v1", Kind: "Secret", Name: "s"}
	fillDiff(&d, secret("data: {k: YQ==}\n"), secret("data: {k: Yg==}\n"), false)
	if d.Action != Changed || strings.Contains(d.Diff, "YQ==") || strings.Contains(d.Diff, "Yg==") || !strings.Contains(d.Diff, "-  k: '*** (before)'\n+  k: '*** (after)'\n") {
		t.Errorf("secret diff (%s):\n%s", d.Action, d.Diff)
	}
}

func TestDiffName(t *testing.T) {
	got := []string{
		DiffName(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, "ns", "web"),
		DiffName(schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, "default", "c"),
		DiffName(schema.GroupVersionKind{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole"}, "", "r"),
	}
	sort.Strings(got)
	want := []string{"apps.v1.Deployment.ns.web", "rbac.authorization.k8s.io.v1.ClusterRole..r", "v1.ConfigMap.default.c"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
