package engine

import (
	"github.com/devtool/devtool/pkg/build"
	"github.com/google/go-containerregistry/pkg/name"
)

// insecurePulls reports whether buildah/podman should build with --tls-verify=false: the
// Dockerfile pulls at least one image (FROM, COPY/ADD --from, RUN --mount=…,from=) and every
// image it pulls is on a registry for which policy.IsInsecure holds (loopback, or listed).
// --tls-verify=false applies to every pull of the build, so a Dockerfile that also pulls from
// a secure registry (or names a base image devtool cannot resolve) keeps TLS verification on;
// such a setup needs the registry marked insecure in registries.conf instead.
//
// args are the Request's build arguments, which override the defaults of ARGs declared before
// the first FROM, as in docker; "KEY" alone is unset and overrides nothing.
func insecurePulls(dockerfile []byte, args []string, policy build.RegistryPolicy) bool {
	images, unresolved := build.PulledImages(dockerfile, args)
	if unresolved || len(images) == 0 {
		return false
	}
	for _, img := range images {
		r, err := name.ParseReference(img)
		if err != nil || !policy.IsInsecure(r.Context().RegistryStr()) {
			return false
		}
	}
	return true
}
