// Package run walks a compiled plan: it resolves variables and image names, renders manifests,
// checks everything it can before changing anything (build inputs, then every object against the
// cluster), runs build, apply and exec steps (exec commands run as Kubernetes Jobs, as odo v3
// does) in dependency order (parallel where the plan allows, the first failure cancelling the
// rest, after skaffold's build scheduler), passes build results to the steps that depend on
// them, and emits progress events.
//
// run is the one place where devfile concepts meet build and deploy requests: build and deploy
// never import pkg/devfile.
package run

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/devtool/devtool/pkg/build"
	"github.com/devtool/devtool/pkg/deploy"
	"github.com/devtool/devtool/pkg/devfile"
	"github.com/devtool/devtool/pkg/event"
	"github.com/devtool/devtool/pkg/plan"
	"github.com/devtool/devtool/pkg/vars"
)

// APIVersion is the apiVersion of devtool's JSON documents.
const APIVersion = "devtool.dev/v1alpha1"

// Deployer is what run needs from pkg/deploy (*deploy.Applier): a preflight that changes
// nothing, an apply, and the inventory (KEP-3659 ApplySet) that spans all the apply steps of a
// deploy: BeginApplySet before the first apply (it writes the parent, listing every object the
// deploy will apply), FinishApplySet after the last one succeeded (prune, then narrow).
type Deployer interface {
	Validate(ctx context.Context, req deploy.Request) error
	Apply(ctx context.Context, req deploy.Request) (deploy.Result, error)
	BeginApplySet(ctx context.Context, req deploy.Request) error
	FinishApplySet(ctx context.Context, set deploy.ApplySet, applied []deploy.ObjectResult, prune bool, dryRun deploy.DryRun) ([]deploy.ObjectResult, error)
}

// Undeployer is the optional ability of a Deployer that Runner.Undeploy needs
// (*deploy.Applier has it): delete everything an ApplySet holds.
type Undeployer interface {
	Undeploy(ctx context.Context, set deploy.ApplySet, dryRun deploy.DryRun) ([]deploy.ObjectResult, error)
}

// Waiter is the optional ability of a Deployer that `deploy --wait` needs (*deploy.Applier has
// it): wait until the applied objects have rolled out (kstatus Current).
type Waiter interface {
	Wait(ctx context.Context, req deploy.WaitRequest) ([]deploy.ObjectStatus, error)
}

// ChooseBuilder picks the builder for one build request, given the Dockerfile's content, and
// says why (e.g. "native: the Dockerfile has no RUN"). pkg/cli provides it: backends are chosen
// there only.
type ChooseBuilder func(req build.Request, dockerfile []byte) (b build.Builder, why string, err error)

// Options are the per-invocation settings, from flags.
type Options struct {
	// Vars are variable layers above the devfile's own (--var-file, then --var), lowest first.
	Vars []vars.Layer
	// Strict turns undefined-variable warnings into an error.
	Strict bool
	// ImageRegistry rewrites relative image names (--image-registry / DEVTOOL_IMAGE_REGISTRY).
	ImageRegistry string
	// Namespace is the default namespace for namespaced objects without one.
	Namespace string
	// Push pushes built images (always true for deploy).
	Push bool
	// Tag overrides the input-digest tag (--tag).
	Tag string
	// Platforms are target platforms (--platform).
	Platforms []string
	// DryRun is the deploy dry-run mode (none, client, server).
	DryRun deploy.DryRun
	// ForceConflicts takes ownership of conflicting fields.
	ForceConflicts bool
	// Prune deletes, after every step succeeded, the objects of earlier deploys of this project
	// (its ApplySet) that this deploy did not apply (deploy --prune).
	Prune bool
	// Version is devtool's version, recorded in the inventory's tooling annotation
	// ("devtool/<version>"; "devtool/v0" unless it looks like v<digit>…).
	Version string
	// Prebuilt are images built and pushed earlier (deploy --images FILE, the "images" of a
	// `devtool build --push -o json` report), by image component name: their build steps use
	// them instead of building (design.md §1, the CI flow). Each must have a Digest.
	Prebuilt map[string]build.Result
	// Wait, when positive, makes Deploy wait up to that long, after every step and the prune
	// succeeded, until every applied object has rolled out (deploy --wait, design.md §5). Dry
	// runs do not wait.
	Wait time.Duration
	// ExecTimeout bounds how long each exec step waits for its Job to finish (deploy
	// --exec-timeout; 0: deploy.DefaultJobTimeout).
	ExecTimeout time.Duration
}

// Runner runs plans. Choose is required for plans with build steps, Deployer for plans with
// apply or exec steps (for exec steps, a Deployer that is also a JobRunner); Sink may be nil
// (silent).
type Runner struct {
	Choose   ChooseBuilder
	Deployer Deployer
	Sink     event.Sink
}

// Report is the result document of build and deploy (`-o json`).
type Report struct {
	APIVersion string                `json:"apiVersion"`
	Kind       string                `json:"kind"`
	Command    string                `json:"command,omitempty"`
	Images     []build.Result        `json:"images"`
	Objects    []deploy.ObjectResult `json:"objects"`
	// Execs are the exec commands the deploy ran as Kubernetes Jobs, in the order they
	// finished. The Jobs are not among Objects: they are deleted after success and never part
	// of the inventory.
	Execs    []ExecResult `json:"execs,omitempty"`
	Warnings []string     `json:"warnings,omitempty"`
	// Inventory names the ApplySet parent of deploy and undeploy (absent for build).
	Inventory *Inventory `json:"inventory,omitempty"`
	// Message says what undeploy did when there was nothing to do.
	Message string `json:"message,omitempty"`
}

// Inventory names a project's ApplySet parent (KEP-3659) in reports.
type Inventory struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	ID        string `json:"id"`
}

// InventoryError is a failure of the inventory outside the plan's steps: pruning after a
// deploy (Op "prune") or undeploy (Op "undeploy").
type InventoryError struct {
	Op  string
	Err error
}

func (e *InventoryError) Error() string { return e.Op + ": " + e.Err.Error() }
func (e *InventoryError) Unwrap() error { return e.Err }

// StepError is a failed step; it names the step, its kind and component. Kind tells the CLI
// which exit code applies (build failed vs deploy failed).
type StepError struct {
	Step      string
	Kind      plan.StepKind
	Component string
	Err       error
}

func (e *StepError) Error() string {
	return fmt.Sprintf("%s step %q (component %q): %v", e.Kind, e.Step, e.Component, e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }

// InputError is bad user input found before anything ran (missing Dockerfile, undefined
// variables in --strict mode, unsupported step, image name without registry).
type InputError struct {
	Err error
}

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// PreflightError wraps a deploy validation failure found before any build or change.
type PreflightError struct {
	Err error
}

func (e *PreflightError) Error() string {
	return "checking manifests against the cluster (nothing was built or changed): " + e.Err.Error()
}
func (e *PreflightError) Unwrap() error { return e.Err }

// Deploy runs p end to end: checks, builds, applies. The Report lists what was built and
// applied so far even when an error is returned.
//
// The applied objects are recorded in the project's inventory, a KEP-3659 ApplySet whose
// parent is the ConfigMap deploy.ApplySetName(<devfile name>) in opts.Namespace (design.md
// §5): the preflight checks the parent with the objects, the first apply step writes it
// (Deployer.BeginApplySet) before applying anything, and once every step succeeded
// Deployer.FinishApplySet prunes (opts.Prune) the objects of earlier deploys this one no longer
// applies; they are added to the Report with Action "pruned". A failed prune is an
// *InventoryError (Op "prune").
//
// Exec steps run their command in a Kubernetes Job (see renderJob and runExec; the Deployer
// must be a JobRunner): the preflight checks every Job with the objects, a step runs its Job
// to completion (opts.ExecTimeout) after the steps it depends on, and the Report's Execs list
// them. The Jobs are not in the inventory.
//
// With opts.Wait set (and no dry run), Deploy then waits for the applied objects to roll out
// (the Deployer must be a Waiter): their kstatus status is recorded in the Report's objects, and
// an object that fails or is not Current in time gives a *deploy.WaitError.
func (r *Runner) Deploy(ctx context.Context, d *devfile.Devfile, p *plan.Plan, opts Options) (*Report, error) {
	rep := &Report{APIVersion: APIVersion, Kind: "DeployReport", Command: p.Command, Images: []build.Result{}, Objects: []deploy.ObjectResult{}}
	st, err := r.prepare(ctx, d, p, opts)
	if st != nil {
		rep.Warnings = st.warningStrings()
	}
	if err != nil {
		return rep, err
	}
	if len(p.Steps) == 0 {
		return rep, &InputError{Err: plan.NoDeployCommandError{}}
	}
	// Preflight against the cluster before building anything: a missing namespace, an unknown
	// kind or an invalid object (the exec steps' Jobs included) stops the deploy here
	// (design.md §5).
	if st.hasApply || st.hasExec {
		objs, sources, err := st.renderAll(ctx, nil)
		var jobs []*unstructured.Unstructured
		var jobSources []string
		if err == nil {
			jobs, jobSources, err = st.renderJobs(nil)
		}
		if err != nil {
			if ctx.Err() != nil {
				return rep, fmt.Errorf("%w: %w", ctx.Err(), err)
			}
			return rep, &InputError{Err: err}
		}
		if r.Deployer == nil {
			return rep, errors.New("internal: no deployer for a plan with apply or exec steps")
		}
		// --dry-run=client promises no server requests beyond discovery: check the same way.
		mode := deploy.DryRunServer
		if opts.DryRun == deploy.DryRunClient {
			mode = deploy.DryRunClient
		}
		// The inventory spans every apply step (design.md §5): its parent is checked with the
		// objects, written before the first apply and pruned/narrowed after the last. Exec
		// steps' Jobs are not part of it (they are deleted after they ran).
		if st.hasApply {
			set := applySetFor(d, opts, st.labels)
			st.applySet, st.allObjs = &set, objs
			rep.Inventory = inventoryRef(set)
		}
		msg := fmt.Sprintf("checking %d objects against the cluster", len(objs))
		if len(jobs) > 0 {
			msg = fmt.Sprintf("checking %d objects and %d exec %s against the cluster", len(objs), len(jobs), plural(len(jobs), "Job", "Jobs"))
		}
		r.emit(event.Event{Type: event.Info, Message: msg})
		if err := r.Deployer.Validate(ctx, deploy.Request{Objects: objs, Sources: sources, Jobs: jobs, JobSources: jobSources, Namespace: opts.Namespace, ForceConflicts: opts.ForceConflicts, DryRun: mode, ApplySet: st.applySet}); err != nil {
			return rep, &PreflightError{Err: err}
		}
	}
	if err := r.execute(ctx, st, rep); err != nil || st.applySet == nil {
		return rep, err
	}
	applied := append([]deploy.ObjectResult(nil), rep.Objects...)
	pruned, err := r.Deployer.FinishApplySet(ctx, *st.applySet, applied, opts.Prune, opts.DryRun)
	rep.Objects = append(rep.Objects, pruned...)
	for _, o := range pruned {
		r.emit(event.Event{Type: event.Info, Message: fmt.Sprintf("%s %s", objectName(o), o.Action), Fields: map[string]string{"action": string(o.Action)}})
	}
	if err != nil {
		if ctx.Err() != nil {
			return rep, fmt.Errorf("%w: %w", ctx.Err(), err)
		}
		return rep, &InventoryError{Op: "prune", Err: err}
	}
	if opts.Wait > 0 {
		return rep, r.wait(ctx, opts, rep)
	}
	return rep, nil
}

// wait waits for the applied objects of rep to roll out (Options.Wait), emitting progress, and
// records each object's status in rep. Errors: a *deploy.WaitError naming the objects that did
// not roll out and why, or ctx's error.
func (r *Runner) wait(ctx context.Context, opts Options, rep *Report) error {
	if opts.DryRun != deploy.DryRunNone && opts.DryRun != "" {
		r.emit(event.Event{Type: event.Info, Message: fmt.Sprintf("not waiting: --dry-run=%s applied nothing", opts.DryRun)})
		return nil
	}
	w, ok := r.Deployer.(Waiter)
	if !ok {
		return errors.New("internal: the deployer cannot wait")
	}
	n := 0
	for _, o := range rep.Objects {
		if o.Action == deploy.Created || o.Action == deploy.Configured || o.Action == deploy.Unchanged {
			n++
		}
	}
	r.emit(event.Event{Type: event.Info, Message: fmt.Sprintf("waiting up to %s for %d objects to roll out", opts.Wait, n)})
	start := time.Now()
	statuses, err := w.Wait(ctx, deploy.WaitRequest{Objects: rep.Objects, Timeout: opts.Wait, Progress: func(pending []deploy.ObjectStatus) {
		for _, s := range pending {
			r.emit(event.Event{Type: event.Info, Message: "waiting for " + s.String(), Fields: map[string]string{"object": s.Object(), "status": string(s.Status)}})
		}
	}})
	byObject := make(map[string]deploy.ObjectStatus, len(statuses))
	for _, s := range statuses {
		byObject[s.APIVersion+" "+s.Object()] = s
	}
	for i, o := range rep.Objects {
		if s, ok := byObject[o.APIVersion+" "+objectName(o)]; ok {
			rep.Objects[i].Status, rep.Objects[i].StatusMessage = s.Status, s.Message
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%w: waiting for the objects to roll out", ctx.Err())
		}
		return err
	}
	r.emit(event.Event{Type: event.Info, Message: fmt.Sprintf("all %d objects rolled out in %.1fs", n, time.Since(start).Seconds())})
	return nil
}

// Undeploy deletes what devtool deployed for d in opts.Namespace ("default" when empty):
// everything its inventory (the ApplySet of deploy.ApplySetName(<devfile name>)) holds, then
// the inventory itself. When there is no inventory the Report's Message says "nothing deployed
// by devtool for <name> in namespace <ns>" and the error is nil. opts.DryRun none or server
// (deletes sent as dry runs). Errors are *InventoryError (Op "undeploy").
func (r *Runner) Undeploy(ctx context.Context, d *devfile.Devfile, opts Options) (*Report, error) {
	set := applySetFor(d, opts, projectLabels(d))
	rep := &Report{APIVersion: APIVersion, Kind: "UndeployReport", Images: []build.Result{}, Objects: []deploy.ObjectResult{}, Inventory: inventoryRef(set)}
	u, ok := r.Deployer.(Undeployer)
	if !ok {
		return rep, errors.New("internal: the deployer cannot undeploy")
	}
	r.emit(event.Event{Type: event.Info, Message: fmt.Sprintf("undeploying %s: everything the inventory %s lists", devfileName(d), set)})
	objs, err := u.Undeploy(ctx, set, opts.DryRun)
	rep.Objects = append(rep.Objects, objs...)
	for _, o := range objs {
		r.emit(event.Event{Type: event.Info, Message: fmt.Sprintf("%s %s", objectName(o), o.Action), Fields: map[string]string{"action": string(o.Action)}})
	}
	switch {
	case errors.Is(err, deploy.ErrNotDeployed):
		// The result (stdout, or the report's message), not progress.
		rep.Message = fmt.Sprintf("nothing deployed by devtool for %s in namespace %s", devfileName(d), set.Namespace)
		return rep, nil
	case err != nil:
		if ctx.Err() != nil {
			return rep, fmt.Errorf("%w: %w", ctx.Err(), err)
		}
		return rep, &InventoryError{Op: "undeploy", Err: err}
	}
	if opts.DryRun == deploy.DryRunNone || opts.DryRun == "" {
		r.emit(event.Event{Type: event.Info, Message: fmt.Sprintf("deleted the inventory %s", set)})
	}
	return rep, nil
}

// applySetFor is the inventory of d's deploys to opts.Namespace: parent ConfigMap
// devtool-applyset-<devfile name> in that namespace ("default" when empty), labelled like the
// objects.
func applySetFor(d *devfile.Devfile, opts Options, labels map[string]string) deploy.ApplySet {
	ns := opts.Namespace
	if ns == "" {
		ns = "default"
	}
	return deploy.ApplySet{Name: deploy.ApplySetName(devfileName(d)), Namespace: ns, Tooling: tooling(opts.Version), Labels: labels}
}

var semverish = regexp.MustCompile(`^v[0-9]`)

// tooling is the ApplySet tooling annotation value, "devtool/<version>" (KEP-3659 wants
// <tool>/<semver>): development builds ("dev", a commit hash) are "devtool/v0".
func tooling(version string) string {
	if semverish.MatchString(version) {
		return "devtool/" + version
	}
	return deploy.DefaultTooling
}

func inventoryRef(set deploy.ApplySet) *Inventory {
	return &Inventory{Kind: "ConfigMap", Namespace: set.Namespace, Name: set.Name, ID: set.ID()}
}

// projectLabels are the labels devtool puts on every object it deploys for d (design.md §5).
func projectLabels(d *devfile.Devfile) map[string]string {
	return map[string]string{
		"app.kubernetes.io/managed-by": "devtool",
		"app.kubernetes.io/name":       labelValue(devfileName(d)),
	}
}

// Build builds the image components named (all image components when names is empty), in
// parallel, without touching the cluster.
func (r *Runner) Build(ctx context.Context, d *devfile.Devfile, names []string, opts Options) (*Report, error) {
	p := &plan.Plan{}
	want := map[string]bool{}
	for _, n := range names {
		c, ok := d.Component(n)
		if !ok || c.Kind != devfile.KindImage {
			return nil, &InputError{Err: fmt.Errorf("--component %q: no image component of that name in %s (image components: %v)", n, d.Path, imageComponents(d))}
		}
		want[n] = true
	}
	for _, c := range d.Components {
		if c.Kind == devfile.KindImage && (len(want) == 0 || want[c.Name]) {
			p.Steps = append(p.Steps, plan.Step{ID: c.Name, Kind: plan.StepBuild, Component: c.Name})
		}
	}
	rep := &Report{APIVersion: APIVersion, Kind: "BuildReport", Images: []build.Result{}, Objects: []deploy.ObjectResult{}}
	if len(p.Steps) == 0 {
		return rep, &InputError{Err: fmt.Errorf("%s has no image components to build", d.Path)}
	}
	st, err := r.prepare(ctx, d, p, opts)
	if st != nil {
		rep.Warnings = st.warningStrings()
	}
	if err != nil {
		return rep, err
	}
	return rep, r.execute(ctx, st, rep)
}

// Rendered is one apply step's manifests, or one exec step's Job, fully resolved.
type Rendered struct {
	Step      string                       `json:"step"`
	Component string                       `json:"component"`
	Objects   []*unstructured.Unstructured `json:"objects"`
}

// Render resolves every apply step of p, and the Job of every exec step, in plan order, without
// building or touching the cluster. Images that a step's build dependencies would produce are
// shown as their repository (tags are only known after a build). Warnings list undefined
// variables.
func (r *Runner) Render(d *devfile.Devfile, p *plan.Plan, opts Options) ([]Rendered, []string, error) {
	ctx := context.Background() // Render reads only templated manifest uris, each bounded by the HTTP timeout
	st, err := r.prepareMode(ctx, d, p, opts, false)
	var warnings []string
	if st != nil {
		warnings = st.warningStrings()
	}
	if err != nil {
		return nil, warnings, err
	}
	var out []Rendered
	for _, s := range p.Steps {
		var objs []*unstructured.Unstructured
		switch s.Kind {
		case plan.StepApply:
			objs, _, err = st.render(ctx, s, nil)
		case plan.StepExec:
			var job *unstructured.Unstructured
			job, _, err = st.renderJob(s, nil)
			objs = []*unstructured.Unstructured{job}
		default:
			continue
		}
		if err != nil {
			return nil, warnings, &InputError{Err: err}
		}
		out = append(out, Rendered{Step: s.ID, Component: s.Component, Objects: objs})
	}
	return out, warnings, nil
}

// state is a prepared plan: everything resolved that can be before running.
type state struct {
	d        *devfile.Devfile
	p        *plan.Plan
	opts     Options
	base     *vars.Resolver
	builds   map[string]*buildStep // by step ID
	hasApply bool
	hasExec  bool
	warn     *vars.Collector
	labels   map[string]string

	// applySet is the deploy's inventory (nil for build, render, and plans without apply
	// steps); allObjs are all the objects of the apply steps, rendered for the preflight: what
	// BeginApplySet records before the first apply.
	applySet  *deploy.ApplySet
	allObjs   []*unstructured.Unstructured
	beginOnce sync.Once
	beginErr  error

	uriMu    sync.Mutex
	uriCache map[string][2]string // substituted uri → content, source
}

// readURI reads a manifest uri once per run (devfile.ReadManifestURI: path relative to the
// devfile directory, or http(s) with the default timeout), bounded by ctx.
func (st *state) readURI(ctx context.Context, uri string) (content, source string, err error) {
	st.uriMu.Lock()
	defer st.uriMu.Unlock()
	if c, ok := st.uriCache[uri]; ok {
		return c[0], c[1], nil
	}
	content, source, err = devfile.ReadManifestURI(ctx, st.d.Dir, uri, devfile.LoadOptions{})
	if err != nil {
		return "", "", err
	}
	if st.uriCache == nil {
		st.uriCache = map[string][2]string{}
	}
	st.uriCache[uri] = [2]string{content, source}
	return content, source, nil
}

type buildStep struct {
	step      plan.Step
	imageName string // substituted imageName as written: the selector for manifests
	req       build.Request
	builder   build.Builder
	why       string
	prebuilt  *build.Result // from Options.Prebuilt: not built
	// inputErr is why the build context or Dockerfile cannot be resolved, for steps prepared
	// without checking inputs (render, diff); req.ContextDir and req.Dockerfile are set otherwise.
	inputErr error
}

func (s *state) warningStrings() []string {
	var out []string
	for _, w := range s.warn.Warnings() {
		out = append(out, w.String())
	}
	return out
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

func (r *Runner) prepare(ctx context.Context, d *devfile.Devfile, p *plan.Plan, opts Options) (*state, error) {
	return r.prepareMode(ctx, d, p, opts, true)
}

// prepareMode resolves the plan. With checkInputs false (render), build inputs (Dockerfile,
// build context) are not required to exist: only names matter.
func (r *Runner) prepareMode(ctx context.Context, d *devfile.Devfile, p *plan.Plan, opts Options, checkInputs bool) (*state, error) {
	layers := append([]vars.Layer{
		{Source: "built-in", Values: builtins(d)},
		{Source: "devfile", Values: d.Variables},
	}, opts.Vars...)
	st := &state{
		d: d, p: p, opts: opts,
		base:   vars.New(layers...),
		builds: map[string]*buildStep{},
		warn:   &vars.Collector{},
		labels: projectLabels(d),
	}
	var errs []error
	for _, s := range p.Steps {
		comp, ok := d.Component(s.Component)
		if !ok {
			errs = append(errs, fmt.Errorf("step %q: component %q is not defined", s.ID, s.Component))
			continue
		}
		switch s.Kind {
		case plan.StepExec:
			st.hasExec = true
			if _, _, err := st.renderJob(s, nil); err != nil {
				errs = append(errs, err)
			}
		case plan.StepBuild:
			bs, err := r.prepareBuild(st, s, comp, checkInputs)
			if err != nil {
				errs = append(errs, fmt.Errorf("image component %q: %w", comp.Name, err))
				continue
			}
			st.builds[s.ID] = bs
		case plan.StepApply:
			st.hasApply = true
			if _, _, err := st.render(ctx, s, nil); err != nil {
				if ctx.Err() != nil {
					return st, fmt.Errorf("%w: %w", ctx.Err(), err)
				}
				errs = append(errs, err)
			}
		}
	}
	for n := range opts.Prebuilt {
		if c, ok := d.Component(n); !ok || c.Kind != devfile.KindImage {
			errs = append(errs, fmt.Errorf("--images names %q, which is not an image component of %s (image components: %v)", n, d.Path, imageComponents(d)))
		}
	}
	if opts.Strict {
		if w := st.warn.Warnings(); len(w) > 0 {
			errs = append(errs, &vars.UndefinedError{Warnings: w})
		}
	}
	if len(errs) > 0 {
		return st, &InputError{Err: errors.Join(errs...)}
	}
	return st, nil
}

func (r *Runner) prepareBuild(st *state, s plan.Step, comp *devfile.Component, checkInputs bool) (*buildStep, error) {
	img := comp.Image
	if img.Dockerfile == nil {
		return nil, errors.New("only dockerfile image builds are supported")
	}
	res := st.base.With(st.attributes(st.base, s))
	where := func(f string) string { return fmt.Sprintf("components[name=%s].image.%s", comp.Name, f) }
	name := res.Substitute(img.ImageName, where("imageName"), st.warn)
	if name == "" {
		return nil, errors.New("imageName is empty")
	}
	repo, tag, _ := qualify(name, st.opts.ImageRegistry, devfileName(st.d))
	if st.opts.Push && isRelativeImage(repo) {
		return nil, fmt.Errorf("imageName %q has no registry to push to; set --image-registry (or DEVTOOL_IMAGE_REGISTRY) or use a full name such as quay.io/you/%s", name, repo)
	}
	if st.opts.Tag != "" {
		tag = st.opts.Tag
	}
	uri := res.Substitute(img.Dockerfile.URI, where("dockerfile.uri"), st.warn)
	bc := res.Substitute(img.Dockerfile.BuildContext, where("dockerfile.buildContext"), st.warn)
	var args []string
	for _, a := range img.Dockerfile.Args {
		args = append(args, res.Substitute(a, where("dockerfile.args"), st.warn))
	}
	req := build.Request{Name: comp.Name, Args: args, Repository: repo, Tag: tag, Platforms: st.opts.Platforms, Push: st.opts.Push}
	if pb, ok := st.opts.Prebuilt[comp.Name]; ok {
		if pb.Digest == "" || pb.Repository == "" {
			return nil, fmt.Errorf("--images: the entry for %q has no repository or digest; use the report of `devtool build --push -o json`", comp.Name)
		}
		return &buildStep{step: s, imageName: name, req: req, prebuilt: &pb}, nil
	}
	ctxDir, df, err := resolveBuildPaths(st.d.Dir, uri, bc)
	req.ContextDir, req.Dockerfile = ctxDir, df
	if !checkInputs {
		return &buildStep{step: s, imageName: name, req: req, inputErr: err}, nil
	}
	if err != nil {
		return nil, err
	}
	content, err := os.ReadFile(df)
	if err != nil {
		return nil, err
	}
	if r.Choose == nil {
		return &buildStep{step: s, imageName: name, req: req}, nil
	}
	b, why, err := r.Choose(req, content)
	if err != nil {
		return nil, err
	}
	return &buildStep{step: s, imageName: name, req: req, builder: b, why: why}, nil
}

// attributes returns the variable layer of an apply command's attributes (design.md §3,
// `attributes: {CONTAINER_IMAGE: "{{myimage}}"}`): their values are first substituted with
// lower, the variables below them, since substitution is otherwise single-pass.
func (st *state) attributes(lower *vars.Resolver, s plan.Step) vars.Layer {
	l := vars.Layer{Source: "command attributes"}
	if len(s.Attributes) == 0 {
		return l
	}
	l.Values = make(map[string]string, len(s.Attributes))
	for k, v := range s.Attributes {
		l.Values[k] = lower.Substitute(v, fmt.Sprintf("commands[id=%s].attributes.%s", s.Command, k), st.warn)
	}
	return l
}

// stepScope returns the variables of step s and the images it may pin. The images are those of
// the builds s depends on (transitively), by the imageName written in the devfile (and by the
// repository it was qualified to): images maps build step IDs to their results; a build without
// a result yet is its repo:tag. The variables are the base ones, under CONTAINER_IMAGE when
// exactly one build is an ancestor, and above them the command's attributes.
func (st *state) stepScope(s plan.Step, images map[string]build.Result) (*vars.Resolver, map[string]string) {
	pins := map[string]string{}
	var refs []string
	for _, id := range st.p.Ancestors(s.ID) {
		bs, ok := st.builds[id]
		if !ok {
			continue
		}
		ref := bs.req.Repository
		if bs.req.Tag != "" {
			ref += ":" + bs.req.Tag
		}
		if res, ok := images[id]; ok {
			ref = res.Ref()
		}
		pins[bs.imageName] = ref
		if bs.req.Repository != bs.imageName {
			pins[bs.req.Repository] = ref
		}
		refs = append(refs, ref)
	}
	scoped := map[string]string{}
	if len(refs) == 1 {
		scoped["CONTAINER_IMAGE"] = refs[0]
	}
	lower := vars.New(vars.Layer{Source: "built-in", Values: scoped}).With(st.base.Layers()...)
	return lower.With(st.attributes(lower, s)), pins
}

// render resolves one apply step's manifests. images maps build step IDs to their results; a
// build without a result yet renders as its repository. sources names, index for index, where
// each object was written (component and file), for deploy.Request.Sources.
func (st *state) render(ctx context.Context, s plan.Step, images map[string]build.Result) (objs []*unstructured.Unstructured, sources []string, err error) {
	comp, _ := st.d.Component(s.Component)
	if comp.Manifest == nil {
		return nil, nil, fmt.Errorf("component %q has no manifest", comp.Name)
	}
	res, pins := st.stepScope(s, images)
	kind := "kubernetes"
	if comp.Kind == devfile.KindOpenShift {
		kind = "openshift"
	}
	yamlText, source := comp.Manifest.YAML(), comp.Manifest.Source
	if comp.Manifest.Inlined == "" && comp.Manifest.Content == "" && strings.Contains(comp.Manifest.URI, "{{") {
		// devfile.Load leaves uris with variables unread: read it now that they are known.
		uri := res.Substitute(comp.Manifest.URI, fmt.Sprintf("components[name=%s].%s.uri", comp.Name, kind), st.warn)
		content, src, err := st.readURI(ctx, uri)
		if err != nil {
			return nil, nil, fmt.Errorf("component %q: %s uri %q: %w", comp.Name, kind, uri, err)
		}
		yamlText, source = content, src
	}
	text := res.Substitute(yamlText, fmt.Sprintf("components[name=%s].%s", comp.Name, kind), st.warn)
	label := fmt.Sprintf("component %q, %s", comp.Name, source)
	if source == "" {
		source = fmt.Sprintf("%s: components[name=%s].%s.inlined", filepath.Base(st.d.Path), comp.Name, kind)
		label = fmt.Sprintf("component %q, %s", comp.Name, filepath.Base(st.d.Path))
	}
	objs, err = deploy.Decode(text, source)
	if err != nil {
		return nil, nil, fmt.Errorf("component %q: %w", comp.Name, err)
	}
	deploy.PinImages(objs, pins)
	deploy.SetLabels(objs, st.labels)
	sources = make([]string, len(objs))
	for i := range sources {
		sources[i] = label
	}
	return objs, sources, nil
}

// renderAll renders every apply step, in plan order, with the objects' sources.
func (st *state) renderAll(ctx context.Context, images map[string]build.Result) ([]*unstructured.Unstructured, []string, error) {
	var all []*unstructured.Unstructured
	var allSources []string
	for _, s := range st.p.Steps {
		if s.Kind != plan.StepApply {
			continue
		}
		objs, sources, err := st.render(ctx, s, images)
		if err != nil {
			return nil, nil, err
		}
		all = append(all, objs...)
		allSources = append(allSources, sources...)
	}
	return all, allSources, nil
}

// execute runs the steps, each as soon as its dependencies succeeded; the first failure cancels
// the others (errgroup), and steps not yet started are skipped. Build steps build, apply steps
// apply (after the inventory's BeginApplySet), exec steps run their Job to completion (runExec).
func (r *Runner) execute(ctx context.Context, st *state, rep *Report) error {
	g, gctx := errgroup.WithContext(ctx)
	done := map[string]chan struct{}{}
	for _, s := range st.p.Steps {
		done[s.ID] = make(chan struct{})
	}
	var mu sync.Mutex
	images := map[string]build.Result{}
	for _, s := range st.p.Steps {
		s := s
		g.Go(func() error {
			for _, dep := range s.DependsOn {
				select {
				case <-done[dep]:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
			start := time.Now()
			r.emit(event.Event{Type: event.StepStarted, Step: s.ID, Kind: string(s.Kind), Message: describe(st, s)})
			err := func() error {
				switch s.Kind {
				case plan.StepBuild:
					bs := st.builds[s.ID]
					var res build.Result
					switch {
					case bs.prebuilt != nil:
						res = *bs.prebuilt
						r.emit(event.Event{Type: event.Info, Step: s.ID, Kind: string(s.Kind), Message: fmt.Sprintf("using %s from --images (not built)", res.Ref())})
					case bs.builder == nil:
						return errors.New("internal: no builder chosen (Runner.Choose is nil)")
					default:
						var err error
						if res, err = bs.builder.Build(gctx, bs.req, r.logWriter(s)); err != nil {
							return err
						}
					}
					mu.Lock()
					images[s.ID] = res
					rep.Images = append(rep.Images, res)
					mu.Unlock()
					if bs.prebuilt == nil {
						msg := fmt.Sprintf("built %s with %s", res.Ref(), res.Builder)
						if res.Cached {
							msg = fmt.Sprintf("cached %s: the registry already has this tag, build skipped", res.Ref())
						}
						r.emit(event.Event{Type: event.Info, Step: s.ID, Kind: string(s.Kind), Message: msg, Fields: map[string]string{"image": res.Ref(), "cached": strconv.FormatBool(res.Cached)}})
					}
				case plan.StepApply:
					mu.Lock()
					snapshot := make(map[string]build.Result, len(images))
					for k, v := range images {
						snapshot[k] = v
					}
					mu.Unlock()
					objs, sources, err := st.render(gctx, s, snapshot)
					if err != nil {
						return err
					}
					if err := st.begin(gctx, r.Deployer); err != nil {
						return err
					}
					res, err := r.Deployer.Apply(gctx, deploy.Request{Objects: objs, Sources: sources, Namespace: st.opts.Namespace, ForceConflicts: st.opts.ForceConflicts, DryRun: st.opts.DryRun, ApplySet: st.applySet})
					mu.Lock()
					rep.Objects = append(rep.Objects, res.Objects...)
					mu.Unlock()
					for _, o := range res.Objects {
						r.emit(event.Event{Type: event.Info, Step: s.ID, Kind: string(s.Kind), Message: fmt.Sprintf("%s %s", objectName(o), o.Action), Fields: map[string]string{"action": string(o.Action)}})
					}
					if err != nil {
						return err
					}
				case plan.StepExec:
					mu.Lock()
					snapshot := make(map[string]build.Result, len(images))
					for k, v := range images {
						snapshot[k] = v
					}
					mu.Unlock()
					return r.runExec(gctx, st, s, snapshot, func(e ExecResult) {
						mu.Lock()
						rep.Execs = append(rep.Execs, e)
						mu.Unlock()
					})
				}
				return nil
			}()
			if err != nil {
				if gctx.Err() != nil && errors.Is(err, context.Canceled) {
					r.emit(event.Event{Type: event.StepFailed, Step: s.ID, Kind: string(s.Kind), Message: "cancelled"})
				} else {
					r.emit(event.Event{Type: event.StepFailed, Step: s.ID, Kind: string(s.Kind), Message: err.Error()})
				}
				return &StepError{Step: s.ID, Kind: s.Kind, Component: s.Component, Err: err}
			}
			r.emit(event.Event{Type: event.StepSucceeded, Step: s.ID, Kind: string(s.Kind), Message: fmt.Sprintf("done in %.1fs", time.Since(start).Seconds())})
			close(done[s.ID])
			return nil
		})
	}
	err := g.Wait()
	sort.SliceStable(rep.Images, func(i, j int) bool { return rep.Images[i].Name < rep.Images[j].Name })
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	return err
}

// begin writes the inventory's parent once, before the first apply step applies anything
// (parallel apply steps wait for it); every later caller gets the same error.
func (st *state) begin(ctx context.Context, d Deployer) error {
	if st.applySet == nil {
		return nil
	}
	st.beginOnce.Do(func() {
		st.beginErr = d.BeginApplySet(ctx, deploy.Request{Objects: st.allObjs, Namespace: st.opts.Namespace, ForceConflicts: st.opts.ForceConflicts, DryRun: st.opts.DryRun, ApplySet: st.applySet})
	})
	return st.beginErr
}

func describe(st *state, s plan.Step) string {
	switch s.Kind {
	case plan.StepBuild:
		bs := st.builds[s.ID]
		msg := fmt.Sprintf("building image component %q → %s", s.Component, bs.req.Repository)
		if bs.why != "" {
			msg += " (" + bs.why + ")"
		}
		return msg
	case plan.StepApply:
		return fmt.Sprintf("applying component %q", s.Component)
	case plan.StepExec:
		return fmt.Sprintf("running exec command %q in a Kubernetes Job (container component %q)", s.Command, s.Component)
	}
	return string(s.Kind) + " " + s.Component
}

func objectName(o deploy.ObjectResult) string {
	if o.Namespace != "" {
		return fmt.Sprintf("%s %s/%s", o.Kind, o.Namespace, o.Name)
	}
	return fmt.Sprintf("%s %s", o.Kind, o.Name)
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

func (r *Runner) emit(e event.Event) {
	if r.Sink == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	r.Sink.Emit(e)
}

// logWriter returns a writer that turns a backend's raw output into Log events, one per line.
func (r *Runner) logWriter(s plan.Step) io.Writer {
	return event.LineWriter(func(line string) {
		r.emit(event.Event{Type: event.Log, Step: s.ID, Kind: string(s.Kind), Message: line})
	})
}
