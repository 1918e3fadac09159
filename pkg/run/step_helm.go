package run

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/devtool/devtool/pkg/deploy"
	"github.com/devtool/devtool/pkg/deploy/helm"
	"github.com/devtool/devtool/pkg/devfile"
	"github.com/devtool/devtool/pkg/event"
	"github.com/devtool/devtool/pkg/plan"
	"github.com/devtool/devtool/pkg/vars"
)

// Labels devtool puts on what belongs to a project but is not an inventory member: the Helm
// release records it creates (how it finds its releases again: prune, undeploy, ownership)
// and the objects of those releases.
const (
	// LabelInventory, on a release record, is the ID of the project's inventory (the
	// ApplySet ID of deploy.ApplySet: one per devfile name and deploy namespace).
	LabelInventory = "devtool.dev/inventory"
	// LabelProject is the devfile's name (as a label value), on release records and on every
	// object of a release.
	LabelProject = "devtool.dev/project"
)

// Releaser installs and upgrades the Helm releases of a deploy's helm steps
// (*helm.Client): the preflight checks each release before anything is built or changed.
type Releaser interface {
	CheckRelease(ctx context.Context, req helm.CheckRequest) error
	UpgradeRelease(ctx context.Context, req helm.UpgradeRequest) (helm.Release, error)
}

// ReleasePruner finds the project's releases by their labels and uninstalls them: deploy
// --prune (releases whose component left the devfile), undeploy, diff --prune.
type ReleasePruner interface {
	ListReleases(ctx context.Context, req helm.ListRequest) ([]helm.Release, error)
	UninstallRelease(ctx context.Context, req helm.UninstallRequest) (helm.Release, error)
}

// ReleaseDiffer diffs a release's objects with the cluster (diff).
type ReleaseDiffer interface {
	DiffRelease(ctx context.Context, req helm.DiffRequest) ([]deploy.ObjectDiff, error)
}

// ReleaseResult is one Helm release in a report: what a deploy, prune or undeploy did to it
// (release name, namespace, chart, revision, status, action and its objects).
type ReleaseResult struct {
	// Component is the Helm component of the devfile ("" for a release prune or undeploy
	// found by its labels).
	Component string `json:"component,omitempty"`
	helm.Release
}

// helmKind installs or upgrades the release of a Helm component (design.md §3, §5: the
// outer-loop proposal's Helm component, through the Helm SDK).
type helmKind struct{}

type helmStep struct {
	step  plan.Step
	chart *helm.Chart
	// release is the release's name (the component's unless releaseName) and namespace (the
	// deploy's unless namespace; "default" when neither).
	release helm.ReleaseRef
	// values are the user's values (values files, then the devfile's values, variables
	// substituted), images as placeholders.
	values map[string]any
	// pins are the image selectors of the step's builds, to placeholders.
	pins     map[string]string
	labels   map[string]string // object labels (post-renderer)
	rendered *helm.Rendered    // rendered once, images as placeholders
}

func (h *helmStep) plan() plan.Step { return h.step }

func (h *helmStep) describe() string {
	return fmt.Sprintf("installing or upgrading Helm release %s of chart %s (component %q)", h.release, h.chart, h.step.Component)
}

// releaseObjects are a helm step's release, rendered with images pinned: the preflight checks
// them, render prints them, diff compares them. They are not members of the inventory (Helm's
// release records own them).
type releaseObjects struct {
	step     plan.Step
	release  helm.ReleaseRef
	rendered *helm.Rendered
}

func (h *helmStep) objects(pp *prepared, refs map[string]string) stepObjects {
	r := *h.rendered
	r.Objects, r.CRDs, r.Hooks = pp.pin(r.Objects, refs), pp.pin(r.CRDs, refs), pp.pin(r.Hooks, refs)
	return stepObjects{Releases: []releaseObjects{{step: h.step, release: h.release, rendered: &r}}}
}

// prepare loads the chart and renders it once: the component's strings and values
// substituted (never the chart's templates), values files read from the project, built
// images as placeholders — in values through CONTAINER_IMAGE or any variable holding one, and
// in the rendered manifests by the image-name-as-selector rule — and the project label added.
func (helmKind) prepare(ctx context.Context, pc *prepareContext, s plan.Step, comp *devfile.Component) (step, error) {
	hc := comp.Helm
	if hc == nil {
		return nil, fmt.Errorf("component %q is not a Helm component", comp.Name)
	}
	pc.renders[s.ID]++
	res, pins := pc.scope(s)
	where := func(field string) string {
		return fmt.Sprintf("components[name=%s].%s.%s", comp.Name, hc.Field, field)
	}
	sub := func(field, v string) string { return res.Substitute(v, where(field), pc.warn) }
	src := helm.Source{Chart: sub("chart", hc.Chart), Repo: sub("repo", hc.Repo), Version: sub("version", hc.Version)}
	if !pc.proj.AllowOutsideProject {
		src.Root = pc.d.Dir
	}
	if src.Repo == "" && !strings.HasPrefix(src.Chart, "oci://") {
		p, err := projectPath(pc, src.Chart, "chart", where("chart"))
		if err != nil {
			return nil, fmt.Errorf("component %q: %w", comp.Name, err)
		}
		src.Chart = p
	}
	var layers []map[string]any
	for i, f := range hc.ValuesFiles {
		f = sub(fmt.Sprintf("valuesFiles[%d]", i), f)
		p, err := projectPath(pc, f, "values file", where(fmt.Sprintf("valuesFiles[%d]", i)))
		if err != nil {
			return nil, fmt.Errorf("component %q: %w", comp.Name, err)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("component %q: values file %s: %w", comp.Name, f, err)
		}
		v, err := helm.ReadValues(data, p)
		if err != nil {
			return nil, fmt.Errorf("component %q: %w", comp.Name, err)
		}
		layers = append(layers, v)
	}
	layers = append(layers, substituteValues(hc.Values, res, where("values"), pc.warn).(map[string]any))
	st := &helmStep{
		step:    s,
		release: helm.ReleaseRef{Name: sub("releaseName", hc.ReleaseName), Namespace: sub("namespace", hc.Namespace)},
		values:  helm.MergeValues(layers...), pins: pins,
		labels: map[string]string{LabelProject: labelValue(devfileName(pc.d))},
	}
	if st.release.Name == "" {
		st.release.Name = comp.Name
	}
	if st.release.Namespace == "" {
		st.release.Namespace = pc.opts.namespace
	}
	if st.release.Namespace == "" {
		st.release.Namespace = "default"
	}
	ch, err := pc.charts.Load(ctx, src)
	if err != nil {
		var out *helm.OutsideRootError
		if errors.As(err, &out) {
			return nil, fmt.Errorf("component %q: %w", comp.Name, &OutsideProjectError{Field: where("chart") + " (a file:// dependency)", Value: hc.Chart, Path: out.Path, Project: out.Root})
		}
		return nil, fmt.Errorf("component %q: %w", comp.Name, err)
	}
	st.chart = ch
	st.rendered, err = ch.Render(ctx, helm.RenderRequest{Name: st.release.Name, Namespace: st.release.Namespace, Values: st.values, PostRender: helm.PostRenderer{Images: pins, Labels: st.labels}})
	if err != nil {
		return nil, fmt.Errorf("component %q: %w", comp.Name, err)
	}
	return st, nil
}

// projectPath resolves a path of the devfile (relative to its directory) and, unless
// --allow-outside-project, checks that it stays in the project (lexically, then after
// symlinks), as build inputs do.
func projectPath(pc *prepareContext, p, what, field string) (string, error) {
	if p == "" {
		return "", fmt.Errorf("%s is empty", field)
	}
	abs := p
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(pc.d.Dir, p)
	}
	if !pc.proj.AllowOutsideProject {
		if err := lexicallyInside(pc.d.Dir, abs, field, p); err != nil {
			return "", err
		}
	}
	if _, err := os.Stat(abs); err != nil {
		return "", fmt.Errorf("%s %q: %s does not exist (relative paths start at the devfile directory %s)", what, p, abs, pc.d.Dir)
	}
	if !pc.proj.AllowOutsideProject {
		if err := inside(pc.d.Dir, abs, field, p); err != nil {
			return "", err
		}
	}
	return abs, nil
}

// substituteValues returns a copy of v (decoded YAML) with devfile variables substituted in
// every string: a value stays one value whatever the variable holds, so values cannot gain
// structure.
func substituteValues(v any, res *vars.Resolver, where string, warn *vars.Collector) any {
	switch t := v.(type) {
	case string:
		return res.Substitute(t, where, warn)
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, c := range t {
			out[k] = substituteValues(c, res, where+"."+k, warn)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, c := range t {
			out[i] = substituteValues(c, res, fmt.Sprintf("%s[%d]", where, i), warn)
		}
		return out
	case nil:
		return map[string]any{}
	}
	return v
}

// upgradeRequest is the step's release as deploy installs it, images pinned with refs.
func (h *helmStep) upgradeRequest(pp *prepared, refs map[string]string, x *execution) helm.UpgradeRequest {
	r := pp.replacer(refs)
	images := make(map[string]string, len(h.pins))
	for sel, ph := range h.pins {
		images[sel] = r.Replace(ph)
	}
	return helm.UpgradeRequest{
		Chart: h.chart, Release: h.release,
		Values:        replaceStrings(deepCopyValues(h.values), r).(map[string]any),
		PostRender:    helm.PostRenderer{Images: images, Labels: h.labels},
		ReleaseLabels: releaseLabels(pp.d, x.namespace, x.cfg.Version),
		Adopt:         x.adopt, ForceConflicts: x.force, DryRun: x.dryRun,
	}
}

func deepCopyValues(v map[string]any) any {
	return (&unstructured.Unstructured{Object: v}).DeepCopy().Object
}

// releaseLabels are the labels of d's releases deployed to namespace (the deploy's): the
// project's inventory ID and its name.
func releaseLabels(d *devfile.Devfile, namespace, version string) map[string]string {
	set := applySetFor(d, namespace, version)
	return map[string]string{LabelInventory: set.ID(), LabelProject: labelValue(devfileName(d))}
}

func (h *helmStep) execute(ctx context.Context, x *execution) error {
	rel, err := x.cluster.UpgradeRelease(ctx, h.upgradeRequest(x.pp, x.refs(), x))
	x.recordRelease(h.step, rel)
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("Helm release %s %s: revision %d, %s", rel.ReleaseRef, rel.Action, rel.Revision, rel.Status)
	if rel.Action == helm.Validated {
		msg = fmt.Sprintf("Helm release %s validated (dry run)", rel.ReleaseRef)
	}
	x.info(h.step, msg, map[string]string{"release": rel.String(), "revision": fmt.Sprint(rel.Revision), "status": rel.Status, "action": string(rel.Action)})
	return nil
}

// recordRelease adds a release and its objects to the report (not to the inventory's applied
// objects), one event per object as apply steps emit.
func (x *execution) recordRelease(s plan.Step, rel helm.Release) {
	if rel.Name == "" || rel.Action == "" {
		return // refused before anything was done (ownership, an operation in progress)
	}
	for _, o := range rel.Objects {
		x.info(s, fmt.Sprintf("%s %s", objectName(o), o.Action), objectFields(o))
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.rep.Releases = append(x.rep.Releases, ReleaseResult{Component: s.Component, Release: rel})
	x.rep.Objects = append(x.rep.Objects, rel.Objects...)
}

// objectFields are the event fields of an object, as apply steps emit them.
func objectFields(o deploy.ObjectResult) map[string]string {
	return map[string]string{"action": string(o.Action), "kind": o.Kind, "namespace": o.Namespace, "name": o.Name}
}

// hasReleases reports whether the plan has helm steps.
func (pp *prepared) hasReleases() bool {
	for _, st := range pp.steps {
		if _, ok := st.(*helmStep); ok {
			return true
		}
	}
	return false
}

// checkReleases is the preflight of the helm steps (after the manifests'): each release and
// its rendered objects, images unpinned, against the cluster. Namespaces and CRDs among the
// deploy's manifests count as created by it.
func (x *execution) checkReleases(ctx context.Context, all stepObjects, dryRun deploy.DryRun) error {
	if len(all.Releases) == 0 {
		return nil
	}
	// --dry-run=client promises no dry-run requests: check the same way.
	mode := deploy.DryRunServer
	if dryRun == deploy.DryRunClient {
		mode = deploy.DryRunClient
	}
	newNS, newKinds := createdBy(all.Members)
	labels := releaseLabels(x.pp.d, x.namespace, x.cfg.Version)
	seen := map[helm.ReleaseRef]string{}
	for _, r := range all.Releases {
		if prev, dup := seen[r.release]; dup {
			return &InputError{Err: fmt.Errorf("components %q and %q both deploy Helm release %s; give one another releaseName or namespace", prev, r.step.Component, r.release)}
		}
		seen[r.release] = r.step.Component
		x.cfg.emit(event.Event{Type: event.Info, Message: fmt.Sprintf("checking Helm release %s (%d objects) against the cluster", r.release, len(r.rendered.Objects)+len(r.rendered.CRDs))})
		err := x.cluster.CheckRelease(ctx, helm.CheckRequest{Release: r.release, Rendered: r.rendered, ReleaseLabels: labels, NewNamespaces: newNS, StandInNamespace: x.namespace, NewKinds: newKinds, Adopt: x.adopt, ForceConflicts: x.force, DryRun: mode})
		if err != nil {
			return fmt.Errorf("component %q: %w", r.step.Component, err)
		}
	}
	return nil
}

// createdBy are the Namespaces and the kinds of the CustomResourceDefinitions among members.
func createdBy(members []*unstructured.Unstructured) (namespaces []string, kinds []schema.GroupKind) {
	for _, o := range members {
		switch o.GroupVersionKind().GroupKind() {
		case schema.GroupKind{Kind: "Namespace"}:
			namespaces = append(namespaces, o.GetName())
		case schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}:
			group, _, _ := unstructured.NestedString(o.Object, "spec", "group")
			kind, _, _ := unstructured.NestedString(o.Object, "spec", "names", "kind")
			kinds = append(kinds, schema.GroupKind{Group: group, Kind: kind})
		}
	}
	return namespaces, kinds
}

// pruneReleases uninstalls the project's releases (found by their labels) that no helm step
// of this deploy installs: deploy --prune. Dry runs list them (would-uninstall).
func (x *execution) pruneReleases(ctx context.Context, dryRun deploy.DryRun, cluster ReleasePruner) ([]ReleaseResult, error) {
	keep := map[helm.ReleaseRef]bool{}
	for _, st := range x.pp.steps {
		if h, ok := st.(*helmStep); ok {
			keep[h.release] = true
		}
	}
	return uninstallReleases(ctx, x.cfg, x.pp.d, x.namespace, dryRun, cluster, keep)
}

// uninstallReleases uninstalls d's releases deployed to namespace (by their labels), except
// keep, in name order, and reports each with its objects.
func uninstallReleases(ctx context.Context, cfg *Configuration, d *devfile.Devfile, namespace string, dryRun deploy.DryRun, cluster ReleasePruner, keep map[helm.ReleaseRef]bool) ([]ReleaseResult, error) {
	labels := releaseLabels(d, namespace, cfg.Version)
	nss := []string{applySetFor(d, namespace, cfg.Version).Namespace}
	for _, c := range d.Components {
		if c.Helm != nil && c.Helm.Namespace != "" && !slices.Contains(nss, c.Helm.Namespace) && !strings.Contains(c.Helm.Namespace, "{{") {
			nss = append(nss, c.Helm.Namespace)
		}
	}
	rels, err := cluster.ListReleases(ctx, helm.ListRequest{Labels: labels, Namespaces: nss})
	if err != nil {
		return nil, err
	}
	var out []ReleaseResult
	for _, r := range rels {
		if keep[r.ReleaseRef] {
			continue
		}
		res, err := cluster.UninstallRelease(ctx, helm.UninstallRequest{Release: r.ReleaseRef, ReleaseLabels: labels, DryRun: dryRun})
		out = append(out, ReleaseResult{Release: res})
		for _, o := range res.Objects {
			cfg.emit(event.Event{Type: event.Info, Message: fmt.Sprintf("%s %s (Helm release %s)", objectName(o), o.Action, r.ReleaseRef), Fields: objectFields(o)})
		}
		if err != nil {
			return out, err
		}
		cfg.emit(event.Event{Type: event.Info, Message: fmt.Sprintf("Helm release %s %s", r.ReleaseRef, res.Action), Fields: map[string]string{"release": r.ReleaseRef.String(), "action": string(res.Action)}})
	}
	return out, nil
}

// recordReleases adds pruned or uninstalled releases to a report.
func recordReleases(rep *Report, rels []ReleaseResult) {
	for _, r := range rels {
		rep.Releases = append(rep.Releases, r)
		rep.Objects = append(rep.Objects, r.Objects...)
	}
}

// diffReleases compares every helm step's release with the cluster (after the manifests),
// and with prune lists the releases deploy --prune would uninstall.
func (a *Diff) diffReleases(ctx context.Context, pp *prepared, refs map[string]string, prune bool) ([]deploy.ObjectDiff, error) {
	all := pp.collect(refs)
	x := &execution{cfg: a.cfg, pp: pp, namespace: a.Namespace}
	labels := releaseLabels(pp.d, a.Namespace, a.cfg.Version)
	newNS, newKinds := createdBy(all.Members)
	var out []deploy.ObjectDiff
	for _, r := range all.Releases {
		diffs, err := a.cluster.DiffRelease(ctx, helm.DiffRequest{CheckRequest: helm.CheckRequest{Release: r.release, Rendered: r.rendered, ReleaseLabels: labels,
			NewNamespaces: newNS, StandInNamespace: a.Namespace, NewKinds: newKinds, Adopt: a.Adopt, ForceConflicts: a.ForceConflicts}})
		if err != nil {
			return nil, fmt.Errorf("component %q: %w", r.step.Component, err)
		}
		out = append(out, diffs...)
	}
	if !prune {
		return out, nil
	}
	stale, err := x.pruneReleases(ctx, deploy.DryRunServer, a.cluster)
	if err != nil {
		return nil, err
	}
	for _, r := range stale {
		for _, o := range r.Objects {
			if o.Action != deploy.WouldDelete {
				continue
			}
			out = append(out, deploy.ObjectDiff{APIVersion: o.APIVersion, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name, Action: deploy.Pruned, Note: fmt.Sprintf("Helm release %s left the devfile: deploy --prune uninstalls it", r.ReleaseRef)})
		}
	}
	return out, nil
}
