package run

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/devtool/devtool/pkg/deploy"
	"github.com/devtool/devtool/pkg/devfile"
	"github.com/devtool/devtool/pkg/plan"
	"github.com/devtool/devtool/pkg/vars"
)

// applyKind server-side-applies the manifests of a kubernetes or openshift component
// (devfile spec, apply command; design.md §5) as members of the project's inventory.
type applyKind struct{}

type applyStep struct {
	step    plan.Step
	objs    []*unstructured.Unstructured // rendered once, images as placeholders
	sources []string
}

func (a *applyStep) plan() plan.Step  { return a.step }
func (a *applyStep) describe() string { return fmt.Sprintf("applying component %q", a.step.Component) }

func (a *applyStep) objects(pp *prepared, refs map[string]string) stepObjects {
	return stepObjects{Members: pp.pin(a.objs, refs), MemberSources: a.sources}
}

// prepare renders the step's manifests once: the uri read (when it holds variables),
// variables substituted, the documents decoded, workload images pinned to placeholders and
// the project labels set.
func (applyKind) prepare(ctx context.Context, pc *prepareContext, s plan.Step, comp *devfile.Component) (step, error) {
	if comp.Manifest == nil {
		return nil, fmt.Errorf("component %q has no manifest", comp.Name)
	}
	pc.renders[s.ID]++
	res, pins := pc.scope(s)
	kind := "kubernetes"
	if comp.Kind == devfile.KindOpenShift {
		kind = "openshift"
	}
	yamlText, source := comp.Manifest.YAML(), comp.Manifest.Source
	if comp.Manifest.Inlined == "" && comp.Manifest.Content == "" && strings.Contains(comp.Manifest.URI, "{{") {
		// devfile.Load leaves uris with variables unread: read it now that they are known.
		uri := res.Substitute(comp.Manifest.URI, fmt.Sprintf("components[name=%s].%s.uri", comp.Name, kind), pc.warn)
		content, src, err := pc.readURI(ctx, uri)
		if err != nil {
			return nil, fmt.Errorf("component %q: %s uri %q: %w", comp.Name, kind, uri, err)
		}
		yamlText, source = content, src
	}
	if err := checkScalarValues(yamlText, res, comp.Name); err != nil {
		return nil, err
	}
	text := res.Substitute(yamlText, fmt.Sprintf("components[name=%s].%s", comp.Name, kind), pc.warn)
	label := fmt.Sprintf("component %q, %s", comp.Name, source)
	if source == "" {
		source = fmt.Sprintf("%s: components[name=%s].%s.inlined", filepath.Base(pc.d.Path), comp.Name, kind)
		label = fmt.Sprintf("component %q, %s", comp.Name, filepath.Base(pc.d.Path))
	}
	objs, err := deploy.Decode(text, source)
	if err != nil {
		return nil, fmt.Errorf("component %q: %w", comp.Name, err)
	}
	deploy.PinImages(objs, pins)
	deploy.SetLabels(objs, pc.labels)
	sources := make([]string, len(objs))
	for i := range sources {
		sources[i] = label
	}
	return &applyStep{step: s, objs: objs, sources: sources}, nil
}

// ValueError is a variable whose value would change the structure of a manifest it is
// substituted into (a line break where YAML expects a scalar could add keys or whole objects).
type ValueError struct {
	Variable, Source, Component string
}

func (e *ValueError) Error() string {
	return fmt.Sprintf("variable %s (from %s) has a line break in its value, which would change the structure of component %q's manifest; give it a one-line value", e.Variable, e.Source, e.Component)
}

// checkScalarValues refuses variables referenced in a manifest whose values hold line breaks
// (design.md §3: variables fill values, they never add structure).
func checkScalarValues(text string, res *vars.Resolver, component string) error {
	for _, name := range vars.References(text) {
		v, src, ok := res.Lookup(strings.TrimPrefix(name, "."))
		if ok && strings.ContainsAny(v, "\n\r") {
			return &ValueError{Variable: strings.TrimPrefix(name, "."), Source: src, Component: component}
		}
	}
	return nil
}

func (a *applyStep) execute(ctx context.Context, x *execution) error {
	objs := x.pp.pin(a.objs, x.refs())
	// Each object's event is emitted as it is applied (kind, namespace, name, action);
	// objects a dry run only validated are reported when the step ends.
	var mu sync.Mutex
	seen := map[string]bool{}
	emit := func(o deploy.ObjectResult) {
		mu.Lock()
		defer mu.Unlock()
		key := o.APIVersion + " " + objectName(o)
		if seen[key] {
			return
		}
		seen[key] = true
		x.info(a.step, fmt.Sprintf("%s %s", objectName(o), o.Action), map[string]string{
			"action": string(o.Action), "kind": o.Kind, "namespace": o.Namespace, "name": o.Name})
	}
	res, err := x.cluster.Apply(ctx, x.tx, deploy.Request{Objects: objs, Sources: a.sources, Namespace: x.namespace, ForceConflicts: x.force, Adopt: x.adopt, FieldManager: x.fieldManager, DryRun: x.dryRun, Progress: emit})
	x.recordObjects(res.Objects)
	for _, o := range res.Objects {
		emit(o)
	}
	return err
}
