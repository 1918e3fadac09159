package run

import (
	"context"

	"github.com/devtool/devtool/pkg/deploy"
	"github.com/devtool/devtool/pkg/deploy/helm"
)

// The fake cluster of the other tests has no Helm releases: it accepts every release check,
// finds no release to prune, and refuses to install (those tests have no helm steps).

func (d *fakeDeployer) CheckRelease(ctx context.Context, req helm.CheckRequest) error { return nil }

func (d *fakeDeployer) UpgradeRelease(ctx context.Context, req helm.UpgradeRequest) (helm.Release, error) {
	return helm.Release{}, errNoHelm
}

func (d *fakeDeployer) DiffRelease(ctx context.Context, req helm.DiffRequest) ([]deploy.ObjectDiff, error) {
	return nil, errNoHelm
}

func (d *fakeDeployer) ListReleases(ctx context.Context, req helm.ListRequest) ([]helm.Release, error) {
	return nil, nil
}

func (d *fakeDeployer) UninstallRelease(ctx context.Context, req helm.UninstallRequest) (helm.Release, error) {
	return helm.Release{}, errNoHelm
}

type noHelmError struct{}

func (noHelmError) Error() string { return "fakeDeployer has no Helm" }

var errNoHelm error = noHelmError{}
