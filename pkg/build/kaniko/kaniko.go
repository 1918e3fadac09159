// Package kaniko builds images with the kaniko executor: as a Pod in the target cluster (Pod,
// the default), or as a child process when devtool itself runs inside a container (Routine;
// seed 000's "pod" and "routine" execution types). kaniko needs no daemon and no privileges
// beyond root in its own container; it unpacks the base image over its own root file system,
// which is why it runs only where that file system is a throw-away container's.
//
// The upstream project (GoogleContainerTools/kaniko) was archived in June 2025; DefaultImage is
// Chainguard's maintained fork. Behaviour, flags and choices: docs/kaniko.md.
package kaniko

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"

	"github.com/devtool/devtool/pkg/build"
)

// DefaultImage is the executor image build Pods run unless WithImage says otherwise:
// Chainguard's maintained kaniko fork (github.com/chainguard-dev/kaniko), which keeps kaniko's
// image layout (/kaniko/executor as the entrypoint, DOCKER_CONFIG=/kaniko/.docker/).
const DefaultImage = "cgr.dev/chainguard/kaniko:latest"

// builderName is the Name of both kaniko builders (the --builder value).
const builderName = "kaniko"

// dockerfileInContext is where the Dockerfile goes in the build context sent to kaniko when it
// lies outside the context directory (a devfile may name one anywhere in the project).
const dockerfileInContext = ".devtool-kaniko/Dockerfile"

// executorArgs are the kaniko executor flags for req, except --context and --digest-file,
// which depend on where the executor runs: the Dockerfile (relative to the context), the
// destination (or --no-push), build args, the platform, and the registry policy for the
// registries the build touches (--insecure-registry / --skip-tls-verify-registry for plain
// HTTP ones, --registry-mirror for mirrored ones, --registry-certificate for a CA bundle at
// caPath(host) when caPath is not nil), and the layer cache. Errors: several platforms (kaniko builds one per
// run), or a reference that does not parse.
func executorArgs(req build.Request, dockerfile []byte, dfPath string, cfg settings, caPath func(host string) string) ([]string, error) {
	policy := cfg.policy
	if len(req.Platforms) > 1 {
		return nil, fmt.Errorf("image %q: kaniko builds one platform per image, and --platform asks for %s; use the native builder, buildah or podman for a multi-platform image", req.Name, strings.Join(req.Platforms, ","))
	}
	tag := req.Tag
	if tag == "" {
		tag = "latest"
	}
	dest := req.Repository + ":" + tag
	if _, err := name.NewTag(dest, name.WeakValidation); err != nil {
		return nil, fmt.Errorf("image %q: %q is not an image reference: %w", req.Name, dest, err)
	}
	args := []string{"--dockerfile=" + dfPath}
	if req.Push {
		args = append(args, "--destination="+dest)
	} else {
		args = append(args, "--no-push", "--destination="+dest)
	}
	for _, a := range req.Args {
		args = append(args, "--build-arg="+a)
	}
	if len(req.Platforms) == 1 {
		args = append(args, "--custom-platform="+req.Platforms[0])
	}
	if cfg.cacheRepo != "" {
		args = append(args, "--cache=true", "--cache-repo="+cfg.cacheRepo)
	}
	for _, h := range touchedRegistries(req, dockerfile, cfg) {
		switch {
		case policy.IsInsecure(h):
			args = append(args, "--insecure-registry="+h, "--skip-tls-verify-registry="+h)
		case caPath != nil && policy.CAFile(h) != "":
			args = append(args, "--registry-certificate="+h+"="+caPath(h))
		}
	}
	for _, h := range pulledRegistries(req, dockerfile) {
		for _, m := range policy.Mirrors(h) {
			if h == name.DefaultRegistry || h == "docker.io" {
				args = append(args, "--registry-mirror="+m) // kaniko's --registry-mirror is for Docker Hub only
			} else {
				args = append(args, "--registry-map="+h+"="+m)
			}
		}
	}
	return args, nil
}

// registryOf is the registry host of repository ("" when it does not parse; executorArgs
// reports that).
func registryOf(repository string) string {
	r, err := name.NewRepository(repository, name.WeakValidation)
	if err != nil {
		return ""
	}
	return r.RegistryStr()
}

// pulledRegistries are the registries of the images the Dockerfile pulls.
func pulledRegistries(req build.Request, dockerfile []byte) []string {
	images, _ := build.PulledImages(dockerfile, req.Args)
	var out []string
	for _, img := range images {
		if r, err := name.ParseReference(img); err == nil {
			out = appendNew(out, r.Context().RegistryStr())
		}
	}
	return out
}

// settings are what both kaniko builders tell the executor beyond the request.
type settings struct {
	// policy gives registries' credentials, CA bundles, plain HTTP and mirrors.
	policy build.RegistryPolicy
	// cacheRepo is kaniko's layer cache repository (--cache-repo); "" means no cache.
	cacheRepo string
}

// touchedRegistries are the registries a build talks to: the pulled ones, their mirrors, the
// destination's and the layer cache's.
func touchedRegistries(req build.Request, dockerfile []byte, cfg settings) []string {
	var out []string
	for _, h := range pulledRegistries(req, dockerfile) {
		out = appendNew(out, h)
		for _, m := range cfg.policy.Mirrors(h) {
			host, _, _ := strings.Cut(m, "/") // "host[:port][/path]"
			out = appendNew(out, host)
		}
	}
	for _, repo := range []string{req.Repository, cfg.cacheRepo} {
		if h := registryOf(repo); h != "" {
			out = appendNew(out, h)
		}
	}
	return out
}

func appendNew(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// dockerConfig is a docker config.json ({"auths": {...}}) with the credentials the policy has
// for the registries the build touches; found is false when it has none. The result is a
// secret: never log it.
func dockerConfig(req build.Request, dockerfile []byte, cfg settings) (doc []byte, found bool, err error) {
	auths := map[string]json.RawMessage{}
	for _, h := range touchedRegistries(req, dockerfile, cfg) {
		d, ok, err := cfg.policy.DockerConfigJSON(h)
		if err != nil {
			return nil, false, fmt.Errorf("image %q: %w", req.Name, err)
		}
		if !ok {
			continue
		}
		var c struct {
			Auths map[string]json.RawMessage `json:"auths"`
		}
		if err := json.Unmarshal(d, &c); err != nil {
			return nil, false, fmt.Errorf("image %q: credentials for %s: %w", req.Name, h, err)
		}
		for k, v := range c.Auths {
			auths[k] = v
		}
	}
	if len(auths) == 0 {
		return nil, false, nil
	}
	doc, err = json.Marshal(map[string]any{"auths": auths})
	return doc, err == nil, err
}

// dockerfilePath returns where the Dockerfile is inside the build context sent to kaniko
// (slash-separated, relative) and whether it lies outside ContextDir (then it is added at
// dockerfileInContext).
func dockerfilePath(req build.Request) (rel string, outside bool) {
	r, err := filepath.Rel(req.ContextDir, req.Dockerfile)
	if err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) || filepath.IsAbs(r) {
		return dockerfileInContext, true
	}
	return filepath.ToSlash(r), false
}

// writeContext writes the build context as a gzip-compressed tar (kaniko's tar://stdin
// format) to w: the files, directories and symlinks below req.ContextDir that the build's
// ignore file keeps, owned by root, and the Dockerfile at dockerfileInContext when it lies
// outside the context. The ignore file is kaniko's (and buildkit's): "<Dockerfile>.dockerignore"
// when it exists, else "<context>/.dockerignore"; kaniko applies it again in the Pod, so
// filtering here only saves the upload. The Dockerfile and the ignore file are always sent.
// Special files (sockets, devices, FIFOs) are skipped. Errors: reading the context or the
// ignore file, ctx ending, or w failing.
func writeContext(ctx context.Context, w io.Writer, req build.Request) error {
	root := req.ContextDir
	dfRel, outside := dockerfilePath(req)
	ignoreFile, pm, err := ignoreRules(req)
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	if !outside {
		keep[dfRel] = true
	}
	if r, err := filepath.Rel(root, ignoreFile); ignoreFile != "" && err == nil && !strings.HasPrefix(r, "..") {
		keep[filepath.ToSlash(r)] = true
	}
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if pm != nil && !keep[rel] {
			excluded, err := pm.MatchesOrParentMatches(rel)
			if err != nil {
				return err
			}
			if excluded {
				if d.IsDir() && !pm.Exclusions() && !keepsBelow(keep, rel) {
					return filepath.SkipDir
				}
				return nil // a directory: something below it may be kept ("!" patterns)
			}
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		case !info.Mode().IsRegular() && !info.IsDir():
			return nil
		}
		h, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		h.Name = rel
		if info.IsDir() {
			h.Name += "/"
		}
		h.Uid, h.Gid, h.Uname, h.Gname = 0, 0, "", ""
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		return copyFile(tw, p)
	})
	if err != nil {
		return fmt.Errorf("sending the build context %s: %w", root, err)
	}
	if outside {
		extra := []string{req.Dockerfile}
		if ignoreFile == req.Dockerfile+".dockerignore" {
			extra = append(extra, ignoreFile)
		}
		if err := writeEntry(tw, filepath.Dir(dockerfileInContext)+"/", nil); err != nil {
			return err
		}
		for _, f := range extra {
			b, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			if err := writeEntry(tw, dockerfileInContext+strings.TrimPrefix(f, req.Dockerfile), b); err != nil {
				return err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

// writeEntry writes a directory (name ending in "/") or a regular file to tw.
func writeEntry(tw *tar.Writer, name string, body []byte) error {
	h := &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))}
	if strings.HasSuffix(name, "/") {
		h.Typeflag, h.Mode, h.Size = tar.TypeDir, 0o755, 0
	}
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	_, err := tw.Write(body)
	return err
}

// keepsBelow reports whether a path that must be sent lies below directory rel.
func keepsBelow(keep map[string]bool, rel string) bool {
	for k := range keep {
		if strings.HasPrefix(k, rel+"/") {
			return true
		}
	}
	return false
}

// ignoreRules reads the build's ignore file (see writeContext): its path and patterns, or ""
// and nil when there is none (or it has no patterns).
func ignoreRules(req build.Request) (string, *patternmatcher.PatternMatcher, error) {
	for _, f := range []string{req.Dockerfile + ".dockerignore", filepath.Join(req.ContextDir, ".dockerignore")} {
		r, err := os.Open(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", nil, err
		}
		patterns, err := ignorefile.ReadAll(r)
		r.Close()
		if err != nil {
			return "", nil, fmt.Errorf("reading %s: %w", f, err)
		}
		if len(patterns) == 0 {
			return f, nil, nil
		}
		pm, err := patternmatcher.New(patterns)
		if err != nil {
			return "", nil, fmt.Errorf("parsing %s: %w", f, err)
		}
		return f, pm, nil
	}
	return "", nil, nil
}

func copyFile(w io.Writer, p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

// readDockerfile reads req's Dockerfile; errors name the image component.
func readDockerfile(req build.Request) ([]byte, error) {
	if req.S2I != nil {
		return nil, fmt.Errorf("image %q: kaniko builds Dockerfiles; a source-to-image request reaches it through the s2i builder", req.Name)
	}
	b, err := os.ReadFile(req.Dockerfile)
	if err != nil {
		return nil, fmt.Errorf("image %q: reading the Dockerfile: %w", req.Name, err)
	}
	return b, nil
}

// errDigest is returned when kaniko pushed but reported no digest.
var errDigest = errors.New("kaniko reported no image digest")
