package cli

import (
	"fmt"

	"github.com/devtool/devtool/pkg/build"
	"github.com/devtool/devtool/pkg/build/engine"
	"github.com/devtool/devtool/pkg/build/native"
	"github.com/devtool/devtool/pkg/run"
)

// chooser returns the run.ChooseBuilder for --builder. Every backend is wrapped in build.Cached
// (input-digest tags, skip when the registry already has the tag).
//
// auto follows seed 002's GetBackend: native when the Dockerfile needs nothing native lacks
// (no RUN, one stage), else the first of podman, docker, buildah on PATH.
func chooser(flag string, g *globals) (run.ChooseBuilder, error) {
	reg := build.RemoteRegistry()
	cached := func(b build.Builder) build.Builder { return build.Cached(b, reg) }
	engines := []engine.Kind{engine.Podman, engine.Docker, engine.Buildah}
	switch flag {
	case "native":
		b := cached(native.New())
		return func(build.Request, []byte) (build.Builder, string, error) { return b, "--builder native", nil }, nil
	case "podman", "docker", "buildah":
		b := cached(engine.New(engine.Kind(flag)))
		return func(build.Request, []byte) (build.Builder, string, error) { return b, "--builder " + flag, nil }, nil
	case "auto":
		nb := cached(native.New())
		return func(req build.Request, dockerfile []byte) (build.Builder, string, error) {
			ok, reason := native.Supports(dockerfile)
			if ok {
				return nb, "native: in-process, the Dockerfile needs no RUN", nil
			}
			for _, k := range engines {
				if engine.Available(k) {
					return cached(engine.New(k)), fmt.Sprintf("%s: %s", k, reason), nil
				}
			}
			return nil, "", fmt.Errorf("the Dockerfile %s needs a container engine (%s) and none of podman, docker or buildah is installed; install one, or remove RUN instructions so the native builder applies", req.Dockerfile, reason)
		}, nil
	}
	return nil, &UsageError{Err: fmt.Errorf("--builder %q: must be auto, native, buildah, podman or docker", flag)}
}
