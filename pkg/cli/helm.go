package cli

import (
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/devtool/devtool/pkg/deploy"
	"github.com/devtool/devtool/pkg/deploy/helm"
)

// cluster is every deployer on one set of kubectl connection flags: manifests, the inventory
// and exec Jobs (*deploy.Applier) and Helm releases (*helm.Client). It is the run.Cluster,
// run.Differ and run.Undeployer the actions take.
type cluster struct {
	*deploy.Applier
	*helm.Client
}

// newCluster makes the deployers for kube. Neither contacts the cluster yet.
func (g *globals) newCluster(kube *genericclioptions.ConfigFlags) (cluster, error) {
	applier, err := deploy.New(kube, deploy.WithLogger(g.logger()))
	if err != nil {
		return cluster{}, err
	}
	hc, err := helm.New(kube, helm.WithLogger(g.logger()))
	if err != nil {
		return cluster{}, err
	}
	return cluster{Applier: applier, Client: hc}, nil
}

// chartLoader loads the charts of Helm components: plain HTTP for the registries and chart
// repositories the registry policy allows (loopback, DEVTOOL_INSECURE_REGISTRIES), Helm's
// registry credentials ($HELM_REGISTRY_CONFIG, else Helm's default file).
func (g *globals) chartLoader() *helm.Loader {
	opts := []helm.LoaderOption{helm.WithPlainHTTP(g.registryPolicy().IsInsecure), helm.WithLoaderLogger(g.logger())}
	if f, ok := g.getenv("HELM_REGISTRY_CONFIG"); ok && f != "" {
		opts = append(opts, helm.WithRegistryConfig(f))
	}
	return helm.NewLoader(opts...)
}
