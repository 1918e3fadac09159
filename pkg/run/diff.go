package run

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/devtool/devtool/pkg/build"
	"github.com/devtool/devtool/pkg/deploy"
	"github.com/devtool/devtool/pkg/devfile"
	"github.com/devtool/devtool/pkg/event"
	"github.com/devtool/devtool/pkg/plan"
)

// Differ is the optional ability of a Deployer that Runner.Diff needs (*deploy.Applier has
// it): compare what an apply would leave in the cluster with what is there, changing nothing.
type Differ interface {
	Diff(ctx context.Context, req deploy.Request, prune bool) ([]deploy.ObjectDiff, error)
}

// DiffReport is the result document of diff (`-o json`).
type DiffReport struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Command    string `json:"command,omitempty"`
	// Differences is true when an object would be created, changed or pruned (the command
	// then exits 1, as kubectl diff does).
	Differences bool `json:"differences"`
	// Objects are every object the deploy would apply (Namespaces, CRDs, then the rest), then,
	// with --prune, the ones it would delete; each with its action and unified diff.
	Objects []deploy.ObjectDiff `json:"objects"`
	// Notes say what the diff could not know, e.g. that images built by the deploy are shown
	// unpinned.
	Notes    []string `json:"notes,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
	// Inventory names the ApplySet parent the objects are compared as members of.
	Inventory *Inventory `json:"inventory,omitempty"`
}

// Diff compares what Deploy would apply for p with the live objects, like `kubectl diff
// --server-side`, without building anything or changing the cluster (design.md §2, `devtool
// diff`).
//
// The manifests are rendered as Render does — variables, labels, and the ApplySet member
// label Deploy adds at apply time — and the images of build steps are those of
// opts.Prebuilt (deploy --images: exactly what Deploy would pin); the images of other build
// steps are not built, so they appear as their repository, as in Render (a DiffReport note
// names them). Dockerfiles need not exist. The Deployer (a Differ) then compares every object
// with the cluster (deploy.Applier.Diff; opts.ForceConflicts, opts.Prune as for Deploy).
//
// Exec steps are not compared (a note names each): deploy runs their Job anew every time.
//
// Errors: *InputError (as Deploy: a plan without steps, bad --images entries, undefined
// variables with opts.Strict), and *PreflightError for everything the cluster reports,
// invalid objects and conflicts included.
func (r *Runner) Diff(ctx context.Context, d *devfile.Devfile, p *plan.Plan, opts Options) (*DiffReport, error) {
	rep := &DiffReport{APIVersion: APIVersion, Kind: "DiffReport", Command: p.Command, Objects: []deploy.ObjectDiff{}}
	st, err := r.prepareMode(ctx, d, p, opts, false)
	if st != nil {
		rep.Warnings = st.warningStrings()
	}
	if err != nil {
		return rep, err
	}
	if len(p.Steps) == 0 {
		return rep, &InputError{Err: plan.NoDeployCommandError{}}
	}
	// Exec steps' Jobs are not compared: deploy deletes and re-creates them on every run, and
	// deletes them after they succeeded, so they are not part of the deployed state.
	for _, s := range p.Steps {
		if s.Kind == plan.StepExec {
			rep.Notes = append(rep.Notes, fmt.Sprintf("exec command %q is not compared: deploy runs it in a new Job %s each time", s.Command, jobName(devfileName(d), s.Command)))
		}
	}
	if !st.hasApply {
		for _, n := range rep.Notes {
			r.emit(event.Event{Type: event.Info, Message: n})
		}
		return rep, nil
	}
	images := map[string]build.Result{}
	for _, s := range p.Steps {
		bs, ok := st.builds[s.ID]
		switch {
		case !ok:
		case bs.prebuilt != nil:
			images[s.ID] = *bs.prebuilt
		default:
			res, note := r.resolveImage(ctx, bs)
			if res != nil {
				images[s.ID] = *res
			}
			if note != "" {
				rep.Notes = append(rep.Notes, note)
			}
		}
	}
	objs, sources, err := st.renderAll(ctx, images)
	if err != nil {
		if ctx.Err() != nil {
			return rep, fmt.Errorf("%w: %w", ctx.Err(), err)
		}
		return rep, &InputError{Err: err}
	}
	differ, ok := r.Deployer.(Differ)
	if !ok {
		return rep, errors.New("internal: the deployer cannot diff")
	}
	set := applySetFor(d, opts, st.labels)
	rep.Inventory = inventoryRef(set)
	for _, n := range rep.Notes {
		r.emit(event.Event{Type: event.Info, Message: n})
	}
	r.emit(event.Event{Type: event.Info, Message: fmt.Sprintf("comparing %d objects with the cluster (server-side dry run)", len(objs))})
	diffs, err := differ.Diff(ctx, deploy.Request{Objects: objs, Sources: sources, Namespace: opts.Namespace, ForceConflicts: opts.ForceConflicts, DryRun: deploy.DryRunServer, ApplySet: &set}, opts.Prune)
	if err != nil {
		if ctx.Err() != nil {
			return rep, fmt.Errorf("%w: %w", ctx.Err(), err)
		}
		return rep, &PreflightError{Err: err}
	}
	rep.Objects = append(rep.Objects, diffs...)
	counts := map[deploy.Action]int{}
	for _, o := range diffs {
		counts[o.Action]++
		if o.Action != deploy.Unchanged {
			rep.Differences = true
		}
		msg := fmt.Sprintf("%s %s", objectName(deploy.ObjectResult{Kind: o.Kind, Namespace: o.Namespace, Name: o.Name}), o.Action)
		if o.Note != "" {
			msg += " (" + o.Note + ")"
		}
		r.emit(event.Event{Type: event.Info, Message: msg, Fields: map[string]string{"action": string(o.Action)}})
	}
	r.emit(event.Event{Type: event.Info, Message: diffSummary(counts)})
	return rep, nil
}

// resolveImage says which image deploy would pin for a build step (prepared without checking
// inputs: its paths resolved, or bs.inputErr) without building it: with a
// Runner.Choose whose builder is a build.Resolver (the CLI's input-digest cache), the
// input-digest tag and, when the registry has it, its digest — exactly what a deploy with
// nothing changed would reuse. Otherwise, or when the build inputs cannot be read, the image
// stays unpinned (its repository, as in Render) and the note says why.
func (r *Runner) resolveImage(ctx context.Context, bs *buildStep) (*build.Result, string) {
	unpinned := func(why string) (*build.Result, string) {
		return nil, fmt.Sprintf("image component %q is not built by diff: manifests show it as %s, where deploy pins the built image (%s; pass --images with a build report for exact refs)", bs.step.Component, unpinnedRef(bs.req), why)
	}
	if r.Choose == nil {
		return unpinned("no builder to compute its input digest")
	}
	if bs.inputErr != nil {
		return unpinned(bs.inputErr.Error())
	}
	content, err := os.ReadFile(bs.req.Dockerfile)
	if err != nil {
		return unpinned(err.Error())
	}
	req := bs.req
	req.Push = true
	b, _, err := r.Choose(req, content)
	if err != nil {
		return unpinned(err.Error())
	}
	rv, ok := b.(build.Resolver)
	if !ok {
		return unpinned("its builder cannot compute an input digest")
	}
	got, found, err := rv.Resolve(ctx, req)
	if err != nil {
		return unpinned(err.Error())
	}
	if !found {
		return &got, fmt.Sprintf("image component %q would be built: the registry has no %s yet (its build inputs changed since the last deploy)", bs.step.Component, got.Ref())
	}
	return &got, ""
}

// diffSummary is "no differences", or e.g. "differences: 1 created, 2 changed (3 unchanged)".
func diffSummary(counts map[deploy.Action]int) string {
	var parts []string
	for _, a := range []deploy.Action{deploy.Created, deploy.Changed, deploy.Pruned} {
		if counts[a] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[a], a))
		}
	}
	if len(parts) == 0 {
		return fmt.Sprintf("no differences (%d unchanged)", counts[deploy.Unchanged])
	}
	return fmt.Sprintf("differences: %s (%d unchanged)", strings.Join(parts, ", "), counts[deploy.Unchanged])
}

// unpinnedRef is how render shows a build's image: repository, and the tag when one is fixed.
func unpinnedRef(req build.Request) string {
	if req.Tag != "" {
		return req.Repository + ":" + req.Tag
	}
	return req.Repository
}
