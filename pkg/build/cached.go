package build

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// InputTagLen is the length of the input-digest tag that Cached gives a build without a tag:
// the first InputTagLen hex characters of InputDigest (64 bits; a collision between two builds
// of the same repository is not a practical concern, and the tag stays readable in
// `kubectl get pods -o wide`). The tag has no prefix, like ko's and skaffold's inputDigest tags.
const InputTagLen = 16

// InputDigest returns the hex SHA-256 of everything that determines the image a Request
// builds, so that equal digests mean "this exact build already happened":
//
//   - a format version (bumped when what is hashed changes),
//   - builder, the backend's Name ("native", "buildah", …): backends produce different images
//     from the same inputs (design.md §4),
//   - the Dockerfile's bytes (wherever it lies); for a source-to-image request (Request.S2I)
//     instead its settings (builder image as written, scripts URL, incremental), and then the
//     whole ContextDir is hashed, ignore files not consulted (s2i copies the whole source),
//   - the build arguments, by name in sorted order, the last one winning for a repeated name;
//     "KEY" alone leaves KEY unset, the same as not giving it and distinct from "KEY=" (empty);
//     the environment is not read (Request.Args),
//   - the platforms, sorted and deduplicated; with none, the host's architecture, which is the
//     platform every backend then builds for (a tag made on an arm64 laptop must not be reused
//     by an amd64 CI runner),
//   - every entry of ContextDir that an ignore file keeps (docker's rules: moby/patternmatcher,
//     "!" exceptions), walked in lexical order: its slash-separated relative path and type; for
//     directories and files the permission bits (with setuid/setgid/sticky); for files the
//     content's SHA-256; for symlinks the target (not followed). Modification times and owners
//     are not hashed: a fresh git checkout must hit the cache, as docker's own build cache does.
//   - the bytes of every ignore file a backend may use: "<Dockerfile>.dockerignore" and
//     "<Dockerfile>.containerignore" next to the Dockerfile (buildkit's, and buildah's,
//     per-Dockerfile ignore files), ".containerignore" (buildah, podman) and ".dockerignore" in
//     ContextDir, even when they exclude themselves.
//
// Backends pick different ignore files (buildkit and the native builder prefer
// "<Dockerfile>.dockerignore", buildah and podman ".containerignore", others only
// ".dockerignore"), and a preferred file replaces the others rather than adding to them. So an
// entry is left out only when every ignore file that exists excludes it, and never when there
// is no ".dockerignore" (a backend that reads only that file then sends everything). Hashing a
// file no backend sends costs a spurious rebuild; not hashing one a backend sends would reuse
// a stale image.
//
// .git is hashed unless the ignore files exclude it, like the context docker sends.
//
// Errors: the Dockerfile or a context entry cannot be read, or an ignore file is malformed.
func InputDigest(req Request, builder string) (string, error) {
	return inputDigest(context.Background(), req, builder, hostPlatform)
}

// hostPlatform is the platform backends build for when a Request names none.
const hostPlatform = "linux/" + runtime.GOARCH

// inputDigestVersion is the first field hashed; bump it when what is hashed changes.
const inputDigestVersion = "devtool input digest v2"

func inputDigest(ctx context.Context, req Request, builder, host string) (string, error) {
	h := sha256.New()
	w := &fieldWriter{h: h}
	w.field(inputDigestVersion)
	w.field("builder", builder)

	if req.S2I != nil {
		// No Dockerfile: the one s2i generates follows from these settings and the builder
		// image (whose digest the s2i builder adds through InputHasher).
		w.field("s2i", req.S2I.BuilderImage, req.S2I.ScriptsURL, fmt.Sprint(req.S2I.Incremental))
	} else {
		df, err := os.ReadFile(req.Dockerfile)
		if err != nil {
			return "", fmt.Errorf("reading the Dockerfile: %w", err)
		}
		w.field("dockerfile", string(df))
	}

	args := map[string]string{}
	for _, a := range req.Args {
		if k, v, ok := strings.Cut(a, "="); ok {
			args[k] = "=" + v
		} else {
			delete(args, a) // unset, as every backend treats it
		}
	}
	keys := make([]string, 0, len(args))
	for k := range args {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		w.field("arg", k, args[k])
	}

	plats := append([]string(nil), req.Platforms...)
	sort.Strings(plats)
	for i, p := range plats {
		if i > 0 && p == plats[i-1] {
			continue
		}
		w.field("platform", p)
	}
	if len(plats) == 0 {
		w.field("host platform", host)
	}

	if err := hashContext(ctx, w, req.ContextDir, req.Dockerfile, req.S2I != nil); err != nil {
		return "", err
	}
	if w.err != nil {
		return "", w.err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// fieldWriter writes length-prefixed strings, so no two different sequences of fields (file
// names may hold any byte but "/" and NUL) hash the same.
type fieldWriter struct {
	h   hash.Hash
	err error
}

func (w *fieldWriter) field(parts ...string) {
	var n [binary.MaxVarintLen64]byte
	w.h.Write(n[:binary.PutUvarint(n[:], uint64(len(parts)))])
	for _, p := range parts {
		w.h.Write(n[:binary.PutUvarint(n[:], uint64(len(p)))])
		io.WriteString(w.h, p)
	}
}

// modeBits are the parts of a file mode that COPY/ADD carry into the image.
const modeBits = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky

// ignoreMatchers hashes the ignore files any backend may use and returns one matcher per
// ignore choice a backend may make; nil stands for "nothing excluded".
func ignoreMatchers(w *fieldWriter, root, dir, dockerfile string) ([]*patternmatcher.PatternMatcher, error) {
	type candidate struct{ label, path, shown string }
	var cands []candidate
	if dockerfile != "" {
		cands = append(cands,
			candidate{"dockerfile dockerignore", dockerfile + ".dockerignore", dockerfile + ".dockerignore"},
			candidate{"dockerfile containerignore", dockerfile + ".containerignore", dockerfile + ".containerignore"})
	}
	cands = append(cands,
		candidate{"containerignore", filepath.Join(root, ".containerignore"), filepath.Join(dir, ".containerignore")},
		candidate{"dockerignore", filepath.Join(root, ".dockerignore"), filepath.Join(dir, ".dockerignore")})
	var matchers []*patternmatcher.PatternMatcher
	hasDockerignore := false
	for _, c := range cands {
		data, err := os.ReadFile(c.path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			return nil, fmt.Errorf("reading %s: %w", c.shown, err)
		}
		w.field(c.label, string(data))
		patterns, err := ignorefile.ReadAll(strings.NewReader(string(data)))
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", c.shown, err)
		}
		pm, err := patternmatcher.New(patterns)
		if err != nil {
			return nil, fmt.Errorf("parsing %s: %w", c.shown, err)
		}
		matchers = append(matchers, pm)
		if c.label == "dockerignore" {
			hasDockerignore = true
		}
	}
	if !hasDockerignore {
		// A backend that reads only <context>/.dockerignore sends everything.
		matchers = append(matchers, nil)
	}
	return matchers, nil
}

// hashContext hashes the entries of dir. With all (source-to-image, which copies the whole
// source and applies only .s2iignore), no ignore file is consulted and every entry is hashed.
func hashContext(ctx context.Context, w *fieldWriter, dir, dockerfile string, all bool) error {
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("reading the build context: %w", err)
	}
	matchers := []*patternmatcher.PatternMatcher{nil}
	if !all {
		if matchers, err = ignoreMatchers(w, root, dir, dockerfile); err != nil {
			return err
		}
	}
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("reading the build context: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		excluded, mayReinclude, err := excludedByAll(matchers, rel)
		if err != nil {
			return err
		}
		if excluded {
			if d.IsDir() && !mayReinclude {
				return filepath.SkipDir
			}
			return nil
		}
		slash := filepath.ToSlash(rel)
		fi, err := d.Info()
		if err != nil {
			return fmt.Errorf("reading the build context: %w", err)
		}
		switch mode := fi.Mode(); {
		case mode.IsDir():
			w.field("dir", slash, fmt.Sprint(uint32(mode&modeBits)))
		case mode&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return fmt.Errorf("reading the build context: %w", err)
			}
			w.field("symlink", slash, target)
		case mode.IsRegular():
			sum, err := fileSum(p)
			if err != nil {
				return fmt.Errorf("reading the build context: %w", err)
			}
			w.field("file", slash, fmt.Sprint(uint32(mode&modeBits)), sum)
		default: // sockets, devices, pipes: docker sends what it can; their type is what matters.
			w.field("other", slash, mode.Type().String())
		}
		return nil
	})
}

// excludedByAll reports whether every matcher excludes rel (a nil matcher excludes nothing)
// and, if so, whether a "!" pattern of one of them may re-include something below rel.
func excludedByAll(matchers []*patternmatcher.PatternMatcher, rel string) (excluded, mayReinclude bool, err error) {
	for _, pm := range matchers {
		if pm == nil {
			return false, false, nil
		}
		ex, err := pm.MatchesOrParentMatches(rel)
		if err != nil {
			return false, false, fmt.Errorf("matching %s against the ignore file: %w", rel, err)
		}
		if !ex {
			return false, false, nil
		}
		if exceptionMayReach(pm, rel) {
			mayReinclude = true
		}
	}
	return true, mayReinclude, nil
}

// exceptionMayReach reports whether some "!" pattern of pm may match rel, one of its parents
// or something below it, so that an entry below the excluded directory rel may be kept. It
// compares the pattern's leading segments with rel's; a "**" segment may match anything. This
// covers wildcard exceptions ("!*/keep.log", "!**/keep.log") that docker's literal-prefix test
// misses but buildkit and the native builder honour.
func exceptionMayReach(pm *patternmatcher.PatternMatcher, rel string) bool {
	if !pm.Exclusions() {
		return false
	}
	dirSegs := strings.Split(filepath.ToSlash(rel), "/")
	for _, pat := range pm.Patterns() {
		if !pat.Exclusion() {
			continue
		}
		if segmentsMayMatch(strings.Split(filepath.ToSlash(pat.String()), "/"), dirSegs) {
			return true
		}
	}
	return false
}

func segmentsMayMatch(patSegs, dirSegs []string) bool {
	for i := 0; i < len(patSegs) && i < len(dirSegs); i++ {
		if strings.Contains(patSegs[i], "**") {
			return true
		}
		if ok, err := path.Match(patSegs[i], dirSegs[i]); err != nil || !ok {
			return err != nil // a pattern we cannot judge may match
		}
	}
	return true
}

func fileSum(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Registry answers whether a registry already has an image.
type Registry interface {
	// Digest returns the manifest digest ("sha256:…") that ref ("host/repo:tag") points to.
	// found is false, with a nil error, when the registry has no such tag or repository; any
	// other failure (unreachable, unauthorized) is an error.
	Digest(ctx context.Context, ref string) (digest string, found bool, err error)
}

// RemoteRegistry returns the Registry that asks the registry itself, with a manifest HEAD
// request (go-containerregistry remote.Head), through p.Transport with p's credentials
// (p.Auth: docker config, credential helpers, auth.json). Registries for which p.IsInsecure
// holds (loopback, p.Insecure) are reached over plain HTTP, or HTTPS without certificate
// verification; a registry with a CA bundle is verified against it; plain HTTP to any other
// registry is refused (HTTPSOnly).
//
// Errors name the registry host and say to check that it is reachable.
func RemoteRegistry(p RegistryPolicy) Registry { return remoteRegistry{policy: p} }

type remoteRegistry struct {
	policy RegistryPolicy
}

func (rr remoteRegistry) Digest(ctx context.Context, ref string) (string, bool, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", false, fmt.Errorf("parsing image reference %q: %w", ref, err)
	}
	host := r.Context().RegistryStr()
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(rr.policy.Keychain())}
	if rr.policy.IsInsecure(host) {
		if r, err = name.ParseReference(ref, name.Insecure); err != nil {
			return "", false, fmt.Errorf("parsing image reference %q: %w", ref, err)
		}
	}
	// The policy's transport: CA bundles, no verification for insecure registries, and plain
	// HTTP only to them (ggcr also falls back to plain HTTP for RFC 1918 addresses and *.local
	// hosts).
	tr, err := rr.policy.Transport(remote.DefaultTransport)
	if err != nil {
		return "", false, err
	}
	opts = append(opts, remote.WithTransport(tr))
	desc, err := remote.Head(r, opts...)
	if err != nil {
		if IsNotFound(err) {
			return "", false, nil
		}
		if ctx.Err() != nil {
			return "", false, fmt.Errorf("looking up %s in registry %s: %w", ref, host, ctx.Err())
		}
		if xe, ok := RegistryError(err, host); ok {
			return "", false, fmt.Errorf("looking up %s: %w", ref, xe)
		}
		return "", false, fmt.Errorf("looking up %s in registry %s (check that the registry is reachable, and that you are logged in if it is private): %w", ref, host, err)
	}
	return desc.Digest.String(), true, nil
}

// HTTPSOnly wraps rt so that plain-HTTP requests fail unless plainOK(host) holds for the
// request's host ("host:port"). go-containerregistry falls back from HTTPS to plain HTTP by
// itself for RFC 1918 addresses and "*.local" hosts, which would send credentials in clear
// text to a registry nobody marked insecure; registry clients in pkg/build wrap their
// transport with it.
func HTTPSOnly(rt http.RoundTripper, plainOK func(host string) bool) http.RoundTripper {
	return &httpsOnly{rt: rt, plainOK: plainOK}
}

type httpsOnly struct {
	rt      http.RoundTripper
	plainOK func(string) bool
}

func (t *httpsOnly) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme == "http" && !t.plainOK(r.URL.Host) {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, fmt.Errorf("refusing plain HTTP to %s: the registry is not loopback or marked insecure (mark it with --insecure-registry %s, %s or \"insecure: true\" in registries.yaml)", r.URL.Host, r.URL.Host, EnvInsecureRegistries)
	}
	return t.rt.RoundTrip(r)
}

// IsNotFound reports whether err is a registry answer that means "no such tag or repository"
// (HTTP 404, or the MANIFEST_UNKNOWN / NAME_UNKNOWN error codes of the distribution spec).
func IsNotFound(err error) bool {
	var terr *transport.Error
	if !errors.As(err, &terr) {
		return false
	}
	if terr.StatusCode == http.StatusNotFound {
		return true
	}
	for _, d := range terr.Errors {
		if d.Code == transport.ManifestUnknownErrorCode || d.Code == transport.NameUnknownErrorCode {
			return true
		}
	}
	return false
}

// Cached wraps a Builder with input-digest tags and registry reuse, the way ko's
// build.Caching and skaffold's artifact cache wrap theirs (seed 000: reuse what was already
// built):
//
//   - A Request without a Tag gets the input-digest tag, InputDigest(req, inner.Name())[:16].
//     A Request with a Tag (--tag, or a tag in imageName) is passed through untouched: such a
//     tag does not identify the inputs, so finding it in the registry proves nothing.
//   - With Push, Cached asks reg for repo:tag first. If the registry has it, the build is
//     skipped: the Result carries the registry's digest, Builder inner.Name() and Cached true,
//     and a line "cached: repo:tag@digest (…)" goes to log. Otherwise inner builds and pushes.
//   - Without Push the registry is never contacted (offline builds and renders); inner builds.
//
// The input digest covers inner.Name() and, when inner is Configured, its Config (for Auto:
// "auto" and every candidate's settings, not whichever backend it picks) and, when inner is an
// InputHasher, the inputs it reports for the request (s2i: the builder image's digest and the
// scripts). The walk of the
// build context stops when ctx is cancelled. The result is a Resolver and an Explainer (it
// forwards Explain to inner).
//
// Errors: the input digest cannot be computed (unreadable Dockerfile or context), or reg
// fails (unreachable, unauthorized) — a registry error is returned rather than building
// blindly, since the push would fail the same way. Errors name Request.Name.
func Cached(inner Builder, reg Registry) Builder { return &cached{inner: inner, reg: reg} }

type cached struct {
	inner Builder
	reg   Registry
}

func (c *cached) Name() string { return c.inner.Name() }

// Configured is an optional ability of a Builder: Config returns its construction-time
// settings that change the images it builds (an engine's extra build flags such as
// "--target=prod", its isolation), in a stable form. Cached hashes them into the input digest
// together with Name, so that changing them (ODO_IMAGE_BUILD_ARGS, say) cannot reuse an image
// built with other settings.
type Configured interface {
	Config() string
}

// digestBuilder is what Cached passes to InputDigest as builder: the Name, and the Config of a
// Configured builder.
func digestBuilder(b Builder) string {
	n := b.Name()
	if c, ok := b.(Configured); ok {
		if cfg := c.Config(); cfg != "" {
			n += "\x00" + cfg
		}
	}
	return n
}

// InputHasher is an optional ability of a Builder: inputs that determine the image it builds
// from req but lie outside req (the s2i builder: its builder image's digest and its scripts).
// Cached hashes the string it returns into the input digest; "" adds nothing, so requests the
// builder passes through keep their digest.
type InputHasher interface {
	// HashInputs returns a stable description of those inputs. Errors: they cannot be read
	// (the builder image is not in its registry, a scripts directory is unreadable).
	HashInputs(ctx context.Context, req Request) (string, error)
}

// builderInputs is what Cached passes to InputDigest as builder for req: digestBuilder(inner)
// and, when inner is an InputHasher, its inputs for req.
func (c *cached) builderInputs(ctx context.Context, req Request) (string, error) {
	n := digestBuilder(c.inner)
	if h, ok := c.inner.(InputHasher); ok {
		extra, err := h.HashInputs(ctx, req)
		if err != nil {
			return "", err
		}
		if extra != "" {
			n += "\x00inputs\x00" + extra
		}
	}
	return n, nil
}

// Explain implements Explainer: the inner builder's explanation (Explain), so that
// Cached(Auto(…)) says which backend Auto will pick.
func (c *cached) Explain(ctx context.Context, req Request) (string, error) {
	return Explain(ctx, c.inner, req)
}

// Resolver is an optional ability of a Builder (Cached has it): say which image a Build of req
// would produce without building — the input-digest tag and, when the registry already has
// it, its digest. devtool diff uses it to compare exactly what deploy would pin.
type Resolver interface {
	// Resolve returns the Result a Build would return when it is found in the registry
	// (Cached true, Digest set), else found false and a Result with Repository and Tag only.
	// It always asks the registry, whatever req.Push says. Errors as Build's cache lookup.
	Resolve(ctx context.Context, req Request) (res Result, found bool, err error)
}

// Tagger is an optional ability of a Builder (Cached has it): the tag a Build of req would
// push, without building and, except through an InputHasher (the s2i builder asks the builder
// image's registry for its digest), without contacting a registry (devtool images).
type Tagger interface {
	// Tag returns req.Tag when set, else the input-digest tag. Errors: the inputs cannot be
	// read.
	Tag(ctx context.Context, req Request) (string, error)
}

// Tag implements Tagger.
func (c *cached) Tag(ctx context.Context, req Request) (string, error) {
	if req.Tag != "" {
		return req.Tag, nil
	}
	b, err := c.builderInputs(ctx, req)
	if err != nil {
		return "", fmt.Errorf("image %q: computing the input-digest tag: %w", req.Name, err)
	}
	sum, err := inputDigest(ctx, req, b, hostPlatform)
	if err != nil {
		return "", fmt.Errorf("image %q: computing the input-digest tag: %w", req.Name, err)
	}
	return sum[:InputTagLen], nil
}

// Resolve implements Resolver. An explicit req.Tag is looked up as is.
func (c *cached) Resolve(ctx context.Context, req Request) (Result, bool, error) {
	tag, err := c.Tag(ctx, req)
	if err != nil {
		return Result{}, false, err
	}
	req.Tag = tag
	res := Result{Name: req.Name, Repository: req.Repository, Tag: req.Tag, Builder: c.inner.Name()}
	if c.reg == nil {
		return res, false, nil
	}
	digest, found, err := c.reg.Digest(ctx, req.Repository+":"+req.Tag)
	if err != nil {
		return Result{}, false, fmt.Errorf("image %q: %w", req.Name, err)
	}
	if found {
		res.Digest, res.Cached = digest, true
	}
	return res, found, nil
}

func (c *cached) Build(ctx context.Context, req Request, log io.Writer) (Result, error) {
	if log == nil {
		log = io.Discard
	}
	if req.Tag != "" {
		return c.inner.Build(ctx, req, log)
	}
	b, err := c.builderInputs(ctx, req)
	if err != nil {
		return Result{}, fmt.Errorf("image %q: computing the input-digest tag: %w", req.Name, err)
	}
	sum, err := inputDigest(ctx, req, b, hostPlatform)
	if err != nil {
		return Result{}, fmt.Errorf("image %q: computing the input-digest tag: %w", req.Name, err)
	}
	req.Tag = sum[:InputTagLen]
	if !req.Push || c.reg == nil {
		return c.inner.Build(ctx, req, log)
	}
	ref := req.Repository + ":" + req.Tag
	digest, found, err := c.reg.Digest(ctx, ref)
	if err != nil {
		return Result{}, fmt.Errorf("image %q: %w", req.Name, err)
	}
	if !found {
		return c.inner.Build(ctx, req, log)
	}
	fmt.Fprintf(log, "cached: %s@%s (the registry already has this input digest)\n", ref, digest)
	return Result{
		Name:       req.Name,
		Repository: req.Repository,
		Tag:        req.Tag,
		Digest:     digest,
		Builder:    c.inner.Name(),
		Cached:     true,
	}, nil
}
