package remote

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	indexSchema "github.com/devfile/registry-support/index/generator/schema"
	"github.com/google/go-containerregistry/pkg/name"
	ggcr "github.com/google/go-containerregistry/pkg/v1/remote"
)

// Media types of a devfile stack's OCI artifact layers (devfile/registry-support
// registry-library: DevfileMediaType, DevfileArchiveMediaType).
const (
	DevfileMediaType = "application/vnd.devfileio.devfile.layer.v1"
	ArchiveMediaType = "application/x-tar"
	titleAnnotation  = "org.opencontainers.image.title"
	completeMarker   = ".devtool-complete"
)

// Stack is a devfile stack fetched from a devfile registry: its devfile and its resources
// (the OCI artifact's files, e.g. docker/Dockerfile, kubernetes/deploy.yaml) in Dir, a directory
// in the cache.
type Stack struct {
	// Registry is the registry URL used, ID the stack name, Version the resolved version.
	Registry, ID, Version string
	// Devfile is the stack's devfile.yaml content.
	Devfile []byte
	// Dir holds the stack's files (devfile.yaml and resources), read-only for callers.
	Dir string
}

// Stack fetches stack id at version ("" means the registry's default version, "latest" the
// highest) from the devfile registry at registryURL, through the registry REST API of
// devfile/registry-support's index server: GET /v2index (the stack's versions and its OCI
// link), GET /devfiles/<id>/<version> (the devfile), then the OCI artifact the version's
// "self" link names (devfile-catalog/<id>:<version>, on the registry's host) for the resources,
// as registry-library's PullStackFromRegistry does. The files are kept in the cache directory
// keyed by registry URL, id and requested version; offline, only that copy is used.
//
// Errors: *Error naming the registry (unreachable, no such stack or version, bad index,
// offline cache miss); a cancelled ctx returns ctx's error.
func (c *Client) Stack(ctx context.Context, registryURL, id, version string) (*Stack, error) {
	registryURL = strings.TrimSuffix(registryURL, "/")
	what := fmt.Sprintf("devfile registry %s, stack %q", registryURL, id)
	if version != "" {
		what += " version " + version
	}
	if c.opts.CacheDir == "" {
		return nil, &Error{What: what, URL: registryURL, Err: ErrNoCache}
	}
	dir := c.stackDir(registryURL, id, version)
	if c.opts.Offline {
		st, err := readStack(dir)
		if err != nil {
			return nil, &Error{What: what, URL: registryURL + "/devfiles/" + id, Err: err, Offline: true}
		}
		st.Registry, st.ID = registryURL, id
		return st, nil
	}
	base, err := url.Parse(registryURL + "/")
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, &Error{What: what, URL: registryURL, Err: errors.New("the registry URL must be an http(s) URL like https://registry.devfile.io")}
	}
	idx, err := c.Get(ctx, what, base.JoinPath("v2index").String(), "")
	if err != nil {
		return nil, err
	}
	var index []indexSchema.Schema
	if err := json.Unmarshal(idx, &index); err != nil {
		return nil, &Error{What: what, URL: base.JoinPath("v2index").String(), Err: fmt.Errorf("not a devfile registry index: %v", err)}
	}
	ver, err := pickVersion(index, id, version)
	if err != nil {
		return nil, &Error{What: what, URL: base.JoinPath("v2index").String(), Err: err}
	}
	devfileURL := base.JoinPath("devfiles", id, ver.Version).String()
	content, err := c.Get(ctx, what, devfileURL, "")
	if err != nil {
		return nil, err
	}
	// Each fetch fills a fresh directory next to the others and then points "current" at it
	// (an atomic file write), so a concurrent reader never sees a directory being replaced.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, &Error{What: what, URL: devfileURL, Err: fmt.Errorf("creating cache directory: %w", err)}
	}
	tmp, err := os.MkdirTemp(dir, "v-")
	if err != nil {
		return nil, &Error{What: what, URL: devfileURL, Err: fmt.Errorf("creating cache directory: %w", err)}
	}
	committed := false
	defer func() {
		if !committed {
			os.RemoveAll(tmp)
		}
	}()
	if link := ver.Links["self"]; link != "" {
		if err := c.pullResources(ctx, base.Host, link, base.Scheme == "http", tmp); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, &Error{What: what, URL: base.Host + "/" + link, Err: fmt.Errorf("pulling the stack's resources: %w", err)}
		}
	}
	// The REST API's devfile wins over the artifact's copy: it is what odo merges.
	meta, _ := json.Marshal(map[string]string{"registry": registryURL, "id": id, "version": ver.Version})
	for f, b := range map[string][]byte{"devfile.yaml": content, completeMarker: meta} {
		if err := os.WriteFile(filepath.Join(tmp, f), b, 0o644); err != nil {
			return nil, &Error{What: what, URL: devfileURL, Err: fmt.Errorf("writing cache: %w", err)}
		}
	}
	if err := writeAtomic(filepath.Join(dir, currentFile), []byte(filepath.Base(tmp))); err != nil {
		return nil, &Error{What: what, URL: devfileURL, Err: fmt.Errorf("writing cache: %w", err)}
	}
	committed = true
	pruneStacks(dir, filepath.Base(tmp))
	return &Stack{Registry: registryURL, ID: id, Version: ver.Version, Devfile: content, Dir: tmp}, nil
}

// currentFile names, inside a stack's cache directory, the copy in use.
const currentFile = "current"

// pruneStacks removes copies other than keep that are over ten minutes old (a concurrent
// load reads a copy for well under that); failures are ignored.
func pruneStacks(dir, keep string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() || e.Name() == keep || !strings.HasPrefix(e.Name(), "v-") {
			continue
		}
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > 10*time.Minute {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

// stackDir is the cache directory of one (registry, id, requested version).
func (c *Client) stackDir(registryURL, id, version string) string {
	sum := sha256.Sum256([]byte(registryURL))
	if version == "" {
		version = "_default"
	}
	return filepath.Join(c.opts.CacheDir, "stacks", hex.EncodeToString(sum[:8]), safeName(id), safeName(version))
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 {
			return '_'
		}
		return r
	}, strings.TrimLeft(s, "."))
}

func readStack(dir string) (*Stack, error) {
	cur, err := os.ReadFile(filepath.Join(dir, currentFile))
	if err != nil {
		return nil, errors.New("never fetched")
	}
	dir = filepath.Join(dir, filepath.Base(strings.TrimSpace(string(cur))))
	meta, err := os.ReadFile(filepath.Join(dir, completeMarker))
	if err != nil {
		return nil, errors.New("never fetched")
	}
	var m map[string]string
	_ = json.Unmarshal(meta, &m)
	b, err := os.ReadFile(filepath.Join(dir, "devfile.yaml"))
	if err != nil {
		return nil, err
	}
	return &Stack{Version: m["version"], Devfile: b, Dir: dir}, nil
}

// pickVersion finds stack id in a /v2index answer and the version asked for: the exact
// version, the one marked default when version is "", the highest when "latest"
// (registry-library GetStackLink's rules).
func pickVersion(index []indexSchema.Schema, id, version string) (indexSchema.Version, error) {
	var names []string
	for _, s := range index {
		if s.Type != "" && s.Type != indexSchema.StackDevfileType {
			continue
		}
		names = append(names, s.Name)
		if s.Name != id {
			continue
		}
		var have []string
		var best *indexSchema.Version
		for i, v := range s.Versions {
			have = append(have, v.Version)
			switch {
			case version == v.Version, version == "" && v.Default:
				return v, nil
			case version == "latest" && (best == nil || versionLess(best.Version, v.Version)):
				best = &s.Versions[i]
			}
		}
		if best != nil {
			return *best, nil
		}
		if version == "" && len(s.Versions) == 0 && s.Version != "" {
			return indexSchema.Version{Version: s.Version, Links: s.Links}, nil
		}
		if version == "" {
			return indexSchema.Version{}, fmt.Errorf("stack %q has no default version; set parent.version (available: %s)", id, strings.Join(have, ", "))
		}
		return indexSchema.Version{}, fmt.Errorf("stack %q has no version %s (available: %s)", id, version, strings.Join(have, ", "))
	}
	if len(names) > 20 {
		names = append(names[:20], "…")
	}
	return indexSchema.Version{}, fmt.Errorf("the registry has no stack %q (stacks: %s)", id, strings.Join(names, ", "))
}

// versionLess compares dotted numeric versions ("2.10.0" > "2.9.1"); non-numeric parts
// compare as strings.
func versionLess(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) || i < len(pb); i++ {
		var x, y string
		if i < len(pa) {
			x = pa[i]
		}
		if i < len(pb) {
			y = pb[i]
		}
		if x == y {
			continue
		}
		var nx, ny int
		_, ex := fmt.Sscan(x, &nx)
		_, ey := fmt.Sscan(y, &ny)
		if ex == nil && ey == nil {
			return nx < ny
		}
		return x < y
	}
	return false
}

// pullResources copies the layers of the stack's OCI artifact host/link into dir: the devfile
// layer as its title, an archive.tar layer unpacked (registry-library's decompress).
func (c *Client) pullResources(ctx context.Context, host, link string, plainHTTP bool, dir string) error {
	var nopts []name.Option
	if plainHTTP {
		nopts = append(nopts, name.Insecure)
	}
	ref, err := name.ParseReference(path.Join(host, link), nopts...)
	if err != nil {
		return fmt.Errorf("stack link %q: %w", link, err)
	}
	rctx, cancel := context.WithTimeout(ctx, 3*c.opts.Timeout)
	defer cancel()
	img, err := ggcr.Image(ref, ggcr.WithContext(rctx), ggcr.WithTransport(c.opts.Transport))
	if err != nil {
		return err
	}
	m, err := img.Manifest()
	if err != nil {
		return err
	}
	for _, l := range m.Layers {
		title := l.Annotations[titleAnnotation]
		if l.MediaType != DevfileMediaType && l.MediaType != ArchiveMediaType {
			continue // logos, VSX
		}
		layer, err := img.LayerByDigest(l.Digest)
		if err != nil {
			return err
		}
		rc, err := layer.Compressed()
		if err != nil {
			return err
		}
		b, err := io.ReadAll(io.LimitReader(rc, c.opts.MaxSize+1))
		rc.Close()
		if err != nil {
			return err
		}
		if int64(len(b)) > c.opts.MaxSize {
			return &SizeError{c.opts.MaxSize}
		}
		if l.MediaType == ArchiveMediaType || strings.HasSuffix(title, ".tar") {
			if err := untar(b, dir); err != nil {
				return fmt.Errorf("unpacking %s: %w", title, err)
			}
			continue
		}
		if title == "" || strings.Contains(title, "..") || filepath.IsAbs(title) {
			title = "devfile.yaml"
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(title)), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// untar unpacks (after gunzip, when gzipped) regular files and directories of a tar into dir; entries that would land
// outside dir, links and devices are skipped, and so is OWNERS (registry-library's
// ExcludedFiles).
func untar(b []byte, dir string) error {
	var r io.Reader = bytes.NewReader(b)
	if len(b) > 2 && b[0] == 0x1f && b[1] == 0x8b { // registry-library gzips archive.tar
		gz, err := gzip.NewReader(r)
		if err != nil {
			return err
		}
		defer gz.Close()
		r = gz
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		rel := filepath.Clean(filepath.FromSlash(h.Name))
		if rel == "." || filepath.IsAbs(rel) || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.Base(rel) == "OWNERS" {
			continue
		}
		p := filepath.Join(dir, rel)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
	}
}
