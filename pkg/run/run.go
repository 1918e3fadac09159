// Package run turns a compiled plan into work: it prepares the plan once (variables resolved,
// manifests rendered, build requests made), checks everything it can before changing anything
// (build inputs, then every object against the cluster), runs build, apply and exec steps
// (exec commands run as Kubernetes Jobs, as odo v3 does) in dependency order (parallel where
// the plan allows, the first failure cancelling the rest, after skaffold's build scheduler),
// pins built images into the prepared objects, and emits progress events.
//
// Each kind of step is one type behind one interface (step.go), dispatched from one table;
// each verb is one action over a shared Configuration, after Helm's pkg/action: Deploy, Build,
// Render, Diff and Undeploy (docs/architecture.md).
//
// run is the one place where devfile concepts meet build and deploy requests: build and deploy
// never import pkg/devfile.
package run

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/devtool/devtool/pkg/build"
	"github.com/devtool/devtool/pkg/deploy"
	"github.com/devtool/devtool/pkg/deploy/helm"
	"github.com/devtool/devtool/pkg/devfile"
	"github.com/devtool/devtool/pkg/event"
	"github.com/devtool/devtool/pkg/plan"
	"github.com/devtool/devtool/pkg/remote"
	"github.com/devtool/devtool/pkg/vars"
)

// APIVersion is the apiVersion of devtool's JSON documents.
const APIVersion = "devtool.dev/v1alpha1"

// Configuration is what every action shares (Helm's action.Configuration).
type Configuration struct {
	// Builder builds the images of build steps (pkg/cli: build.Cached around the --builder
	// choice). Deploy and Build need it for build steps not given by --images; Diff uses it,
	// when it is a build.Resolver, to compute the tags deploy would use.
	Builder build.Builder
	// Registry, when set, is asked for every deploy --images entry before anything changes.
	Registry build.Registry
	// Sink receives progress events; nil is silent.
	Sink event.Sink
	// Version is devtool's version, recorded in the inventory's tooling annotation
	// ("devtool/<version>"; "devtool/v0" unless it looks like v<digit>…).
	Version string
	// Charts loads the charts of Helm components (pkg/cli: plain HTTP for the registries and
	// repositories the registry policy allows); nil is helm.NewLoader() (loopback only).
	Charts *helm.Loader
}

// charts is c.Charts, or the default loader.
func (c *Configuration) charts() *helm.Loader {
	if c != nil && c.Charts != nil {
		return c.Charts
	}
	return helm.NewLoader()
}

// Project is what every verb reads: the devfile and the variables and policies given on the
// command line.
type Project struct {
	Devfile *devfile.Devfile
	// Vars are variable layers above the devfile's own (--var-file, then --var), lowest first.
	Vars []vars.Layer
	// Strict turns undefined-variable warnings into an error.
	Strict bool
	// ImageRegistry rewrites relative image names (--image-registry / DEVTOOL_IMAGE_REGISTRY).
	ImageRegistry string
	// BuildArgEnv holds the values of build args the user allowed to come from the
	// environment (--build-arg-env NAME): a bare dockerfile.args entry NAME takes its value
	// from the variables, else from here, else stays unset.
	BuildArgEnv map[string]string
	// AllowOutsideProject lets build contexts and Dockerfiles resolve outside the project
	// directory (--allow-outside-project).
	AllowOutsideProject bool
	// Remote reads http(s) manifest uris that needed variables (the client the devfile was
	// loaded with: cache, --offline); nil means devfile.LoadOptions' default.
	Remote *remote.Client
}

// Applier is what a deploy needs to change the cluster (*deploy.Applier): a preflight that
// changes nothing, and applies that are members of one transaction over the project's
// inventory (KEP-3659 ApplySet), committed (pruned, narrowed) after the last.
type Applier interface {
	Validate(ctx context.Context, pf deploy.Preflight) error
	Apply(ctx context.Context, tx *deploy.Transaction, req deploy.Request) (deploy.Result, error)
	Commit(ctx context.Context, tx *deploy.Transaction, applied []deploy.ObjectResult, prune bool) ([]deploy.ObjectResult, error)
}

// Waiter waits until applied objects have rolled out (kstatus Current): deploy --wait.
type Waiter interface {
	Wait(ctx context.Context, req deploy.WaitRequest) ([]deploy.ObjectStatus, error)
}

// JobRunner runs a Job to completion: the exec commands of a deploy (odo v3).
type JobRunner interface {
	RunJob(ctx context.Context, req deploy.JobRequest) (deploy.JobResult, error)
}

// Cluster is everything Deploy needs from the cluster (*deploy.Applier for manifests and
// Jobs, *helm.Client for Helm releases; pkg/cli passes both in one value): passed when the
// action is made, so a missing ability is a compile error.
type Cluster interface {
	Applier
	Waiter
	JobRunner
	Releaser
	ReleasePruner
}

// Differ compares what an apply would leave in the cluster with what is there (Diff), and
// the releases of Helm steps likewise.
type Differ interface {
	Diff(ctx context.Context, req deploy.DiffRequest) ([]deploy.ObjectDiff, error)
	ReleaseDiffer
	ReleasePruner
}

// Undeployer deletes what an inventory holds and uninstalls the project's Helm releases
// (Undeploy).
type Undeployer interface {
	Undeploy(ctx context.Context, req deploy.UndeployRequest) ([]deploy.ObjectResult, error)
	ReleasePruner
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
	Execs []ExecResult `json:"execs,omitempty"`
	// Releases are the Helm releases the deploy installed or upgraded (in the order they
	// finished), then those --prune uninstalled; for undeploy, those it uninstalled. Their
	// objects are among Objects too (not inventory members: Helm's release records own them).
	Releases []ReleaseResult `json:"releases,omitempty"`
	Warnings []string        `json:"warnings,omitempty"`
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

// execution is the shared state of one run of a prepared plan's steps: the images built so
// far, the report, and for a deploy the cluster, its transaction and settings.
type execution struct {
	cfg *Configuration
	pp  *prepared

	cluster      Cluster
	tx           *deploy.Transaction // nil without apply steps
	namespace    string
	dryRun       deploy.DryRun
	force, adopt bool
	fieldManager string
	execTimeout  time.Duration

	mu     sync.Mutex
	images map[string]build.Result // by build step ID
	rep    *Report
	// applied are the inventory members applied so far (rep.Objects also has the objects of
	// Helm releases).
	applied []deploy.ObjectResult
}

func newExecution(cfg *Configuration, pp *prepared, rep *Report) *execution {
	return &execution{cfg: cfg, pp: pp, rep: rep, images: map[string]build.Result{}}
}

// refs are the references of the images built so far, by build step ID.
func (x *execution) refs() map[string]string {
	x.mu.Lock()
	defer x.mu.Unlock()
	refs := make(map[string]string, len(x.images))
	for id, r := range x.images {
		refs[id] = r.Ref()
	}
	return refs
}

func (x *execution) recordImage(id string, r build.Result) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.images[id] = r
	x.rep.Images = append(x.rep.Images, r)
}

func (x *execution) recordObjects(objs []deploy.ObjectResult) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.rep.Objects = append(x.rep.Objects, objs...)
	x.applied = append(x.applied, objs...)
}

func (x *execution) recordExec(e ExecResult) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.rep.Execs = append(x.rep.Execs, e)
}

func (x *execution) info(s plan.Step, msg string, fields map[string]string) {
	x.cfg.emit(event.Event{Type: event.Info, Step: s.ID, Kind: string(s.Kind), Message: msg, Fields: fields})
}

// logWriter returns a writer that turns a backend's raw output into Log events, one per line.
func (x *execution) logWriter(s plan.Step) io.Writer {
	return event.LineWriter(func(line string) {
		x.cfg.emit(event.Event{Type: event.Log, Step: s.ID, Kind: string(s.Kind), Message: line})
	})
}

// run executes the prepared steps, each as soon as its dependencies succeeded; the first
// failure cancels the others (errgroup), and steps not yet started are skipped.
func (x *execution) run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	done := map[string]chan struct{}{}
	for _, st := range x.pp.steps {
		done[st.plan().ID] = make(chan struct{})
	}
	for _, st := range x.pp.steps {
		s := st.plan()
		g.Go(func() error {
			for _, dep := range s.DependsOn {
				select {
				case <-done[dep]:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
			start := time.Now()
			x.cfg.emit(event.Event{Type: event.StepStarted, Step: s.ID, Kind: string(s.Kind), Message: st.describe()})
			if err := st.execute(gctx, x); err != nil {
				msg := err.Error()
				if gctx.Err() != nil && errors.Is(err, context.Canceled) {
					msg = "cancelled"
				}
				x.cfg.emit(event.Event{Type: event.StepFailed, Step: s.ID, Kind: string(s.Kind), Message: msg})
				return &StepError{Step: s.ID, Kind: s.Kind, Component: s.Component, Err: err}
			}
			x.cfg.emit(event.Event{Type: event.StepSucceeded, Step: s.ID, Kind: string(s.Kind), Message: fmt.Sprintf("done in %.1fs", time.Since(start).Seconds())})
			close(done[s.ID])
			return nil
		})
	}
	err := g.Wait()
	sort.SliceStable(x.rep.Images, func(i, j int) bool { return x.rep.Images[i].Name < x.rep.Images[j].Name })
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	return err
}

func (c *Configuration) emit(e event.Event) {
	if c == nil || c.Sink == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	c.Sink.Emit(e)
}

func objectName(o deploy.ObjectResult) string {
	if o.Namespace != "" {
		return fmt.Sprintf("%s %s/%s", o.Kind, o.Namespace, o.Name)
	}
	return fmt.Sprintf("%s %s", o.Kind, o.Name)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
