package build

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
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

// EnvInsecureRegistries names the environment variable that lists extra registries to reach
// over plain HTTP or HTTPS without certificate verification: comma-separated hosts, each
// "host" (any port) or "host:port". Loopback registries (localhost, 127.0.0.0/8, ::1) are
// always insecure. Read by RemoteRegistry and by the engine backends (pkg/build/engine), which
// pass --tls-verify=false for such registries.
const EnvInsecureRegistries = "DEVTOOL_INSECURE_REGISTRIES"

// InsecureRegistry reports whether host ("host", "host:port", "[::1]:5000") is a registry
// devtool talks to without TLS verification: a loopback host, or one listed in
// DEVTOOL_INSECURE_REGISTRIES (read on every call).
func InsecureRegistry(host string) bool {
	hostname := registryHostname(host)
	if hostname == "localhost" {
		return true
	}
	if ip := net.ParseIP(hostname); ip != nil && ip.IsLoopback() {
		return true
	}
	for _, h := range strings.Split(os.Getenv(EnvInsecureRegistries), ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		if strings.EqualFold(h, host) || (!hasPort(h) && strings.EqualFold(registryHostname(h), hostname)) {
			return true
		}
	}
	return false
}

// registryHostname strips the port (and IPv6 brackets) from a registry host.
func registryHostname(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h
	}
	return strings.Trim(host, "[]")
}

func hasPort(host string) bool {
	_, _, err := net.SplitHostPort(host)
	return err == nil
}

// InputDigest returns the hex SHA-256 of everything that determines the image a Request
// builds, so that equal digests mean "this exact build already happened":
//
//   - a format version (bumped when what is hashed changes),
//   - builder, the backend's Name ("native", "buildah", …): backends produce different images
//     from the same inputs (design.md §4),
//   - the Dockerfile's bytes (wherever it lies),
//   - the build arguments, by name in sorted order, the last one winning for a repeated name;
//     "KEY" alone takes its value from the environment like `docker build --build-arg KEY`, and
//     an unset variable counts as "unset", distinct from empty,
//   - the platforms, sorted and deduplicated,
//   - every entry of ContextDir that .dockerignore keeps (docker's rules: moby/patternmatcher,
//     "!" exceptions, an excluded directory is skipped unless an exception may reach inside),
//     walked in lexical order: its slash-separated relative path and type; for directories and
//     files the permission bits (with setuid/setgid/sticky); for files the content's SHA-256;
//     for symlinks the target (not followed). Modification times and owners are not hashed:
//     a fresh git checkout must hit the cache, as docker's own build cache does.
//   - the .dockerignore file's bytes, even when it excludes itself.
//
// .git is hashed unless .dockerignore excludes it, like the context docker sends. A
// .containerignore or Dockerfile-specific ignore file is not consulted: a file that such a
// file would drop only costs a spurious rebuild, never a stale cache hit.
//
// Errors: the Dockerfile or a context entry cannot be read, or .dockerignore is malformed.
func InputDigest(req Request, builder string) (string, error) {
	h := sha256.New()
	w := &fieldWriter{h: h}
	w.field("devtool input digest v1")
	w.field("builder", builder)

	df, err := os.ReadFile(req.Dockerfile)
	if err != nil {
		return "", fmt.Errorf("reading the Dockerfile: %w", err)
	}
	w.field("dockerfile", string(df))

	args := map[string]string{}
	for _, a := range req.Args {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			if ev, set := os.LookupEnv(k); set {
				v, ok = ev, true
			}
		}
		if ok {
			args[k] = "=" + v
		} else {
			args[k] = "unset"
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

	if err := hashContext(w, req.ContextDir); err != nil {
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

func hashContext(w *fieldWriter, dir string) error {
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("reading the build context: %w", err)
	}
	var patterns []string
	ignore, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	switch {
	case err == nil:
		w.field("dockerignore", string(ignore))
		if patterns, err = ignorefile.ReadAll(strings.NewReader(string(ignore))); err != nil {
			return fmt.Errorf("reading %s: %w", filepath.Join(dir, ".dockerignore"), err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("reading the build context: %w", err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return fmt.Errorf("parsing %s: %w", filepath.Join(dir, ".dockerignore"), err)
	}
	// Match results of directories, so a child is matched against its parent's result the way
	// docker's context tar (moby/go-archive TarWithOptions) does it.
	parents := map[string]patternmatcher.MatchInfo{}
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("reading the build context: %w", err)
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		excluded, info, err := pm.MatchesUsingParentResults(rel, parents[filepath.Dir(rel)])
		if err != nil {
			return fmt.Errorf("matching %s against .dockerignore: %w", rel, err)
		}
		if d.IsDir() {
			parents[rel] = info
		}
		if excluded {
			if d.IsDir() && !exceptionInside(pm, rel) {
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

// exceptionInside reports whether some "!" pattern of pm may re-include something under the
// excluded directory rel (docker's rule for walking into excluded directories).
func exceptionInside(pm *patternmatcher.PatternMatcher, rel string) bool {
	if !pm.Exclusions() {
		return false
	}
	dirSlash := rel + string(filepath.Separator)
	for _, pat := range pm.Patterns() {
		if pat.Exclusion() && strings.HasPrefix(pat.String()+string(filepath.Separator), dirSlash) {
			return true
		}
	}
	return false
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
// request (go-containerregistry remote.Head). Credentials come from the docker config
// (~/.docker/config.json, credential helpers: authn.DefaultKeychain). Registries for which
// InsecureRegistry holds (loopback, DEVTOOL_INSECURE_REGISTRIES) are reached over plain HTTP,
// or HTTPS without certificate verification.
//
// Errors name the registry host and say to check that it is reachable.
func RemoteRegistry() Registry { return remoteRegistry{} }

type remoteRegistry struct{}

func (remoteRegistry) Digest(ctx context.Context, ref string) (string, bool, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", false, fmt.Errorf("parsing image reference %q: %w", ref, err)
	}
	host := r.Context().RegistryStr()
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}
	if InsecureRegistry(host) {
		if r, err = name.ParseReference(ref, name.Insecure); err != nil {
			return "", false, fmt.Errorf("parsing image reference %q: %w", ref, err)
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the user marked this registry insecure
		opts = append(opts, remote.WithTransport(tr))
	}
	desc, err := remote.Head(r, opts...)
	if err != nil {
		if notFound(err) {
			return "", false, nil
		}
		if ctx.Err() != nil {
			return "", false, fmt.Errorf("looking up %s in registry %s: %w", ref, host, ctx.Err())
		}
		return "", false, fmt.Errorf("looking up %s in registry %s (check that the registry is reachable, and that you are logged in if it is private): %w", ref, host, err)
	}
	return desc.Digest.String(), true, nil
}

// notFound reports a registry answer that means "no such tag or repository".
func notFound(err error) bool {
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
// Errors: the input digest cannot be computed (unreadable Dockerfile or context), or reg
// fails (unreachable, unauthorized) — a registry error is returned rather than building
// blindly, since the push would fail the same way. Errors name Request.Name.
func Cached(inner Builder, reg Registry) Builder { return &cached{inner: inner, reg: reg} }

type cached struct {
	inner Builder
	reg   Registry
}

func (c *cached) Name() string { return c.inner.Name() }

func (c *cached) Build(ctx context.Context, req Request, log io.Writer) (Result, error) {
	if log == nil {
		log = io.Discard
	}
	if req.Tag != "" {
		return c.inner.Build(ctx, req, log)
	}
	sum, err := InputDigest(req, c.inner.Name())
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
