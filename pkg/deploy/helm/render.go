package helm

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	release "helm.sh/helm/v4/pkg/release/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/devtool/devtool/pkg/deploy"
)

// ReadValues parses a Helm values file (YAML mapping); source names it in errors.
func ReadValues(data []byte, source string) (map[string]any, error) {
	v, err := common.ReadValues(data)
	if err != nil {
		return nil, fmt.Errorf("values file %s: %w", source, err)
	}
	return v, nil
}

// MergeValues merges layers of values, lowest precedence first, as helm merges -f files and
// --set: maps merge key by key, any other value of a later layer replaces the earlier one.
// The layers are not changed.
func MergeValues(layers ...map[string]any) map[string]any {
	out := map[string]any{}
	for _, l := range layers {
		out = loader.MergeMaps(out, l)
	}
	return out
}

// PostRenderer is what devtool does to the manifests Helm renders before they are applied
// (Helm's post-renderer step, which also sees the hooks): it pins the images devtool built,
// by the "image name as selector" rule of deploy.PinImages, and adds labels to every object's
// metadata (not to pod templates: selectors are immutable). Objects keep the rest of what
// the chart rendered.
type PostRenderer struct {
	// Images maps image names as the chart renders them to the references to deploy.
	Images map[string]string
	// Labels are added to every object's metadata.labels.
	Labels map[string]string
}

// Run implements Helm's postrenderer.PostRenderer.
func (p PostRenderer) Run(rendered *bytes.Buffer) (*bytes.Buffer, error) {
	objs, err := deploy.Decode(rendered.String(), "rendered chart")
	if err != nil {
		return nil, err
	}
	p.apply(objs)
	var out bytes.Buffer
	for _, o := range objs {
		b, err := yaml.Marshal(o.Object)
		if err != nil {
			return nil, err
		}
		out.WriteString("---\n")
		out.Write(b)
	}
	return &out, nil
}

func (p PostRenderer) apply(objs []*unstructured.Unstructured) {
	deploy.PinImages(objs, p.Images)
	deploy.SetLabels(objs, p.Labels)
}

// RenderRequest is one local render of a chart (helm template).
type RenderRequest struct {
	// Name and Namespace are the release's (.Release.Name, .Release.Namespace; the namespace
	// of rendered objects that set none).
	Name, Namespace string
	// Values are the user's values (MergeValues of values files and the devfile's values),
	// above the chart's values.yaml.
	Values map[string]any
	// PostRender is applied to the rendered manifests and hooks, as at install.
	PostRender PostRenderer
}

// Rendered is a chart rendered without a cluster.
type Rendered struct {
	// Objects are the release's objects in Helm's install order, post-rendered, with Helm's
	// ownership metadata (label app.kubernetes.io/managed-by=Helm, annotations
	// meta.helm.sh/release-name and -namespace) as Helm applies them. Their namespace is as
	// the templates wrote it (namespaced objects without one go to the release namespace).
	Objects []*unstructured.Unstructured
	// Sources name the template of each object ("chart hello-0.1.0: templates/web.yaml").
	Sources []string
	// CRDs are the chart's crds/ files (and its dependencies'): Helm creates them before the
	// release if they do not exist, never upgrades or deletes them, and does not template or
	// post-render them.
	CRDs       []*unstructured.Unstructured
	CRDSources []string
	// Hooks are the release's hook objects (test hooks left out), post-rendered: Helm runs
	// them around installs, upgrades and uninstalls; they are not part of the release's
	// objects.
	Hooks       []*unstructured.Unstructured
	HookSources []string
	// Notes is the rendered NOTES.txt.
	Notes string
}

// All is Objects, CRDs first, then the hooks: everything rendered, for printing.
func (r *Rendered) All() ([]*unstructured.Unstructured, []string) {
	objs := slices.Concat(r.CRDs, r.Objects, r.Hooks)
	srcs := slices.Concat(r.CRDSources, r.Sources, r.HookSources)
	return objs, srcs
}

// RenderError is a chart that does not render: a template error, values that fail the
// chart's values.schema.json, a manifest that is not YAML.
type RenderError struct {
	Chart string
	Err   error
}

func (e *RenderError) Error() string { return fmt.Sprintf("rendering chart %s: %v", e.Chart, e.Err) }
func (e *RenderError) Unwrap() error { return e.Err }

// Render templates the chart locally, like `helm template` (no cluster: Helm's default
// capabilities, lookup returns nothing), through the post-renderer. Errors are *RenderError
// or ctx's error.
func (c *Chart) Render(ctx context.Context, req RenderRequest) (*Rendered, error) {
	ch, err := c.load()
	if err != nil {
		return nil, &RenderError{Chart: c.String(), Err: err}
	}
	if err := chartutil.ValidateReleaseName(req.Name); err != nil {
		return nil, &RenderError{Chart: c.String(), Err: fmt.Errorf("release name %q: %w", req.Name, err)}
	}
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(slog.DiscardHandler))
	in := action.NewInstall(cfg)
	in.DryRunStrategy = action.DryRunClient
	in.ReleaseName, in.Namespace = req.Name, req.Namespace
	in.Replace = true
	in.PostRenderer = req.PostRender
	values := req.Values
	if values == nil {
		values = map[string]any{}
	}
	ri, err := in.RunWithContext(ctx, ch, values)
	if err != nil {
		return nil, cancelled(ctx, &RenderError{Chart: c.String(), Err: err})
	}
	rel, ok := ri.(*release.Release)
	if !ok {
		return nil, &RenderError{Chart: c.String(), Err: fmt.Errorf("unexpected release type %T", ri)}
	}
	out := &Rendered{Notes: rel.Info.Notes}
	label := "chart " + c.String() + ": "
	if out.Objects, out.Sources, err = decodeManifest(rel.Manifest, label); err != nil {
		return nil, &RenderError{Chart: c.String(), Err: err}
	}
	setOwnership(out.Objects, req.Name, req.Namespace)
	for _, crd := range ch.CRDObjects() {
		objs, err := deploy.Decode(string(crd.File.Data), label+crd.Filename)
		if err != nil {
			return nil, &RenderError{Chart: c.String(), Err: err}
		}
		for range objs {
			out.CRDSources = append(out.CRDSources, label+crd.Filename)
		}
		out.CRDs = append(out.CRDs, objs...)
	}
	for _, h := range rel.Hooks {
		if isTestHook(h) {
			continue
		}
		objs, err := deploy.Decode(h.Manifest, label+h.Path)
		if err != nil {
			return nil, &RenderError{Chart: c.String(), Err: err}
		}
		for range objs {
			out.HookSources = append(out.HookSources, label+h.Path+" (hook)")
		}
		out.Hooks = append(out.Hooks, objs...)
	}
	return out, nil
}

func isTestHook(h *release.Hook) bool {
	for _, e := range h.Events {
		if e == release.HookTest {
			return true
		}
	}
	return false
}

// setOwnership adds Helm's ownership metadata, as Helm does to every object it applies.
func setOwnership(objs []*unstructured.Unstructured, name, namespace string) {
	for _, o := range objs {
		l := o.GetLabels()
		if l == nil {
			l = map[string]string{}
		}
		l[LabelManagedBy] = ManagedByHelm
		o.SetLabels(l)
		a := o.GetAnnotations()
		if a == nil {
			a = map[string]string{}
		}
		a[AnnotationReleaseName], a[AnnotationReleaseNamespace] = name, namespace
		o.SetAnnotations(a)
	}
}

// decodeManifest decodes a release manifest ("---\n# Source: <path>\n<yaml>" per template
// document, as Helm writes it) into objects, each with label + its template path.
func decodeManifest(manifest, label string) ([]*unstructured.Unstructured, []string, error) {
	var objs []*unstructured.Unstructured
	var srcs []string
	for _, doc := range splitManifest(manifest) {
		o, err := deploy.Decode(doc.text, label+doc.source)
		if err != nil {
			return nil, nil, err
		}
		for range o {
			srcs = append(srcs, label+doc.source)
		}
		objs = append(objs, o...)
	}
	return objs, srcs, nil
}

type manifestDoc struct{ source, text string }

// splitManifest splits a release manifest into its documents, each with the template path of
// its "# Source:" line.
func splitManifest(manifest string) []manifestDoc {
	var out []manifestDoc
	for _, part := range strings.Split("\n"+manifest, "\n---\n") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		src := ""
		if rest, ok := strings.CutPrefix(part, "# Source: "); ok {
			src, _, _ = strings.Cut(rest, "\n")
		}
		out = append(out, manifestDoc{source: src, text: part})
	}
	return out
}
