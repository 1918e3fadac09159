// Package s2i builds source-to-image requests (build.Request.S2I; the outer-loop proposal's
// `s2i:` image component) with github.com/openshift/source-to-image's dockerfile strategy —
// s2i's `build --as-dockerfile`, which needs no Docker daemon — and hands the generated
// Dockerfile and its context to a Dockerfile backend.
//
// The builder image's labels (io.openshift.s2i.scripts-url, .destination, .assemble-user) are
// read here with go-containerregistry, honouring build.RegistryPolicy, because s2i's own
// inspection ignores registries.conf and fails on plain-HTTP registries
// (docs/testenv-builders.md §8). The generated Dockerfile RUNs the builder's assemble script,
// so the inner backend must be a container engine: the native builder cannot RUN.
package s2i

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/openshift/source-to-image/pkg/api"
	"github.com/openshift/source-to-image/pkg/api/constants"
	"github.com/openshift/source-to-image/pkg/build/strategies/dockerfile"
	"github.com/openshift/source-to-image/pkg/scm/git"
	s2ifs "github.com/openshift/source-to-image/pkg/util/fs"

	"github.com/devtool/devtool/pkg/build"
)

// Labels of a builder image that devtool reads (source-to-image's image metadata).
const (
	labelScriptsURL   = constants.ScriptsURLLabel   // io.openshift.s2i.scripts-url
	labelDestination  = constants.DestinationLabel  // io.openshift.s2i.destination
	labelAssembleUser = constants.AssembleUserLabel // io.openshift.s2i.assemble-user
	// defaultScriptsURL is where s2i looks when the builder image has no scripts-url label.
	defaultScriptsURL = "image:///usr/libexec/s2i"
)

// PreviousTag is the tag an incremental build takes the previous image from, and the tag a
// pushed incremental build moves to its result, so that the next build finds it (the s2i CLI
// reuses the previous image of the output tag; devtool's output tags are input digests). It is
// a tag of devtool's own, not "latest", which users and other tools deploy from.
const PreviousTag = "devtool-s2i-previous"

// nativeName is the Name of the native backend, which cannot RUN the assemble script.
const nativeName = "native"

// Builder builds source-to-image requests and passes every other request to its inner
// builder unchanged. It is Configured, an Explainer and an InputHasher, so build.Cached around
// it tags s2i images by the source, the scripts and the builder image's digest.
type Builder struct {
	inner  build.Builder
	policy build.RegistryPolicy
	rt     http.RoundTripper
}

// Option configures New.
type Option func(*Builder)

// WithRegistryPolicy sets how registries are reached when reading the builder and previous
// images: credentials, CA bundles, and which are reached over plain HTTP or without TLS
// verification (the policy's Transport and Keychain, as for every builder).
func WithRegistryPolicy(p build.RegistryPolicy) Option { return func(b *Builder) { b.policy = p } }

// WithTransport makes registry requests go through rt (tests).
func WithTransport(rt http.RoundTripper) Option { return func(b *Builder) { b.rt = rt } }

// New returns a Builder whose generated Dockerfiles are built by inner (an engine, or Auto
// choosing one). Its Name is inner's, so Dockerfile requests keep their input digests.
func New(inner build.Builder, opts ...Option) *Builder {
	b := &Builder{inner: inner}
	for _, o := range opts {
		o(b)
	}
	if b.rt == nil {
		rt, err := b.policy.Transport(remote.DefaultTransport)
		if err != nil { // a CA bundle that cannot be read: every registry call says so
			rt = failingTransport{err}
		}
		b.rt = rt
	}
	return b
}

// failingTransport fails every request with err.
type failingTransport struct{ err error }

func (f failingTransport) RoundTrip(*http.Request) (*http.Response, error) { return nil, f.err }

// Name returns the inner builder's Name.
func (b *Builder) Name() string { return b.inner.Name() }

// Config implements build.Configured: the inner builder's Config.
func (b *Builder) Config() string {
	if c, ok := b.inner.(build.Configured); ok {
		return c.Config()
	}
	return ""
}

// NeedsEngineError is returned for a source-to-image request when the inner builder is the
// native builder, which cannot RUN the builder image's assemble script.
type NeedsEngineError struct{ Name string }

func (e *NeedsEngineError) Error() string {
	return fmt.Sprintf("image %q: source-to-image runs the builder image's assemble script (a RUN instruction), which the native builder cannot do; use --builder auto, podman, docker or buildah with one of them installed", e.Name)
}

// Explain implements build.Explainer. For a source-to-image request it says which backend the
// inner builder would pick for a Dockerfile with RUN (what s2i generates); errors when none
// can (no container engine installed, or --builder native).
func (b *Builder) Explain(ctx context.Context, req build.Request) (string, error) {
	if req.S2I == nil {
		return build.Explain(ctx, b.inner, req)
	}
	if b.inner.Name() == nativeName {
		return "", &NeedsEngineError{Name: req.Name}
	}
	dir, err := os.MkdirTemp("", "devtool-s2i-explain-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	df := filepath.Join(dir, "Dockerfile")
	// The shape of what s2i generates: the builder image, then RUN assemble.
	if err := os.WriteFile(df, []byte("FROM scratch\nRUN assemble\n"), 0o644); err != nil {
		return "", err
	}
	r := req
	r.S2I, r.ContextDir, r.Dockerfile = nil, dir, df
	why, err := build.Explain(ctx, b.inner, r)
	if err != nil {
		return "", fmt.Errorf("source-to-image needs a container engine to run the builder's assemble script: %w", err)
	}
	return fmt.Sprintf("s2i: source-to-image with builder %s, the generated Dockerfile built by %s", req.S2I.BuilderImage, why), nil
}

// HashInputs implements build.InputHasher: for a source-to-image request, the builder image's
// top-level manifest or index digest (asked of its registry; the FROM Build pins) and, for a file://
// ScriptsURL, the SHA-256 of the scripts directory's files; "" for other requests. An http(s)
// ScriptsURL is covered by its text only (devtool does not fetch it to hash it).
func (b *Builder) HashInputs(ctx context.Context, req build.Request) (string, error) {
	if req.S2I == nil {
		return "", nil
	}
	ref, err := b.parse(req.S2I.BuilderImage)
	if err != nil {
		return "", fmt.Errorf("builder image %q: %w", req.S2I.BuilderImage, err)
	}
	desc, err := remote.Head(ref, b.remoteOptions(ctx, req)...)
	if err != nil {
		return "", fmt.Errorf("builder image %q: %w", req.S2I.BuilderImage, err)
	}
	out := "builder-image=" + desc.Digest.String()
	if dir, ok := strings.CutPrefix(req.S2I.ScriptsURL, "file://"); ok {
		sum, err := hashDir(dir)
		if err != nil {
			return "", fmt.Errorf("scripts %q: %w", req.S2I.ScriptsURL, err)
		}
		out += "\nscripts=" + sum
	}
	return out, nil
}

// Build implements build.Builder. A source-to-image request: read the builder image's labels
// and digest; for Incremental, look for Repository:PreviousTag; generate the Dockerfile and
// its context (upload/src, upload/scripts) into a temporary directory with s2i's dockerfile
// strategy (removed afterwards); build it with the inner builder, FROM the builder image pinned
// by digest. A pushed incremental build then tags its result Repository:PreviousTag.
// Result.Builder is "s2i/<inner backend>". Other requests go to the inner builder.
//
// Errors name Request.Name: NeedsEngineError, the builder image cannot be read, s2i cannot
// generate the Dockerfile (an unreadable scripts URL), the inner build fails.
func (b *Builder) Build(ctx context.Context, req build.Request, log io.Writer) (build.Result, error) {
	if req.S2I == nil {
		return b.inner.Build(ctx, req, log)
	}
	if log == nil {
		log = io.Discard
	}
	fail := func(err error) (build.Result, error) {
		return build.Result{}, fmt.Errorf("image %q: %w", req.Name, err)
	}
	if b.inner.Name() == nativeName {
		return build.Result{}, &NeedsEngineError{Name: req.Name}
	}
	s := req.S2I
	ref, err := b.parse(s.BuilderImage)
	if err != nil {
		return fail(fmt.Errorf("builder image %q: %w", s.BuilderImage, err))
	}
	// FROM is pinned to the top-level digest (an index stays an index, so engines building
	// several platforms pick theirs); the labels come from the image for req's platform.
	desc, err := remote.Get(ref, b.remoteOptions(ctx, req)...)
	if err != nil {
		return fail(fmt.Errorf("reading builder image %q: %w", s.BuilderImage, err))
	}
	digest := desc.Digest
	img, err := desc.Image()
	if err != nil {
		return fail(fmt.Errorf("reading builder image %q: %w", s.BuilderImage, err))
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return fail(fmt.Errorf("reading builder image %q: %w", s.BuilderImage, err))
	}
	pinned := ref.Context().Digest(digest.String()).String()
	tag := req.Tag
	if tag == "" {
		tag = "latest"
	}

	dir, err := os.MkdirTemp("", "devtool-s2i-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(dir)

	src, err := git.Parse(req.ContextDir)
	if err != nil {
		return fail(fmt.Errorf("source %s: %w", req.ContextDir, err))
	}
	cfg := &api.Config{
		BuilderImage:       pinned,
		Tag:                req.Repository + ":" + tag,
		Source:             src,
		ForceCopy:          true, // copy the working tree as it is, never `git clone` it
		AsDockerfile:       filepath.Join(dir, "Dockerfile"),
		ScriptsURL:         s.ScriptsURL,
		BuilderImageLabels: labelsOf(cf),
		ImageScriptsURL:    defaultScriptsURL,
		AssembleUser:       assembleUser(cf),
		Labels: map[string]string{
			// s2i records the source's absolute path; the builder image as written is more useful
			// and does not leak the machine's directory layout into the image.
			constants.DefaultNamespace + "build.source-location": ".",
			constants.DefaultNamespace + "build.image":           s.BuilderImage,
		},
	}
	if u := cfg.BuilderImageLabels[labelScriptsURL]; u != "" {
		cfg.ImageScriptsURL = u
	}
	cfg.Destination = cfg.BuilderImageLabels[labelDestination]

	if s.Incremental {
		prev, found, err := b.previous(ctx, req)
		if err != nil {
			return fail(err)
		}
		if found {
			cfg.Incremental, cfg.IncrementalFromTag = true, prev
			fmt.Fprintf(log, "s2i: incremental build, reusing the artifacts of %s\n", prev)
		} else {
			fmt.Fprintf(log, "s2i: incremental build requested, but %s:%s does not exist yet: building from scratch\n", req.Repository, PreviousTag)
		}
	}

	strategy, err := dockerfile.New(cfg, s2ifs.NewFileSystem())
	if err != nil {
		return fail(fmt.Errorf("source-to-image: %w", err))
	}
	if _, err := strategy.Build(cfg); err != nil {
		return fail(fmt.Errorf("source-to-image: generating the Dockerfile: %w", err))
	}
	fmt.Fprintf(log, "s2i: generated a Dockerfile from builder %s (%s)\n", s.BuilderImage, digest)

	inner := req
	inner.S2I, inner.ContextDir, inner.Dockerfile, inner.Args, inner.Tag = nil, dir, cfg.AsDockerfile, nil, tag
	res, err := b.inner.Build(ctx, inner, log)
	if err != nil {
		return res, err
	}
	if s.Incremental && req.Push && res.Digest != "" && tag != PreviousTag {
		if err := b.tagPrevious(ctx, req, res.Digest); err != nil {
			return fail(err)
		}
	}
	res.Name = req.Name
	res.Builder = "s2i/" + res.Builder
	return res, nil
}

// previous returns Repository:PreviousTag pinned by digest, when the registry has it.
func (b *Builder) previous(ctx context.Context, req build.Request) (string, bool, error) {
	ref, err := b.parse(req.Repository + ":" + PreviousTag)
	if err != nil {
		return "", false, err
	}
	desc, err := remote.Head(ref, b.remoteOptions(ctx, req)...)
	if err != nil {
		if build.IsNotFound(err) {
			return "", false, nil
		}
		return "", false, fmt.Errorf("looking for the previous image %s: %w", ref, err)
	}
	return ref.Context().Digest(desc.Digest.String()).String(), true, nil
}

// tagPrevious points Repository:PreviousTag at digest (a manifest PUT; no blob is copied).
func (b *Builder) tagPrevious(ctx context.Context, req build.Request, digest string) error {
	src, err := b.parse(req.Repository + "@" + digest)
	if err != nil {
		return err
	}
	desc, err := remote.Get(src, b.remoteOptions(ctx, req)...)
	if err != nil {
		return fmt.Errorf("tagging %s:%s for the next incremental build: %w", req.Repository, PreviousTag, err)
	}
	dst := src.Context().Tag(PreviousTag)
	if err := remote.Tag(dst, desc, b.remoteOptions(ctx, req)...); err != nil {
		return fmt.Errorf("tagging %s for the next incremental build: %w", dst, err)
	}
	return nil
}

func (b *Builder) parse(s string) (name.Reference, error) {
	ref, err := name.ParseReference(s)
	if err != nil {
		return nil, err
	}
	if b.policy.IsInsecure(ref.Context().RegistryStr()) {
		return name.ParseReference(s, name.Insecure)
	}
	return ref, nil
}

func (b *Builder) remoteOptions(ctx context.Context, req build.Request) []remote.Option {
	plat := v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
	if len(req.Platforms) > 0 {
		if p, err := v1.ParsePlatform(req.Platforms[0]); err == nil {
			plat = *p
		}
	}
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(b.policy.Keychain()),
		remote.WithTransport(b.rt),
		remote.WithPlatform(plat),
		remote.WithUserAgent("devtool-s2i"),
	}
}

// labelsOf returns the builder image's labels (never nil: a nil map makes s2i install the
// image's default scripts itself, which needs its own inspection).
func labelsOf(cf *v1.ConfigFile) map[string]string {
	out := map[string]string{}
	if cf != nil {
		for k, v := range cf.Config.Labels {
			out[k] = v
		}
	}
	if _, ok := out[labelScriptsURL]; !ok {
		if v, ok := out[constants.DeprecatedScriptsURLLabel]; ok {
			out[labelScriptsURL] = v
		}
	}
	if _, ok := out[labelDestination]; !ok {
		if v, ok := out[constants.DeprecatedDestinationLabel]; ok {
			out[labelDestination] = v
		}
	}
	return out
}

// assembleUser is the user assemble runs as: the io.openshift.s2i.assemble-user label, else
// the builder image's USER when it is not root, else "" (s2i's default, 1001) — as s2i does.
func assembleUser(cf *v1.ConfigFile) string {
	if cf == nil {
		return ""
	}
	if u := cf.Config.Labels[labelAssembleUser]; u != "" {
		return u
	}
	switch u := cf.Config.User; u {
	case "", "root", "0", "0:0":
		return ""
	default:
		return u
	}
}

// hashDir returns the SHA-256 over the relative paths, modes and contents of dir's regular
// files, in lexical order.
func hashDir(dir string) (string, error) {
	h := sha256.New()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	sort.Strings(files)
	for _, p := range files {
		fi, err := os.Stat(p)
		if err != nil {
			return "", err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return "", err
		}
		rel, _ := filepath.Rel(dir, p)
		sum := sha256.Sum256(data)
		fmt.Fprintf(h, "%q %o %x\n", filepath.ToSlash(rel), fi.Mode().Perm(), sum)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
