package run

import (
	"context"
	"errors"
	"fmt"

	"github.com/devtool/devtool/pkg/build"
	"github.com/devtool/devtool/pkg/deploy"
	"github.com/devtool/devtool/pkg/devfile"
	"github.com/devtool/devtool/pkg/event"
)

// Undeploy is `devtool undeploy`: delete what devtool deployed for a devfile in a namespace
// (its inventory, design.md §5).
type Undeploy struct {
	cfg     *Configuration
	cluster Undeployer
	// Namespace holds the inventory ("default" when empty).
	Namespace string
	// DryRun: none or server (deletes sent as dry runs).
	DryRun deploy.DryRun
}

// NewUndeploy returns the undeploy action over cfg and cluster (*deploy.Applier).
func NewUndeploy(cfg *Configuration, cluster Undeployer) *Undeploy {
	return &Undeploy{cfg: cfg, cluster: cluster}
}

// Run uninstalls the project's Helm releases (found by their labels: the inventory's ID),
// then deletes everything the inventory of d (the ApplySet of deploy.ApplySetName(<devfile
// name>)) holds that devtool created for this project, then the inventory itself. When there
// is neither a release nor an inventory the Report's Message says "nothing deployed by
// devtool for <name> in namespace <ns>" and the error is nil. Errors are *InventoryError (Op
// "undeploy").
func (a *Undeploy) Run(ctx context.Context, d *devfile.Devfile) (*Report, error) {
	set := applySetFor(d, a.Namespace, a.cfg.Version)
	rep := &Report{APIVersion: APIVersion, Kind: "UndeployReport", Images: []build.Result{}, Objects: []deploy.ObjectResult{}, Inventory: inventoryRef(set)}
	a.cfg.emit(event.Event{Type: event.Info, Message: fmt.Sprintf("undeploying %s: everything the inventory %s lists", devfileName(d), set)})
	// Releases first: a Namespace of the inventory may hold their objects.
	rels, err := uninstallReleases(ctx, a.cfg, d, a.Namespace, a.DryRun, a.cluster, nil)
	recordReleases(rep, rels)
	if err != nil {
		if ctx.Err() != nil {
			return rep, fmt.Errorf("%w: %w", ctx.Err(), err)
		}
		return rep, &InventoryError{Op: "undeploy", Err: err}
	}
	objs, err := a.cluster.Undeploy(ctx, deploy.UndeployRequest{ApplySet: set, DryRun: a.DryRun, FieldManager: deploy.ProjectFieldManager(devfileName(d))})
	rep.Objects = append(rep.Objects, objs...)
	for _, o := range objs {
		a.cfg.emit(event.Event{Type: event.Info, Message: fmt.Sprintf("%s %s", objectName(o), o.Action), Fields: map[string]string{"action": string(o.Action)}})
	}
	switch {
	case errors.Is(err, deploy.ErrNotDeployed) && len(rels) > 0:
		return rep, nil
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
	if a.DryRun == deploy.DryRunNone || a.DryRun == "" {
		a.cfg.emit(event.Event{Type: event.Info, Message: fmt.Sprintf("deleted the inventory %s", set)})
	}
	return rep, nil
}
