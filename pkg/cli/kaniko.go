package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/devtool/devtool/pkg/build"
	"github.com/devtool/devtool/pkg/build/kaniko"
)

// Environment variables of the kaniko builder (flags win).
const (
	envKanikoImage     = "DEVTOOL_KANIKO_IMAGE"      // --kaniko-image
	envKanikoExecutor  = "DEVTOOL_KANIKO_EXECUTOR"   // the executor in-container builds run (default /kaniko/executor)
	envKanikoCacheRepo = "DEVTOOL_KANIKO_CACHE_REPO" // --kaniko-cache-repo
)

// Values of --kaniko-execution.
const (
	kanikoAuto    = "auto"
	kanikoPod     = "pod"
	kanikoRoutine = "routine"
)

// kanikoFlags are the kaniko builder's flags (build and deploy) and the command's cluster.
type kanikoFlags struct {
	image, secret, execution, cacheRepo string
	maxParallel                         int
	// kube is the command's cluster connection (nil: the kubeconfig's defaults).
	kube *genericclioptions.ConfigFlags
}

func (k *kanikoFlags) add(c *cobra.Command) {
	c.Flags().StringVar(&k.image, "kaniko-image", "", "kaniko executor image for --builder kaniko build Pods (default $"+envKanikoImage+", else "+kaniko.DefaultImage+", Chainguard's maintained fork)")
	c.Flags().StringVar(&k.secret, "kaniko-secret", "", "existing kubernetes.io/dockerconfigjson Secret the kaniko build Pods use for registry credentials (default: devtool creates one per build from your docker/podman credentials and deletes it afterwards)")
	c.Flags().StringVar(&k.execution, "kaniko-execution", kanikoAuto, "where kaniko runs: pod (a build Pod in the cluster), routine (a child process, only when devtool itself runs in a container), or auto (routine in a container that has the executor, else pod)")
	c.Flags().StringVar(&k.cacheRepo, "kaniko-cache-repo", "", "repository for kaniko's layer cache (kaniko's --cache-repo): RUN layers are pushed there and reused by later kaniko builds (default $"+envKanikoCacheRepo+", else no cache)")
	c.Flags().IntVar(&k.maxParallel, "max-parallel-builds", 0, "at most this many kaniko build Pods at once (default: the cluster's allocatable CPUs, or 4)")
}

func (k *kanikoFlags) validate() error {
	switch k.execution {
	case "", kanikoAuto, kanikoPod, kanikoRoutine:
	default:
		return &UsageError{Err: fmt.Errorf("--kaniko-execution %q: must be auto, pod or routine", k.execution)}
	}
	if k.maxParallel < 0 {
		return &UsageError{Err: fmt.Errorf("--max-parallel-builds %d: must be at least 1", k.maxParallel)}
	}
	return nil
}

// kaniko returns the kaniko builder of these settings: made on first use, so that a devfile
// without RUN builds never needs a cluster.
func (s builderSettings) kaniko() *lazyKaniko {
	return &lazyKaniko{s: s}
}

// lazyKaniko is the kaniko builder: Routine or Pod as --kaniko-execution says, made on first
// use (making a Pod builder reads the kubeconfig).
type lazyKaniko struct {
	s    builderSettings
	once sync.Once
	b    build.Builder
	err  error
}

func (l *lazyKaniko) Name() string { return "kaniko" }

// getenv is the command's environment as kaniko.InContainer reads it.
func (l *lazyKaniko) getenv(k string) string {
	v, _ := l.s.getenv(k)
	return v
}

func (l *lazyKaniko) get() (build.Builder, error) {
	l.once.Do(func() { l.b, l.err = l.make() })
	return l.b, l.err
}

func (l *lazyKaniko) make() (build.Builder, error) {
	f := l.s.kanikoFlags
	executor, _ := l.s.getenv(envKanikoExecutor)
	cacheRepo := f.cacheRepo
	if cacheRepo == "" {
		cacheRepo, _ = l.s.getenv(envKanikoCacheRepo)
	}
	switch f.execution {
	case kanikoRoutine:
		return kaniko.NewRoutine(executor, l.s.policy, cacheRepo, l.getenv), nil
	case kanikoPod:
	default:
		if ok, _ := kaniko.InContainer(l.getenv); ok {
			if executor == "" {
				executor = kaniko.ExecutorPath
			}
			if _, err := os.Stat(executor); err == nil {
				return kaniko.NewRoutine(executor, l.s.policy, cacheRepo, l.getenv), nil
			}
		}
	}
	kube := f.kube
	if kube == nil {
		kube = genericclioptions.NewConfigFlags(true)
	}
	cfg, err := kube.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("--builder kaniko runs build Pods in the cluster and needs a kubeconfig: %w; set --kubeconfig or KUBECONFIG", err)
	}
	ns, _, err := kube.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, fmt.Errorf("--builder kaniko: reading the namespace from the kubeconfig: %w", err)
	}
	image := f.image
	if image == "" {
		image, _ = l.s.getenv(envKanikoImage)
	}
	opts := []kaniko.PodOption{kaniko.WithRegistryPolicy(l.s.policy)}
	if image != "" {
		opts = append(opts, kaniko.WithImage(image))
	}
	if f.secret != "" {
		opts = append(opts, kaniko.WithSecret(f.secret))
	}
	if cacheRepo != "" {
		opts = append(opts, kaniko.WithCacheRepo(cacheRepo))
	}
	if f.maxParallel > 0 {
		opts = append(opts, kaniko.WithMaxParallel(f.maxParallel))
	}
	return kaniko.NewPod(cfg, ns, opts...)
}

// Available implements build.Candidate.Available: for a Pod builder, the cluster answers and
// allows creating and attaching to Pods; in-container, InContainer and an executor.
func (l *lazyKaniko) Available(ctx context.Context) bool {
	b, err := l.get()
	if err != nil {
		return false
	}
	switch k := b.(type) {
	case *kaniko.Pod:
		return k.Available(ctx)
	case *kaniko.Routine:
		return k.Available()
	}
	return false
}

func (l *lazyKaniko) Build(ctx context.Context, req build.Request, log io.Writer) (build.Result, error) {
	b, err := l.get()
	if err != nil {
		return build.Result{}, fmt.Errorf("image %q: %w", req.Name, err)
	}
	return b.Build(ctx, req, log)
}
