package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
)

// Ownership: who an object belongs to, and what devtool may take over or delete (Helm's rules,
// see OwnershipError and Kept). Applying: readLive, ownershipOf, migrateLegacyManager.
// Deleting: planDeletes.

// listThreshold is how many objects of one resource in one namespace make readLive list them
// rather than read them one by one.
const listThreshold = 8

// listPage is the page size of readLive's lists.
const listPage = 500

// readLive reads the objects of items that may exist (not bad, not jobs nor the parent, their
// CRD served, their namespace possibly there: nsMayExist) and records them in it.live. A read
// devtool is not allowed leaves the object unread (the dry run finds out what it may do); any
// other failed read is a problem of the object.
//
// Objects of one resource in one namespace, listThreshold or more, are listed instead of read
// one by one (kubectl's prune lists the same way): the members of the ApplySet memberID (when
// not empty) with a label-selected list, which returns them whole; then, for those not among
// them, a metadata-only list of the resource in the namespace tells which do not exist at all.
// What is left (objects of someone else, or everything when a list is not allowed) is read
// with GETs, a.concurrency at a time.
func (a *Applier) readLive(ctx context.Context, cl *clients, items []*item, bad []bool, memberID string, nsMayExist func(string) bool) ([]*ObjectProblem, error) {
	type groupKey struct {
		gvr schema.GroupVersionResource
		ns  string
	}
	groups := map[groupKey][]*item{}
	var keys []groupKey
	for i, it := range items {
		if bad[i] || it.job || it.parent || it.pendingCRD {
			continue
		}
		ns := it.obj.GetNamespace()
		if ns != "" && !nsMayExist(ns) {
			it.liveRead = true // its namespace does not exist yet: neither does it
			continue
		}
		k := groupKey{it.mapping.Resource, ns}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], it)
	}
	var mu sync.Mutex
	var get []*item
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(a.concurrency)
	for _, k := range keys {
		its := groups[k]
		if len(its) < listThreshold {
			get = append(get, its...)
			continue
		}
		g.Go(func() error {
			left, err := a.listLive(gctx, cl, k.gvr, k.ns, its, memberID)
			if err != nil {
				return err
			}
			mu.Lock()
			get = append(get, left...)
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}

	problems := make([]*ObjectProblem, len(items))
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(a.concurrency)
	for _, it := range get {
		g.Go(func() error {
			cur, err := resourceFor(cl, it.mapping, it.obj.GetNamespace()).Get(gctx, it.obj.GetName(), metav1.GetOptions{})
			switch {
			case err == nil:
				it.live, it.liveRead = cur, true
			case apierrors.IsNotFound(err):
				it.liveRead = true
			case gctx.Err() != nil:
				return gctx.Err()
			case apierrors.IsForbidden(err):
				a.log.Debug("not allowed to read; ownership not checked", "object", it.display, "error", err)
			default:
				problems[it.index] = &ObjectProblem{Object: it.display, Source: it.source, Message: "reading it: " + err.Error(), Err: err}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return problems, nil
}

// listLive reads its (objects of resource gvr in namespace ns, "" for cluster-scoped ones) with
// lists, as readLive describes, and returns those it could not settle. Errors: ctx's only (a
// failed list leaves its objects to GETs).
func (a *Applier) listLive(ctx context.Context, cl *clients, gvr schema.GroupVersionResource, ns string, its []*item, memberID string) ([]*item, error) {
	byName := make(map[string]*item, len(its))
	for _, it := range its {
		byName[it.obj.GetName()] = it
	}
	left := its
	if memberID != "" {
		found := 0
		err := listPages(ctx, func(opts metav1.ListOptions) (string, error) {
			opts.LabelSelector = LabelPartOf + "=" + memberID
			list, err := cl.dyn.Resource(gvr).Namespace(ns).List(ctx, opts)
			if err != nil {
				return "", err
			}
			for i := range list.Items {
				o := &list.Items[i]
				if it := byName[o.GetName()]; it != nil && !it.liveRead && o.GetLabels()[LabelPartOf] == memberID {
					it.live, it.liveRead = o, true
					found++
				}
			}
			return list.GetContinue(), nil
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			a.log.Debug("listing members failed; reading them one by one", "resource", gvr.String(), "namespace", ns, "error", err)
			return its, nil
		}
		if found > 0 {
			left = nil
			for _, it := range its {
				if !it.liveRead {
					left = append(left, it)
				}
			}
		}
	}
	if len(left) < listThreshold {
		return left, nil
	}
	exists := map[string]bool{}
	err := listPages(ctx, func(opts metav1.ListOptions) (string, error) {
		list, err := cl.md.Resource(gvr).Namespace(ns).List(ctx, opts)
		if err != nil {
			return "", err
		}
		for _, o := range list.Items {
			exists[o.Name] = true
		}
		return list.Continue, nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		a.log.Debug("listing failed; reading objects one by one", "resource", gvr.String(), "namespace", ns, "error", err)
		return left, nil
	}
	var rest []*item
	for _, it := range left {
		if exists[it.obj.GetName()] {
			rest = append(rest, it) // someone else's (or just labelled): read it whole
			continue
		}
		it.liveRead = true
	}
	return rest, nil
}

// listPages calls list with listPage-sized pages until it returns no continue token.
func listPages(ctx context.Context, list func(metav1.ListOptions) (string, error)) error {
	opts := metav1.ListOptions{Limit: listPage}
	for {
		cont, err := list(opts)
		if err != nil || cont == "" {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		opts.Continue = cont
	}
}

// ownershipOf returns the *OwnershipError of the items (not bad) that exist and do not carry
// the part-of label of set, and marks them in foreign; nil when there are none.
func ownershipOf(set ApplySet, items []*item, bad []bool) (*OwnershipError, []bool) {
	foreign := make([]bool, len(items))
	oe := &OwnershipError{ApplySet: set.String()}
	for i, it := range items {
		if bad[i] || it.live == nil || it.live.GetLabels()[LabelPartOf] == set.ID() {
			continue
		}
		foreign[i] = true
		oe.Objects = append(oe.Objects, ForeignObject{Object: it.display, Source: it.source, Owner: ownerOf(it.live)})
	}
	if len(oe.Objects) == 0 {
		return nil, nil
	}
	return oe, foreign
}

// ownerOf describes who owns o: its field managers and ownership labels.
func ownerOf(o metav1.Object) Owner {
	l := o.GetLabels()
	return Owner{Managers: managersOf(o), PartOf: l[LabelPartOf], ManagedBy: l[LabelManagedBy], Name: l[LabelName]}
}

// managersOf lists the field managers of o's managedFields, each once, in their order.
func managersOf(o metav1.Object) []string {
	var out []string
	seen := map[string]bool{}
	for _, mf := range o.GetManagedFields() {
		if !seen[mf.Manager] {
			seen[mf.Manager] = true
			out = append(out, mf.Manager)
		}
	}
	return out
}

// legacyConflict reports whether every field of c is owned by the legacy manager FieldManager,
// on an object of this ApplySet that it's project manager applies now: fields devtool applied
// for this project before it had per-project field managers (migrateLegacyManager moves them).
func legacyConflict(it *item, c *ConflictError) bool {
	if it.manager == FieldManager || it.live == nil || len(c.Conflicts) == 0 {
		return false
	}
	id := it.obj.GetLabels()[LabelPartOf]
	if id == "" || it.live.GetLabels()[LabelPartOf] != id {
		return false
	}
	for _, fc := range c.Conflicts {
		if fc.Manager != FieldManager {
			return false
		}
	}
	return true
}

// migrateLegacyManager renames the managedFields entries of the legacy manager FieldManager
// ("devtool", shared by every project before per-project field managers) to it's project
// manager, on a live object cur of this ApplySet where that manager has no entry yet, so that
// applying with the project's manager neither conflicts with its own earlier applies nor
// leaves fields removed from the manifest behind. This is kubectl's migration of client-side
// apply managers to server-side apply (k8s.io/client-go/util/csaupgrade): a JSON patch of
// metadata.managedFields, guarded by cur's resourceVersion. It returns the patched object, or
// cur when there is nothing to migrate.
func (a *Applier) migrateLegacyManager(ctx context.Context, ri dynamic.ResourceInterface, it *item, cur *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	id := it.obj.GetLabels()[LabelPartOf]
	if it.manager == FieldManager || id == "" || cur.GetLabels()[LabelPartOf] != id {
		return cur, nil
	}
	var idx []int
	for i, mf := range cur.GetManagedFields() {
		switch {
		case mf.Manager == it.manager:
			return cur, nil
		case mf.Manager == FieldManager && mf.Operation == metav1.ManagedFieldsOperationApply:
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return cur, nil
	}
	ops := []map[string]any{{"op": "test", "path": "/metadata/resourceVersion", "value": cur.GetResourceVersion()}}
	for _, i := range idx {
		ops = append(ops, map[string]any{"op": "replace", "path": fmt.Sprintf("/metadata/managedFields/%d/manager", i), "value": it.manager})
	}
	patch, err := json.Marshal(ops)
	if err != nil {
		return nil, err
	}
	got, err := ri.Patch(ctx, cur.GetName(), types.JSONPatchType, patch, metav1.PatchOptions{FieldManager: it.manager})
	if err != nil {
		return nil, fmt.Errorf("moving the fields of %s from field manager %q to %q: %w", it.display, FieldManager, it.manager, err)
	}
	a.log.Debug("moved fields from the legacy field manager", "object", it.display, "from", FieldManager, "to", it.manager)
	return got, nil
}

// ownsMember reports whether devtool applied m for the project of field manager manager: m's
// managedFields show that manager, or the legacy FieldManager every project shared before
// per-project managers.
func ownsMember(m member, manager string) bool {
	manager = fieldManager(manager)
	for _, mg := range m.managers {
		if mg == manager || mg == FieldManager {
			return true
		}
	}
	return false
}

// maxBlockers is how many objects a Kept note names.
const maxBlockers = 5

// planDeletes decides which of ms, the members of set that prune or undeploy is about to
// delete, devtool may delete, and sets keep (with the reason) on the others:
//
//   - a member whose managedFields show neither manager (the project's) nor FieldManager: it
//     carries the set's label but devtool did not apply it for this project;
//   - a Namespace that holds an object that does not go with it (foreignIn): deleting the
//     Namespace would delete that object too;
//   - a CustomResourceDefinition with a custom resource anywhere that is not among the members
//     being deleted: deleting the CRD would delete it too.
//
// parentGoes says whether set's parent is deleted as well (undeploy) or stays (prune, where
// it blocks the deletion of its Namespace). Only reads are sent.
func (a *Applier) planDeletes(ctx context.Context, cl *clients, set ApplySet, manager string, ms []member, parentGoes bool) error {
	going := map[types.UID]bool{}
	for i := range ms {
		m := &ms[i]
		if !ownsMember(*m, manager) {
			m.keep = fmt.Sprintf("not applied by devtool for this project (%s); delete it yourself if it should go", Owner{Managers: m.managers})
			continue
		}
		going[m.uid] = true
	}
	var nsResources []nsResource
	var discoErr error
	discovered := false
	for i := range ms {
		m := &ms[i]
		if m.keep != "" {
			continue
		}
		var blockers []string
		var err error
		switch m.gk() {
		case gkNamespace:
			if !discovered {
				nsResources, discoErr = namespacedResources(cl.disco)
				discovered = true
			}
			blockers, err = a.foreignIn(ctx, cl, set, manager, m.name, nsResources, discoErr, going, parentGoes)
		case gkCRD:
			blockers, err = a.foreignOfCRD(ctx, cl, m.name, going)
		default:
			continue
		}
		if err != nil {
			return err
		}
		if len(blockers) == 0 {
			continue
		}
		delete(going, m.uid)
		what := "custom resources that are not this project's"
		if m.gk() == gkNamespace {
			what = "objects that are not this project's"
		}
		more := ""
		if len(blockers) > maxBlockers {
			more = fmt.Sprintf(" and %d more", len(blockers)-maxBlockers)
			blockers = blockers[:maxBlockers]
		}
		m.keep = fmt.Sprintf("holds %s, which deleting it would delete: %s%s", what, strings.Join(blockers, ", "), more)
	}
	return nil
}

// nsResource is a namespaced, listable API resource (discovery's preferred version).
type nsResource struct {
	gvr  schema.GroupVersionResource
	kind string
}

// namespacedResources lists the namespaced resources that can be listed, in discovery's
// preferred versions, without subresources and Events (the API server and every component
// write Events into a namespace; they go with it). A discovery error for some groups returns
// the rest and the error.
func namespacedResources(disco discovery.DiscoveryInterface) ([]nsResource, error) {
	lists, err := disco.ServerPreferredNamespacedResources()
	var out []nsResource
	for _, l := range lists {
		gv, perr := schema.ParseGroupVersion(l.GroupVersion)
		if perr != nil {
			continue
		}
		for _, r := range l.APIResources {
			if strings.Contains(r.Name, "/") || r.Name == "events" && (gv.Group == "" || gv.Group == "events.k8s.io") {
				continue
			}
			listable := false
			for _, v := range r.Verbs {
				listable = listable || v == "list"
			}
			if listable {
				out = append(out, nsResource{gvr: gv.WithResource(r.Name), kind: r.Kind})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].gvr.String() < out[j].gvr.String() })
	return out, err
}

// nsObject is one object found in a Namespace about to be deleted.
type nsObject struct {
	kind, group string
	meta        metav1.ObjectMeta
}

// Objects the Kubernetes controllers create in every Namespace: they go with it
// (kube-controller-manager's root-ca-cert-publisher and serviceaccount controllers).
const (
	rootCAConfigMap       = "kube-root-ca.crt"
	defaultServiceAccount = "default"
	// annotationSAName marks a legacy token Secret of a ServiceAccount (the token controller
	// creates it without an ownerReference).
	annotationSAName = "kubernetes.io/service-account.name"
)

// foreignIn lists ("Kind name") the objects in Namespace ns that would not go if devtool deleted
// it: everything except
//
//   - the members being deleted (going, by UID), and, when parentGoes, set's parent;
//   - objects the controllers create in every Namespace (ConfigMap kube-root-ca.crt,
//     ServiceAccount default, Events) and objects already being deleted;
//   - objects devtool applied for this project outside the inventory (the Jobs of exec
//     commands): no part-of label, and managedFields showing manager, when that is a
//     project's own (not the shared legacy FieldManager);
//   - dependents of what goes: an ownerReference to it (the ReplicaSets and Pods of a
//     Deployment, the EndpointSlices of a Service, …), the Endpoints of a Service (same name;
//     the endpoints controller sets no ownerReference), the legacy token Secrets of a
//     ServiceAccount.
//
// A resource that cannot be listed (or a discovery failure, discoErr) counts as a blocker that
// names it: devtool does not delete what it cannot see.
func (a *Applier) foreignIn(ctx context.Context, cl *clients, set ApplySet, manager, ns string, resources []nsResource, discoErr error, going map[types.UID]bool, parentGoes bool) ([]string, error) {
	var blockers []string
	if discoErr != nil {
		var gdf *discovery.ErrGroupDiscoveryFailed
		if errors.As(discoErr, &gdf) {
			groups := make([]string, 0, len(gdf.Groups))
			for gv := range gdf.Groups {
				groups = append(groups, gv.String())
			}
			sort.Strings(groups)
			blockers = append(blockers, "the resources of API groups "+strings.Join(groups, ", ")+" (discovery failed)")
		} else {
			blockers = append(blockers, "its resources (discovery failed: "+discoErr.Error()+")")
		}
	}
	lists := make([][]nsObject, len(resources))
	listErrs := make([]error, len(resources))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, r := range resources {
		g.Go(func() error {
			list, err := cl.scan.Resource(r.gvr).Namespace(ns).List(gctx, metav1.ListOptions{})
			switch {
			case err == nil:
			case gctx.Err() != nil:
				return gctx.Err()
			case apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err):
				return nil // went away since discovery, or not listable after all
			default:
				listErrs[i] = err
				return nil
			}
			for _, o := range list.Items {
				lists[i] = append(lists[i], nsObject{kind: r.kind, group: r.gvr.Group, meta: o.ObjectMeta})
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var objs []nsObject
	for i, l := range lists {
		if listErrs[i] != nil {
			blockers = append(blockers, fmt.Sprintf("%s (cannot list them: %v)", resources[i].gvr.GroupResource(), listErrs[i]))
		}
		objs = append(objs, l...)
	}

	goes := map[types.UID]bool{}
	for uid := range going {
		goes[uid] = true
	}
	projectManager := fieldManager(manager)
	own := func(o nsObject) bool {
		m := o.meta
		switch {
		case goes[m.UID], m.DeletionTimestamp != nil:
			return true
		case o.group == "" && o.kind == "ConfigMap" && m.Name == rootCAConfigMap,
			o.group == "" && o.kind == "ServiceAccount" && m.Name == defaultServiceAccount:
			return true
		case parentGoes && o.group == "" && o.kind == "ConfigMap" && m.Namespace == set.namespace() && m.Name == set.Name && m.Labels[LabelApplySetID] == set.ID():
			return true
		case projectManager != FieldManager && m.Labels[LabelPartOf] == "" && contains(managersOf(&m), projectManager):
			return true
		}
		for _, ref := range m.OwnerReferences {
			if goes[ref.UID] {
				return true
			}
		}
		return false
	}
	// Dependents of dependents (Deployment → ReplicaSet → Pod): repeat until nothing changes.
	for changed := true; changed; {
		changed = false
		goingByName := map[string]bool{} // "Kind/name" of what goes, for the dependents found by name
		for _, o := range objs {
			if goes[o.meta.UID] && o.group == "" {
				goingByName[o.kind+"/"+o.meta.Name] = true
			}
		}
		for _, o := range objs {
			if goes[o.meta.UID] {
				continue
			}
			byName := o.group == "" && (o.kind == "Endpoints" && goingByName["Service/"+o.meta.Name] ||
				o.kind == "Secret" && o.meta.Annotations[annotationSAName] != "" &&
					(goingByName["ServiceAccount/"+o.meta.Annotations[annotationSAName]] || o.meta.Annotations[annotationSAName] == defaultServiceAccount))
			if own(o) || byName {
				goes[o.meta.UID] = true
				changed = true
			}
		}
	}
	for _, o := range objs {
		if !goes[o.meta.UID] {
			blockers = append(blockers, o.kind+" "+o.meta.Name)
		}
	}
	return blockers, nil
}

// foreignOfCRD lists ("Kind namespace/name") the custom resources of CustomResourceDefinition
// name, in every namespace, that are not among the members being deleted (going) nor dependents
// of them: deleting the CRD would delete them.
func (a *Applier) foreignOfCRD(ctx context.Context, cl *clients, name string, going map[types.UID]bool) ([]string, error) {
	crd, err := cl.dyn.Resource(gvrCRD).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading CustomResourceDefinition %s: %w", name, err)
	}
	gk, info, ok := crdOf(crd)
	if !ok {
		return nil, nil
	}
	version := ""
	for v := range info.served {
		if version == "" || v < version {
			version = v
		}
	}
	if version == "" {
		// Nothing served: its resources cannot be listed, so they cannot be checked.
		return []string{"its custom resources (no version is served, so they cannot be listed)"}, nil
	}
	gvr := schema.GroupVersionResource{Group: gk.Group, Version: version, Resource: info.plural}
	list, err := cl.md.Resource(gvr).List(ctx, metav1.ListOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil // not served yet or any more
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return []string{fmt.Sprintf("%s (cannot list them: %v)", gvr.GroupResource(), err)}, nil
	}
	var out []string
	for _, o := range list.Items {
		if going[o.UID] || o.DeletionTimestamp != nil {
			continue
		}
		ownedByGoing := false
		for _, ref := range o.OwnerReferences {
			ownedByGoing = ownedByGoing || going[ref.UID]
		}
		if ownedByGoing {
			continue
		}
		name := o.Name
		if o.Namespace != "" {
			name = o.Namespace + "/" + name
		}
		out = append(out, gk.Kind+" "+name)
	}
	return out, nil
}

// inventoryOfKept is the inventory of the members prune kept: the parent keeps listing them, so
// that a later prune or undeploy looks at them again.
func inventoryOfKept(ms []member) inventory {
	inv := newInventory()
	for _, m := range ms {
		if m.keep == "" {
			continue
		}
		inv.kinds[m.gk()] = true
		if m.namespace != "" {
			inv.namespaces[m.namespace] = true
		}
	}
	return inv
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
