package run

import (
	"context"

	"github.com/devtool/devtool/pkg/build"
	"github.com/devtool/devtool/pkg/deploy"
	"github.com/devtool/devtool/pkg/plan"
)

// Build is `devtool build`: build the image components of a build plan
// (plan.CompileBuild), in parallel, without touching the cluster.
type Build struct {
	cfg *Configuration
	// Push pushes the images to their registry (--push).
	Push bool
	// Tag overrides the input-digest tag (--tag); Platforms are target platforms.
	Tag       string
	Platforms []string
}

// NewBuild returns the build action over cfg (cfg.Builder is required).
func NewBuild(cfg *Configuration) *Build { return &Build{cfg: cfg} }

// Run builds every step of p (build steps only). Errors: *InputError before anything ran,
// *StepError, or ctx's error; the Report lists the images built so far.
func (a *Build) Run(ctx context.Context, proj Project, p *plan.Plan) (*Report, error) {
	rep := &Report{APIVersion: APIVersion, Kind: "BuildReport", Images: []build.Result{}, Objects: []deploy.ObjectResult{}}
	pp, err := prepare(ctx, a.cfg, proj, p, prepareOptions{checkInputs: true, push: a.Push, tag: a.Tag, platforms: a.Platforms})
	if pp != nil {
		rep.Warnings = pp.warningStrings()
	}
	if err != nil {
		return rep, err
	}
	return rep, newExecution(a.cfg, pp, rep).run(ctx)
}
