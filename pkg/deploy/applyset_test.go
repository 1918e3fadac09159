package deploy

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// TestApplySetID compares the ID with the KEP-3659 formula worked out by hand:
//
//	printf 'devtool-applyset-hello.default.ConfigMap.' | sha256sum | cut -d' ' -f1 |
//	  xxd -r -p | base64 | tr '+/' '-_' | tr -d '='
func TestApplySetID(t *testing.T) {
	const want = "applyset-l8R2HqLRO65_SNItHivpkx_h_gaChPOcUc-a-vtMkkM-v1"
	for _, ns := range []string{"default", ""} {
		if got := (ApplySet{Name: "devtool-applyset-hello", Namespace: ns}).ID(); got != want {
			t.Errorf("ID with namespace %q = %s, want %s", ns, got, want)
		}
	}
	if got := (ApplySet{Name: "devtool-applyset-hello", Namespace: "other"}).ID(); got == want {
		t.Errorf("the ID does not depend on the namespace")
	}
}

func TestApplySetName(t *testing.T) {
	long := strings.Repeat("x", 60)
	tests := []struct{ project, want string }{
		{"hello", "devtool-applyset-hello"},
		{"my-app-2", "devtool-applyset-my-app-2"},
		{"My_App", "devtool-applyset-my-app-" + sha8("My_App")},
		{"日本", "devtool-applyset-" + sha8("日本")},
		{long, "devtool-applyset-" + long[:37] + "-" + sha8(long)},
	}
	for _, tt := range tests {
		got := ApplySetName(tt.project)
		if got != tt.want {
			t.Errorf("ApplySetName(%q) = %q, want %q", tt.project, got, tt.want)
		}
		if len(got) > 63 {
			t.Errorf("ApplySetName(%q) is %d characters long", tt.project, len(got))
		}
	}
}

func sha8(s string) string {
	u := ApplySetName(s)
	return u[len(u)-8:]
}

func TestParentObject(t *testing.T) {
	set := ApplySet{Name: "devtool-applyset-hello", Namespace: "home", Tooling: "devtool/v1.2.3", Labels: map[string]string{"app.kubernetes.io/managed-by": "devtool"}}
	inv := newInventory()
	for _, gk := range []schema.GroupKind{{Kind: "Namespace"}, {Group: "apps", Kind: "Deployment"}, {Kind: "ConfigMap"}, {Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}} {
		inv.kinds[gk] = true
	}
	for _, ns := range []string{"zeta", "home", "alpha"} {
		inv.namespaces[ns] = true
	}
	p := set.parentObject(inv)
	want := map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{
			"name": "devtool-applyset-hello", "namespace": "home",
			"labels": map[string]any{"app.kubernetes.io/managed-by": "devtool", LabelApplySetID: set.ID()},
			"annotations": map[string]any{
				AnnotationTooling:              "devtool/v1.2.3",
				AnnotationGroupKinds:           "ClusterRole.rbac.authorization.k8s.io,ConfigMap,Deployment.apps,Namespace",
				AnnotationAdditionalNamespaces: "alpha,zeta",
			},
		},
	}
	if diff := cmp.Diff(want, p.Object); diff != "" {
		t.Errorf("parent (-want +got):\n%s", diff)
	}
	// Only the parent's namespace: no additional-namespaces annotation; no tooling: devtool/v0.
	set.Tooling = ""
	p = set.parentObject(inventory{kinds: map[schema.GroupKind]bool{{Kind: "ConfigMap"}: true}, namespaces: map[string]bool{"home": true}})
	if diff := cmp.Diff(map[string]string{AnnotationTooling: "devtool/v0", AnnotationGroupKinds: "ConfigMap"}, p.GetAnnotations()); diff != "" {
		t.Errorf("annotations (-want +got):\n%s", diff)
	}
}

// deployRun is one deploy as pkg/run drives it: preflight, NewTransaction, one Apply per step,
// Commit. It returns the applied and the pruned objects.
func deployRun(t *testing.T, a *Applier, set ApplySet, steps [][]*unstructured.Unstructured, prune bool, dry DryRun) (applied, pruned []ObjectResult) {
	t.Helper()
	ctx := context.Background()
	var all []*unstructured.Unstructured
	for _, s := range steps {
		all = append(all, s...)
	}
	mode := DryRunServer
	if dry == DryRunClient {
		mode = DryRunClient
	}
	if err := a.Validate(ctx, Preflight{Request: Request{Objects: all, DryRun: mode, ApplySet: &set}}); err != nil {
		t.Fatalf("preflight: %v", err)
	}
	tx, err := NewTransaction(Request{Objects: all, DryRun: dry, ApplySet: &set})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range steps {
		res, err := a.Apply(ctx, tx, Request{Objects: s, DryRun: dry})
		if err != nil {
			t.Fatalf("Apply: %v", err)
		}
		applied = append(applied, res.Objects...)
	}
	pruned, err = a.Commit(ctx, tx, applied, prune)
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return applied, pruned
}

type objRow struct {
	Kind, Namespace, Name string
	Action                Action
}

func rows(objs []ObjectResult) []objRow {
	out := []objRow{}
	for _, o := range objs {
		out = append(out, objRow{o.Kind, o.Namespace, o.Name, o.Action})
	}
	return out
}

// parentOf reads the parent ConfigMap; nil when it does not exist.
func parentOf(t *testing.T, dyn dynamic.Interface, set ApplySet) *unstructured.Unstructured {
	t.Helper()
	p, err := dyn.Resource(gvrConfigMaps).Namespace(set.namespace()).Get(context.Background(), set.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// gone reports whether an object was deleted: not found, or (Namespaces in an API server
// without a namespace controller) terminating.
func gone(t *testing.T, dyn dynamic.Interface, gvr schema.GroupVersionResource, ns, name string) bool {
	t.Helper()
	o, err := dyn.Resource(gvr).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return true
	}
	if err != nil {
		t.Fatal(err)
	}
	return o.GetDeletionTimestamp() != nil
}

var gvrNamespaces = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}

const inventoryV1 = `apiVersion: v1
kind: Namespace
metadata: {name: inv-home}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: keep}
data: {k: v}
---
apiVersion: v1
kind: Service
metadata: {name: inv-stale-svc}
spec: {ports: [{port: 80}]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: inv-stale, namespace: default}
data: {k: v}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: inv-keep}
rules: []
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: inv-stale}
rules: []
`

// TestApplySetLifecycle: deploy (the parent's namespace created by the deploy itself), redeploy
// without changes, drop objects without and with prune (dry run first), then undeploy twice.
func TestApplySetLifecycle(t *testing.T) {
	a, dyn := newApplier(t)
	ctx := context.Background()
	set := ApplySet{Name: ApplySetName("inv-life"), Namespace: "inv-home", Tooling: "devtool/v0.1.0", Labels: map[string]string{"app.kubernetes.io/managed-by": "devtool"}}
	objs := decode(t, inventoryV1)
	// Two apply steps, as a devfile with two kubernetes components gives.
	steps := [][]*unstructured.Unstructured{objs[:3], objs[3:]}
	for _, s := range steps {
		for _, o := range s {
			if o.GetKind() != "Namespace" && o.GetKind() != "ClusterRole" && o.GetNamespace() == "" {
				o.SetNamespace("inv-home")
			}
		}
	}
	// Not members: the same kinds and name pattern in a namespace of the set, one without the
	// label, one labelled for another ApplySet.
	other := ApplySet{Name: ApplySetName("someone-else"), Namespace: "default"}
	for name, labels := range map[string]map[string]string{
		"inv-stale-unlabelled": {"app.kubernetes.io/managed-by": "devtool"},
		"inv-stale-other-set":  {LabelPartOf: other.ID()},
	} {
		cm := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap"}}
		cm.SetName(name)
		cm.SetLabels(labels)
		if _, err := dyn.Resource(gvrConfigMaps).Namespace("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	applied, pruned := deployRun(t, a, set, steps, false, DryRunNone)
	want := []objRow{
		{"Namespace", "", "inv-home", Created}, // created by the transaction's begin for the parent, reported by its Apply
		{"ConfigMap", "inv-home", "keep", Created},
		{"Service", "inv-home", "inv-stale-svc", Created},
		{"ConfigMap", "default", "inv-stale", Created},
		{"ClusterRole", "", "inv-keep", Created},
		{"ClusterRole", "", "inv-stale", Created},
	}
	if diff := cmp.Diff(want, rows(applied)); diff != "" {
		t.Errorf("first deploy (-want +got):\n%s", diff)
	}
	if len(pruned) != 0 {
		t.Errorf("pruned without prune: %+v", pruned)
	}
	p := parentOf(t, dyn, set)
	if p == nil {
		t.Fatal("no parent after the first deploy")
	}
	wantAnn := map[string]string{
		AnnotationTooling:              "devtool/v0.1.0",
		AnnotationGroupKinds:           "ClusterRole.rbac.authorization.k8s.io,ConfigMap,Namespace,Service",
		AnnotationAdditionalNamespaces: "default",
	}
	if diff := cmp.Diff(wantAnn, p.GetAnnotations()); diff != "" {
		t.Errorf("parent annotations (-want +got):\n%s", diff)
	}
	if p.GetLabels()[LabelApplySetID] != set.ID() || p.GetLabels()["app.kubernetes.io/managed-by"] != "devtool" {
		t.Errorf("parent labels = %v", p.GetLabels())
	}
	for _, mf := range p.GetManagedFields() {
		if mf.Manager != FieldManager || mf.Operation != metav1.ManagedFieldsOperationApply {
			t.Errorf("parent managed by %s/%s, want server-side apply by %s only", mf.Manager, mf.Operation, FieldManager)
		}
	}
	cm, err := dyn.Resource(gvrConfigMaps).Namespace("default").Get(ctx, "inv-stale", metav1.GetOptions{})
	if err != nil || cm.GetLabels()[LabelPartOf] != set.ID() {
		t.Errorf("member label: %v (err %v), want %s=%s", cm.GetLabels(), err, LabelPartOf, set.ID())
	}

	// The same deploy again, with prune: nothing changes, the parent included.
	rv := p.GetResourceVersion()
	applied, pruned = deployRun(t, a, set, steps, true, DryRunNone)
	for _, o := range applied {
		if o.Action != Unchanged {
			t.Errorf("redeploy: %s %s %s", o.Kind, o.Name, o.Action)
		}
	}
	if len(pruned) != 0 {
		t.Errorf("redeploy pruned %+v", pruned)
	}
	if got := parentOf(t, dyn, set).GetResourceVersion(); got != rv {
		t.Errorf("redeploy changed the parent: resourceVersion %s → %s", rv, got)
	}

	// The Service, the ConfigMap in default and a ClusterRole leave the manifests.
	smaller := [][]*unstructured.Unstructured{{objs[0], objs[1]}, {objs[4]}}
	if _, pruned = deployRun(t, a, set, smaller, false, DryRunNone); len(pruned) != 0 {
		t.Errorf("pruned without prune: %+v", pruned)
	}
	if diff := cmp.Diff(wantAnn, parentOf(t, dyn, set).GetAnnotations()); diff != "" {
		t.Errorf("without prune the parent must keep listing the stale members (-want +got):\n%s", diff)
	}
	wantPruned := []objRow{
		{"ConfigMap", "default", "inv-stale", WouldPrune},
		{"Service", "inv-home", "inv-stale-svc", WouldPrune},
		{"ClusterRole", "", "inv-stale", WouldPrune},
	}
	rv = parentOf(t, dyn, set).GetResourceVersion()
	_, pruned = deployRun(t, a, set, smaller, true, DryRunServer)
	if diff := cmp.Diff(wantPruned, rows(pruned)); diff != "" {
		t.Errorf("dry-run prune (-want +got):\n%s", diff)
	}
	if _, pruned = deployRun(t, a, set, smaller, true, DryRunClient); len(pruned) != 0 {
		t.Errorf("client dry run listed prune candidates: %+v", pruned)
	}
	if gone(t, dyn, gvrServices, "inv-home", "inv-stale-svc") || gone(t, dyn, gvrConfigMaps, "default", "inv-stale") || gone(t, dyn, gvrClusterRoles, "", "inv-stale") {
		t.Errorf("a dry run deleted something")
	}
	if got := parentOf(t, dyn, set).GetResourceVersion(); got != rv {
		t.Errorf("a dry run changed the parent")
	}

	_, pruned = deployRun(t, a, set, smaller, true, DryRunNone)
	for i := range wantPruned {
		wantPruned[i].Action = Pruned
	}
	if diff := cmp.Diff(wantPruned, rows(pruned)); diff != "" {
		t.Errorf("prune (-want +got):\n%s", diff)
	}
	for _, o := range []struct {
		gvr      schema.GroupVersionResource
		ns, name string
	}{{gvrServices, "inv-home", "inv-stale-svc"}, {gvrConfigMaps, "default", "inv-stale"}, {gvrClusterRoles, "", "inv-stale"}} {
		if !gone(t, dyn, o.gvr, o.ns, o.name) {
			t.Errorf("%s %s/%s was not pruned", o.gvr.Resource, o.ns, o.name)
		}
	}
	for _, o := range []struct {
		gvr      schema.GroupVersionResource
		ns, name string
	}{{gvrConfigMaps, "default", "inv-stale-unlabelled"}, {gvrConfigMaps, "default", "inv-stale-other-set"}, {gvrConfigMaps, "inv-home", "keep"}, {gvrClusterRoles, "", "inv-keep"}} {
		if gone(t, dyn, o.gvr, o.ns, o.name) {
			t.Errorf("%s %s/%s was deleted; it is not a stale member", o.gvr.Resource, o.ns, o.name)
		}
	}
	narrowed := map[string]string{
		AnnotationTooling:    "devtool/v0.1.0",
		AnnotationGroupKinds: "ClusterRole.rbac.authorization.k8s.io,ConfigMap,Namespace",
	}
	if diff := cmp.Diff(narrowed, parentOf(t, dyn, set).GetAnnotations()); diff != "" {
		t.Errorf("parent after prune (-want +got):\n%s", diff)
	}

	// Undeploy: a dry run first, then for real, then again.
	wantDeleted := []objRow{
		{"ConfigMap", "inv-home", "keep", WouldDelete},
		{"ClusterRole", "", "inv-keep", WouldDelete},
		{"Namespace", "", "inv-home", WouldDelete},
	}
	deleted, err := a.Undeploy(ctx, UndeployRequest{ApplySet: set, DryRun: DryRunServer})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantDeleted, rows(deleted)); diff != "" {
		t.Errorf("undeploy dry run (-want +got):\n%s", diff)
	}
	if parentOf(t, dyn, set) == nil || gone(t, dyn, gvrConfigMaps, "inv-home", "keep") || gone(t, dyn, gvrNamespaces, "", "inv-home") {
		t.Fatal("undeploy --dry-run=server deleted something")
	}
	deleted, err = a.Undeploy(ctx, UndeployRequest{ApplySet: set, DryRun: DryRunNone})
	if err != nil {
		t.Fatal(err)
	}
	for i := range wantDeleted {
		wantDeleted[i].Action = Deleted
	}
	if diff := cmp.Diff(wantDeleted, rows(deleted)); diff != "" {
		t.Errorf("undeploy (-want +got):\n%s", diff)
	}
	if parentOf(t, dyn, set) != nil {
		t.Errorf("the parent survived undeploy")
	}
	for _, o := range []struct {
		gvr      schema.GroupVersionResource
		ns, name string
	}{{gvrConfigMaps, "inv-home", "keep"}, {gvrClusterRoles, "", "inv-keep"}, {gvrNamespaces, "", "inv-home"}} {
		if !gone(t, dyn, o.gvr, o.ns, o.name) {
			t.Errorf("%s %s/%s survived undeploy", o.gvr.Resource, o.ns, o.name)
		}
	}
	if gone(t, dyn, gvrConfigMaps, "default", "inv-stale-unlabelled") || gone(t, dyn, gvrConfigMaps, "default", "inv-stale-other-set") {
		t.Errorf("undeploy deleted an object that is not a member")
	}
	if _, err := a.Undeploy(ctx, UndeployRequest{ApplySet: set, DryRun: DryRunNone}); !errors.Is(err, ErrNotDeployed) {
		t.Errorf("second undeploy: err = %v, want ErrNotDeployed", err)
	}
}

// TestUndeployIdempotent: members deleted behind devtool's back (or by an undeploy that
// failed half-way) are skipped.
func TestUndeployIdempotent(t *testing.T) {
	a, dyn := newApplier(t)
	ctx := context.Background()
	set := ApplySet{Name: ApplySetName("inv-idem"), Namespace: "default"}
	objs := decode(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: inv-idem-a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: inv-idem-b}\n")
	deployRun(t, a, set, [][]*unstructured.Unstructured{objs}, false, DryRunNone)
	if err := dyn.Resource(gvrConfigMaps).Namespace("default").Delete(ctx, "inv-idem-a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	deleted, err := a.Undeploy(ctx, UndeployRequest{ApplySet: set, DryRun: DryRunNone})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]objRow{{"ConfigMap", "default", "inv-idem-b", Deleted}}, rows(deleted)); diff != "" {
		t.Errorf("undeploy (-want +got):\n%s", diff)
	}
	if parentOf(t, dyn, set) != nil {
		t.Errorf("the parent survived")
	}
}

// TestForeignParent: a ConfigMap of the parent's name that another tool (or nobody) manages is
// never changed: the preflight names it, the first Apply of a transaction and Undeploy refuse.
func TestForeignParent(t *testing.T) {
	a, dyn := newApplier(t)
	ctx := context.Background()
	for name, ann := range map[string]map[string]string{
		"kubectl": {AnnotationTooling: "kubectl/v1.30", AnnotationGroupKinds: "ConfigMap"},
		"plain":   nil,
	} {
		t.Run(name, func(t *testing.T) {
			set := ApplySet{Name: ApplySetName("inv-foreign-" + name), Namespace: "default"}
			cm := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "data": map[string]any{"mine": "yes"}}}
			cm.SetName(set.Name)
			cm.SetAnnotations(ann)
			cm.SetLabels(map[string]string{LabelApplySetID: set.ID()})
			if _, err := dyn.Resource(gvrConfigMaps).Namespace("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			rv := parentOf(t, dyn, set).GetResourceVersion()
			objs := decode(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: inv-foreign-member-"+name+"}\n")
			err := a.Validate(ctx, Preflight{Request: Request{Objects: objs, ApplySet: &set}})
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) != 1 || ve.Problems[0].Object != "ConfigMap v1 default/"+set.Name || !strings.Contains(ve.Problems[0].Source, "inventory") {
				t.Errorf("Validate = %v, want one problem naming the parent", err)
			}
			var pe *ParentError
			tx, err := NewTransaction(Request{Objects: objs, ApplySet: &set})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.Apply(ctx, tx, Request{Objects: objs}); !errors.As(err, &pe) {
				t.Errorf("Apply = %v, want *ParentError", err)
			}
			if _, err := a.Undeploy(ctx, UndeployRequest{ApplySet: set, DryRun: DryRunNone}); !errors.As(err, &pe) {
				t.Errorf("Undeploy = %v, want *ParentError", err)
			}
			if p := parentOf(t, dyn, set); p == nil || p.GetResourceVersion() != rv {
				t.Errorf("the foreign ConfigMap was changed or deleted")
			}
			if !gone(t, dyn, gvrConfigMaps, "default", "inv-foreign-member-"+name) {
				t.Errorf("a member was applied")
			}
		})
	}
}

// TestApplySetValidation: objects that would break the inventory are problems of the preflight,
// and a parent in a namespace nobody creates is one too.
func TestApplySetValidation(t *testing.T) {
	a, _ := newApplier(t)
	ctx := context.Background()
	set := ApplySet{Name: ApplySetName("inv-valid"), Namespace: "default"}
	objs := decode(t, `apiVersion: v1
kind: ConfigMap
metadata:
  name: inv-valid-a
  labels: {applyset.kubernetes.io/part-of: applyset-somebody-elses-v1}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: devtool-applyset-inv-valid}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: inv-valid-ok
  labels: {applyset.kubernetes.io/part-of: `+set.ID()+`}
`)
	err := a.Validate(ctx, Preflight{Request: Request{Objects: objs, ApplySet: &set}})
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Validate = %v, want *ValidationError", err)
	}
	var got []string
	for _, p := range ve.Problems {
		got = append(got, p.Object)
	}
	if diff := cmp.Diff([]string{"ConfigMap v1 default/inv-valid-a", "ConfigMap v1 default/devtool-applyset-inv-valid"}, got); diff != "" {
		t.Errorf("problems (-want +got):\n%s\n%v", diff, err)
	}
	if !strings.Contains(err.Error(), LabelPartOf) || !strings.Contains(err.Error(), "inventory ConfigMap") {
		t.Errorf("error does not say what is wrong: %v", err)
	}

	missing := ApplySet{Name: ApplySetName("inv-valid"), Namespace: "inv-no-such-ns"}
	err = a.Validate(ctx, Preflight{Request: Request{Objects: decode(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: inv-valid-b}\n"), ApplySet: &missing, Namespace: "default"}})
	if !errors.As(err, &ve) || len(ve.Problems) != 1 || !strings.Contains(ve.Problems[0].Object, "inv-no-such-ns/devtool-applyset-inv-valid") || !strings.Contains(err.Error(), `namespace "inv-no-such-ns" does not exist`) {
		t.Errorf("parent in a missing namespace: %v", err)
	}
}

// TestPruneRefusesToDeleteWhatItDeploys: a Namespace that left the manifests while objects are
// still deployed in it is not pruned (that would delete them), nor is anything else.
func TestPruneRefusesToDeleteWhatItDeploys(t *testing.T) {
	a, dyn := newApplier(t)
	ctx := context.Background()
	set := ApplySet{Name: ApplySetName("inv-guard"), Namespace: "default"}
	objs := decode(t, `apiVersion: v1
kind: Namespace
metadata: {name: inv-guard}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: inv-guard-cm, namespace: inv-guard}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: inv-guard-stale, namespace: default}
`)
	deployRun(t, a, set, [][]*unstructured.Unstructured{objs}, false, DryRunNone)
	tx, applied := applyUnfinished(t, a, set, objs[1:2])
	_, err := a.Commit(ctx, tx, applied, true)
	if err == nil || !strings.Contains(err.Error(), "Namespace inv-guard is no longer deployed, but ConfigMap inv-guard/inv-guard-cm is deployed in it") {
		t.Errorf("Commit = %v, want the refusal", err)
	}
	if gone(t, dyn, gvrNamespaces, "", "inv-guard") || gone(t, dyn, gvrConfigMaps, "default", "inv-guard-stale") {
		t.Errorf("something was pruned")
	}
}

// applyUnfinished applies objs as one deploy step of a new transaction, without committing
// it, and returns the transaction and what it applied.
func applyUnfinished(t *testing.T, a *Applier, set ApplySet, objs []*unstructured.Unstructured) (*Transaction, []ObjectResult) {
	t.Helper()
	tx, err := NewTransaction(Request{Objects: objs, ApplySet: &set})
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.Apply(context.Background(), tx, Request{Objects: objs})
	if err != nil {
		t.Fatal(err)
	}
	return tx, res.Objects
}

// TestPruneCRD: a custom resource and its CRD leave the manifests; the CRD is deleted after
// the custom resource, and a kind that is no longer served is skipped by undeploy.
func TestPruneCRD(t *testing.T) {
	a, dyn := newApplier(t)
	ctx := context.Background()
	set := ApplySet{Name: ApplySetName("inv-crd"), Namespace: "default"}
	objs := decode(t, `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: sprockets.inv.devtool.dev}
spec:
  group: inv.devtool.dev
  scope: Namespaced
  names: {plural: sprockets, singular: sprocket, kind: Sprocket}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
---
apiVersion: inv.devtool.dev/v1
kind: Sprocket
metadata: {name: s1}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: inv-crd-cm}
`)
	deployRun(t, a, set, [][]*unstructured.Unstructured{objs}, false, DryRunNone)
	_, pruned := deployRun(t, a, set, [][]*unstructured.Unstructured{objs[2:]}, true, DryRunNone)
	want := []objRow{
		{"Sprocket", "default", "s1", Pruned},
		{"CustomResourceDefinition", "", "sprockets.inv.devtool.dev", Pruned},
	}
	if diff := cmp.Diff(want, rows(pruned)); diff != "" {
		t.Errorf("pruned (-want +got):\n%s", diff)
	}
	if !gone(t, dyn, gvrCRD, "", "sprockets.inv.devtool.dev") {
		t.Errorf("CRD not pruned")
	}
	// The parent still listed Sprocket during that prune; after it, the kind may disappear from
	// discovery: undeploy must not fail on it.
	p := parentOf(t, dyn, set)
	p.SetManagedFields(nil)
	ann := p.GetAnnotations()
	ann[AnnotationGroupKinds] = "ConfigMap,Sprocket.inv.devtool.dev"
	p.SetAnnotations(ann)
	if _, err := dyn.Resource(gvrConfigMaps).Namespace("default").Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	deleted, err := a.Undeploy(ctx, UndeployRequest{ApplySet: set, DryRun: DryRunNone})
	if err != nil {
		t.Fatalf("undeploy with a kind no longer served: %v", err)
	}
	if diff := cmp.Diff([]objRow{{"ConfigMap", "default", "inv-crd-cm", Deleted}}, rows(deleted)); diff != "" {
		t.Errorf("undeploy (-want +got):\n%s", diff)
	}
}
