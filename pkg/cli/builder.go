package cli

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/devtool/devtool/pkg/build"
	"github.com/devtool/devtool/pkg/build/engine"
	"github.com/devtool/devtool/pkg/build/native"
	"github.com/devtool/devtool/pkg/build/s2i"
)

// builders is the one table of --builder values: each makes the backend (pkg/cli is the only
// place backends are chosen, design.md §6). Every backend is wrapped in build.Cached
// (input-digest tags, skip when the registry already has the tag) by newBuilder.
//
// auto follows seed 002's GetBackend: native when the Dockerfile needs nothing native lacks
// (no RUN, one stage), else the first of podman, docker, buildah that works here, else kaniko
// (a build Pod in the cluster, or in-container when devtool runs in one; docs/kaniko.md). Its input
// digest names "auto", not the engine it found (installing podman rebuilds nothing).
var builders = map[string]func(s builderSettings) build.Builder{
	"auto": func(s builderSettings) build.Builder {
		cands := []build.Candidate{{Builder: s.native(), Accepts: native.Supports}}
		for _, k := range []engine.Kind{engine.Podman, engine.Docker, engine.Buildah} {
			opts := s.engineOptions(k)
			cands = append(cands, build.Candidate{
				Builder:   engine.New(k, opts...),
				Available: func(ctx context.Context) bool { return engine.Available(ctx, k, opts...) },
				// docker builds several platforms only through buildx (docs/platforms.md).
				SinglePlatform: k == engine.Docker,
			})
		}
		// The last resort: kaniko in the cluster (or in this container), one platform per image.
		k := s.kaniko()
		cands = append(cands, build.Candidate{Builder: k, Available: k.Available, SinglePlatform: true})
		return build.Auto(cands...)
	},
	"kaniko": func(s builderSettings) build.Builder { return s.kaniko() },
	"native": func(s builderSettings) build.Builder { return s.native() },
	"podman": func(s builderSettings) build.Builder {
		return engine.New(engine.Podman, s.engineOptions(engine.Podman)...)
	},
	"docker": func(s builderSettings) build.Builder {
		return engine.New(engine.Docker, s.engineOptions(engine.Docker)...)
	},
	"buildah": func(s builderSettings) build.Builder {
		return engine.New(engine.Buildah, s.engineOptions(engine.Buildah)...)
	},
}

// builderSettings are the settings every backend gets, read from the environment here and
// nowhere else: the registry policy (DEVTOOL_INSECURE_REGISTRIES) and the engines' odo
// variables (PODMAN_CMD, DOCKER_CMD, ODO_IMAGE_BUILD_ARGS, ODO_CONTAINER_BACKEND_GLOBAL_ARGS,
// BUILDAH_ISOLATION; docs/engines.md).
type builderSettings struct {
	policy      build.RegistryPolicy
	getenv      func(string) (string, bool)
	kanikoFlags kanikoFlags
}

func (s builderSettings) native() build.Builder {
	return native.New(native.WithRegistryPolicy(s.policy))
}

func (s builderSettings) engineOptions(k engine.Kind) []engine.Option {
	return append(engine.EnvOptions(k, s.getenv), engine.WithRegistryPolicy(s.policy))
}

// registryPolicy is the registry policy of this invocation (resolveRegistries; validateCommon
// has reported its errors, so a failure here leaves only the insecure list).
func (g *globals) registryPolicy() build.RegistryPolicy {
	p, err := g.resolveRegistries()
	if err != nil {
		v, _ := g.getenv(build.EnvInsecureRegistries)
		return build.RegistryPolicy{Insecure: build.ParseRegistryList(v)}
	}
	return p
}

// newBuilder returns the builder --builder names, wrapped in build.Cached. kf are the kaniko
// builder's settings (their zero value: defaults, no cluster).
func newBuilder(flag string, g *globals, kf kanikoFlags) (build.Builder, error) {
	mk, ok := builders[flag]
	if !ok {
		names := make([]string, 0, len(builders))
		for n := range builders {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, &UsageError{Err: fmt.Errorf("--builder %q: must be one of %s", flag, strings.Join(names, ", "))}
	}
	policy := g.registryPolicy()
	// s2i.New passes Dockerfile builds through unchanged and builds source-to-image images by
	// generating a Dockerfile that the chosen backend builds (docs/s2i.md).
	inner := s2i.New(mk(builderSettings{policy: policy, getenv: g.getenv, kanikoFlags: kf}), s2i.WithRegistryPolicy(policy))
	return build.Cached(inner, build.RemoteRegistry(policy)), nil
}
