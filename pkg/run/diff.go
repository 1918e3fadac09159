package run

import (
	"context"
	"fmt"
	"strings"

	"github.com/devtool/devtool/pkg/build"
	"github.com/devtool/devtool/pkg/deploy"
	"github.com/devtool/devtool/pkg/event"
	"github.com/devtool/devtool/pkg/plan"
)

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

// Diff is `devtool diff`: what Deploy would apply for a plan compared with the live objects,
// like `kubectl diff --server-side`, without building anything or changing the cluster
// (design.md §2).
type Diff struct {
	cfg     *Configuration
	cluster Differ
	// Namespace, ForceConflicts, Adopt and Prune as for Deploy; Prebuilt are the images of
	// deploy --images (exactly what Deploy would pin).
	Namespace                    string
	ForceConflicts, Adopt, Prune bool
	Prebuilt                     map[string]build.Result
	// PullSecret as for Deploy (diff --create-pull-secret): the pull Secret and the
	// imagePullSecrets are compared too, Secret values masked as for every Secret.
	PullSecret PullSecretCredentials
}

// NewDiff returns the diff action over cfg and cluster (*deploy.Applier).
func NewDiff(cfg *Configuration, cluster Differ) *Diff { return &Diff{cfg: cfg, cluster: cluster} }

// Run compares p's objects with the cluster: the manifests, then each helm step's release
// (pkg/deploy/helm DiffRelease; with Prune, the objects of the project's releases that left the
// devfile, as pruned). The manifests are the prepared ones (as Render
// and Deploy see them, with the ApplySet member label Deploy adds at apply time); the images
// of build steps are those of Prebuilt, else what the builder resolves without building (the
// input-digest tag and, when the registry has it, its digest), else unpinned (a note names
// them). Dockerfiles need not exist. Exec steps are not compared (a note names each).
//
// Errors: *InputError (as Deploy: a plan without steps, bad --images entries, undefined
// variables with Strict), and *PreflightError for everything the cluster reports, invalid
// objects and conflicts included.
func (a *Diff) Run(ctx context.Context, proj Project, p *plan.Plan) (*DiffReport, error) {
	rep := &DiffReport{APIVersion: APIVersion, Kind: "DiffReport", Command: p.Command, Objects: []deploy.ObjectDiff{}}
	pp, err := prepareDeployment(ctx, a.cfg, proj, p, prepareOptions{prebuilt: a.Prebuilt, namespace: a.Namespace}, &rep.Warnings)
	if err != nil {
		return rep, err
	}
	if a.PullSecret != nil {
		if err := pp.addPullSecret(a.Namespace, a.PullSecret); err != nil {
			return rep, &InputError{Err: err}
		}
	}
	refs := pp.unpinnedRefs()
	hasMembers, hasReleases := false, false
	for _, st := range pp.steps {
		so := st.objects(pp, refs)
		if so.DiffNote != "" {
			rep.Notes = append(rep.Notes, so.DiffNote)
		} else if len(so.Members) > 0 {
			hasMembers = true
		}
		hasReleases = hasReleases || len(so.Releases) > 0
	}
	if !hasMembers && !hasReleases {
		for _, n := range rep.Notes {
			a.cfg.emit(event.Event{Type: event.Info, Message: n})
		}
		return rep, nil
	}
	var notes []string
	for _, st := range pp.steps {
		b, ok := st.(*buildStep)
		if !ok {
			continue
		}
		res, note := b.resolve(ctx, a.cfg.Builder)
		if res != nil {
			refs[b.step.ID] = res.Ref()
		}
		if note != "" {
			notes = append(notes, note)
		}
	}
	rep.Notes = append(notes, rep.Notes...)
	all := pp.collect(refs)
	set := applySetFor(proj.Devfile, a.Namespace, a.cfg.Version)
	rep.Inventory = inventoryRef(set)
	for _, n := range rep.Notes {
		a.cfg.emit(event.Event{Type: event.Info, Message: n})
	}
	if hasMembers {
		a.cfg.emit(event.Event{Type: event.Info, Message: fmt.Sprintf("comparing %d objects with the cluster (server-side dry run)", len(all.Members))})
		diffs, err := a.cluster.Diff(ctx, deploy.DiffRequest{Request: deploy.Request{Objects: all.Members, Sources: all.MemberSources, Namespace: a.Namespace, ForceConflicts: a.ForceConflicts, Adopt: a.Adopt, FieldManager: deploy.ProjectFieldManager(devfileName(proj.Devfile)), DryRun: deploy.DryRunServer, ApplySet: &set}, Prune: a.Prune})
		if err != nil {
			if ctx.Err() != nil {
				return rep, fmt.Errorf("%w: %w", ctx.Err(), err)
			}
			return rep, &PreflightError{Err: err}
		}
		rep.Objects = append(rep.Objects, diffs...)
	}
	// Helm releases: each release's objects (server-side dry run), then with --prune the
	// releases deploy --prune would uninstall.
	if hasReleases || a.Prune {
		diffs, err := a.diffReleases(ctx, pp, refs, a.Prune)
		if err != nil {
			if ctx.Err() != nil {
				return rep, fmt.Errorf("%w: %w", ctx.Err(), err)
			}
			return rep, &PreflightError{Err: err}
		}
		rep.Objects = append(rep.Objects, diffs...)
	}
	counts := map[deploy.Action]int{}
	for _, o := range rep.Objects {
		counts[o.Action]++
		if o.Action != deploy.Unchanged {
			rep.Differences = true
		}
		msg := fmt.Sprintf("%s %s", objectName(deploy.ObjectResult{Kind: o.Kind, Namespace: o.Namespace, Name: o.Name}), o.Action)
		if o.Note != "" {
			msg += " (" + o.Note + ")"
		}
		a.cfg.emit(event.Event{Type: event.Info, Message: msg, Fields: map[string]string{"action": string(o.Action)}})
	}
	a.cfg.emit(event.Event{Type: event.Info, Message: diffSummary(counts)})
	return rep, nil
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
