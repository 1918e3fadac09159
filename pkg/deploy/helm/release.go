package helm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/kube"
	rcommon "helm.sh/helm/v4/pkg/release/common"
	release "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage/driver"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"github.com/devtool/devtool/pkg/deploy"
)

// DefaultTimeout bounds the hooks of an install, upgrade or uninstall (Helm's --timeout).
const DefaultTimeout = 5 * time.Minute

// Kept is the Action of a release prune or undeploy left alone: its record lacks this
// project's release labels (Release.Note says whose it is).
const Kept ReleaseAction = "kept"

// Release is the outcome of one release operation.
type Release struct {
	ReleaseRef
	// Chart is "name-version" of the chart deployed (as helm list shows it).
	Chart string `json:"chart,omitempty"`
	// Revision is the release's revision after the operation (Helm's history number); Status
	// Helm's status of it ("deployed", "failed", "uninstalled", …).
	Revision int    `json:"revision,omitempty"`
	Status   string `json:"status,omitempty"`
	// Action is what the operation did.
	Action ReleaseAction `json:"action"`
	// Objects are the release's objects and what the operation did to each: Created,
	// Configured or Unchanged (the rendered object differs from the previous revision's, or
	// not), Deleted (no longer rendered: the upgrade deleted it; or uninstalled), Kept
	// (helm.sh/resource-policy: keep), Validated or WouldDelete in dry runs.
	Objects []deploy.ObjectResult `json:"objects"`
	// Note says why a release was kept, or what else happened.
	Note string `json:"note,omitempty"`
}

// UpgradeRequest is one upgrade-or-install (Client.UpgradeRelease).
type UpgradeRequest struct {
	Chart   *Chart
	Release ReleaseRef
	// Values are the user's values (MergeValues of values files and the devfile's values), with
	// built images pinned.
	Values map[string]any
	// PostRender pins images and adds labels to what the chart renders.
	PostRender PostRenderer
	// ReleaseLabels are stored on the release record: they mark it as this project's.
	ReleaseLabels map[string]string
	// Adopt takes over a release without ReleaseLabels and objects without the release's
	// ownership metadata (Helm's --take-ownership); ForceConflicts takes fields other field
	// managers own (Helm's --force-conflicts).
	Adopt, ForceConflicts bool
	// DryRun: none changes the cluster; server runs Helm's server dry run (renders with the
	// cluster's capabilities, checks ownership, writes nothing); client renders locally.
	DryRun deploy.DryRun
	// Timeout bounds the release's hooks (DefaultTimeout when 0). Helm does not wait for the
	// release's objects to roll out (devtool's --wait does).
	Timeout time.Duration
}

// UpgradeRelease installs the release, or upgrades it when it exists (Helm's `upgrade --install`:
// an uninstalled release kept in history is installed again, replacing it), with
// server-side apply. Helm keeps the history: each change is a new revision. When the last
// revision is deployed and a server dry run of the upgrade renders the same manifest, hooks,
// values and chart version (and the release has ReleaseLabels), nothing is done and the
// Release is Unchanged at the same revision: a deploy with nothing changed leaves the
// history alone.
//
// A release with an operation in progress is a *PendingError; one without ReleaseLabels an
// *OwnershipError unless Adopt. A failed install or upgrade is a *ReleaseError: Helm records
// the revision as failed and leaves the objects it applied; it does not roll back (the next
// upgrade starts from the last deployed revision; `helm rollback` returns to one). Cancelling
// ctx returns at once; Helm's SDK finishes the operation in the background.
func (c *Client) UpgradeRelease(ctx context.Context, req UpgradeRequest) (Release, error) {
	out := Release{ReleaseRef: req.Release, Chart: req.Chart.String(), Objects: []deploy.ObjectResult{}}
	cfg, err := c.config(req.Release.Namespace)
	if err != nil {
		return out, err
	}
	last, err := lastRelease(cfg, req.Release.Name)
	if err != nil {
		return out, cancelled(ctx, fmt.Errorf("reading Helm release %s: %w", req.Release, err))
	}
	if last != nil {
		if last.Info.Status.IsPending() {
			return out, &PendingError{Release: req.Release, Revision: last.Version, Status: last.Info.Status.String()}
		}
		if !req.Adopt && !hasLabels(last.Labels, req.ReleaseLabels) {
			return out, &OwnershipError{Release: req.Release, Labels: userLabels(last.Labels), Want: req.ReleaseLabels}
		}
	}
	mapper, _ := c.getter.ToRESTMapper()
	previous := ""
	if last != nil && last.Info.Status != rcommon.StatusUninstalled {
		previous = last.Manifest
		out.Revision, out.Status = last.Version, last.Info.Status.String()
	}
	if req.DryRun == deploy.DryRunClient {
		r, err := req.Chart.Render(ctx, RenderRequest{Name: req.Release.Name, Namespace: req.Release.Namespace, Values: req.Values, PostRender: req.PostRender})
		if err != nil {
			return out, err
		}
		out.Action = Validated
		for _, o := range r.Objects {
			out.Objects = append(out.Objects, objectResult(o, namespaceOf(mapper, o, req.Release.Namespace), deploy.Validated, ""))
		}
		return out, nil
	}
	install := last == nil || last.Info.Status == rcommon.StatusUninstalled
	op := "upgrade"
	if install {
		op = "install"
	}
	mode := action.DryRunNone
	if req.DryRun == deploy.DryRunServer {
		mode = action.DryRunServer
	}
	if !install && mode == action.DryRunNone && last.Info.Status == rcommon.StatusDeployed && hasLabels(last.Labels, req.ReleaseLabels) {
		cand, err := c.runUpgrade(ctx, cfg, req, action.DryRunServer)
		if err == nil && sameRelease(cand, last) {
			out.Action = Unchanged
			for _, o := range manifestObjects(previous) {
				out.Objects = append(out.Objects, objectResult(o, namespaceOf(mapper, o, req.Release.Namespace), deploy.Unchanged, ""))
			}
			return out, nil
		}
		// A failed dry run is reported by the upgrade itself below.
	}
	var rel *release.Release
	if install {
		rel, err = c.runInstall(ctx, cfg, req, mode, last != nil)
	} else {
		rel, err = c.runUpgrade(ctx, cfg, req, mode)
	}
	if err != nil {
		re := &ReleaseError{Release: req.Release, Op: op, Err: err}
		out.Action = Failed
		if rel != nil && rel.Info != nil && mode == action.DryRunNone && rel.Info.Status == rcommon.StatusFailed {
			out.Revision, out.Status = rel.Version, rel.Info.Status.String()
			re.Revision, re.Status = rel.Version, rel.Info.Status.String()
		}
		return out, cancelled(ctx, re)
	}
	out.Revision, out.Status = rel.Version, rel.Info.Status.String()
	switch {
	case mode != action.DryRunNone:
		out.Action = Validated
		if last != nil {
			out.Revision, out.Status = last.Version, last.Info.Status.String()
		} else {
			out.Revision, out.Status = 0, ""
		}
	case install:
		out.Action = Installed
	default:
		out.Action = Upgraded
	}
	out.Objects = objectChanges(mapper, req.Release.Namespace, previous, rel.Manifest, mode != action.DryRunNone)
	return out, nil
}

func (c *Client) runInstall(ctx context.Context, cfg *action.Configuration, req UpgradeRequest, mode action.DryRunStrategy, replace bool) (*release.Release, error) {
	ch, err := req.Chart.load()
	if err != nil {
		return nil, err
	}
	in := action.NewInstall(cfg)
	in.ReleaseName, in.Namespace = req.Release.Name, req.Release.Namespace
	in.DryRunStrategy = mode
	in.Replace = replace
	in.TakeOwnership, in.ForceConflicts = req.Adopt, req.ForceConflicts
	in.Labels = req.ReleaseLabels
	in.WaitStrategy, in.Timeout = kube.HookOnlyStrategy, timeout(req.Timeout)
	in.PostRenderer = req.PostRender
	in.Description = "Install complete (devtool)"
	ri, err := in.RunWithContext(ctx, ch, values(req.Values))
	rel, _ := ri.(*release.Release)
	return rel, err
}

func (c *Client) runUpgrade(ctx context.Context, cfg *action.Configuration, req UpgradeRequest, mode action.DryRunStrategy) (*release.Release, error) {
	ch, err := req.Chart.load()
	if err != nil {
		return nil, err
	}
	up := action.NewUpgrade(cfg)
	up.Namespace = req.Release.Namespace
	up.DryRunStrategy = mode
	up.TakeOwnership, up.ForceConflicts = req.Adopt, req.ForceConflicts
	up.Labels = req.ReleaseLabels
	up.WaitStrategy, up.Timeout = kube.HookOnlyStrategy, timeout(req.Timeout)
	up.PostRenderer = req.PostRender
	up.ServerSideApply = "auto"
	// The values are the whole of the user's values, every time (not --reuse-values).
	up.ResetValues = true
	up.Description = "Upgrade complete (devtool)"
	ri, err := up.RunWithContext(ctx, req.Release.Name, ch, values(req.Values))
	rel, _ := ri.(*release.Release)
	return rel, err
}

func values(v map[string]any) map[string]any {
	if v == nil {
		return map[string]any{}
	}
	return v
}

func timeout(d time.Duration) time.Duration {
	if d <= 0 {
		return DefaultTimeout
	}
	return d
}

// sameRelease reports whether an upgrade to cand would change nothing of last: the same
// manifest, hooks, user values and chart.
func sameRelease(cand, last *release.Release) bool {
	if cand == nil || last == nil || cand.Manifest != last.Manifest {
		return false
	}
	if cand.Chart == nil || last.Chart == nil || cand.Chart.Metadata == nil || last.Chart.Metadata == nil ||
		cand.Chart.Metadata.Name != last.Chart.Metadata.Name || cand.Chart.Metadata.Version != last.Chart.Metadata.Version {
		return false
	}
	if !sameJSON(cand.Config, last.Config) {
		return false
	}
	hooks := func(r *release.Release) []string {
		var out []string
		for _, h := range r.Hooks {
			out = append(out, h.Path+"\n"+h.Manifest)
		}
		sort.Strings(out)
		return out
	}
	return reflect.DeepEqual(hooks(cand), hooks(last))
}

// sameJSON compares values as stored (JSON): 3 and 3.0 are the same number.
func sameJSON(a, b map[string]any) bool {
	norm := func(m map[string]any) string {
		if len(m) == 0 {
			return "{}"
		}
		raw, err := json.Marshal(m)
		if err != nil {
			return fmt.Sprint(m)
		}
		var v any
		_ = json.Unmarshal(raw, &v)
		out, _ := json.Marshal(v)
		return string(out)
	}
	return norm(a) == norm(b)
}

// lastRelease is the highest revision of release name (nil when there is none).
func lastRelease(cfg *action.Configuration, name string) (*release.Release, error) {
	h, err := cfg.Releases.History(name)
	if errors.Is(err, driver.ErrReleaseNotFound) || (err == nil && len(h) == 0) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var last *release.Release
	for _, ri := range h {
		r, ok := ri.(*release.Release)
		if !ok {
			return nil, fmt.Errorf("unsupported release type %T", ri)
		}
		if last == nil || r.Version > last.Version {
			last = r
		}
	}
	return last, nil
}

// manifestObjects decodes a release manifest (objects that do not decode are left out: the
// manifest was applied by Helm, which would have refused them).
func manifestObjects(manifest string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, doc := range splitManifest(manifest) {
		objs, err := deploy.Decode(doc.text, doc.source)
		if err == nil {
			out = append(out, objs...)
		}
	}
	return out
}

// namespaceOf is the namespace o lives in: its own, else the release's when its kind is
// namespaced (or unknown), none when cluster-scoped.
func namespaceOf(mapper meta.RESTMapper, o *unstructured.Unstructured, releaseNS string) string {
	if mapper != nil {
		gvk := o.GroupVersionKind()
		if m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version); err == nil && m.Scope.Name() != meta.RESTScopeNameNamespace {
			return ""
		}
	}
	if ns := o.GetNamespace(); ns != "" {
		return ns
	}
	return releaseNS
}

func objectResult(o *unstructured.Unstructured, ns string, a deploy.Action, note string) deploy.ObjectResult {
	return deploy.ObjectResult{APIVersion: o.GetAPIVersion(), Kind: o.GetKind(), Namespace: ns, Name: o.GetName(), Action: a, Note: note}
}

type objectKey struct {
	gk        schema.GroupKind
	namespace string
	name      string
}

// objectChanges compares the objects of two release manifests: Created, Configured or
// Unchanged for those of next (Validated when dryRun), Deleted (or Kept, by the keep resource
// policy) for those only in previous.
func objectChanges(mapper meta.RESTMapper, releaseNS, previous, next string, dryRun bool) []deploy.ObjectResult {
	key := func(o *unstructured.Unstructured) objectKey {
		return objectKey{o.GroupVersionKind().GroupKind(), namespaceOf(mapper, o, releaseNS), o.GetName()}
	}
	before := map[objectKey]*unstructured.Unstructured{}
	prevObjs := manifestObjects(previous)
	for _, o := range prevObjs {
		before[key(o)] = o
	}
	out := []deploy.ObjectResult{}
	now := map[objectKey]bool{}
	for _, o := range manifestObjects(next) {
		k := key(o)
		now[k] = true
		a := deploy.Created
		switch old, ok := before[k]; {
		case dryRun:
			a = deploy.Validated
		case ok && reflect.DeepEqual(old.Object, o.Object):
			a = deploy.Unchanged
		case ok:
			a = deploy.Configured
		}
		out = append(out, objectResult(o, k.namespace, a, ""))
	}
	for _, o := range prevObjs {
		k := key(o)
		if now[k] {
			continue
		}
		switch {
		case o.GetAnnotations()[annotationResourcePolicy] == resourcePolicyKeep:
			out = append(out, objectResult(o, k.namespace, deploy.Kept, "no longer in the chart; kept by its helm.sh/resource-policy: keep annotation"))
		case dryRun:
			out = append(out, objectResult(o, k.namespace, deploy.WouldDelete, "no longer in the chart: the upgrade deletes it"))
		default:
			out = append(out, objectResult(o, k.namespace, deploy.Deleted, "no longer in the chart: the upgrade deleted it"))
		}
	}
	return out
}

// DiffRequest is one release's diff (Client.DiffRelease): the check of its objects, then the
// comparison with what is live.
type DiffRequest struct {
	CheckRequest
}

// DiffRelease shows what UpgradeRelease would change, like deploy.Applier.Diff for manifests (the same
// masking and unified diff): it checks req as CheckRelease does (same errors), then, for every object
// the chart renders, LIVE is the object read from the cluster and MERGED the API server's
// answer to the server-side dry-run apply (Helm's field manager, ownership metadata included);
// objects that could not be dry-run (their namespace or CRD is created by the deploy) are
// shown as rendered with a note. The chart's CRDs that exist are Unchanged (Helm never
// changes them). Objects of the last revision the chart no longer renders follow as Pruned
// (the upgrade deletes them) with a note. Nothing is changed.
func (c *Client) DiffRelease(ctx context.Context, req DiffRequest) ([]deploy.ObjectDiff, error) {
	cr := req.CheckRequest
	cr.DryRun = deploy.DryRunServer
	items, err := c.check(ctx, cr)
	if err != nil {
		return nil, err
	}
	out := []deploy.ObjectDiff{}
	rendered := map[objectKey]bool{}
	for _, it := range items {
		rendered[objectKey{it.obj.GroupVersionKind().GroupKind(), it.obj.GetNamespace(), it.obj.GetName()}] = true
		d := deploy.ObjectDiff{APIVersion: it.obj.GetAPIVersion(), Kind: it.obj.GetKind(), Namespace: it.obj.GetNamespace(), Name: it.obj.GetName(), Source: it.source, Note: it.note}
		_, hasStatus := it.obj.Object["status"]
		switch {
		case it.crd && it.live != nil:
			deploy.DiffObject(&d, it.live, it.live, false)
		case it.merged == nil:
			deploy.DiffObject(&d, it.live, it.obj, hasStatus)
		default:
			deploy.DiffObject(&d, it.live, it.merged, hasStatus)
		}
		out = append(out, d)
	}
	cfg, err := c.config(req.Release.Namespace)
	if err != nil {
		return nil, err
	}
	last, err := lastRelease(cfg, req.Release.Name)
	if err != nil || last == nil || last.Info.Status == rcommon.StatusUninstalled {
		return out, cancelled(ctx, err)
	}
	dyn, mapper, err := c.clients()
	if err != nil {
		return nil, err
	}
	for _, o := range manifestObjects(last.Manifest) {
		ns := namespaceOf(mapper, o, req.Release.Namespace)
		if rendered[objectKey{o.GroupVersionKind().GroupKind(), ns, o.GetName()}] {
			continue
		}
		gvk := o.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			continue
		}
		live, err := resourceFor(dyn, m, ns).Get(ctx, o.GetName(), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, cancelled(ctx, fmt.Errorf("reading %s: %w", display(o), err))
		}
		d := deploy.ObjectDiff{APIVersion: o.GetAPIVersion(), Kind: o.GetKind(), Namespace: ns, Name: o.GetName(), Note: "no longer in the chart: the upgrade deletes it"}
		if o.GetAnnotations()[annotationResourcePolicy] == resourcePolicyKeep {
			d.Note = "no longer in the chart; kept by its helm.sh/resource-policy: keep annotation"
			deploy.DiffObject(&d, live, live, false)
		} else {
			deploy.DiffObject(&d, live, nil, false)
		}
		out = append(out, d)
	}
	return out, nil
}

// ListRequest selects releases by their labels (Client.ListReleases).
type ListRequest struct {
	// Labels the releases carry (UpgradeRequest.ReleaseLabels).
	Labels map[string]string
	// Namespaces are listed one by one when listing release records across all namespaces
	// is forbidden.
	Namespaces []string
}

// ListReleases returns the releases whose records carry req.Labels, sorted by namespace and name,
// each with its last revision and status (no objects, no chart). It lists Helm's release
// Secrets (metadata only) across all namespaces, like `helm list -A -l …`; when that is
// forbidden, in req.Namespaces only.
func (c *Client) ListReleases(ctx context.Context, req ListRequest) ([]Release, error) {
	if len(req.Labels) == 0 {
		return nil, errors.New("helm.List: no labels to select releases by")
	}
	cfg, err := c.restConfig()
	if err != nil {
		return nil, err
	}
	md, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil, &deploy.ClusterError{Server: cfg.Host, Err: err}
	}
	sel := labels.Set{releaseOwnerLabel: releaseOwnerHelm}
	for k, v := range req.Labels {
		sel[k] = v
	}
	secrets := schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	opts := metav1.ListOptions{LabelSelector: sel.AsSelector().String()}
	var items []metav1.PartialObjectMetadata
	list, err := md.Resource(secrets).Namespace(metav1.NamespaceAll).List(ctx, opts)
	switch {
	case err == nil:
		items = list.Items
	case apierrors.IsForbidden(err):
		seen := map[string]bool{}
		for _, ns := range req.Namespaces {
			if seen[ns] {
				continue
			}
			seen[ns] = true
			l, err := md.Resource(secrets).Namespace(ns).List(ctx, opts)
			if err != nil {
				return nil, cancelled(ctx, fmt.Errorf("listing Helm release records in namespace %s: %w", ns, err))
			}
			items = append(items, l.Items...)
		}
	default:
		return nil, cancelled(ctx, fmt.Errorf("listing Helm release records: %w", err))
	}
	last := map[ReleaseRef]Release{}
	for _, s := range items {
		ref := ReleaseRef{Name: s.Labels[releaseNameLabel], Namespace: s.Namespace}
		v, _ := strconv.Atoi(s.Labels["version"])
		if cur, ok := last[ref]; ok && cur.Revision >= v {
			continue
		}
		last[ref] = Release{ReleaseRef: ref, Revision: v, Status: s.Labels[statusKey], Objects: []deploy.ObjectResult{}}
	}
	out := make([]Release, 0, len(last))
	for _, r := range last {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out, nil
}

// UninstallRequest is one uninstall (Client.UninstallRelease).
type UninstallRequest struct {
	Release ReleaseRef
	// ReleaseLabels are this project's: a release without them is Kept, not uninstalled.
	ReleaseLabels map[string]string
	// DryRun server (or client) reports what would be uninstalled and changes nothing.
	DryRun deploy.DryRun
	// Timeout bounds the release's delete hooks (DefaultTimeout when 0).
	Timeout time.Duration
}

// UninstallRelease uninstalls a release as `helm uninstall` does (delete hooks, the objects its last
// revision lists that carry its ownership metadata — except those annotated
// helm.sh/resource-policy: keep — and its history). Objects lists them Deleted (WouldDelete
// in a dry run) or Kept. A release that does not exist is reported Uninstalled with a note;
// one without req.ReleaseLabels is Kept. A failure is a *ReleaseError.
func (c *Client) UninstallRelease(ctx context.Context, req UninstallRequest) (Release, error) {
	out := Release{ReleaseRef: req.Release, Objects: []deploy.ObjectResult{}}
	cfg, err := c.config(req.Release.Namespace)
	if err != nil {
		return out, err
	}
	last, err := lastRelease(cfg, req.Release.Name)
	if err != nil {
		return out, cancelled(ctx, fmt.Errorf("reading Helm release %s: %w", req.Release, err))
	}
	if last == nil {
		out.Action, out.Note = Uninstalled, "not found: already uninstalled"
		return out, nil
	}
	out.Revision, out.Status = last.Version, last.Info.Status.String()
	if last.Chart != nil && last.Chart.Metadata != nil {
		out.Chart = last.Chart.Metadata.Name + "-" + last.Chart.Metadata.Version
	}
	if !hasLabels(last.Labels, req.ReleaseLabels) {
		out.Action, out.Note = Kept, "not this project's: its release labels are "+formatLabels(userLabels(last.Labels))
		return out, nil
	}
	mapper, _ := c.getter.ToRESTMapper()
	dry := req.DryRun == deploy.DryRunServer || req.DryRun == deploy.DryRunClient
	for _, o := range manifestObjects(last.Manifest) {
		ns := namespaceOf(mapper, o, req.Release.Namespace)
		switch {
		case o.GetAnnotations()[annotationResourcePolicy] == resourcePolicyKeep:
			out.Objects = append(out.Objects, objectResult(o, ns, deploy.Kept, "kept by its helm.sh/resource-policy: keep annotation"))
		case dry:
			out.Objects = append(out.Objects, objectResult(o, ns, deploy.WouldDelete, ""))
		default:
			out.Objects = append(out.Objects, objectResult(o, ns, deploy.Deleted, ""))
		}
	}
	if dry {
		out.Action = WouldUninstall
		return out, nil
	}
	u := action.NewUninstall(cfg)
	u.WaitStrategy, u.Timeout = kube.HookOnlyStrategy, timeout(req.Timeout)
	u.DeletionPropagation = "background"
	u.Description = "Uninstalled by devtool"
	if _, err := u.Run(req.Release.Name); err != nil {
		return out, cancelled(ctx, &ReleaseError{Release: req.Release, Op: "uninstall", Revision: last.Version, Status: last.Info.Status.String(), Err: err})
	}
	out.Action, out.Status = Uninstalled, rcommon.StatusUninstalled.String()
	return out, nil
}

// restConfig is the getter's REST config with client-go's default throttling raised (as
// pkg/deploy does).
func (c *Client) restConfig() (*rest.Config, error) {
	cfg, err := c.getter.ToRESTConfig()
	if err != nil {
		return nil, &deploy.ClusterError{Err: err}
	}
	cfg = rest.CopyConfig(cfg)
	if cfg.QPS == 0 {
		cfg.QPS, cfg.Burst = 50, 100
	}
	return cfg, nil
}

// clients are a dynamic client and the getter's RESTMapper.
func (c *Client) clients() (dynamic.Interface, meta.RESTMapper, error) {
	cfg, err := c.restConfig()
	if err != nil {
		return nil, nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, nil, &deploy.ClusterError{Server: cfg.Host, Err: err}
	}
	mapper, err := c.getter.ToRESTMapper()
	if err != nil {
		return nil, nil, &deploy.ClusterError{Server: cfg.Host, Err: err}
	}
	return dyn, mapper, nil
}

// reachable checks that the API server answers GET /version. Errors are *deploy.ClusterError.
func (c *Client) reachable(ctx context.Context) error {
	cfg, err := c.restConfig()
	if err != nil {
		return err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return &deploy.ClusterError{Server: cfg.Host, Err: err}
	}
	if _, err := dc.RESTClient().Get().AbsPath("/version").Do(ctx).Raw(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &deploy.ClusterError{Server: cfg.Host, Err: err}
	}
	return nil
}
