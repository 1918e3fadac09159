// Package helm deploys Helm charts with the Helm SDK (helm.sh/helm/v4): it loads charts from a
// directory, a .tgz, an oci:// reference or a chart repository (Loader), renders them without
// a cluster (Chart.Render), checks the rendered objects against the cluster before anything
// changes (Client.CheckRelease), installs or upgrades releases (Client.UpgradeRelease), diffs
// them (Client.DiffRelease), and finds and uninstalls them (Client.ListReleases,
// Client.UninstallRelease).
//
// Like pkg/deploy it knows nothing about devfiles: pkg/run hands it chart sources, values,
// image pins and labels. Releases are Helm's: their history is Helm's release records (Secrets
// sh.helm.release.v1.<name>.v<revision> in the release namespace), so `helm list`, `helm
// history` and `helm rollback` of Helm 3 or 4 see them. devtool marks the releases it creates
// with release labels (Labels on the release record; see UpgradeRequest.ReleaseLabels) and
// never takes over a release without them unless asked (Adopt), as Helm never takes over an
// object without its release's ownership metadata.
package helm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/kube"
	"k8s.io/cli-runtime/pkg/genericclioptions"
)

// FieldManager is the server-side apply field manager of the objects of Helm releases, the one
// the helm command line uses: objects stay Helm's to `helm upgrade` by hand, and devtool's
// per-project managers (deploy.ProjectFieldManager) never claim them. Helm's SDK takes it from
// the process-wide kube.ManagedFieldsManager, which New sets once when it is unset.
const FieldManager = "helm"

// Helm's ownership metadata on every object of a release (helm.sh/helm/v4 pkg/action,
// setMetadataVisitor): what makes an object the release's.
const (
	LabelManagedBy             = "app.kubernetes.io/managed-by"
	ManagedByHelm              = "Helm"
	AnnotationReleaseName      = "meta.helm.sh/release-name"
	AnnotationReleaseNamespace = "meta.helm.sh/release-namespace"

	annotationResourcePolicy = "helm.sh/resource-policy"
	resourcePolicyKeep       = "keep"
	// Labels Helm puts on its release records.
	releaseOwnerLabel           = "owner"
	releaseOwnerHelm            = "helm"
	releaseNameLabel, statusKey = "name", "status"
)

// Option configures a Client.
type Option func(*Client)

// WithLogger makes the Client (and the Helm SDK under it) log to l; the default discards.
func WithLogger(l *slog.Logger) Option {
	return func(c *Client) {
		if l != nil {
			c.log = l
		}
	}
}

// Client installs, upgrades, diffs and uninstalls Helm releases on the cluster a
// RESTClientGetter (the kubectl connection flags) points at. It is safe for concurrent use;
// each call makes its own Helm action configuration. New does not contact the cluster.
type Client struct {
	getter genericclioptions.RESTClientGetter
	log    *slog.Logger
}

var setFieldManager sync.Once

// New returns a Client for the cluster getter describes. It sets Helm's process-wide field
// manager (kube.ManagedFieldsManager) to FieldManager unless something set it before: Helm
// otherwise names the manager after the running program.
func New(getter genericclioptions.RESTClientGetter, opts ...Option) (*Client, error) {
	if getter == nil {
		return nil, errors.New("helm.New: nil RESTClientGetter")
	}
	setFieldManager.Do(func() {
		if kube.ManagedFieldsManager == "" {
			kube.ManagedFieldsManager = FieldManager
		}
	})
	c := &Client{getter: getter, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// config returns a Helm action configuration for releases in namespace (release records in
// Secrets, Helm's default driver), logging to the Client's logger.
func (c *Client) config(namespace string) (*action.Configuration, error) {
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(c.log.Handler()))
	if err := cfg.Init(c.getter, namespace, "secret"); err != nil {
		return nil, err
	}
	if kc, ok := cfg.KubeClient.(*kube.Client); ok {
		// Objects without a namespace go to the release's, not the kubeconfig's.
		kc.Namespace = namespace
	}
	cfg.SetHookOutputFunc(func(_, _, _ string) io.Writer { return io.Discard })
	return cfg, nil
}

// ReleaseAction is what a deploy, prune or undeploy did to a release.
type ReleaseAction string

// Release actions.
const (
	Installed      ReleaseAction = "installed"
	Upgraded       ReleaseAction = "upgraded"
	Unchanged      ReleaseAction = "unchanged"
	Validated      ReleaseAction = "validated" // dry runs
	Failed         ReleaseAction = "failed"
	Uninstalled    ReleaseAction = "uninstalled"
	WouldUninstall ReleaseAction = "would-uninstall"
)

// ReleaseRef names a release.
type ReleaseRef struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
}

func (r ReleaseRef) String() string { return r.Namespace + "/" + r.Name }

// OwnershipError refuses to install over, upgrade or uninstall a Helm release that devtool did
// not create for this project: its release record lacks the release labels the request
// carries (made with the helm command, by another tool, or by another devtool project).
// UpgradeRequest.Adopt (deploy --adopt) takes it over; renaming the release avoids it.
type OwnershipError struct {
	Release ReleaseRef `json:"release"`
	// Labels are the release's labels (Helm's own — name, owner, status, version — left out).
	Labels map[string]string `json:"labels,omitempty"`
	// Want are the labels a release of this project carries.
	Want map[string]string `json:"want"`
}

func (e *OwnershipError) Error() string {
	have := "no devtool labels"
	if len(e.Labels) > 0 {
		have = "labels " + formatLabels(e.Labels)
	}
	return fmt.Sprintf("Helm release %s exists and was not installed by devtool for this project (it has %s, a release of this project has %s): devtool does not take over releases it did not create: rerun with --adopt to take it over (it then belongs to this project, and undeploy and --prune may uninstall it), or set another releaseName", e.Release, have, formatLabels(e.Want))
}

func formatLabels(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ",")
}

// ReleaseError is a release operation that failed after it started changing the cluster: Helm
// recorded the release with Status (usually "failed"). What happens next is Helm's: the next
// upgrade starts from the last deployed revision; `helm rollback` returns to an earlier one.
type ReleaseError struct {
	Release  ReleaseRef
	Op       string // "install", "upgrade" or "uninstall"
	Revision int
	Status   string
	Err      error
}

func (e *ReleaseError) Error() string {
	if e.Revision > 0 {
		return fmt.Sprintf("%s of Helm release %s (revision %d, now %s): %v", e.Op, e.Release, e.Revision, e.Status, e.Err)
	}
	return fmt.Sprintf("%s of Helm release %s: %v", e.Op, e.Release, e.Err)
}

func (e *ReleaseError) Unwrap() error { return e.Err }

// PendingError is a release with an operation in progress (status pending-install,
// pending-upgrade or pending-rollback): another helm or devtool is changing it, or one was
// interrupted. Helm refuses to upgrade it; so does devtool, before building anything.
type PendingError struct {
	Release  ReleaseRef
	Revision int
	Status   string
}

func (e *PendingError) Error() string {
	return fmt.Sprintf("Helm release %s: revision %d is %s: another operation is in progress, or one was interrupted; wait for it, or run `helm rollback %s -n %s` (or `helm uninstall`) and deploy again", e.Release, e.Revision, e.Status, e.Release.Name, e.Release.Namespace)
}

// cancelled returns ctx's error wrapped around err when ctx ended, else err.
func cancelled(ctx context.Context, err error) error {
	if ctx.Err() != nil && err != nil && !errors.Is(err, ctx.Err()) {
		return fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	return err
}
