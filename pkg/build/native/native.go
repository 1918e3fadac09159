// Package native is the daemonless image builder: it assembles an image from a RUN-free
// Dockerfile in process with go-containerregistry (design.md §4, "native" backend). The base
// image named by FROM is used as is, every COPY/ADD adds one layer, and the other
// instructions only change the image config. It needs no container engine, no daemon and no
// root. Build is a build.Builder; Supports tells whether a Dockerfile can be built natively
// (pkg/cli's "--builder auto" choice). Instructions that need to execute something (RUN,
// ONBUILD), multi-stage builds, COPY --from, remote ADD sources and ADD of local archives make
// Build fail with an error wrapping ErrUnsupported.
//
// The Dockerfile is parsed with buildkit's parser (frontend/dockerfile/parser) and variables
// are expanded with buildkit's shell lexer (frontend/dockerfile/shell), so quoting, ${VAR}
// forms, escapes and ARG/ENV scoping match `docker build` with BuildKit.
//
// # Base image files
//
// COPY, ADD and WORKDIR need to know which directories the image already has (to add only the
// missing ones, owned as docker would, and to follow symlinked directories such as /bin ->
// usr/bin), and --chown/USER names need the image's /etc/passwd and /etc/group. For that the
// builder reads the base image's layers once, headers only, the first time a build needs them,
// and caches the listing per layer digest in the Builder. Builds with only config instructions
// never download a base layer.
//
// # Reproducibility
//
// The same inputs (Dockerfile, the context files .dockerignore keeps, build args, base image
// digest, platform) always give the same image digest:
//   - the config's Created time and every history entry's Created time are the build epoch:
//     1970-01-01T00:00:00Z, or the SOURCE_DATE_EPOCH build arg (seconds since the epoch) when
//     given, the convention of buildkit and reproducible-builds.org. The base image's own
//     Created time is not kept: it would make the result's time depend on the base's build.
//   - layer tar entries are sorted by name, have the epoch as mtime, uid/gid 0 unless
//     --chown, no user/group names, modes from the files (0755 for directories the layer
//     creates, as docker does), and are gzip-compressed by ggcr at a fixed level (the output
//     of Go's compress/gzip is stable for a given toolchain).
//   - files' mtimes, owners on the host and the context directory's location do not matter.
//
// # Registries
//
// Base images are pulled, and results pushed, with ggcr's remote package and the default
// keychain (~/.docker/config.json, credential helpers). Plain HTTP, and HTTPS without
// certificate verification, are allowed only for loopback registries ("localhost",
// "*.localhost", 127.0.0.0/8, ::1) and those the build.RegistryPolicy given with
// WithRegistryPolicy marks insecure (DEVTOOL_INSECURE_REGISTRIES, read by pkg/cli):
// references to those hosts are parsed with name.Insecure, and plain-HTTP requests to any
// other host are refused (ggcr by itself would fall back to plain HTTP for RFC 1918 addresses
// and *.local hosts). Pushing skips blobs the target already has; base layers from another
// registry are streamed through.
//
// The builder reads no environment variables: a build argument given as "KEY" alone is unset
// (build.Request.Args).
package native

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/devtool/devtool/pkg/build"
)

// BuilderName is the Name of the native builder, and Result.Builder of its results.
const BuilderName = "native"

// Builder is the native build.Builder. Its zero value is not usable: use New. A Builder is
// safe for concurrent use; it caches the file listings of base image layers it has read.
type Builder struct {
	transport http.RoundTripper // the caller's (WithTransport), or nil
	policy    build.RegistryPolicy
	rt        http.RoundTripper // what registry calls use, set by New
	rtErr     error             // a CA bundle of the policy that could not be read
	cache     *indexCache
}

var _ build.Builder = (*Builder)(nil)

// Option configures a Builder.
type Option func(*Builder)

// WithTransport makes the Builder talk to registries through rt (e.g. a test server's client
// transport, or a proxy), used as is for every registry, TLS settings included. Plain HTTP
// stays limited to loopback registries and those the RegistryPolicy marks insecure.
func WithTransport(rt http.RoundTripper) Option {
	return func(b *Builder) { b.transport = rt }
}

// WithRegistryPolicy sets how the Builder reaches registries, for pulling base images and for
// pushing: plain HTTP or HTTPS without verification for those for which p.IsInsecure holds,
// p's CA bundles (build.RegistryPolicy.Transport, unless WithTransport is given), p's
// credentials (p.Auth) and p's mirrors for base images. Default: the zero policy — loopback
// only without TLS, anonymous.
func WithRegistryPolicy(p build.RegistryPolicy) Option {
	return func(b *Builder) { b.policy = p }
}

// New returns a native Builder. With no options it pulls and pushes with the default
// keychain and transport, and reaches only loopback registries without TLS.
func New(opts ...Option) *Builder {
	b := &Builder{cache: &indexCache{}}
	for _, o := range opts {
		o(b)
	}
	b.rt = b.transport
	if b.rt == nil {
		// The policy's transport: per-registry CA bundles, no verification for insecure
		// registries, plain HTTP only to them (ggcr falls back to plain HTTP for RFC 1918 and
		// *.local registries by itself).
		b.rt, b.rtErr = b.policy.Transport(remote.DefaultTransport)
	}
	b.rt = build.HTTPSOnly(b.rt, b.insecure)
	return b
}

// insecure reports whether registry ("host" or "host:port") may be reached over plain HTTP
// or HTTPS without verification.
func (b *Builder) insecure(registry string) bool {
	return isLoopback(registry) || b.policy.IsInsecure(registry)
}

// Name returns "native".
func (b *Builder) Name() string { return BuilderName }

// Error is a native build failure. It names the image (build.Request.Name), the Dockerfile
// and, when the failure belongs to an instruction, its 1-based line. Err is the cause; it
// wraps ErrUnsupported for instructions the native builder cannot run, and the context's
// error when the build was cancelled.
type Error struct {
	Name       string
	Dockerfile string
	Line       int
	Err        error
}

// Error formats as `image "hello": Dockerfile /p/Dockerfile line 3: COPY www/: …`.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "image %q: ", e.Name)
	if e.Dockerfile != "" {
		b.WriteString("Dockerfile " + e.Dockerfile)
		if e.Line > 0 {
			fmt.Fprintf(&b, " line %d", e.Line)
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns the cause, for errors.Is and errors.As.
func (e *Error) Unwrap() error { return e.Err }

// Build assembles the image req describes and, with req.Push, pushes it to
// req.Repository:req.Tag ("latest" when Tag is empty). The Result's Digest is the manifest
// digest (the index digest when several platforms are built), also without Push: the native
// builder computes it locally. Progress goes to log ("STEP 3/9: COPY www/ ./", "pushing …",
// "pushed …@sha256:…").
//
// Several req.Platforms build one image per platform (the base image is pulled for each) and
// an image index over them. Errors are *Error values; ctx cancellation stops the build
// between instructions, while walking the context and during registry transfers.
func (b *Builder) Build(ctx context.Context, req build.Request, log io.Writer) (build.Result, error) {
	tag := req.Tag
	if tag == "" {
		tag = "latest"
	}
	res := build.Result{Name: req.Name, Repository: req.Repository, Tag: tag, Builder: BuilderName}
	fail := func(line int, err error) (build.Result, error) {
		return res, &Error{Name: req.Name, Dockerfile: req.Dockerfile, Line: line, Err: err}
	}
	if err := ctx.Err(); err != nil {
		return fail(0, err)
	}
	if b.rtErr != nil {
		return res, &Error{Name: req.Name, Err: b.rtErr}
	}

	var target name.Tag
	if req.Push {
		t, err := b.parseTag(req.Repository + ":" + tag)
		if err != nil {
			return res, &Error{Name: req.Name, Err: fmt.Errorf("target %s:%s: %w", req.Repository, tag, err)}
		}
		target = t
	}

	data, err := os.ReadFile(req.Dockerfile)
	if err != nil {
		return fail(0, fmt.Errorf("reading Dockerfile: %w", err))
	}
	df, err := parseDockerfile(data)
	if err != nil {
		return fail(lineOf(err), unwrapLine(err))
	}
	for _, w := range df.warnings {
		fmt.Fprintf(log, "warning: %s\n", w)
	}
	if err := df.check(); err != nil {
		return fail(lineOf(err), unwrapLine(err))
	}
	if req.ContextDir == "" {
		return fail(0, errors.New("no build context directory"))
	}
	bctx, err := loadContext(req.ContextDir, req.Dockerfile)
	if err != nil {
		return fail(0, err)
	}
	args, epoch, err := parseBuildArgs(req.Args)
	if err != nil {
		return fail(0, err)
	}
	platforms, err := parsePlatforms(req.Platforms)
	if err != nil {
		return fail(0, err)
	}
	tmp, err := os.MkdirTemp("", "devtool-native-")
	if err != nil {
		return fail(0, err)
	}
	defer os.RemoveAll(tmp)

	lw := &layerWriter{dir: tmp, epoch: epoch}
	var imgs []v1.Image
	used := map[string]bool{}
	for _, p := range platforms {
		s := &stage{
			b: b, df: df, bctx: bctx, log: log, lw: lw, epoch: epoch,
			platform: p.platform, explicitPlatform: p.explicit,
			buildArgs: args, usedArgs: used,
		}
		if len(platforms) > 1 {
			s.prefix = "[" + p.platform.String() + "] "
		}
		img, err := s.run(ctx)
		if err != nil {
			return fail(lineOf(err), unwrapLine(err))
		}
		imgs = append(imgs, img)
	}
	if unused := unusedArgs(args, used); len(unused) > 0 {
		fmt.Fprintf(log, "warning: build args not consumed by any ARG: %s\n", strings.Join(unused, ", "))
	}

	var (
		digest v1.Hash
		idx    v1.ImageIndex
	)
	if len(imgs) == 1 {
		digest, err = imgs[0].Digest()
	} else {
		idx, err = imageIndex(imgs)
		if err == nil {
			digest, err = idx.Digest()
		}
	}
	if err != nil {
		return fail(0, fmt.Errorf("computing the image digest: %w", err))
	}
	res.Digest = digest.String()

	if !req.Push {
		fmt.Fprintf(log, "built %s (not pushed)\n", res.Digest)
		return res, nil
	}
	ref := req.Repository + ":" + tag
	fmt.Fprintf(log, "pushing %s\n", ref)
	opts := b.remoteOptions(ctx, nil)
	if idx != nil {
		err = remote.WriteIndex(target, idx, opts...)
	} else {
		err = remote.Write(target, imgs[0], opts...)
	}
	if err != nil {
		return res, &Error{Name: req.Name, Err: fmt.Errorf("pushing %s: %w", ref, registryError(err, target.RegistryStr()))}
	}
	fmt.Fprintf(log, "pushed %s@%s\n", ref, res.Digest)
	return res, nil
}

// remoteOptions are the options of every registry call: the default keychain, ctx, the
// Builder's transport, and the platform to pick from a base index.
func (b *Builder) remoteOptions(ctx context.Context, p *v1.Platform) []remote.Option {
	opts := []remote.Option{
		remote.WithAuthFromKeychain(b.policy.Keychain()),
		remote.WithContext(ctx),
		remote.WithUserAgent("devtool-native"),
		remote.WithTransport(b.rt),
	}
	if p != nil {
		opts = append(opts, remote.WithPlatform(*p))
	}
	return opts
}

// mirrorRef is r with its registry replaced by mirror ("host[:port]").
func mirrorRef(r name.Reference, mirror string) string {
	repo := strings.TrimSuffix(mirror, "/") + "/" + r.Context().RepositoryStr()
	if d, ok := r.(name.Digest); ok {
		return repo + "@" + d.DigestStr()
	}
	return repo + ":" + r.Identifier()
}

// imageIndex puts per-platform images into one index; the index's media type follows the
// images' (Docker manifest list for Docker images, OCI index otherwise).
func imageIndex(imgs []v1.Image) (v1.ImageIndex, error) {
	var adds []mutate.IndexAddendum
	allDocker := true
	for _, img := range imgs {
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, err
		}
		mt, err := img.MediaType()
		if err != nil {
			return nil, err
		}
		if mt != types.DockerManifestSchema2 {
			allDocker = false
		}
		p := cf.Platform()
		if p == nil {
			p = &v1.Platform{OS: cf.OS, Architecture: cf.Architecture}
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{MediaType: mt, Platform: p}})
	}
	mt := types.OCIImageIndex
	if allDocker {
		mt = types.DockerManifestList
	}
	return mutate.AppendManifests(mutate.IndexMediaType(empty.Index, mt), adds...), nil
}

// parseTag parses an image reference, allowing plain HTTP only for loopback registries and
// those the policy marks insecure.
func (b *Builder) parseTag(ref string) (name.Tag, error) {
	t, err := name.NewTag(ref)
	if err != nil {
		return name.Tag{}, err
	}
	if b.insecure(t.RegistryStr()) {
		return name.NewTag(ref, name.Insecure)
	}
	return t, nil
}

// parseReference parses a FROM reference like parseTag.
func (b *Builder) parseReference(ref string) (name.Reference, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, err
	}
	if b.insecure(r.Context().RegistryStr()) {
		return name.ParseReference(ref, name.Insecure)
	}
	return r, nil
}

// isLoopback reports whether a registry host ("host" or "host:port") is on this machine.
func isLoopback(registry string) bool {
	host := registry
	if h, _, err := net.SplitHostPort(registry); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// parseBuildArgs parses Request.Args ("K=V", or "K" alone, which leaves K unset — the
// environment is not read) and the build epoch. The last occurrence of a K wins.
func parseBuildArgs(raw []string) (map[string]string, time.Time, error) {
	args := map[string]string{}
	for _, a := range raw {
		k, v, ok := strings.Cut(a, "=")
		if k == "" {
			return nil, time.Time{}, fmt.Errorf("build arg %q: empty name", a)
		}
		if !ok {
			delete(args, k)
			continue
		}
		args[k] = v
	}
	epoch := time.Unix(0, 0).UTC()
	if s, ok := args["SOURCE_DATE_EPOCH"]; ok && s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return nil, time.Time{}, fmt.Errorf("build arg SOURCE_DATE_EPOCH=%q: want seconds since 1970-01-01", s)
		}
		epoch = time.Unix(n, 0).UTC()
	}
	return args, epoch, nil
}

func unusedArgs(args map[string]string, used map[string]bool) []string {
	var out []string
	for k := range args {
		if !used[k] && k != "SOURCE_DATE_EPOCH" {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

type targetPlatform struct {
	platform *v1.Platform
	explicit bool
}

// parsePlatforms parses Request.Platforms; none means the host's architecture on Linux.
func parsePlatforms(raw []string) ([]targetPlatform, error) {
	if len(raw) == 0 {
		return []targetPlatform{{platform: hostPlatform()}}, nil
	}
	seen := map[string]bool{}
	var out []targetPlatform
	for _, s := range raw {
		p, err := v1.ParsePlatform(s)
		if err != nil {
			return nil, fmt.Errorf("platform %q: %w", s, err)
		}
		if p.OS == "" || p.Architecture == "" {
			return nil, fmt.Errorf("platform %q: want os/arch[/variant]", s)
		}
		if seen[p.String()] {
			continue
		}
		seen[p.String()] = true
		out = append(out, targetPlatform{platform: p, explicit: true})
	}
	return out, nil
}

// registryError makes ggcr's errors say what the user needs: an image that does not exist,
// or a registry that cannot be reached.
func registryError(err error, registry string) error {
	if xe, ok := build.RegistryError(err, registry); ok {
		return xe
	}
	var ne *net.OpError
	if errors.As(err, &ne) {
		return fmt.Errorf("cannot reach registry %s: %w", registry, err)
	}
	return err
}

// lineOf and unwrapLine split a lineError into the line and its cause.
func lineOf(err error) int {
	var le *lineError
	if errors.As(err, &le) {
		return le.line
	}
	return 0
}

func unwrapLine(err error) error {
	var le *lineError
	if errors.As(err, &le) {
		return le.err
	}
	return err
}
