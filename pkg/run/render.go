package run

import (
	"context"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/devtool/devtool/pkg/plan"
)

// Rendered is one apply step's manifests, or one exec step's Job, fully resolved.
type Rendered struct {
	Step      string                       `json:"step"`
	Component string                       `json:"component"`
	Objects   []*unstructured.Unstructured `json:"objects"`
}

// Render is `devtool render`: every apply step's manifests, every exec step's Job and every
// helm step's chart templated locally (CRDs, the release's objects with Helm's ownership
// metadata, hooks), in plan order, without building or touching the cluster (design.md §2).
type Render struct {
	cfg *Configuration

	// PullSecret, when set (render --create-pull-secret), renders the image pull Secret and
	// imagePullSecrets deploy --create-pull-secret would apply (Deploy.PullSecret), the
	// Secret's data shown as "REDACTED". Namespace is the default namespace for it.
	PullSecret PullSecretCredentials
	Namespace  string
}

// NewRender returns the render action over cfg (no builder is needed).
func NewRender(cfg *Configuration) *Render { return &Render{cfg: cfg} }

// Run renders p. Images that a step's build dependencies would produce are shown as their
// repository (tags are only known after a build). The warnings list undefined variables.
// Errors: *InputError, or ctx's error (templated manifest uris are read under ctx).
func (a *Render) Run(ctx context.Context, proj Project, p *plan.Plan) ([]Rendered, []string, error) {
	pp, err := prepare(ctx, a.cfg, proj, p, prepareOptions{})
	var warnings []string
	if pp != nil {
		warnings = pp.warningStrings()
	}
	if err != nil {
		return nil, warnings, err
	}
	if a.PullSecret != nil {
		if err := pp.addPullSecret(a.Namespace, a.PullSecret); err != nil {
			return nil, warnings, &InputError{Err: err}
		}
	}
	refs := pp.unpinnedRefs()
	var out []Rendered
	for _, st := range pp.steps {
		if _, builds := st.(imageStep); builds {
			continue // a build renders no object
		}
		so := st.objects(pp, refs)
		objs := append(so.Members, so.Jobs...)
		for _, r := range so.Releases {
			// The chart's CRDs, the release's objects, then its hooks (as helm template prints them).
			all, _ := r.rendered.All()
			objs = append(objs, all...)
		}
		if a.PullSecret != nil {
			objs = redactPullSecret(objs, PullSecretName(devfileName(pp.d)))
		}
		out = append(out, Rendered{Step: st.plan().ID, Component: st.plan().Component, Objects: objs})
	}
	return out, warnings, nil
}
