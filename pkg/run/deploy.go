package run

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"time"

	"github.com/devtool/devtool/pkg/build"
	"github.com/devtool/devtool/pkg/deploy"
	"github.com/devtool/devtool/pkg/devfile"
	"github.com/devtool/devtool/pkg/event"
	"github.com/devtool/devtool/pkg/plan"
)

// Deploy is `devtool deploy`: checks, builds (and pushes), applies, runs exec Jobs, commits
// the inventory, and optionally waits (design.md §2, §5).
type Deploy struct {
	cfg     *Configuration
	cluster Cluster

	// Namespace is the default namespace for namespaced objects without one, and the
	// inventory's namespace ("default" when empty).
	Namespace string
	// Tag overrides the input-digest tag (--tag); Platforms are target platforms (--platform).
	Tag       string
	Platforms []string
	// DryRun is the deploy dry-run mode (none, client, server).
	DryRun deploy.DryRun
	// ForceConflicts takes ownership of conflicting fields; Adopt takes over existing objects
	// devtool did not create for this project (--adopt).
	ForceConflicts, Adopt bool
	// Prune deletes, after every step succeeded, the objects of earlier deploys of this project
	// (its ApplySet) that this deploy did not apply (deploy --prune).
	Prune bool
	// Prebuilt are images built and pushed earlier (deploy --images FILE), by image component
	// name: their build steps use them instead of building (design.md §1, the CI flow).
	Prebuilt map[string]build.Result
	// Wait, when positive, waits up to that long, after every step and the prune succeeded,
	// until every applied object has rolled out (deploy --wait). Dry runs do not wait.
	Wait time.Duration
	// ExecTimeout bounds each exec step's Job (0: deploy.DefaultJobTimeout).
	ExecTimeout time.Duration
	// PullSecret, when set (deploy --create-pull-secret), gives the credentials of the
	// registries the built images are pushed to: the deploy applies an image pull Secret
	// (PullSecretName) with them in each namespace it deploys workloads to, and lists it in
	// their pod specs' imagePullSecrets (docs/registries.md).
	PullSecret PullSecretCredentials

	// prepared, when set (tests), sees the prepared plan after the run.
	prepared func(*prepared)
}

// NewDeploy returns the deploy action over cfg and cluster (*deploy.Applier).
func NewDeploy(cfg *Configuration, cluster Cluster) *Deploy {
	return &Deploy{cfg: cfg, cluster: cluster}
}

// Run deploys p end to end: prepare once, preflight, execute, commit, wait. The Report lists
// what was built and applied so far even when an error is returned.
//
// The applied objects are members of the project's inventory, a KEP-3659 ApplySet whose
// parent is the ConfigMap deploy.ApplySetName(<devfile name>) in the namespace (design.md
// §5): the preflight checks the parent with the objects and every exec step's Job before
// anything is built; the first apply writes it; once every step succeeded the transaction is
// committed, pruning (Prune) the objects of earlier deploys this one no longer applies (added
// to the Report with Action "pruned"). Objects are applied with the project's own field
// manager (deploy.ProjectFieldManager).
//
// Helm steps install or upgrade their release (pkg/deploy/helm) after the preflight checked
// each release and its rendered objects like the manifests; their objects are in the Report
// (and waited for) but are not inventory members: the release records, labelled with the
// inventory's ID, are how devtool finds them again. With Prune, the project's releases that
// no helm step installs are uninstalled (Report.Releases), before the inventory is pruned.
//
// Errors: *InputError (before anything ran), *PreflightError (the cluster refused something;
// nothing was built or changed), *StepError, *InventoryError (Op "prune"), *deploy.WaitError,
// or ctx's error.
func (a *Deploy) Run(ctx context.Context, proj Project, p *plan.Plan) (*Report, error) {
	rep := &Report{APIVersion: APIVersion, Kind: "DeployReport", Command: p.Command, Images: []build.Result{}, Objects: []deploy.ObjectResult{}}
	pp, err := prepareDeployment(ctx, a.cfg, proj, p, prepareOptions{checkInputs: true, push: true, tag: a.Tag, platforms: a.Platforms, prebuilt: a.Prebuilt, namespace: a.Namespace}, &rep.Warnings)
	if err != nil {
		return rep, err
	}
	if err := a.checkPrebuilt(ctx); err != nil {
		return rep, err
	}
	if a.PullSecret != nil {
		if err := pp.addPullSecret(a.Namespace, a.PullSecret); err != nil {
			return rep, &InputError{Err: err}
		}
	}
	if a.prepared != nil {
		defer a.prepared(pp)
	}
	x := newExecution(a.cfg, pp, rep)
	x.cluster, x.namespace, x.dryRun = a.cluster, a.Namespace, a.DryRun
	x.force, x.adopt, x.execTimeout = a.ForceConflicts, a.Adopt, a.ExecTimeout
	x.fieldManager = deploy.ProjectFieldManager(devfileName(proj.Devfile))

	// Preflight against the cluster before building anything: a missing namespace, an unknown
	// kind, an object devtool may not take over or an invalid object (the exec steps' Jobs
	// included) stops the deploy here (design.md §5).
	all := pp.collect(pp.unpinnedRefs())
	if len(all.Members) > 0 || len(all.Jobs) > 0 {
		// --dry-run=client promises no server requests beyond discovery: check the same way.
		mode := deploy.DryRunServer
		if a.DryRun == deploy.DryRunClient {
			mode = deploy.DryRunClient
		}
		req := deploy.Request{Objects: all.Members, Sources: all.MemberSources, Namespace: a.Namespace, ForceConflicts: a.ForceConflicts, Adopt: a.Adopt, FieldManager: x.fieldManager, DryRun: mode}
		if len(all.Members) > 0 {
			set := applySetFor(proj.Devfile, a.Namespace, a.cfg.Version)
			req.ApplySet = &set
			rep.Inventory = inventoryRef(set)
		}
		msg := fmt.Sprintf("checking %d objects against the cluster", len(all.Members))
		if len(all.Jobs) > 0 {
			msg = fmt.Sprintf("checking %d objects and %d exec %s against the cluster", len(all.Members), len(all.Jobs), plural(len(all.Jobs), "Job", "Jobs"))
		}
		a.cfg.emit(event.Event{Type: event.Info, Message: msg})
		if err := a.cluster.Validate(ctx, deploy.Preflight{Request: req, Jobs: all.Jobs, JobSources: all.JobSources}); err != nil {
			return rep, &PreflightError{Err: err}
		}
		if req.ApplySet != nil {
			// The inventory spans every apply step: the transaction writes its parent before the
			// first apply, listing every object the deploy will apply.
			begin := req
			begin.DryRun = a.DryRun
			if x.tx, err = deploy.NewTransaction(begin); err != nil {
				return rep, err
			}
		}
	}
	// Helm releases: each release and its rendered objects, after the manifests.
	if err := x.checkReleases(ctx, all, a.DryRun); err != nil {
		return rep, &PreflightError{Err: err}
	}
	pruneReleases := a.Prune && a.DryRun != deploy.DryRunClient
	if err := x.run(ctx); err != nil || (x.tx == nil && !pp.hasReleases() && !pruneReleases) {
		return rep, err
	}
	if pruneReleases {
		// Releases first: a Namespace the inventory prunes may hold their objects.
		rels, err := x.pruneReleases(ctx, a.DryRun, a.cluster)
		recordReleases(rep, rels)
		if err != nil {
			if ctx.Err() != nil {
				return rep, fmt.Errorf("%w: %w", ctx.Err(), err)
			}
			return rep, &InventoryError{Op: "prune", Err: err}
		}
	}
	if x.tx != nil {
		applied := append([]deploy.ObjectResult(nil), x.applied...)
		pruned, err := a.cluster.Commit(ctx, x.tx, applied, a.Prune)
		rep.Objects = append(rep.Objects, pruned...)
		for _, o := range pruned {
			a.cfg.emit(event.Event{Type: event.Info, Message: fmt.Sprintf("%s %s", objectName(o), o.Action), Fields: map[string]string{"action": string(o.Action)}})
		}
		if err != nil {
			if ctx.Err() != nil {
				return rep, fmt.Errorf("%w: %w", ctx.Err(), err)
			}
			return rep, &InventoryError{Op: "prune", Err: err}
		}
	}
	if a.Wait > 0 {
		return rep, a.wait(ctx, rep)
	}
	return rep, nil
}

// checkPrebuilt asks the registry for every --images entry by digest before anything changes:
// a report from another registry, or an image deleted since, stops the deploy here.
func (a *Deploy) checkPrebuilt(ctx context.Context) error {
	if a.cfg.Registry == nil {
		return nil
	}
	for _, n := range sortedKeys(a.Prebuilt) {
		pb := a.Prebuilt[n]
		ref := pb.Repository + "@" + pb.Digest
		_, found, err := a.cfg.Registry.Digest(ctx, ref)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return &InputError{Err: fmt.Errorf("--images: image component %q: checking %s: %w", n, ref, err)}
		}
		if !found {
			return &InputError{Err: fmt.Errorf("--images: image component %q: the registry has no %s; rebuild with `devtool build --push -o json`", n, ref)}
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// wait waits for the applied objects of rep to roll out, emitting progress, and records each
// object's status in rep. Errors: a *deploy.WaitError naming the objects that did not roll
// out and why, or ctx's error.
func (a *Deploy) wait(ctx context.Context, rep *Report) error {
	if a.DryRun != deploy.DryRunNone && a.DryRun != "" {
		a.cfg.emit(event.Event{Type: event.Info, Message: fmt.Sprintf("not waiting: --dry-run=%s applied nothing", a.DryRun)})
		return nil
	}
	n := 0
	for _, o := range rep.Objects {
		if o.Action == deploy.Created || o.Action == deploy.Configured || o.Action == deploy.Unchanged {
			n++
		}
	}
	a.cfg.emit(event.Event{Type: event.Info, Message: fmt.Sprintf("waiting up to %s for %d objects to roll out", a.Wait, n)})
	start := time.Now()
	statuses, err := a.cluster.Wait(ctx, deploy.WaitRequest{Objects: rep.Objects, Timeout: a.Wait, Progress: func(pending []deploy.ObjectStatus) {
		for _, s := range pending {
			a.cfg.emit(event.Event{Type: event.Info, Message: "waiting for " + s.String(), Fields: map[string]string{"object": s.Object(), "status": string(s.Status)}})
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
	a.cfg.emit(event.Event{Type: event.Info, Message: fmt.Sprintf("all %d objects rolled out in %.1fs", n, time.Since(start).Seconds())})
	return nil
}

// applySetFor is the inventory of d's deploys to namespace: parent ConfigMap
// devtool-applyset-<devfile name> in that namespace ("default" when empty), labelled like the
// objects.
func applySetFor(d *devfile.Devfile, namespace, version string) deploy.ApplySet {
	if namespace == "" {
		namespace = "default"
	}
	return deploy.ApplySet{Name: deploy.ApplySetName(devfileName(d)), Namespace: namespace, Tooling: tooling(version), Labels: projectLabels(d)}
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
