package deploy

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// Label and annotation keys of the ApplySet specification (KEP-3659, "ApplySet
// specification"; the same constants as kubectl's pkg/cmd/apply/applyset.go).
const (
	// LabelApplySetID is on the parent: the ApplySet ID (see ApplySet.ID).
	LabelApplySetID = "applyset.kubernetes.io/id"
	// LabelPartOf is on every member: the ID of the ApplySet it belongs to.
	LabelPartOf = "applyset.kubernetes.io/part-of"
	// AnnotationTooling is on the parent: "<tool>/<version>" of the tool that manages the set;
	// tools refuse to change sets of other tools.
	AnnotationTooling = "applyset.kubernetes.io/tooling"
	// AnnotationGroupKinds is on the parent: the sorted, comma-separated group-kinds
	// ("Kind.group", or "Kind" for the core group) members may have.
	AnnotationGroupKinds = "applyset.kubernetes.io/contains-group-kinds"
	// AnnotationAdditionalNamespaces is on the parent: the sorted, comma-separated namespaces
	// other than the parent's that namespaced members may live in.
	AnnotationAdditionalNamespaces = "applyset.kubernetes.io/additional-namespaces"
)

// ApplySetPrefix starts the name of every devtool ApplySet parent (see ApplySetName).
const ApplySetPrefix = "devtool-applyset-"

// DefaultTooling is the tooling annotation value when ApplySet.Tooling is empty.
const DefaultTooling = "devtool/v0"

var (
	parentGK      = schema.GroupKind{Kind: "ConfigMap"}
	gvrParent     = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	parentMapping = &meta.RESTMapping{
		Resource:         gvrParent,
		GroupVersionKind: schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"},
		Scope:            meta.RESTScopeNamespace,
	}
)

// ApplySet is devtool's inventory of one project in one namespace: an ApplySet (KEP-3659, as
// kubectl apply --applyset implements it) whose parent is a ConfigMap. Members carry the label
// applyset.kubernetes.io/part-of=<ID>; the parent lists the group-kinds and namespaces they may
// be found in, so that prune and undeploy find them with label-selected lists.
type ApplySet struct {
	// Name is the parent ConfigMap's name (see ApplySetName).
	Name string
	// Namespace is the parent's namespace: the deploy's default namespace (-n, the
	// kubeconfig's, or "default" when empty).
	Namespace string
	// Tooling is the tooling annotation, "devtool/<version>" (DefaultTooling when empty). A
	// parent whose tooling names another tool is never changed.
	Tooling string
	// Labels are extra labels for the parent (app.kubernetes.io/managed-by, …).
	Labels map[string]string
}

var nonLabelChars = regexp.MustCompile(`[^a-z0-9-]+`)

// ApplySetName returns the parent ConfigMap name for a project (the devfile's name):
// ApplySetPrefix + project when that is a DNS label of at most 63 characters; otherwise the
// project lowercased, with runs of other characters replaced by "-", shortened, and followed by
// "-" and 8 hex digits of sha256(project), so that different projects keep different names.
func ApplySetName(project string) string {
	return ApplySetPrefix + slug(project, 63-len(ApplySetPrefix))
}

func (s ApplySet) namespace() string {
	if s.Namespace == "" {
		return metav1.NamespaceDefault
	}
	return s.Namespace
}

func (s ApplySet) tooling() string {
	if s.Tooling == "" {
		return DefaultTooling
	}
	return s.Tooling
}

// ID is the ApplySet ID of KEP-3659, as kubectl computes it:
// "applyset-" + base64url-without-padding(sha256("<name>.<namespace>.<Kind>.<group>")) + "-v1"
// for the parent's name, namespace, kind ConfigMap and group "" (the core group).
func (s ApplySet) ID() string {
	sum := sha256.Sum256([]byte(strings.Join([]string{s.Name, s.namespace(), parentGK.Kind, parentGK.Group}, ".")))
	return "applyset-" + base64.RawURLEncoding.EncodeToString(sum[:]) + "-v1"
}

// String names the parent as "ConfigMap <namespace>/<name>".
func (s ApplySet) String() string {
	return fmt.Sprintf("ConfigMap %s/%s", s.namespace(), s.Name)
}

// ErrNotDeployed is returned (wrapped) by Undeploy when the ApplySet has no parent: nothing was
// deployed by devtool for the project in that namespace, or it was undeployed already.
var ErrNotDeployed = errors.New("no ApplySet parent")

// ParentError is an ApplySet parent that exists but is not devtool's to change: another tool's
// (its tooling annotation), or an object of that name without the ApplySet ID label, or with
// another ID. Nothing was changed.
type ParentError struct {
	// Parent names it, "ConfigMap <namespace>/<name>".
	Parent string
	// Reason says what is wrong with it.
	Reason string
}

func (e *ParentError) Error() string {
	return fmt.Sprintf("%s: %s; %s", e.Parent, e.Reason, e.fix())
}

func (e *ParentError) fix() string {
	return "devtool keeps its inventory of this project there (an ApplySet parent); rename or delete that ConfigMap, or deploy to another namespace with -n"
}

// inventory is what a parent lists: the group-kinds members may have and the namespaces
// namespaced members may live in (the parent's own included).
type inventory struct {
	kinds      map[schema.GroupKind]bool
	namespaces map[string]bool
}

func newInventory() inventory {
	return inventory{kinds: map[schema.GroupKind]bool{}, namespaces: map[string]bool{}}
}

func (inv inventory) union(o inventory) inventory {
	out := newInventory()
	for _, in := range []inventory{inv, o} {
		for k := range in.kinds {
			out.kinds[k] = true
		}
		for n := range in.namespaces {
			out.namespaces[n] = true
		}
	}
	return out
}

// inventoryOf is the inventory of mapped items (items with problems are skipped).
func inventoryOf(items []*item) inventory {
	inv := newInventory()
	for _, it := range items {
		if it.mapping == nil || it.parent || it.job {
			continue
		}
		inv.kinds[it.mapping.GroupVersionKind.GroupKind()] = true
		if it.mapping.Scope.Name() == meta.RESTScopeNameNamespace {
			inv.namespaces[it.obj.GetNamespace()] = true
		}
	}
	return inv
}

// inventoryOfResults is the inventory of applied objects (namespaced ones have a namespace).
func inventoryOfResults(objs []ObjectResult) inventory {
	inv := newInventory()
	for _, o := range objs {
		gv, err := schema.ParseGroupVersion(o.APIVersion)
		if err != nil {
			continue
		}
		inv.kinds[schema.GroupKind{Group: gv.Group, Kind: o.Kind}] = true
		if o.Namespace != "" {
			inv.namespaces[o.Namespace] = true
		}
	}
	return inv
}

// kindsAnnotation is the contains-group-kinds value: sorted "Kind.group" (kubectl's format).
func (inv inventory) kindsAnnotation() string {
	out := make([]string, 0, len(inv.kinds))
	for gk := range inv.kinds {
		out = append(out, gk.String())
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// namespacesAnnotation is the additional-namespaces value: sorted, without the parent's.
func (inv inventory) namespacesAnnotation(parentNS string) string {
	out := make([]string, 0, len(inv.namespaces))
	for n := range inv.namespaces {
		if n != parentNS && n != "" {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// parentObject is the parent ConfigMap listing inv: what devtool server-side-applies (labels
// and annotations only, like kubectl's parent; no data).
func (s ApplySet) parentObject(inv inventory) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap"}}
	u.SetName(s.Name)
	u.SetNamespace(s.namespace())
	labels := map[string]string{}
	for k, v := range s.Labels {
		labels[k] = v
	}
	labels[LabelApplySetID] = s.ID()
	u.SetLabels(labels)
	ann := map[string]string{
		AnnotationTooling:    s.tooling(),
		AnnotationGroupKinds: inv.kindsAnnotation(),
	}
	if ns := inv.namespacesAnnotation(s.namespace()); ns != "" {
		ann[AnnotationAdditionalNamespaces] = ns
	}
	u.SetAnnotations(ann)
	return u
}

// toolName is the tool part of a tooling value "<tool>/<version>" (kubectl's toolingBaseName).
func toolName(tooling string) string {
	if i := strings.LastIndex(tooling, "/"); i >= 0 {
		return tooling[:i]
	}
	return tooling
}

// readParent reads the parent and the inventory it lists (its own namespace included).
// exists is false when there is none (inventory then empty). A parent devtool must not change
// is a *ParentError.
func readParent(ctx context.Context, cl *clients, s ApplySet) (inv inventory, exists bool, err error) {
	inv = newInventory()
	cur, err := cl.dyn.Resource(gvrParent).Namespace(s.namespace()).Get(ctx, s.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return inv, false, nil
	}
	if err != nil {
		return inv, false, fmt.Errorf("reading %s: %w", s, err)
	}
	perr := func(format string, args ...any) error {
		return &ParentError{Parent: s.String(), Reason: fmt.Sprintf(format, args...)}
	}
	ann := cur.GetAnnotations()
	tooling, ok := ann[AnnotationTooling]
	if !ok {
		return inv, true, perr("exists and is not an ApplySet parent (no %s annotation)", AnnotationTooling)
	}
	if got, want := toolName(tooling), toolName(s.tooling()); got != want {
		return inv, true, perr("is the ApplySet parent of another tool (%s=%s), not %s", AnnotationTooling, tooling, want)
	}
	if id := cur.GetLabels()[LabelApplySetID]; id != s.ID() {
		return inv, true, perr("has label %s=%q, want %q", LabelApplySetID, id, s.ID())
	}
	kinds, ok := ann[AnnotationGroupKinds]
	if !ok {
		return inv, true, perr("has no %s annotation", AnnotationGroupKinds)
	}
	for _, k := range strings.Split(kinds, ",") {
		if k = strings.TrimSpace(k); k != "" {
			inv.kinds[schema.ParseGroupKind(k)] = true
		}
	}
	for _, n := range strings.Split(ann[AnnotationAdditionalNamespaces], ",") {
		if n = strings.TrimSpace(n); n != "" {
			inv.namespaces[n] = true
		}
	}
	inv.namespaces[s.namespace()] = true
	return inv, true, nil
}

// writeParent server-side-applies the parent listing inv with field manager manager (empty:
// FieldManager), taking over conflicting fields
// (kubectl retries the parent's apply with force after a conflict; devtool has checked that
// the parent is its own).
func (a *Applier) writeParent(ctx context.Context, cl *clients, s ApplySet, inv inventory, manager string) error {
	obj := s.parentObject(inv)
	got, err := cl.dyn.Resource(gvrParent).Namespace(s.namespace()).Apply(ctx, s.Name, obj, metav1.ApplyOptions{FieldManager: fieldManager(manager), Force: true})
	if err != nil {
		return fmt.Errorf("writing the inventory %s: %w", s, err)
	}
	a.log.Debug("wrote ApplySet parent", "parent", s.String(), "groupKinds", obj.GetAnnotations()[AnnotationGroupKinds],
		"additionalNamespaces", obj.GetAnnotations()[AnnotationAdditionalNamespaces], "resourceVersion", got.GetResourceVersion())
	return nil
}

// beginApplySet writes the parent of t's ApplySet before any member is applied (kubectl's
// ApplySet.BeforeApply): it lists the union of the group-kinds and namespaces it lists already
// and those of req.Objects (all the objects the deploy will apply, across its steps), so that a
// deploy interrupted at any point leaves no member the inventory does not know. When nothing is
// new the apply is a no-op and the parent's resourceVersion does not change.
//
// If the parent's namespace does not exist and req.Objects holds its Namespace object, that
// Namespace is applied first (as a member); the Apply that applies it later reports it Created.
//
// With req.DryRun DryRunServer or DryRunClient nothing is written (Validate has checked the
// parent). Errors: *ParentError (the parent is not devtool's), *ValidationError (an object
// cannot be mapped; Validate reports the same), *ClusterError, or the API error.
func (a *Applier) beginApplySet(ctx context.Context, t *Transaction) error {
	req := t.begin
	if req.DryRun == DryRunServer || req.DryRun == DryRunClient {
		return nil
	}
	set := *req.ApplySet
	cl, err := a.clients(ctx)
	if err != nil {
		return err
	}
	items, problems, _, err := a.mapItems(ctx, cl, Preflight{Request: req})
	if err != nil {
		return err
	}
	var all []ObjectProblem
	for _, p := range problems {
		if p != nil {
			all = append(all, *p)
		}
	}
	if len(all) > 0 {
		return &ValidationError{Problems: all}
	}
	cur, _, err := readParent(ctx, cl, set)
	if err != nil {
		return err
	}
	ns := set.namespace()
	ok, err := namespaceExists(ctx, cl, ns)
	if err != nil {
		return fmt.Errorf("checking namespace %q: %w", ns, err)
	}
	if !ok {
		var nsItem *item
		for _, it := range items {
			if it.mapping.GroupVersionKind.GroupKind() == gkNamespace && it.obj.GetName() == ns {
				nsItem = it
			}
		}
		if nsItem == nil {
			return fmt.Errorf("writing the inventory %s: namespace %q does not exist", set, ns)
		}
		var r ObjectResult
		if _, err := a.applyObject(ctx, cl, nil, nsItem, nsItem.obj, req.ForceConflicts, false, &r); err != nil {
			return err
		}
		if r.Action == Created {
			t.markCreatedNamespace(ns)
		}
	}
	return a.writeParent(ctx, cl, set, cur.union(inventoryOf(items)), req.FieldManager)
}

// member is one object of an ApplySet found in the cluster.
type member struct {
	mapping   *meta.RESTMapping
	namespace string
	name      string
	uid       types.UID
	managers  []string // the field managers of its managedFields
	// keep, when set, says why prune or undeploy leaves it alone (Action Kept; planDeletes).
	keep string
}

func (m member) gk() schema.GroupKind { return m.mapping.GroupVersionKind.GroupKind() }

func (m member) display() string {
	if m.namespace != "" {
		return fmt.Sprintf("%s %s/%s", m.mapping.GroupVersionKind.Kind, m.namespace, m.name)
	}
	return fmt.Sprintf("%s %s", m.mapping.GroupVersionKind.Kind, m.name)
}

// listMembers lists the objects labelled part-of the set, for every group-kind inv lists: in
// each of inv's namespaces for namespaced kinds, cluster-wide for cluster-scoped ones (kubectl's
// FindAllObjectsToPrune). A group-kind the cluster no longer serves has no objects and is
// skipped. The result is sorted by group-kind, namespace and name.
func (a *Applier) listMembers(ctx context.Context, cl *clients, s ApplySet, inv inventory) ([]member, error) {
	kinds := make([]schema.GroupKind, 0, len(inv.kinds))
	for gk := range inv.kinds {
		kinds = append(kinds, gk)
	}
	sort.Slice(kinds, func(i, j int) bool { return kinds[i].String() < kinds[j].String() })
	namespaces := make([]string, 0, len(inv.namespaces))
	for n := range inv.namespaces {
		namespaces = append(namespaces, n)
	}
	sort.Strings(namespaces)
	selector := LabelPartOf + "=" + s.ID()
	var out []member
	for _, gk := range kinds {
		m, err := cl.mapper.RESTMapping(gk)
		if meta.IsNoMatchError(err) {
			a.log.Debug("ApplySet lists a kind the cluster does not serve; no members of it", "groupKind", gk.String())
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("looking up the API for %s: %w", gk, err)
		}
		scopes := []string{""}
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			scopes = namespaces
		}
		for _, ns := range scopes {
			list, err := cl.md.Resource(m.Resource).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
			if apierrors.IsNotFound(err) {
				// The kind went away after discovery (its CRD was just deleted): no members.
				a.log.Debug("ApplySet lists a kind the cluster no longer serves; no members of it", "groupKind", gk.String(), "error", err)
				break
			}
			if err != nil {
				where := "cluster-wide"
				if ns != "" {
					where = "in namespace " + ns
				}
				return nil, fmt.Errorf("listing %s members of %s %s: %w", gk, s, where, err)
			}
			for _, o := range list.Items {
				if o.Labels[LabelPartOf] != s.ID() {
					continue // the server filtered; never delete what lacks the label
				}
				out = append(out, member{mapping: m, namespace: o.Namespace, name: o.Name, uid: o.UID, managers: managersOf(&o)})
			}
		}
	}
	return out, nil
}

// deleteRank orders deletions: namespaced objects, then cluster-scoped ones, then Namespaces
// and CustomResourceDefinitions (deleting those deletes what is in them or of them).
func deleteRank(m member) int {
	switch {
	case m.gk() == gkNamespace || m.gk() == gkCRD:
		return 2
	case m.namespace == "":
		return 1
	}
	return 0
}

// deleteMembers deletes ms in deleteRank order with propagationPolicy Background and a UID
// precondition (an object recreated since it was listed is left alone), except those planDeletes
// keeps: they are reported Kept with the reason as Note, in the same order. With DryRunServer
// the deletes are dry runs; with DryRunClient none is sent. Objects already gone are left out of
// the result. On error, the result lists what was deleted so far.
func (a *Applier) deleteMembers(ctx context.Context, cl *clients, ms []member, dryRun DryRun, done, would Action) ([]ObjectResult, error) {
	sorted := append([]member(nil), ms...)
	sort.SliceStable(sorted, func(i, j int) bool { return deleteRank(sorted[i]) < deleteRank(sorted[j]) })
	out := []ObjectResult{}
	action := done
	if dryRun == DryRunServer || dryRun == DryRunClient {
		action = would
	}
	for _, m := range sorted {
		res := ObjectResult{APIVersion: m.mapping.GroupVersionKind.GroupVersion().String(), Kind: m.mapping.GroupVersionKind.Kind, Namespace: m.namespace, Name: m.name, Action: action}
		if m.keep != "" {
			res.Action, res.Note = Kept, m.keep
			a.log.Debug("kept", "object", m.display(), "reason", m.keep)
			out = append(out, res)
			continue
		}
		if dryRun == DryRunClient {
			out = append(out, res)
			continue
		}
		policy := metav1.DeletePropagationBackground
		uid := m.uid
		opts := metav1.DeleteOptions{PropagationPolicy: &policy, Preconditions: &metav1.Preconditions{UID: &uid}}
		if dryRun == DryRunServer {
			opts.DryRun = []string{metav1.DryRunAll}
		}
		err := cl.dyn.Resource(m.mapping.Resource).Namespace(m.namespace).Delete(ctx, m.name, opts)
		switch {
		case apierrors.IsNotFound(err):
			a.log.Debug("already gone", "object", m.display())
			continue
		case apierrors.IsConflict(err):
			a.log.Debug("recreated since it was listed; left alone", "object", m.display(), "error", err)
			continue
		case err != nil:
			return out, fmt.Errorf("deleting %s: %w", m.display(), err)
		}
		a.log.Debug("deleted", "object", m.display(), "dryRun", dryRun)
		out = append(out, res)
	}
	return out, nil
}

type objectKey struct {
	gk        schema.GroupKind
	namespace string
	name      string
}

// Commit ends the transaction tx of a deploy whose every Apply succeeded (its dry-run mode is
// tx's). applied are the ObjectResults of all of them.
//
// Without prune it does nothing: members that left the deploy stay, and the parent keeps
// listing their group-kinds and namespaces so that a later prune or undeploy finds them
// (kubectl's behaviour when an apply is not followed by a prune).
//
// With prune it deletes every member of the set (found as listMembers does, from what the
// parent lists) that applied does not name (same group, kind, namespace and name), in
// deleteRank order with propagationPolicy Background, then narrows the parent to the
// group-kinds and namespaces of applied and of the members it kept (kubectl's ApplySet.Prune).
// Objects without the part-of label are never deleted. A stale Namespace that applied objects
// live in, or a stale CustomResourceDefinition that defines a kind of applied, is an error
// before anything is deleted. If a delete fails the parent is not narrowed.
//
// Only what devtool applied for this project is deleted (Helm deletes only what its release
// records): a stale member whose managedFields show neither tx's field manager (its begin
// Request's FieldManager) nor the legacy FieldManager is kept, and so is a stale Namespace that
// holds objects that are not going with it (anything but the members being pruned, their
// dependents, and what the Kubernetes controllers put into every Namespace), or a stale
// CustomResourceDefinition with custom resources that are not being pruned (see Kept).
//
// With DryRunServer the deletes are sent as dry runs and the parent is not changed; with
// DryRunClient nothing is sent at all (no prune candidates are listed). The result lists the
// pruned objects (Action Pruned, or WouldPrune in a server dry run) and the kept ones (Kept,
// with a Note saying why), in deleteRank order.
func (a *Applier) Commit(ctx context.Context, tx *Transaction, applied []ObjectResult, prune bool) ([]ObjectResult, error) {
	set, dryRun := tx.ApplySet(), tx.begin.DryRun
	if !prune || dryRun == DryRunClient {
		return nil, nil
	}
	cl, err := a.clients(ctx)
	if err != nil {
		return nil, err
	}
	cur, exists, err := readParent(ctx, cl, set)
	if err != nil {
		return nil, err
	}
	if !exists {
		if dryRun == DryRunServer {
			return nil, nil // a first deploy's dry run: nothing to prune
		}
		return nil, fmt.Errorf("pruning: the inventory %s disappeared during the deploy", set)
	}
	keep := map[objectKey]bool{}
	for _, o := range applied {
		gv, err := schema.ParseGroupVersion(o.APIVersion)
		if err != nil {
			continue
		}
		keep[objectKey{schema.GroupKind{Group: gv.Group, Kind: o.Kind}, o.Namespace, o.Name}] = true
	}
	members, err := a.listMembers(ctx, cl, set, cur)
	if err != nil {
		return nil, fmt.Errorf("pruning: %w", err)
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
	if err := a.planDeletes(ctx, cl, set, tx.begin.FieldManager, stale, false); err != nil {
		return nil, fmt.Errorf("pruning: %w", err)
	}
	pruned, err := a.deleteMembers(ctx, cl, stale, dryRun, Pruned, WouldPrune)
	if err != nil {
		return pruned, fmt.Errorf("pruning: %w", err)
	}
	if dryRun == DryRunServer {
		return pruned, nil
	}
	if err := a.writeParent(ctx, cl, set, inventoryOfResults(applied).union(inventoryOfKept(stale)), tx.begin.FieldManager); err != nil {
		return pruned, fmt.Errorf("pruning done, narrowing the inventory: %w", err)
	}
	return pruned, nil
}

// checkPrunable refuses to prune a Namespace or a CustomResourceDefinition that objects this
// deploy applied depend on: deleting it would delete them too.
func (a *Applier) checkPrunable(cl *clients, stale []member, applied []ObjectResult) error {
	var problems []string
	for _, m := range stale {
		switch m.gk() {
		case gkNamespace:
			for _, o := range applied {
				if o.Namespace == m.name {
					problems = append(problems, fmt.Sprintf("Namespace %s is no longer deployed, but %s %s/%s is deployed in it", m.name, o.Kind, o.Namespace, o.Name))
					break
				}
			}
		case gkCRD:
			for _, o := range applied {
				gv, err := schema.ParseGroupVersion(o.APIVersion)
				if err != nil || gv.Group == "" {
					continue
				}
				mp, err := cl.mapper.RESTMapping(schema.GroupKind{Group: gv.Group, Kind: o.Kind}, gv.Version)
				if err == nil && mp.Resource.Resource+"."+mp.Resource.Group == m.name {
					problems = append(problems, fmt.Sprintf("CustomResourceDefinition %s is no longer deployed, but %s %s of it is", m.name, o.Kind, o.Name))
					break
				}
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("pruning would delete objects this deploy applied (nothing was pruned): %s; add the object back to the manifests, or undeploy first", strings.Join(problems, "; "))
	}
	return nil
}

// Undeploy deletes what devtool deployed for the project of req.ApplySet: every member (found as
// listMembers does, from what the parent lists) — namespaced objects first, then cluster-scoped
// ones, Namespaces and CustomResourceDefinitions last, with propagationPolicy Background — and
// then the parent. Objects already gone are skipped, so Undeploy can be repeated after a
// failure. The result lists the members deleted (Action Deleted, or WouldDelete in a dry run)
// and kept (Kept, with a Note), not the parent.
//
// Members that are not devtool's for this project to delete are kept, as Commit keeps them
// (Helm's uninstall deletes only what its release records): one whose managedFields show
// neither req.FieldManager nor the legacy FieldManager, a Namespace that holds objects that do
// not go with it (a ConfigMap made with kubectl in it, another project's objects, …; the
// Note names the first few), a CustomResourceDefinition with custom resources that are not
// being deleted. The parent is deleted all the same: the project is no longer deployed.
//
// With DryRunServer the deletes are sent as dry runs; with DryRunClient none is sent; either
// way nothing is deleted, and the same objects are reported kept. Errors: ErrNotDeployed (wrapped) when the parent does not exist,
// *ParentError when it is not devtool's, *ClusterError, or the API error (the result then
// lists what was deleted so far; the parent is kept so that a retry finds the rest).
func (a *Applier) Undeploy(ctx context.Context, req UndeployRequest) ([]ObjectResult, error) {
	set, dryRun := req.ApplySet, req.DryRun
	cl, err := a.clients(ctx)
	if err != nil {
		return nil, err
	}
	cur, exists, err := readParent(ctx, cl, set)
	if err != nil {
		return nil, err
	}
	if !exists {
		return nil, fmt.Errorf("%w: %s not found", ErrNotDeployed, set)
	}
	members, err := a.listMembers(ctx, cl, set, cur)
	if err != nil {
		return nil, err
	}
	if err := a.planDeletes(ctx, cl, set, req.FieldManager, members, true); err != nil {
		return nil, err
	}
	deleted, err := a.deleteMembers(ctx, cl, members, dryRun, Deleted, WouldDelete)
	if err != nil {
		return deleted, err
	}
	if dryRun == DryRunClient {
		return deleted, nil
	}
	opts := metav1.DeleteOptions{}
	if dryRun == DryRunServer {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	if err := cl.dyn.Resource(gvrParent).Namespace(set.namespace()).Delete(ctx, set.Name, opts); err != nil && !apierrors.IsNotFound(err) {
		return deleted, fmt.Errorf("deleting the inventory %s: %w", set, err)
	}
	return deleted, nil
}
