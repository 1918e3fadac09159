package run

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/devtool/devtool/pkg/build"
	"github.com/devtool/devtool/pkg/deploy"
	"github.com/devtool/devtool/pkg/devfile"
	"github.com/devtool/devtool/pkg/event"
	"github.com/devtool/devtool/pkg/plan"
	"github.com/devtool/devtool/pkg/vars"
)

// The tests of this package were written against one Runner with one Options for every verb;
// Runner and Options here map those calls onto the actions (Deploy, Build, Render, Diff,
// Undeploy) so the tests keep their assertions. Production code uses the actions directly.

// ChooseBuilder picks the builder of a request, given the Dockerfile's content (tests only).
type ChooseBuilder func(req build.Request, dockerfile []byte) (b build.Builder, why string, err error)

// chooseBuilder is a build.Builder (and build.Explainer) over a ChooseBuilder.
type chooseBuilder struct{ choose ChooseBuilder }

func (c chooseBuilder) Name() string { return "choose" }

func (c chooseBuilder) pick(req build.Request) (build.Builder, string, error) {
	content, err := os.ReadFile(req.Dockerfile)
	if err != nil {
		return nil, "", err
	}
	return c.choose(req, content)
}

func (c chooseBuilder) Explain(_ context.Context, req build.Request) (string, error) {
	_, why, err := c.pick(req)
	return why, err
}

func (c chooseBuilder) Build(ctx context.Context, req build.Request, log io.Writer) (build.Result, error) {
	b, _, err := c.pick(req)
	if err != nil {
		return build.Result{}, err
	}
	return b.Build(ctx, req, log)
}

// Resolve makes diff see the chosen builder's Resolver, as Cached's is seen in production.
func (c chooseBuilder) Resolve(ctx context.Context, req build.Request) (build.Result, bool, error) {
	b, _, err := c.pick(req)
	if err != nil {
		return build.Result{}, false, err
	}
	rv, ok := b.(build.Resolver)
	if !ok {
		return build.Result{}, false, errors.New("its builder cannot compute an input digest")
	}
	return rv.Resolve(ctx, req)
}

type Options struct {
	Vars           []vars.Layer
	Strict         bool
	ImageRegistry  string
	Namespace      string
	Push           bool
	Tag            string
	Platforms      []string
	DryRun         deploy.DryRun
	ForceConflicts bool
	Prune          bool
	Version        string
	Prebuilt       map[string]build.Result
	Wait           time.Duration
	ExecTimeout    time.Duration
}

type Runner struct {
	Choose   ChooseBuilder
	Deployer any
	Sink     event.Sink
}

func (r *Runner) cfg(opts Options) *Configuration {
	c := &Configuration{Sink: r.Sink, Version: opts.Version}
	if r.Choose != nil {
		c.Builder = chooseBuilder{r.Choose}
	}
	return c
}

func project2(d *devfile.Devfile, opts Options) Project {
	return Project{Devfile: d, Vars: opts.Vars, Strict: opts.Strict, ImageRegistry: opts.ImageRegistry}
}

func (r *Runner) Deploy(ctx context.Context, d *devfile.Devfile, p *plan.Plan, opts Options) (*Report, error) {
	cl, ok := r.Deployer.(Cluster)
	if !ok {
		panic(fmt.Sprintf("test deployer %T is not a run.Cluster", r.Deployer))
	}
	a := NewDeploy(r.cfg(opts), cl)
	a.Namespace, a.Tag, a.Platforms, a.DryRun = opts.Namespace, opts.Tag, opts.Platforms, opts.DryRun
	a.ForceConflicts, a.Prune, a.Prebuilt, a.Wait, a.ExecTimeout = opts.ForceConflicts, opts.Prune, opts.Prebuilt, opts.Wait, opts.ExecTimeout
	return a.Run(ctx, project2(d, opts), p)
}

func (r *Runner) Build(ctx context.Context, d *devfile.Devfile, names []string, opts Options) (*Report, error) {
	p, err := plan.CompileBuild(d, names)
	if err != nil {
		return nil, &InputError{Err: err}
	}
	a := NewBuild(r.cfg(opts))
	a.Push, a.Tag, a.Platforms = opts.Push, opts.Tag, opts.Platforms
	return a.Run(ctx, project2(d, opts), p)
}

func (r *Runner) Render(d *devfile.Devfile, p *plan.Plan, opts Options) ([]Rendered, []string, error) {
	return NewRender(r.cfg(opts)).Run(context.Background(), project2(d, opts), p)
}

func (r *Runner) Diff(ctx context.Context, d *devfile.Devfile, p *plan.Plan, opts Options) (*DiffReport, error) {
	a := NewDiff(r.cfg(opts), r.Deployer.(Differ))
	a.Namespace, a.ForceConflicts, a.Prune, a.Prebuilt = opts.Namespace, opts.ForceConflicts, opts.Prune, opts.Prebuilt
	return a.Run(ctx, project2(d, opts), p)
}

func (r *Runner) Undeploy(ctx context.Context, d *devfile.Devfile, opts Options) (*Report, error) {
	a := NewUndeploy(r.cfg(opts), r.Deployer.(Undeployer))
	a.Namespace, a.DryRun = opts.Namespace, opts.DryRun
	return a.Run(ctx, d)
}
