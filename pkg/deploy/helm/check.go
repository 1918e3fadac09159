package helm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"
	"helm.sh/helm/v4/pkg/kube"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/devtool/devtool/pkg/deploy"
)

// CheckRequest is the preflight of one release (Client.CheckRelease): its rendered objects, checked
// against the cluster before anything is built or changed.
type CheckRequest struct {
	Release ReleaseRef
	// Rendered is the chart rendered for the release (Chart.Render), images pinned or shown
	// unpinned.
	Rendered *Rendered
	// ReleaseLabels are the labels a release of this project carries: an existing release
	// without them is refused (an *OwnershipError) unless Adopt.
	ReleaseLabels map[string]string
	// NewNamespaces are namespaces the same deploy creates before the release (its manifests'
	// Namespaces): objects in them are dry-run in StandInNamespace (else "default") under a
	// derived name, as deploy.Applier.Validate does. NewKinds are the kinds whose
	// CustomResourceDefinitions the deploy creates: objects of them are only mapped.
	NewNamespaces    []string
	StandInNamespace string
	NewKinds         []schema.GroupKind
	// Adopt takes over the release, and objects that exist without the release's ownership
	// metadata (Helm's --take-ownership); ForceConflicts takes fields other field managers own.
	Adopt, ForceConflicts bool
	// DryRun client checks without dry-run requests (mapping, namespaces and ownership only).
	DryRun deploy.DryRun
}

// item is one object of a check.
type item struct {
	obj     *unstructured.Unstructured // deep copy, namespace set
	source  string
	display string
	mapping *meta.RESTMapping
	crd     bool   // from the chart's crds/: created when missing, never changed
	note    string // why it was not dry-run
	live    *unstructured.Unstructured
	merged  *unstructured.Unstructured
}

// CheckRelease checks one release against the cluster and changes nothing: the release (an
// operation in progress is a *PendingError; a release of someone else an *OwnershipError
// unless req.Adopt), then every object the chart renders, as deploy.Applier.Validate checks
// manifests — its kind is served (or its CRD is created by the chart or the deploy), its
// namespace exists (or is created by the deploy), it is not someone else's object (Helm's
// rule: an existing object must carry this release's ownership metadata unless req.Adopt),
// and a server-side dry-run apply with Helm's field manager accepts it (strict field
// validation, conflicts unless req.ForceConflicts). The chart's CRDs are dry-run created when
// missing and skipped when present (Helm never changes them).
//
// Errors: *PendingError, *OwnershipError, *deploy.ValidationError (one problem per object;
// foreign objects share one *deploy.OwnershipError), *deploy.ClusterError, or ctx's error.
func (c *Client) CheckRelease(ctx context.Context, req CheckRequest) error {
	_, err := c.check(ctx, req)
	return err
}

// check is Check, returning the items (with their live and dry-run sides) for Diff.
func (c *Client) check(ctx context.Context, req CheckRequest) ([]*item, error) {
	cfg, err := c.config(req.Release.Namespace)
	if err != nil {
		return nil, err
	}
	if err := c.reachable(ctx); err != nil {
		return nil, err
	}
	last, err := lastRelease(cfg, req.Release.Name)
	if err != nil {
		return nil, cancelled(ctx, fmt.Errorf("reading Helm release %s: %w", req.Release, err))
	}
	if last != nil {
		if last.Info.Status.IsPending() {
			return nil, &PendingError{Release: req.Release, Revision: last.Version, Status: last.Info.Status.String()}
		}
		if !req.Adopt && !hasLabels(last.Labels, req.ReleaseLabels) {
			return nil, &OwnershipError{Release: req.Release, Labels: userLabels(last.Labels), Want: req.ReleaseLabels}
		}
	}
	dyn, mapper, err := c.clients()
	if err != nil {
		return nil, err
	}
	items, problems := c.items(req, mapper)
	var mu sync.Mutex
	problem := func(it *item, msg string, err error) {
		mu.Lock()
		defer mu.Unlock()
		problems = append(problems, deploy.ObjectProblem{Object: it.display, Source: it.source, Message: msg, Err: err})
	}
	newNS := map[string]bool{}
	for _, n := range req.NewNamespaces {
		newNS[n] = true
	}
	// Namespaces: the release's (its records live there) and every object's.
	missingNS := map[string]bool{}
	nsList := []string{req.Release.Namespace}
	for _, it := range items {
		if ns := it.obj.GetNamespace(); ns != "" && !slices.Contains(nsList, ns) {
			nsList = append(nsList, ns)
		}
	}
	for _, ns := range nsList {
		_, err := dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}).Get(ctx, ns, metav1.GetOptions{})
		switch {
		case err == nil:
		case apierrors.IsNotFound(err):
			missingNS[ns] = true
		default:
			return nil, cancelled(ctx, fmt.Errorf("reading namespace %s: %w", ns, err))
		}
	}
	standIn := ""
	for _, ns := range []string{req.StandInNamespace, "default"} {
		if ns == "" || standIn != "" {
			continue
		}
		if _, err := dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}).Get(ctx, ns, metav1.GetOptions{}); err == nil {
			standIn = ns
		}
	}
	if missingNS[req.Release.Namespace] && !newNS[req.Release.Namespace] {
		problems = append(problems, deploy.ObjectProblem{Object: "Helm release " + req.Release.String(), Message: fmt.Sprintf("namespace %q does not exist: create it, or add a Namespace to the devfile's manifests (devtool does not create namespaces implicitly)", req.Release.Namespace)})
	}
	var foreign []deploy.ForeignObject
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for _, it := range items {
		if it.mapping == nil {
			continue
		}
		elsewhere := false
		if ns := it.obj.GetNamespace(); missingNS[ns] {
			if !newNS[ns] {
				if ns != req.Release.Namespace {
					problem(it, fmt.Sprintf("namespace %q does not exist", ns), nil)
				}
				continue
			}
			it.note = "not dry-run: its namespace is created by this deploy; shown as rendered"
			if standIn == "" || req.DryRun == deploy.DryRunClient {
				continue
			}
			elsewhere = true
		}
		g.Go(func() error {
			if elsewhere {
				// The namespace is created by this deploy: dry-run the object somewhere that
				// exists, under a name no object there has.
				obj := it.obj.DeepCopy()
				obj.SetNamespace(standIn)
				obj.SetName(deploy.StandInName(obj.GetName()))
				if _, err := dryRunApply(gctx, resourceFor(dyn, it.mapping, standIn), obj, true); err != nil {
					if gctx.Err() != nil {
						return gctx.Err()
					}
					if !apierrors.IsForbidden(err) {
						problem(it, "the API server refused it (server-side dry run): "+strings.ReplaceAll(apiMessage(err), obj.GetName(), it.obj.GetName()), err)
					}
				}
				return nil
			}
			res := resourceFor(dyn, it.mapping, it.obj.GetNamespace())
			live, err := res.Get(gctx, it.obj.GetName(), metav1.GetOptions{})
			switch {
			case err == nil:
				it.live = live
			case apierrors.IsNotFound(err):
			default:
				if gctx.Err() != nil {
					return gctx.Err()
				}
				problem(it, "reading it: "+err.Error(), err)
				return nil
			}
			if it.crd && it.live != nil {
				it.note = "exists: Helm does not change the CustomResourceDefinitions of a chart's crds/"
				it.merged = it.live
				return nil
			}
			if it.live != nil && !it.crd && !req.Adopt && !ownedBy(it.live, req.Release) {
				mu.Lock()
				foreign = append(foreign, deploy.ForeignObject{Object: it.display, Source: it.source, Owner: ownerOf(it.live)})
				mu.Unlock()
				return nil
			}
			if req.DryRun == deploy.DryRunClient {
				return nil
			}
			merged, err := dryRunApply(gctx, res, it.obj, req.ForceConflicts)
			if err != nil {
				if gctx.Err() != nil {
					return gctx.Err()
				}
				if ce := conflictError(it, err); ce != nil {
					// The problem names the object already.
					msg := strings.TrimPrefix(strings.TrimPrefix(ce.Error(), it.display), " ("+it.source+")")
					problem(it, strings.TrimPrefix(msg, ": "), ce)
					return nil
				}
				problem(it, "the API server refused it (server-side dry run): "+apiMessage(err), err)
				return nil
			}
			it.merged = merged
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, cancelled(ctx, err)
	}
	if len(foreign) > 0 {
		sort.Slice(foreign, func(i, j int) bool { return foreign[i].Object < foreign[j].Object })
		oe := &deploy.OwnershipError{ApplySet: "Helm release " + req.Release.String(), Objects: foreign}
		for _, f := range foreign {
			problems = append(problems, deploy.ObjectProblem{Object: f.Object, Source: f.Source, Message: "exists and is not the release's (owned by " + f.Owner.String() + "); rerun with --adopt to take it over", Err: oe})
		}
	}
	if len(problems) > 0 {
		return nil, &deploy.ValidationError{Problems: problems}
	}
	return items, nil
}

// items maps every object of the request (CRDs first), setting namespaces. Objects of unknown
// kinds are problems, unless a CRD of the chart or of the deploy defines them (then they are
// not dry-run, with a note).
func (c *Client) items(req CheckRequest, mapper meta.RESTMapper) ([]*item, []deploy.ObjectProblem) {
	r := req.Rendered
	pending := map[schema.GroupKind]bool{}
	for _, gk := range req.NewKinds {
		pending[gk] = true
	}
	for _, crd := range r.CRDs {
		group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
		kind, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "kind")
		pending[schema.GroupKind{Group: group, Kind: kind}] = true
	}
	var items []*item
	var problems []deploy.ObjectProblem
	add := func(objs []*unstructured.Unstructured, srcs []string, crd bool) {
		for i, o := range objs {
			it := &item{obj: o.DeepCopy(), crd: crd}
			if i < len(srcs) {
				it.source = srcs[i]
			}
			gvk := o.GroupVersionKind()
			m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
			if err != nil {
				it.display = display(it.obj)
				if meta.IsNoMatchError(err) && pending[gvk.GroupKind()] {
					it.note = "not dry-run: its CustomResourceDefinition is created by this deploy; shown as rendered"
					if it.obj.GetNamespace() == "" {
						it.obj.SetNamespace(req.Release.Namespace)
					}
					items = append(items, it)
					continue
				}
				msg := fmt.Sprintf("the cluster does not serve kind %s in %s", gvk.Kind, gvk.GroupVersion())
				if !meta.IsNoMatchError(err) {
					msg = "mapping its kind: " + err.Error()
				}
				problems = append(problems, deploy.ObjectProblem{Object: it.display, Source: it.source, Message: msg, Err: err})
				continue
			}
			it.mapping = m
			if m.Scope.Name() == meta.RESTScopeNameNamespace {
				if it.obj.GetNamespace() == "" {
					it.obj.SetNamespace(req.Release.Namespace)
				}
			} else {
				it.obj.SetNamespace("")
			}
			it.display = display(it.obj)
			items = append(items, it)
		}
	}
	add(r.CRDs, r.CRDSources, true)
	add(r.Objects, r.Sources, false)
	return items, problems
}

// display names an object as deploy's problems do: "Kind apiVersion [namespace/]name".
func display(o *unstructured.Unstructured) string {
	if ns := o.GetNamespace(); ns != "" {
		return fmt.Sprintf("%s %s %s/%s", o.GetKind(), o.GetAPIVersion(), ns, o.GetName())
	}
	return fmt.Sprintf("%s %s %s", o.GetKind(), o.GetAPIVersion(), o.GetName())
}

func resourceFor(dyn dynamic.Interface, m *meta.RESTMapping, namespace string) dynamic.ResourceInterface {
	r := dyn.Resource(m.Resource)
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		return r.Namespace(namespace)
	}
	return r
}

// dryRunApply sends obj as a server-side apply dry run with Helm's field manager and strict
// field validation, as Helm 4 applies release objects.
func dryRunApply(ctx context.Context, res dynamic.ResourceInterface, obj *unstructured.Unstructured, force bool) (*unstructured.Unstructured, error) {
	data, err := json.Marshal(obj.Object)
	if err != nil {
		return nil, err
	}
	return res.Patch(ctx, obj.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{
		DryRun:          []string{metav1.DryRunAll},
		FieldManager:    fieldManager(),
		Force:           &force,
		FieldValidation: metav1.FieldValidationStrict,
	})
}

// fieldManager is the field manager Helm's SDK applies with.
func fieldManager() string {
	if kube.ManagedFieldsManager != "" {
		return kube.ManagedFieldsManager
	}
	return FieldManager
}

// apiMessage is the API server's message of err, without client-go's prefixes.
func apiMessage(err error) string {
	var status apierrors.APIStatus
	if errors.As(err, &status) && status.Status().Message != "" {
		return status.Status().Message
	}
	return err.Error()
}

// conflictManager extracts the manager from the API server's conflict cause message (as
// pkg/deploy does).
var conflictManager = regexp.MustCompile(`conflict with "([^"]*)"`)

// conflictError returns a *deploy.ConflictError when err is a server-side apply conflict.
func conflictError(it *item, err error) *deploy.ConflictError {
	var status apierrors.APIStatus
	if !apierrors.IsConflict(err) || !errors.As(err, &status) {
		return nil
	}
	st := status.Status()
	c := &deploy.ConflictError{Object: it.display, Source: it.source, Err: err}
	if st.Details != nil {
		for _, cause := range st.Details.Causes {
			if cause.Type != metav1.CauseTypeFieldManagerConflict {
				continue
			}
			fc := deploy.FieldConflict{Field: cause.Field}
			if m := conflictManager.FindStringSubmatch(cause.Message); m != nil {
				fc.Manager = m[1]
			}
			c.Conflicts = append(c.Conflicts, fc)
		}
	}
	return c
}

// ownedBy reports whether o carries the ownership metadata of release r (Helm's
// checkOwnership).
func ownedBy(o *unstructured.Unstructured, r ReleaseRef) bool {
	a := o.GetAnnotations()
	return o.GetLabels()[LabelManagedBy] == ManagedByHelm && a[AnnotationReleaseName] == r.Name && a[AnnotationReleaseNamespace] == r.Namespace
}

// ownerOf describes who o belongs to.
func ownerOf(o *unstructured.Unstructured) deploy.Owner {
	var own deploy.Owner
	for _, mf := range o.GetManagedFields() {
		if !slices.Contains(own.Managers, mf.Manager) {
			own.Managers = append(own.Managers, mf.Manager)
		}
	}
	l := o.GetLabels()
	own.PartOf = l["applyset.kubernetes.io/part-of"]
	own.ManagedBy, own.Name = l[LabelManagedBy], l["app.kubernetes.io/name"]
	return own
}

// hasLabels reports whether have holds every label of want.
func hasLabels(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// userLabels are a release's labels without Helm's own.
func userLabels(l map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range l {
		switch k {
		case "name", "owner", "status", "version", "createdAt", "modifiedAt":
			continue
		}
		out[k] = v
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
