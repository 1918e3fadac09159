package run

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/devtool/devtool/pkg/build"
	"github.com/devtool/devtool/pkg/deploy/helm"
	"github.com/devtool/devtool/pkg/devfile"
	"github.com/devtool/devtool/pkg/plan"
	"github.com/devtool/devtool/pkg/vars"
)

// prepareOptions say what a verb needs of its prepared plan.
type prepareOptions struct {
	// checkInputs requires build inputs (build context, Dockerfile) to exist and the builder to
	// be able to build them (deploy, build); render and diff only need names.
	checkInputs bool
	push        bool
	tag         string
	platforms   []string
	// prebuilt are images built earlier (deploy --images), by image component name.
	prebuilt map[string]build.Result
	// namespace is the deploy's namespace (-n): Helm releases without their own go there.
	namespace string
}

// prepared is a plan prepared once (design.md §6): variables resolved, manifests rendered and
// decoded, Jobs rendered, build requests made. Images of build steps appear in the rendered
// objects as placeholders that pin replaces with references — a pure function, applied
// after the builds (deploy), or with unpinned references (render, preflight).
type prepared struct {
	proj   Project
	d      *devfile.Devfile
	p      *plan.Plan
	steps  []step // plan order
	byID   map[string]step
	base   *vars.Resolver
	warn   *vars.Collector
	labels map[string]string

	// placeholders maps each image placeholder to its build step ID.
	placeholders map[string]string
	nonce        string

	uriMu    sync.Mutex
	uriReads map[string]int // reads per substituted uri (tests: each is read once)
	renders  map[string]int // renders per step ID (tests: each is rendered once)
}

// prepareContext is what a kind's prepare sees.
type prepareContext struct {
	*prepared
	opts    prepareOptions
	builder build.Builder
	charts  *helm.Loader
}

// prepare resolves p for proj. Errors are *InputError (every problem found, joined), or
// ctx's error.
func prepare(ctx context.Context, cfg *Configuration, proj Project, p *plan.Plan, o prepareOptions) (*prepared, error) {
	d := proj.Devfile
	layers := append([]vars.Layer{
		{Source: "built-in", Values: builtins(d)},
		{Source: "devfile", Values: d.Variables},
	}, proj.Vars...)
	var nonce [6]byte
	_, _ = rand.Read(nonce[:])
	pp := &prepared{
		proj: proj, d: d, p: p,
		byID:         map[string]step{},
		base:         vars.New(layers...),
		warn:         &vars.Collector{},
		labels:       projectLabels(d),
		placeholders: map[string]string{},
		nonce:        hex.EncodeToString(nonce[:]),
		uriReads:     map[string]int{},
		renders:      map[string]int{},
	}
	pc := &prepareContext{prepared: pp, opts: o, builder: cfg.Builder, charts: cfg.charts()}
	var errs []error
	// Plan order is topological: a step's dependencies are prepared before it.
	for _, s := range p.Steps {
		comp, ok := d.Component(s.Component)
		if !ok {
			errs = append(errs, fmt.Errorf("step %q: component %q is not defined", s.ID, s.Component))
			continue
		}
		k, ok := kinds[s.Kind]
		if !ok {
			errs = append(errs, fmt.Errorf("step %q: devtool cannot run steps of kind %q", s.ID, s.Kind))
			continue
		}
		st, err := k.prepare(ctx, pc, s, comp)
		if err != nil {
			if ctx.Err() != nil {
				return pp, fmt.Errorf("%w: %w", ctx.Err(), err)
			}
			errs = append(errs, err)
			continue
		}
		pp.steps = append(pp.steps, st)
		pp.byID[s.ID] = st
	}
	for n := range o.prebuilt {
		if c, ok := d.Component(n); !ok || c.Kind != devfile.KindImage {
			errs = append(errs, fmt.Errorf("--images names %q, which is not an image component of %s (image components: %v)", n, d.Path, imageComponents(d)))
		}
	}
	if proj.Strict {
		if w := pp.warn.Warnings(); len(w) > 0 {
			errs = append(errs, &vars.UndefinedError{Warnings: w})
		}
	}
	if len(errs) > 0 {
		return pp, &InputError{Err: errors.Join(errs...)}
	}
	return pp, nil
}

// prepareDeployment prepares the plan of a deploy command (deploy, diff): as prepare, plus
// warnings copied to *warnings (even on error) and an *InputError for a plan with no step.
func prepareDeployment(ctx context.Context, cfg *Configuration, proj Project, p *plan.Plan, o prepareOptions, warnings *[]string) (*prepared, error) {
	pp, err := prepare(ctx, cfg, proj, p, o)
	if pp != nil {
		*warnings = pp.warningStrings()
	}
	if err != nil {
		return nil, err
	}
	if len(p.Steps) == 0 {
		return nil, &InputError{Err: plan.NoDeployCommandError{}}
	}
	return pp, nil
}

func (pp *prepared) warningStrings() []string {
	var out []string
	for _, w := range pp.warn.Warnings() {
		out = append(out, w.String())
	}
	return out
}

// placeholder is the stand-in for the image of build step id in rendered objects: a string no
// devfile contains by accident, valid as a YAML plain scalar and as an image reference.
func (pc *prepareContext) placeholder(id string) string {
	for ph, sid := range pc.placeholders {
		if sid == id {
			return ph
		}
	}
	ph := "devtool-image-" + pc.nonce + "-" + strconv.Itoa(len(pc.placeholders))
	pc.placeholders[ph] = id
	return ph
}

// scope returns the variables of step s and the image selectors it pins (to placeholders):
// the images of the build steps s depends on (transitively), by the imageName written in the
// devfile and by the repository it was qualified to. The variables are the base ones, under
// CONTAINER_IMAGE when exactly one build is an ancestor, and above them the command's
// attributes.
func (pc *prepareContext) scope(s plan.Step) (*vars.Resolver, map[string]string) {
	pins := map[string]string{}
	var refs []string
	for _, id := range pc.p.Ancestors(s.ID) {
		is, ok := pc.byID[id].(imageStep)
		if !ok {
			continue
		}
		ph := pc.placeholder(id)
		pins[is.imageName()] = ph
		if is.repository() != is.imageName() {
			pins[is.repository()] = ph
		}
		refs = append(refs, ph)
	}
	scoped := map[string]string{}
	if len(refs) == 1 {
		scoped["CONTAINER_IMAGE"] = refs[0]
	}
	lower := vars.New(vars.Layer{Source: "built-in", Values: scoped}).With(pc.base.Layers()...)
	return lower.With(pc.attributes(lower, s)), pins
}

// attributes returns the variable layer of an apply command's attributes (design.md §3,
// `attributes: {CONTAINER_IMAGE: "{{myimage}}"}`): their values are first substituted with
// lower, the variables below them, since substitution is otherwise single-pass.
func (pc *prepareContext) attributes(lower *vars.Resolver, s plan.Step) vars.Layer {
	l := vars.Layer{Source: "command attributes"}
	if len(s.Attributes) == 0 {
		return l
	}
	l.Values = make(map[string]string, len(s.Attributes))
	for k, v := range s.Attributes {
		l.Values[k] = lower.Substitute(v, fmt.Sprintf("commands[id=%s].attributes.%s", s.Command, k), pc.warn)
	}
	return l
}

// readURI reads a manifest uri (devfile.ReadManifestURI: path relative to the devfile
// directory, or http(s) through the project's remote client), bounded by ctx.
func (pc *prepareContext) readURI(ctx context.Context, uri string) (content, source string, err error) {
	pc.uriMu.Lock()
	pc.uriReads[uri]++
	pc.uriMu.Unlock()
	return devfile.ReadManifestURI(ctx, pc.d.Dir, uri, devfile.LoadOptions{Remote: pc.proj.Remote})
}

// unpinnedRefs are the references of every build step's image before it is built.
func (pp *prepared) unpinnedRefs() map[string]string {
	refs := map[string]string{}
	for _, st := range pp.steps {
		if is, ok := st.(imageStep); ok {
			refs[is.plan().ID] = is.unpinned()
		}
	}
	return refs
}

// pin returns deep copies of objs in which every image placeholder is replaced by the
// reference refs gives for its build step (by step ID); a placeholder without one becomes
// the build's unpinned reference. Pure: objs are not changed.
func (pp *prepared) pin(objs []*unstructured.Unstructured, refs map[string]string) []*unstructured.Unstructured {
	r := pp.replacer(refs)
	out := make([]*unstructured.Unstructured, len(objs))
	for i, o := range objs {
		c := o.DeepCopy()
		if len(pp.placeholders) > 0 {
			c.Object = replaceStrings(c.Object, r).(map[string]any)
		}
		out[i] = c
	}
	return out
}

// replacer replaces every image placeholder as pin does.
func (pp *prepared) replacer(refs map[string]string) *strings.Replacer {
	var pairs []string
	for ph, id := range pp.placeholders {
		ref, ok := refs[id]
		if !ok {
			if is, isImage := pp.byID[id].(imageStep); isImage {
				ref = is.unpinned()
			}
		}
		pairs = append(pairs, ph, ref)
	}
	return strings.NewReplacer(pairs...)
}

func replaceStrings(v any, r *strings.Replacer) any {
	switch t := v.(type) {
	case string:
		return r.Replace(t)
	case map[string]any:
		for k, c := range t {
			t[k] = replaceStrings(c, r)
		}
		return t
	case []any:
		for i, c := range t {
			t[i] = replaceStrings(c, r)
		}
		return t
	}
	return v
}

// collect gathers the objects of every step, in plan order, pinned with refs.
func (pp *prepared) collect(refs map[string]string) stepObjects {
	var all stepObjects
	for _, st := range pp.steps {
		so := st.objects(pp, refs)
		all.Members = append(all.Members, so.Members...)
		all.MemberSources = append(all.MemberSources, so.MemberSources...)
		all.Jobs = append(all.Jobs, so.Jobs...)
		all.JobSources = append(all.JobSources, so.JobSources...)
		all.Releases = append(all.Releases, so.Releases...)
	}
	return all
}

// devfileName is metadata.name, or the project directory's name.
func devfileName(d *devfile.Devfile) string {
	if d.Name != "" {
		return d.Name
	}
	return filepath.Base(d.Dir)
}

// builtins are the outer-loop proposal's built-in variables that are known before running.
func builtins(d *devfile.Devfile) map[string]string {
	b := map[string]string{"COMPONENT_NAME": devfileName(d)}
	var ports []int
	for _, c := range d.Components {
		if c.Container != nil {
			for _, e := range c.Container.Endpoints {
				ports = append(ports, e.TargetPort)
			}
		}
	}
	if len(ports) == 1 {
		b["PORT"] = strconv.Itoa(ports[0])
	}
	return b
}

// projectLabels are the labels devtool puts on every object it deploys for d (design.md §5).
func projectLabels(d *devfile.Devfile) map[string]string {
	return map[string]string{
		"app.kubernetes.io/managed-by": "devtool",
		"app.kubernetes.io/name":       labelValue(devfileName(d)),
	}
}

func imageComponents(d *devfile.Devfile) []string {
	var out []string
	for _, c := range d.Components {
		if c.Kind == devfile.KindImage {
			out = append(out, c.Name)
		}
	}
	return out
}
