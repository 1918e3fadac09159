// Package build turns a build request (build context, Dockerfile, build args, target repository)
// into an image in a registry. One small interface (seed 002, "builder backend"); concrete
// backends live in sub-packages (native, engine) and are chosen only in pkg/cli, either
// directly (--builder native) or per request by Auto from candidates pkg/cli lists. Features
// that apply to every backend, such as input-digest tags and skipping builds whose tag the
// registry already has, are decorators (Cached), after ko's build.Caching and skaffold's
// build cache. Optional abilities are one-method interfaces found by type assertion
// (Configured, Resolver, Explainer).
//
// build and its backends read no environment variables: pkg/cli turns flags and the
// environment into values (RegistryPolicy, engine options) and passes them in.
//
// build never imports pkg/devfile: pkg/run translates devfile image components into Requests.
package build

import (
	"context"
	"io"
)

// Request is one image build.
type Request struct {
	// Name identifies the build in logs and events (the devfile image component name).
	Name string
	// ContextDir is the absolute path of the build context directory.
	ContextDir string
	// Dockerfile is the absolute path of the Dockerfile (it may lie outside ContextDir).
	Dockerfile string
	// Args are build arguments (Dockerfile ARG), in the order given, the last winning for a
	// repeated KEY: "KEY=VALUE", or "KEY" alone, which leaves KEY unset (its ARG default
	// applies). Unlike `docker build --build-arg KEY`, no backend reads the environment:
	// pkg/run resolves values (devfile variables, --var, --build-arg-env) into KEY=VALUE, so
	// the same Request builds the same image on every machine.
	Args []string
	// Repository is the target repository without tag or digest, e.g. "127.0.0.1:5000/app".
	Repository string
	// Tag is the tag to build; Cached fills it with the input digest when empty. A backend
	// given an empty Tag uses "latest".
	Tag string
	// Platforms are OCI platforms ("linux/amd64"); empty means the host platform.
	Platforms []string
	// Push pushes the image to Repository:Tag. Without it the image stays in the backend's
	// local storage (engines) or is only assembled (native), and Result.Digest may be empty.
	Push bool
	// S2I is set for a source-to-image build: ContextDir is then the application source,
	// Dockerfile is empty and Args are not used. Only a builder wrapped by s2i.New
	// (pkg/build/s2i) builds such a request; other backends refuse it.
	S2I *S2I
}

// S2I are the settings of a source-to-image build (the outer-loop proposal's `s2i:` image
// component; openshift/source-to-image's dockerfile strategy).
type S2I struct {
	// BuilderImage is the builder image reference ("quay.io/org/builder:tag"), substituted.
	BuilderImage string
	// ScriptsURL overrides where the assemble/run/save-artifacts scripts come from: an
	// "image:///dir" inside the builder image, a "file:///abs/dir" directory (inside the
	// project, checked by pkg/run), or an http(s) URL of a directory; "" means the builder
	// image's io.openshift.s2i.scripts-url label (s2i's --scripts-url).
	ScriptsURL string
	// Incremental reuses the artifacts that save-artifacts extracts from the previous image
	// (Repository:latest) when the registry has one (s2i's --incremental).
	Incremental bool
}

// Result describes a built image.
type Result struct {
	// Name is Request.Name.
	Name string `json:"name"`
	// Repository and Tag are where the image is, Digest is the manifest digest ("sha256:…"),
	// empty when the image was not pushed and the backend cannot compute it.
	Repository string `json:"repository"`
	Tag        string `json:"tag"`
	Digest     string `json:"digest,omitempty"`
	// Builder is the Name of the backend that built it.
	Builder string `json:"builder"`
	// Cached is true when the build was skipped because the registry already had the tag.
	Cached bool `json:"cached"`
}

// Ref returns the image reference deploys should use: "repo:tag@sha256:…" when the digest is
// known, else "repo:tag".
func (r Result) Ref() string {
	ref := r.Repository + ":" + r.Tag
	if r.Digest != "" {
		ref += "@" + r.Digest
	}
	return ref
}

// Builder builds one image. log receives the backend's raw output (engine stdout/stderr, or
// native progress lines); it is never nil. Implementations must honour ctx cancellation and
// return an error that names Request.Name.
type Builder interface {
	Name() string
	Build(ctx context.Context, req Request, log io.Writer) (Result, error)
}
