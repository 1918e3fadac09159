package deploy

import (
	"context"
	"fmt"
	"sort"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"
)

// Changed is the Action of an ObjectDiff for an object that exists and that the apply would
// change. A diff also uses Created (the object does not exist), Unchanged, Pruned (deploy
// --prune would delete it) and Kept (deploy --prune would leave it, see Commit).
const Changed Action = "changed"

// ObjectDiff is one object of a diff (Applier.Diff): what a deploy would do to it, and the
// unified diff from the live object (LIVE) to the object as the deploy would leave it (MERGED).
// A member prune would keep (Kept) has neither side nor a diff; its Note says why it stays.
type ObjectDiff struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
	// Action is Created, Changed, Unchanged, Pruned or Kept.
	Action Action `json:"action"`
	// Source is where the object was written (Request.Sources); empty for pruned objects.
	Source string `json:"source,omitempty"`
	// Note says why MERGED is the rendered object rather than the API server's dry-run result
	// (its namespace or its CustomResourceDefinition is created by the same deploy), or why a
	// Kept member stays.
	Note string `json:"note,omitempty"`
	// Diff is the unified diff (`diff -u -N` of the two objects as YAML, see DiffName), empty
	// when Action is Unchanged.
	Diff string `json:"diff,omitempty"`
	// Live and Merged are the two sides of Diff, masked as described at Applier.Diff; nil for
	// the missing side of a created or pruned object.
	Live   *unstructured.Unstructured `json:"-"`
	Merged *unstructured.Unstructured `json:"-"`
}

// DiffName is the name kubectl diff gives an object's LIVE and MERGED files,
// "[<group>.]<version>.<Kind>.<namespace>.<name>" (k8s.io/kubectl/pkg/cmd/diff InfoObject.Name;
// a cluster-scoped object has an empty namespace part).
func DiffName(gvk schema.GroupVersionKind, namespace, name string) string {
	group := ""
	if gvk.Group != "" {
		group = gvk.Group + "."
	}
	return fmt.Sprintf("%s%s.%s.%s.%s", group, gvk.Version, gvk.Kind, namespace, name)
}

// Notes of ObjectDiff.
const (
	noteNewNamespace = "not dry-run: its namespace is created by this deploy; shown as rendered"
	noteNewCRD       = "not dry-run: its CustomResourceDefinition is created by this deploy; shown as rendered"
)

// Diff shows what applying req would change, like `kubectl diff --server-side`, and changes
// nothing in the cluster: it sends GETs, LISTs and dry-run requests only. req.DryRun is
// ignored.
//
// First it checks req exactly as Validate does (with the ApplySet parent, when req.ApplySet
// is set; problems are a *ValidationError, so a field owned by another field manager is a
// *ConflictError inside one unless req.ForceConflicts, and an object devtool may not take
// over an *OwnershipError unless req.Adopt). Then, for every object of req, in
// Apply's order (Namespaces, CustomResourceDefinitions, the rest):
//
//   - LIVE is the object read from the cluster by the check (none if it does not exist);
//   - MERGED is the result of the check's server-side dry-run apply of the object as Apply
//     would send it (field manager req.FieldManager, Force = req.ForceConflicts, the ApplySet
//     member label; not sent a second time): what the API server would store, with its
//     defaults, admission changes and the fields other managers own;
//   - an object whose namespace, or whose CustomResourceDefinition, the same request creates
//     cannot be dry-run (Validate's limitation): MERGED is then the object as rendered, its
//     Action Created and its Note says so.
//
// With prune, the members of the ApplySet that req does not hold — what `deploy --prune`
// would delete (Commit) — follow, with Action Pruned and no MERGED side (kubectl diff
// --prune), and those prune would keep (Action Kept, Note, no diff). An inventory that does
// not exist yet has no members.
//
// Before comparing, both sides are masked (maskForDiff): metadata.managedFields (kubectl diff
// drops them too), and, devtool's addition, the fields that only change as a consequence of a
// write or that the server generates — metadata.resourceVersion, generation, uid and
// creationTimestamp — and status when the manifest does not set it; Secret values are
// replaced by "***" as kubectl does. The objects are then written as YAML and compared; the
// ObjectDiff's Diff is a unified diff with `diff -u -N LIVE/<name> MERGED/<name>` headers
// (DiffName), as kubectl diff shows them.
//
// Errors: *ValidationError, *ClusterError, ctx.Err(), or an error naming the object or the
// inventory whose reading failed.
func (a *Applier) Diff(ctx context.Context, dr DiffRequest) ([]ObjectDiff, error) {
	req, prune := dr.Request, dr.Prune
	req.DryRun = DryRunServer
	cl, all, err := a.validate(ctx, Preflight{Request: req}, validateOpts{checkParent: true})
	if err != nil {
		return nil, err
	}
	var items []*item
	for _, it := range all {
		if !it.parent {
			items = append(items, it)
		}
	}
	items = applyOrder(items)

	// validate read every object (its live side) and dry-ran it (its merged side).
	out := make([]ObjectDiff, len(items))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i, it := range items {
		g.Go(func() error {
			d := ObjectDiff{APIVersion: it.obj.GetAPIVersion(), Kind: it.obj.GetKind(), Namespace: it.obj.GetNamespace(), Name: it.obj.GetName(), Source: it.source}
			var live, merged *unstructured.Unstructured
			switch {
			case it.pendingCRD:
				d.Note, merged = noteNewCRD, it.obj
			case it.merged == nil:
				// Dry-run only under a stand-in: its namespace is created by the request.
				d.Note, merged = noteNewNamespace, it.obj
			case it.liveRead:
				live, merged = it.live, it.merged
			default:
				// Not read by validate (not allowed to): try once more, for the error.
				cur, err := resourceFor(cl, it.mapping, it.obj.GetNamespace()).Get(gctx, it.obj.GetName(), metav1.GetOptions{})
				switch {
				case err == nil:
					live = cur
				case apierrors.IsNotFound(err):
				default:
					if gctx.Err() != nil {
						return gctx.Err()
					}
					return fmt.Errorf("reading %s: %w", it.display, err)
				}
				merged = it.merged
			}
			_, hasStatus := it.obj.Object["status"]
			fillDiff(&d, live, merged, hasStatus)
			out[i] = d
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if prune && req.ApplySet != nil {
		pruned, err := a.diffPrune(ctx, cl, *req.ApplySet, req.FieldManager, items)
		if err != nil {
			return nil, err
		}
		out = append(out, pruned...)
	}
	return out, nil
}

// diffPrune returns the ObjectDiffs of the members of set that items do not hold: what
// Commit would delete after a deploy of items (it lists them from the parent widened
// by the transaction begin, so from what the parent lists plus the group-kinds and namespaces of
// items), in deleteRank order.
func (a *Applier) diffPrune(ctx context.Context, cl *clients, set ApplySet, manager string, items []*item) ([]ObjectDiff, error) {
	cur, exists, err := readParent(ctx, cl, set)
	if err != nil {
		return nil, err
	}
	if !exists {
		return nil, nil
	}
	keep := map[objectKey]bool{}
	applied := make([]ObjectResult, 0, len(items))
	for _, it := range items {
		keep[objectKey{it.mapping.GroupVersionKind.GroupKind(), it.obj.GetNamespace(), it.obj.GetName()}] = true
		applied = append(applied, objectResult(it.obj, "", ""))
	}
	members, err := a.listMembers(ctx, cl, set, cur.union(inventoryOf(items)))
	if err != nil {
		return nil, fmt.Errorf("listing the members of the inventory %s: %w", set, err)
	}
	var stale []member
	for _, m := range members {
		if !keep[objectKey{m.gk(), m.namespace, m.name}] {
			stale = append(stale, m)
		}
	}
	if err := a.checkPrunable(cl, stale, applied); err != nil {
		return nil, err
	}
	if err := a.planDeletes(ctx, cl, set, manager, stale, false); err != nil {
		return nil, err
	}
	sort.SliceStable(stale, func(i, j int) bool { return deleteRank(stale[i]) < deleteRank(stale[j]) })
	var out []ObjectDiff
	for _, m := range stale {
		if m.keep != "" {
			out = append(out, ObjectDiff{APIVersion: m.mapping.GroupVersionKind.GroupVersion().String(), Kind: m.mapping.GroupVersionKind.Kind, Namespace: m.namespace, Name: m.name, Action: Kept, Note: m.keep})
			continue
		}
		live, err := resourceFor(cl, m.mapping, m.namespace).Get(ctx, m.name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue // deleted since it was listed
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("reading %s: %w", m.display(), err)
		}
		d := ObjectDiff{APIVersion: live.GetAPIVersion(), Kind: live.GetKind(), Namespace: m.namespace, Name: m.name}
		fillDiff(&d, live, nil, false)
		out = append(out, d)
	}
	return out, nil
}

func resourceFor(cl *clients, m *meta.RESTMapping, namespace string) dynamic.ResourceInterface {
	r := cl.dyn.Resource(m.Resource)
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		return r.Namespace(namespace)
	}
	return r
}

// fillDiff masks live and merged (either may be nil), sets d's Live, Merged, Diff and Action.
func fillDiff(d *ObjectDiff, live, merged *unstructured.Unstructured, keepStatus bool) {
	d.Live, d.Merged = maskForDiff(live, merged, keepStatus)
	gv, _ := schema.ParseGroupVersion(d.APIVersion)
	name := DiffName(gv.WithKind(d.Kind), d.Namespace, d.Name)
	from, to := "LIVE/"+name, "MERGED/"+name
	text := unifiedDiff(from, to, toYAML(d.Live), toYAML(d.Merged))
	switch {
	case d.Merged == nil:
		d.Action = Pruned
	case d.Live == nil:
		d.Action = Created
	case text == "":
		d.Action = Unchanged
	default:
		d.Action = Changed
	}
	if text != "" {
		d.Diff = fmt.Sprintf("diff -u -N %s %s\n", from, to) + text
	}
}

// toYAML is the YAML of o ("" for nil), keys sorted, as kubectl diff prints objects.
func toYAML(o *unstructured.Unstructured) string {
	if o == nil {
		return ""
	}
	b, err := yaml.Marshal(o.Object)
	if err != nil {
		// Unstructured content decoded from JSON always marshals; keep the failure visible.
		return fmt.Sprintf("# cannot be shown as YAML: %v\n", err)
	}
	return string(b)
}

// Secret value masks, kubectl diff's (k8s.io/kubectl/pkg/cmd/diff, sensitiveMask*).
const (
	secretMask       = "***"
	secretMaskBefore = "*** (before)"
	secretMaskAfter  = "*** (after)"
)

// maskForDiff returns copies of live and merged (nil stays nil) without what a diff should not
// show:
//
//   - metadata.managedFields (kubectl diff drops them unless --show-managed-fields);
//   - metadata.resourceVersion, generation, uid and creationTimestamp: generated by the
//     server, or changed only because another field changes (kubectl shows them; a dry-run
//     create invents them, and a changed generation only repeats a change the diff shows);
//   - status, unless keepStatus (the manifest sets status): the server owns it, a dry-run
//     apply keeps the live one, and a dry-run create shows an empty or defaulted one;
//   - the values of a v1 Secret's data (kubectl's Masker): "***", or "*** (before)" and
//     "*** (after)" where the value differs. devtool masks stringData the same way (a
//     rendered Secret that could not be dry-run still has it).
func maskForDiff(live, merged *unstructured.Unstructured, keepStatus bool) (*unstructured.Unstructured, *unstructured.Unstructured) {
	clean := func(o *unstructured.Unstructured) *unstructured.Unstructured {
		if o == nil {
			return nil
		}
		o = o.DeepCopy()
		for _, f := range []string{"managedFields", "resourceVersion", "generation", "uid", "creationTimestamp"} {
			unstructured.RemoveNestedField(o.Object, "metadata", f)
		}
		if !keepStatus {
			delete(o.Object, "status")
		}
		return o
	}
	live, merged = clean(live), clean(merged)
	isSecret := func(o *unstructured.Unstructured) bool {
		return o != nil && o.GetAPIVersion() == "v1" && o.GetKind() == "Secret"
	}
	if isSecret(live) || isSecret(merged) {
		for _, field := range []string{"data", "stringData"} {
			maskSecretField(live, merged, field)
		}
	}
	return live, merged
}

// maskSecretField masks the values of the map field of from and to (either may be nil), as
// kubectl diff's Masker.run does for data.
func maskSecretField(from, to *unstructured.Unstructured, field string) {
	get := func(o *unstructured.Unstructured) map[string]any {
		if o == nil {
			return nil
		}
		m, ok := o.Object[field].(map[string]any)
		if !ok {
			return nil
		}
		return m
	}
	f, t := get(from), get(to)
	for k, fv := range f {
		if tv, ok := t[k]; ok {
			if fv != tv {
				f[k], t[k] = secretMaskBefore, secretMaskAfter
				continue
			}
			t[k] = secretMask
		}
		f[k] = secretMask
	}
	for k := range t {
		if _, ok := f[k]; !ok {
			t[k] = secretMask
		}
	}
}
