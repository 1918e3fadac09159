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

func TestProjectFieldManager(t *testing.T) {
	long := strings.Repeat("x", 200)
	tests := []struct{ project, want string }{
		{"shop", "devtool-shop"},
		{"my-app-2", "devtool-my-app-2"},
		{"My_App", "devtool-my-app-" + sha8("My_App")},
		{"", "devtool-" + sha8("")},
		{long, "devtool-" + long[:128-len("devtool-")-9] + "-" + sha8(long)},
	}
	for _, tt := range tests {
		got := ProjectFieldManager(tt.project)
		if got != tt.want {
			t.Errorf("ProjectFieldManager(%q) = %q, want %q", tt.project, got, tt.want)
		}
		if len(got) > 128 {
			t.Errorf("ProjectFieldManager(%q) is %d characters long", tt.project, len(got))
		}
		if again := ProjectFieldManager(tt.project); again != got {
			t.Errorf("ProjectFieldManager(%q) is not stable: %q, then %q", tt.project, got, again)
		}
	}
	if ProjectFieldManager("My_App") == ProjectFieldManager("my-app") {
		t.Errorf("two projects share a field manager")
	}
}

func TestOwnershipMessages(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{
			"kubectl",
			&OwnershipError{ApplySet: "ConfigMap shop/devtool-applyset-shop", Objects: []ForeignObject{{Object: "ConfigMap v1 shop/settings", Source: "k8s.yaml", Owner: Owner{Managers: []string{"kubectl-client-side-apply"}}}}},
			"1 object exists in the cluster and was not deployed by devtool for this project (inventory ConfigMap shop/devtool-applyset-shop):\n" +
				`  - ConfigMap v1 shop/settings (k8s.yaml): owned by field manager "kubectl-client-side-apply"` + "\n" + adoptFix,
		},
		{
			"another project and Helm",
			&OwnershipError{ApplySet: "ConfigMap shop/devtool-applyset-shop", Objects: []ForeignObject{
				{Object: "ConfigMap v1 shop/a", Owner: Owner{Managers: []string{"devtool-blog", "kubectl-edit"}, PartOf: "applyset-x-v1"}},
				{Object: "Service v1 shop/b", Owner: Owner{Managers: []string{"helm"}, ManagedBy: "Helm", Name: "chart"}},
				{Object: "Service v1 shop/c"},
			}},
			"3 objects exist in the cluster and were not deployed by devtool for this project (inventory ConfigMap shop/devtool-applyset-shop):\n" +
				`  - ConfigMap v1 shop/a: owned by field managers "devtool-blog" (another devtool project), "kubectl-edit"; member of another inventory (label applyset.kubernetes.io/part-of=applyset-x-v1)` + "\n" +
				`  - Service v1 shop/b: owned by field manager "helm"; labels app.kubernetes.io/managed-by=Helm, app.kubernetes.io/name=chart` + "\n" +
				`  - Service v1 shop/c: owned by no field managers or ownership labels` + "\n" + adoptFix,
		},
		{
			"conflict with another project",
			&ConflictError{Object: "ConfigMap v1 shop/a", Conflicts: []FieldConflict{{Manager: "devtool-blog", Field: ".data.color"}}},
			`ConfigMap v1 shop/a: fields owned by another field manager: .data.color (owned by field manager "devtool-blog": another devtool project); another devtool project deploys this object too: rename it in one of the projects, or rerun with --force-conflicts to take ownership of the fields`,
		},
		{
			"conflict with kubectl",
			&ConflictError{Object: "ConfigMap v1 shop/a", Conflicts: []FieldConflict{{Manager: "kubectl-edit", Field: ".data.color"}}},
			`ConfigMap v1 shop/a: fields owned by another field manager: .data.color (owned by field manager "kubectl-edit"); rerun with --force-conflicts to take ownership of them`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.err.Error()); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
		})
	}
}

// proj is one devtool project as pkg/run deploys it: its inventory and its own field manager.
type proj struct {
	set     ApplySet
	manager string
}

func newProj(name, ns string) proj {
	return proj{set: ApplySet{Name: ApplySetName(name), Namespace: ns}, manager: ProjectFieldManager(name)}
}

type deployOpts struct {
	adopt, prune, force bool
	dry                 DryRun
}

// deploy runs one deploy of objs as pkg/run drives it (preflight, transaction, one Apply,
// Commit) and returns the first error.
func (p proj) deploy(a *Applier, objs []*unstructured.Unstructured, o deployOpts) (applied, pruned []ObjectResult, err error) {
	ctx := context.Background()
	set := p.set
	req := Request{Objects: objs, ApplySet: &set, FieldManager: p.manager, Adopt: o.adopt, ForceConflicts: o.force, DryRun: o.dry}
	pre := req
	if pre.DryRun != DryRunClient {
		pre.DryRun = DryRunServer
	}
	if err := a.Validate(ctx, Preflight{Request: pre}); err != nil {
		return nil, nil, err
	}
	tx, err := NewTransaction(req)
	if err != nil {
		return nil, nil, err
	}
	res, err := a.Apply(ctx, tx, Request{Objects: objs, DryRun: o.dry, Adopt: o.adopt, ForceConflicts: o.force})
	if err != nil {
		return nil, nil, err
	}
	pruned, err = a.Commit(ctx, tx, res.Objects, o.prune)
	return res.Objects, pruned, err
}

func (p proj) undeploy(a *Applier, dry DryRun) ([]ObjectResult, error) {
	return a.Undeploy(context.Background(), UndeployRequest{ApplySet: p.set, DryRun: dry, FieldManager: p.manager})
}

// byHand makes obj as someone else would: server-side applied with field manager manager, or,
// when create, created (what kubectl create and client-side kubectl apply do: an Update
// entry, manager "kubectl-client-side-apply" for the latter).
func byHand(t *testing.T, dyn dynamic.Interface, gvr schema.GroupVersionResource, obj *unstructured.Unstructured, manager string, create bool) *unstructured.Unstructured {
	t.Helper()
	ctx := context.Background()
	ri := dyn.Resource(gvr).Namespace(obj.GetNamespace())
	var got *unstructured.Unstructured
	var err error
	if create {
		got, err = ri.Create(ctx, obj, metav1.CreateOptions{FieldManager: manager})
	} else {
		got, err = ri.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: manager})
	}
	if err != nil {
		t.Fatalf("making %s %s by hand: %v", obj.GetKind(), obj.GetName(), err)
	}
	return got
}

func configMap(ns, name string, labels map[string]string, data map[string]any) *unstructured.Unstructured {
	cm := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "data": data}}
	cm.SetNamespace(ns)
	cm.SetName(name)
	if labels != nil {
		cm.SetLabels(labels)
	}
	return cm
}

func managerNames(o *unstructured.Unstructured) []string {
	var out []string
	for _, mf := range o.GetManagedFields() {
		out = append(out, mf.Manager+"/"+string(mf.Operation))
	}
	return out
}

func getCM(t *testing.T, dyn dynamic.Interface, ns, name string) *unstructured.Unstructured {
	t.Helper()
	o, err := dyn.Resource(gvrConfigMaps).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func ownershipErr(t *testing.T, err error) *OwnershipError {
	t.Helper()
	var oe *OwnershipError
	var ve *ValidationError
	if !errors.As(err, &ve) || !errors.As(err, &oe) {
		t.Fatalf("error = %v (%T), want an *OwnershipError inside a *ValidationError", err, err)
	}
	return oe
}

// TestAdoptionNeedsConsent: an object that exists in the target namespace and was not deployed
// by devtool for this project (made with kubectl, by Helm, for another ApplySet) is refused by
// the preflight (server and client dry run), by Diff and by Apply, and left as it was; with
// Adopt it becomes a member.
func TestAdoptionNeedsConsent(t *testing.T) {
	a, dyn := newApplier(t)
	ctx := context.Background()
	const ns = "own-adopt"
	createNamespace(t, dyn, ns)
	other := ApplySet{Name: ApplySetName("someone-else"), Namespace: ns}
	tests := []struct {
		name    string
		labels  map[string]string
		manager string
		create  bool
		owner   Owner
		// adoptNeedsForce: the other owner set the part-of label devtool sets, so taking it
		// over is also a field conflict.
		adoptNeedsForce bool
	}{
		{name: "kubectl-client-side-apply", manager: "kubectl-client-side-apply", create: true, owner: Owner{Managers: []string{"kubectl-client-side-apply"}}},
		{name: "kubectl-server-side", manager: "kubectl", owner: Owner{Managers: []string{"kubectl"}}},
		{name: "helm", manager: "helm", create: true, labels: map[string]string{LabelManagedBy: "Helm", LabelName: "chart"}, owner: Owner{Managers: []string{"helm"}, ManagedBy: "Helm", Name: "chart"}},
		{name: "other-applyset", manager: "kubectl", labels: map[string]string{LabelPartOf: other.ID()}, owner: Owner{Managers: []string{"kubectl"}, PartOf: other.ID()}, adoptNeedsForce: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := "adopt-" + tt.name
			p := newProj("own-adopt-"+tt.name, ns)
			theirs := byHand(t, dyn, gvrConfigMaps, configMap(ns, name, tt.labels, map[string]any{"k": "v"}), tt.manager, tt.create)
			manifest := func() []*unstructured.Unstructured {
				return []*unstructured.Unstructured{configMap(ns, name, nil, map[string]any{"k": "v"}), configMap(ns, name+"-new", nil, map[string]any{"k": "v"})}
			}
			want := []ForeignObject{{Object: "ConfigMap v1 " + ns + "/" + name, Source: "k8s.yaml", Owner: tt.owner}}
			for _, mode := range []DryRun{DryRunServer, DryRunClient} {
				set := p.set
				err := a.Validate(ctx, Preflight{Request: Request{Objects: manifest(), Sources: []string{"k8s.yaml", "k8s.yaml"}, ApplySet: &set, FieldManager: p.manager, DryRun: mode}})
				oe := ownershipErr(t, err)
				if diff := cmp.Diff(want, oe.Objects); diff != "" {
					t.Errorf("Validate (%s): refused objects (-want +got):\n%s", mode, diff)
				}
				if !strings.Contains(err.Error(), "--adopt") || !strings.Contains(err.Error(), name) {
					t.Errorf("Validate (%s): the error does not name the object and the fix: %v", mode, err)
				}
			}
			set := p.set
			_, err := a.Diff(ctx, DiffRequest{Request: Request{Objects: manifest(), ApplySet: &set, FieldManager: p.manager}})
			ownershipErr(t, err)
			tx, err := NewTransaction(Request{Objects: manifest(), ApplySet: &set, FieldManager: p.manager})
			if err != nil {
				t.Fatal(err)
			}
			_, err = a.Apply(ctx, tx, Request{Objects: manifest()})
			ownershipErr(t, err)
			if got := getCM(t, dyn, ns, name); got.GetResourceVersion() != theirs.GetResourceVersion() {
				t.Errorf("the refused object was changed: %v", got.GetLabels())
			}
			if !gone(t, dyn, gvrConfigMaps, ns, name+"-new") {
				t.Errorf("a refused deploy applied the other object")
			}

			if tt.adoptNeedsForce {
				_, _, err = p.deploy(a, manifest(), deployOpts{adopt: true})
				var ce *ConflictError
				if !errors.As(err, &ce) {
					t.Fatalf("adopting a member of another ApplySet without --force-conflicts: %v, want a *ConflictError", err)
				}
				if got := getCM(t, dyn, ns, name).GetLabels()[LabelPartOf]; got != other.ID() {
					t.Errorf("part-of label = %q after a refused adoption", got)
				}
			}
			applied, _, err := p.deploy(a, manifest(), deployOpts{adopt: true, force: tt.adoptNeedsForce})
			if err != nil {
				t.Fatalf("with Adopt: %v", err)
			}
			if diff := cmp.Diff([]objRow{{"ConfigMap", ns, name, Configured}, {"ConfigMap", ns, name + "-new", Created}}, rows(applied)); diff != "" {
				t.Errorf("adopting deploy (-want +got):\n%s", diff)
			}
			got := getCM(t, dyn, ns, name)
			if got.GetLabels()[LabelPartOf] != p.set.ID() || !contains(managersOf(got), p.manager) {
				t.Errorf("adopted object: labels %v, managers %v", got.GetLabels(), managerNames(got))
			}
			// Now a member: the next deploy needs no consent.
			if _, _, err := p.deploy(a, manifest(), deployOpts{}); err != nil {
				t.Errorf("redeploy after adopting: %v", err)
			}
		})
	}
}

// TestTwoProjectsSameObject: two projects (two ApplySets, two field managers) that declare the
// same object do not take it from each other: the second is refused (the owner named as
// another devtool project), and with Adopt it conflicts; the object stays the first's.
func TestTwoProjectsSameObject(t *testing.T) {
	a, dyn := newApplier(t)
	ctx := context.Background()
	pa, pb := newProj("proj-a", "default"), newProj("proj-b", "default")
	mine := func(color string) []*unstructured.Unstructured {
		return []*unstructured.Unstructured{configMap("default", "two-projects-cm", nil, map[string]any{"color": color})}
	}
	if _, _, err := pa.deploy(a, mine("red"), deployOpts{}); err != nil {
		t.Fatal(err)
	}
	before := getCM(t, dyn, "default", "two-projects-cm")
	if diff := cmp.Diff([]string{"devtool-proj-a/Apply"}, managerNames(before)); diff != "" {
		t.Errorf("field managers of project A's object (-want +got):\n%s", diff)
	}
	if got := managersOf(parentOf(t, dyn, pa.set)); !contains(got, "devtool-proj-a") {
		t.Errorf("parent written by %v, want devtool-proj-a", got)
	}

	for _, color := range []string{"blue", "red"} {
		_, _, err := pb.deploy(a, mine(color), deployOpts{})
		oe := ownershipErr(t, err)
		want := []ForeignObject{{Object: "ConfigMap v1 default/two-projects-cm", Owner: Owner{Managers: []string{"devtool-proj-a"}, PartOf: pa.set.ID()}}}
		if diff := cmp.Diff(want, oe.Objects); diff != "" {
			t.Errorf("refused (-want +got):\n%s", diff)
		}
		if !strings.Contains(err.Error(), `"devtool-proj-a" (another devtool project)`) {
			t.Errorf("the refusal does not name the other project: %v", err)
		}

		_, _, err = pb.deploy(a, mine(color), deployOpts{adopt: true})
		var ce *ConflictError
		if !errors.As(err, &ce) {
			t.Fatalf("adopting another project's object (%s): %v, want a *ConflictError", color, err)
		}
		for _, c := range ce.Conflicts {
			if c.Manager != "devtool-proj-a" {
				t.Errorf("conflict with %q, want devtool-proj-a", c.Manager)
			}
		}
		if !strings.Contains(err.Error(), "another devtool project") {
			t.Errorf("the conflict does not say it is another devtool project's: %v", err)
		}
	}
	if got := getCM(t, dyn, "default", "two-projects-cm"); got.GetResourceVersion() != before.GetResourceVersion() {
		t.Errorf("project B changed project A's object: %v %v", got.Object["data"], got.GetLabels())
	}
	// B's refused deploys wrote nothing of B's.
	if _, err := pb.undeploy(a, DryRunNone); !errors.Is(err, ErrNotDeployed) {
		t.Errorf("project B has an inventory after refused deploys: %v", err)
	}
	if _, err := dyn.Resource(gvrConfigMaps).Namespace("default").Get(ctx, "two-projects-cm", metav1.GetOptions{}); err != nil {
		t.Errorf("project A's object: %v", err)
	}
}

// controllerMade writes, into ns, what the Kubernetes controllers put there (kube-root-ca.crt,
// the default ServiceAccount, an Event), as kube-controller-manager would.
func controllerMade(t *testing.T, dyn dynamic.Interface, ns string) {
	t.Helper()
	ctx := context.Background()
	root := configMap(ns, rootCAConfigMap, nil, map[string]any{"ca.crt": "x"})
	sa := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": map[string]any{"name": "default", "namespace": ns}}}
	for gvr, o := range map[schema.GroupVersionResource]*unstructured.Unstructured{gvrConfigMaps: root, {Version: "v1", Resource: "serviceaccounts"}: sa} {
		if _, err := dyn.Resource(gvr).Namespace(ns).Create(ctx, o, metav1.CreateOptions{FieldManager: "kube-controller-manager"}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	warningEvent(t, dyn, root, "ns-event", "Something", "happened")
}

// TestUndeployKeepsNamespaceOfOthers: undeploy deletes a member Namespace only when nothing in
// it is someone else's: the members, their dependents, what the controllers create and the
// project's exec Jobs go with it; an object made with kubectl, another project's object or a
// member another manager made keep it (the dry run says the same), and a member whose
// managedFields show only another manager is kept.
func TestUndeployKeepsNamespaceOfOthers(t *testing.T) {
	a, dyn := newApplier(t)
	ctx := context.Background()
	tests := []struct {
		name string
		// extra makes objects of others in ns; it returns the names the Kept note must give.
		extra      func(t *testing.T, ns string, p proj) []string
		wantMember Action // of the member ConfigMap "labelled" made by extra, if any
	}{
		{name: "only-members"},
		{name: "kubectl-configmap", extra: func(t *testing.T, ns string, p proj) []string {
			byHand(t, dyn, gvrConfigMaps, configMap(ns, "theirs", nil, map[string]any{"k": "v"}), "kubectl-client-side-apply", true)
			return []string{"ConfigMap theirs"}
		}},
		{name: "other-project", extra: func(t *testing.T, ns string, p proj) []string {
			other := newProj("undeploy-other", ns)
			byHand(t, dyn, gvrConfigMaps, configMap(ns, "other-proj", map[string]string{LabelPartOf: other.set.ID()}, map[string]any{"k": "v"}), other.manager, false)
			return []string{"ConfigMap other-proj"}
		}},
		{name: "member-of-another-manager", extra: func(t *testing.T, ns string, p proj) []string {
			byHand(t, dyn, gvrConfigMaps, configMap(ns, "labelled", map[string]string{LabelPartOf: p.set.ID()}, map[string]any{"k": "v"}), "kubectl", false)
			return []string{"ConfigMap labelled"}
		}, wantMember: Kept},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := "own-ns-" + tt.name
			p := newProj("own-ns-"+tt.name, ns)
			objs := decode(t, `apiVersion: v1
kind: Namespace
metadata: {name: `+ns+`}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cm, namespace: `+ns+`}
data: {k: v}
---
apiVersion: v1
kind: Service
metadata: {name: svc, namespace: `+ns+`}
spec: {ports: [{port: 80}]}
`)
			if _, _, err := p.deploy(a, objs, deployOpts{}); err != nil {
				t.Fatal(err)
			}
			// What goes with the members: the controllers' objects, the Service's Endpoints
			// (no ownerReference), a dependent of the ConfigMap, an exec Job of the project
			// (its field manager, no part-of label) and that Job's Pod.
			controllerMade(t, dyn, ns)
			cm := getCM(t, dyn, ns, "cm")
			byHand(t, dyn, schema.GroupVersionResource{Version: "v1", Resource: "endpoints"}, &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "v1", "kind": "Endpoints", "metadata": map[string]any{"name": "svc", "namespace": ns}}}, "kube-controller-manager", true)
			dep := configMap(ns, "dependent", nil, map[string]any{"k": "v"})
			dep.SetOwnerReferences([]metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "cm", UID: cm.GetUID()}})
			byHand(t, dyn, gvrConfigMaps, dep, "some-controller", true)
			job := byHand(t, dyn, gvrJobs, execJob(t, ns, "exec-left", "exit 1"), p.manager, false)
			pod := decode(t, `apiVersion: v1
kind: Pod
metadata: {name: exec-left-pod, namespace: `+ns+`}
spec: {containers: [{name: c, image: "127.0.0.1:5000/x:1"}]}
`)[0]
			pod.SetOwnerReferences([]metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: job.GetName(), UID: job.GetUID()}})
			byHand(t, dyn, gvrPods, pod, "kube-controller-manager", true)
			var blockers []string
			if tt.extra != nil {
				blockers = tt.extra(t, ns, p)
			}

			wantRows := func(del Action) []objRow {
				rs := []objRow{{"ConfigMap", ns, "cm", del}}
				if tt.wantMember != "" {
					rs = append(rs, objRow{"ConfigMap", ns, "labelled", tt.wantMember})
				}
				nsAction := del
				if len(blockers) > 0 {
					nsAction = Kept
				}
				return append(rs, objRow{"Service", ns, "svc", del}, objRow{"Namespace", "", ns, nsAction})
			}
			for _, dry := range []DryRun{DryRunServer, DryRunNone} {
				res, err := p.undeploy(a, dry)
				if err != nil {
					t.Fatal(err)
				}
				want := wantRows(Deleted)
				if dry == DryRunServer {
					want = wantRows(WouldDelete)
				}
				if diff := cmp.Diff(want, rows(res)); diff != "" {
					t.Errorf("undeploy (%s) (-want +got):\n%s", dry, diff)
				}
				for _, r := range res {
					switch {
					case r.Action == Kept && r.Kind == "Namespace":
						for _, b := range blockers {
							if !strings.Contains(r.Note, b) {
								t.Errorf("undeploy (%s): the Namespace's note does not name %s: %q", dry, b, r.Note)
							}
						}
						for _, ours := range []string{"cm", "svc", "dependent", rootCAConfigMap, "exec-left", "Event"} {
							if strings.Contains(r.Note, " "+ours+",") || strings.HasSuffix(r.Note, " "+ours) {
								t.Errorf("undeploy (%s): the note blames %s, which goes with the Namespace: %q", dry, ours, r.Note)
							}
						}
					case r.Action == Kept:
						if !strings.Contains(r.Note, `"kubectl"`) {
							t.Errorf("undeploy (%s): note of the kept %s %s does not name its manager: %q", dry, r.Kind, r.Name, r.Note)
						}
					case r.Note != "":
						t.Errorf("undeploy (%s): note on %s %s: %q", dry, r.Kind, r.Name, r.Note)
					}
				}
			}
			nsGone := gone(t, dyn, gvrNamespaces, "", ns)
			if nsGone != (len(blockers) == 0) {
				t.Errorf("Namespace deleted = %v, want %v", nsGone, len(blockers) == 0)
			}
			if !gone(t, dyn, gvrConfigMaps, ns, "cm") || !gone(t, dyn, gvrServices, ns, "svc") {
				t.Errorf("the members in the kept Namespace were not deleted")
			}
			for _, b := range blockers {
				name := strings.TrimPrefix(b, "ConfigMap ")
				if o, err := dyn.Resource(gvrConfigMaps).Namespace(ns).Get(ctx, name, metav1.GetOptions{}); err != nil || o.GetDeletionTimestamp() != nil {
					t.Errorf("someone else's ConfigMap %s did not survive undeploy (%v)", name, err)
				}
			}
			if parentOf(t, dyn, p.set) != nil {
				t.Errorf("the parent survived undeploy")
			}
		})
	}
}

// TestPruneKeepsWhatIsNotThisProjects: prune (and its dry run, and Diff's prune) keeps a stale
// member whose managedFields show only another manager and a stale Namespace that holds an
// object made with kubectl; the parent keeps listing them.
func TestPruneKeepsWhatIsNotThisProjects(t *testing.T) {
	a, dyn := newApplier(t)
	ctx := context.Background()
	p := newProj("own-prune", "default")
	objs := decode(t, `apiVersion: v1
kind: Namespace
metadata: {name: own-prune}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: stale, namespace: own-prune}
data: {k: v}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: own-prune-keep, namespace: default}
data: {k: v}
`)
	if _, _, err := p.deploy(a, objs, deployOpts{}); err != nil {
		t.Fatal(err)
	}
	byHand(t, dyn, gvrConfigMaps, configMap("own-prune", "theirs", nil, map[string]any{"k": "v"}), "kubectl-client-side-apply", true)
	byHand(t, dyn, gvrConfigMaps, configMap("default", "own-prune-labelled", map[string]string{LabelPartOf: p.set.ID()}, map[string]any{"k": "v"}), "kubectl", false)
	smaller := func() []*unstructured.Unstructured {
		return decode(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: own-prune-keep, namespace: default}\ndata: {k: v}\n")
	}

	want := []objRow{
		{"ConfigMap", "default", "own-prune-labelled", Kept},
		{"ConfigMap", "own-prune", "stale", WouldPrune},
		{"Namespace", "", "own-prune", Kept},
	}
	_, pruned, err := p.deploy(a, smaller(), deployOpts{prune: true, dry: DryRunServer})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, rows(pruned)); diff != "" {
		t.Errorf("dry-run prune (-want +got):\n%s", diff)
	}
	set := p.set
	ds, err := a.Diff(ctx, DiffRequest{Request: Request{Objects: smaller(), ApplySet: &set, FieldManager: p.manager}, Prune: true})
	if err != nil {
		t.Fatal(err)
	}
	foreignNote := `not applied by devtool for this project (field manager "kubectl"); delete it yourself if it should go`
	nsNote := "holds objects that are not this project's, which deleting it would delete: ConfigMap theirs"
	wantDiff := []diffRow{
		{"ConfigMap", "default", "own-prune-keep", Unchanged, ""},
		{"ConfigMap", "default", "own-prune-labelled", Kept, foreignNote},
		{"ConfigMap", "own-prune", "stale", Pruned, ""},
		{"Namespace", "", "own-prune", Kept, nsNote},
	}
	if diff := cmp.Diff(wantDiff, diffRows(ds)); diff != "" {
		t.Errorf("diff --prune (-want +got):\n%s", diff)
	}
	if len(ds) == 4 && (ds[1].Diff != "" || ds[3].Diff != "") {
		t.Errorf("kept members have a diff: %q, %q", ds[1].Diff, ds[3].Diff)
	}

	_, pruned, err = p.deploy(a, smaller(), deployOpts{prune: true})
	if err != nil {
		t.Fatal(err)
	}
	want[1].Action = Pruned
	if diff := cmp.Diff(want, rows(pruned)); diff != "" {
		t.Errorf("prune (-want +got):\n%s", diff)
	}
	if len(pruned) == 3 && (pruned[0].Note != foreignNote || pruned[2].Note != nsNote) {
		t.Errorf("notes: %q, %q", pruned[0].Note, pruned[2].Note)
	}
	if gone(t, dyn, gvrNamespaces, "", "own-prune") || gone(t, dyn, gvrConfigMaps, "own-prune", "theirs") || gone(t, dyn, gvrConfigMaps, "default", "own-prune-labelled") {
		t.Errorf("prune deleted what is not this project's")
	}
	if !gone(t, dyn, gvrConfigMaps, "own-prune", "stale") {
		t.Errorf("the stale member was not pruned")
	}
	ann := parentOf(t, dyn, p.set).GetAnnotations()
	if ann[AnnotationGroupKinds] != "ConfigMap,Namespace" || ann[AnnotationAdditionalNamespaces] != "" {
		t.Errorf("parent after prune lists %q in %q; want it to keep listing the kept members", ann[AnnotationGroupKinds], ann[AnnotationAdditionalNamespaces])
	}
}

// TestUndeployKeepsCRDOfOthers: a member CustomResourceDefinition is not deleted while a custom
// resource of it that is not a member exists (deleting the CRD would delete it).
func TestUndeployKeepsCRDOfOthers(t *testing.T) {
	a, dyn := newApplier(t)
	ctx := context.Background()
	p := newProj("own-crd", "default")
	objs := decode(t, `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.own.devtool.dev}
spec:
  group: own.devtool.dev
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
---
apiVersion: own.devtool.dev/v1
kind: Widget
metadata: {name: mine, namespace: default}
spec: {size: 1}
`)
	if _, _, err := p.deploy(a, objs, deployOpts{}); err != nil {
		t.Fatal(err)
	}
	gvrWidgets := schema.GroupVersionResource{Group: "own.devtool.dev", Version: "v1", Resource: "widgets"}
	theirs := decode(t, "apiVersion: own.devtool.dev/v1\nkind: Widget\nmetadata: {name: theirs, namespace: default}\nspec: {size: 2}\n")[0]
	byHand(t, dyn, gvrWidgets, theirs, "kubectl-client-side-apply", true)
	res, err := p.undeploy(a, DryRunNone)
	if err != nil {
		t.Fatal(err)
	}
	want := []objRow{{"Widget", "default", "mine", Deleted}, {"CustomResourceDefinition", "", "widgets.own.devtool.dev", Kept}}
	if diff := cmp.Diff(want, rows(res)); diff != "" {
		t.Errorf("undeploy (-want +got):\n%s", diff)
	}
	if len(res) == 2 && !strings.Contains(res[1].Note, "Widget default/theirs") {
		t.Errorf("note = %q", res[1].Note)
	}
	if gone(t, dyn, gvrCRD, "", "widgets.own.devtool.dev") || gone(t, dyn, gvrWidgets, "default", "theirs") {
		t.Errorf("the CRD or the other custom resource was deleted")
	}
	if _, err := dyn.Resource(gvrWidgets).Namespace("default").Get(ctx, "mine", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		if o, _ := dyn.Resource(gvrWidgets).Namespace("default").Get(ctx, "mine", metav1.GetOptions{}); o == nil || o.GetDeletionTimestamp() == nil {
			t.Errorf("the member custom resource was not deleted (%v)", err)
		}
	}
}

// TestLegacyFieldManager: objects devtool applied before per-project field managers (manager
// "devtool") are this project's: the project's manager takes their fields over without a
// conflict (a field removed from the manifest is removed), and undeploy deletes them.
func TestLegacyFieldManager(t *testing.T) {
	a, dyn := newApplier(t)
	legacy := proj{set: ApplySet{Name: ApplySetName("own-legacy"), Namespace: "default"}} // manager "devtool"
	if _, _, err := legacy.deploy(a, []*unstructured.Unstructured{
		configMap("default", "own-legacy-cm", nil, map[string]any{"color": "red", "extra": "x"}),
		configMap("default", "own-legacy-old", nil, map[string]any{"k": "v"}),
	}, deployOpts{}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"devtool/Apply"}, managerNames(getCM(t, dyn, "default", "own-legacy-cm"))); diff != "" {
		t.Fatalf("legacy deploy's managers (-want +got):\n%s", diff)
	}
	p := newProj("own-legacy", "default")
	applied, _, err := p.deploy(a, []*unstructured.Unstructured{configMap("default", "own-legacy-cm", nil, map[string]any{"color": "blue"})}, deployOpts{})
	if err != nil {
		t.Fatalf("deploy with the project's field manager over the legacy one: %v", err)
	}
	if diff := cmp.Diff([]objRow{{"ConfigMap", "default", "own-legacy-cm", Configured}}, rows(applied)); diff != "" {
		t.Errorf("deploy (-want +got):\n%s", diff)
	}
	cm := getCM(t, dyn, "default", "own-legacy-cm")
	if diff := cmp.Diff(map[string]any{"color": "blue"}, cm.Object["data"]); diff != "" {
		t.Errorf("data (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{p.manager + "/Apply"}, managerNames(cm)); diff != "" {
		t.Errorf("managers after the move (-want +got):\n%s", diff)
	}
	res, err := p.undeploy(a, DryRunNone)
	if err != nil {
		t.Fatal(err)
	}
	want := []objRow{{"ConfigMap", "default", "own-legacy-cm", Deleted}, {"ConfigMap", "default", "own-legacy-old", Deleted}}
	if diff := cmp.Diff(want, rows(res)); diff != "" {
		t.Errorf("undeploy of legacy members (-want +got):\n%s", diff)
	}
}
