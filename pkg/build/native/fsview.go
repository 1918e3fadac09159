package native

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// fsNode is what the native builder needs to know about one path of the image filesystem.
type fsNode struct {
	typ  byte // tar.TypeDir, tar.TypeSymlink, tar.TypeReg (anything else counts as a file)
	mode int64
	uid  int
	gid  int
	link string // symlink target
}

// fsView is the image's filesystem metadata (no file contents, except /etc/passwd and
// /etc/group for --chown and USER names): the base image's layers applied in order (whiteouts
// honoured) plus the layers this build added. COPY needs it to tell whether the destination is
// an existing directory and which parent directories it must create, and to resolve symlinked
// parents (e.g. /bin -> usr/bin) the way a real build's diff would.
type fsView struct {
	nodes  map[string]fsNode // clean path without leading slash; the root is implicit
	passwd []byte
	group  []byte
}

func newFSView() *fsView { return &fsView{nodes: map[string]fsNode{}} }

// layerIndex is one layer's entries as fsView needs them, cached per layer digest.
type layerIndex struct {
	entries   []indexEntry
	whiteouts []string // paths deleted from lower layers
	opaque    []string // directories whose lower-layer content is hidden
	passwd    []byte
	group     []byte
}

type indexEntry struct {
	name string
	node fsNode
}

// maxAccountFile bounds how much of /etc/passwd or /etc/group is kept.
const maxAccountFile = 1 << 20

// indexCache caches layer indexes by layer digest for the lifetime of a Builder, so a base
// image is read once per process, not once per build.
type indexCache struct {
	mu sync.Mutex
	m  map[v1.Hash]*layerIndex
}

// maxCachedLayers bounds indexCache; when full it starts over.
const maxCachedLayers = 64

func (c *indexCache) get(h v1.Hash) *layerIndex {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[h]
}

func (c *indexCache) put(h v1.Hash, li *layerIndex) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedLayers {
		c.m = map[v1.Hash]*layerIndex{}
	}
	c.m[h] = li
}

// viewOf builds the filesystem view of img's layers, downloading (or taking from cache) each
// layer's index.
func viewOf(ctx context.Context, img v1.Image, cache *indexCache) (*fsView, error) {
	v := newFSView()
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("listing layers: %w", err)
	}
	for _, l := range layers {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		h, err := l.Digest()
		if err != nil {
			return nil, fmt.Errorf("reading layer digest: %w", err)
		}
		li := cache.get(h)
		if li == nil {
			li, err = indexLayer(ctx, l)
			if err != nil {
				return nil, fmt.Errorf("reading layer %s: %w", h, err)
			}
			cache.put(h, li)
		}
		v.apply(li)
	}
	return v, nil
}

// indexLayer reads the tar headers of one layer.
func indexLayer(ctx context.Context, l v1.Layer) (*layerIndex, error) {
	rc, err := l.Uncompressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	tr := tar.NewReader(&ctxReader{ctx: ctx, r: rc})
	li := &layerIndex{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return li, nil
		}
		if err != nil {
			return nil, err
		}
		name := cleanTarName(h.Name)
		if name == "" {
			continue
		}
		dir, base := path.Split(name)
		dir = strings.TrimSuffix(dir, "/")
		switch {
		case base == ".wh..wh..opq":
			li.opaque = append(li.opaque, dir)
			continue
		case strings.HasPrefix(base, ".wh."):
			li.whiteouts = append(li.whiteouts, path.Join(dir, strings.TrimPrefix(base, ".wh.")))
			continue
		}
		n := fsNode{typ: tar.TypeReg, mode: h.Mode, uid: h.Uid, gid: h.Gid}
		switch h.Typeflag {
		case tar.TypeDir:
			n.typ = tar.TypeDir
		case tar.TypeSymlink:
			n.typ = tar.TypeSymlink
			n.link = h.Linkname
		case tar.TypeReg:
			switch name {
			case "etc/passwd":
				li.passwd, err = io.ReadAll(io.LimitReader(tr, maxAccountFile))
			case "etc/group":
				li.group, err = io.ReadAll(io.LimitReader(tr, maxAccountFile))
			}
			if err != nil {
				return nil, err
			}
		}
		li.entries = append(li.entries, indexEntry{name: name, node: n})
	}
}

// apply adds one layer on top of the view (OCI image spec, "Applying changesets").
func (v *fsView) apply(li *layerIndex) {
	for _, d := range li.opaque {
		v.removeChildren(d)
	}
	for _, p := range li.whiteouts {
		v.remove(p)
	}
	for _, e := range li.entries {
		v.add(e.name, e.node)
	}
	if li.passwd != nil {
		v.passwd = li.passwd
	}
	if li.group != nil {
		v.group = li.group
	}
}

func (v *fsView) add(name string, n fsNode) {
	if old, ok := v.nodes[name]; ok && old.typ == tar.TypeDir && n.typ != tar.TypeDir {
		v.removeChildren(name)
	}
	v.nodes[name] = n
}

func (v *fsView) remove(p string) {
	delete(v.nodes, p)
	v.removeChildren(p)
}

func (v *fsView) removeChildren(dir string) {
	prefix := dir + "/"
	if dir == "" {
		prefix = ""
	}
	for k := range v.nodes {
		if strings.HasPrefix(k, prefix) {
			delete(v.nodes, k)
		}
	}
}

// cleanTarName turns a tar entry name into a clean path without leading "/" or "./"; "" is
// the root.
func cleanTarName(n string) string {
	n = path.Clean("/" + n)
	return strings.TrimPrefix(n, "/")
}

// maxSymlinks bounds symlink resolution, like Linux's MAXSYMLINKS.
const maxSymlinks = 40

// resolve follows symlinks in p (a clean path without leading "/") inside the image, the way
// the kernel would inside the container's root, and returns the real path and whether it
// exists. The last component's symlink is followed too. Components that do not exist are kept
// as written.
func (v *fsView) resolve(p string) (string, bool) {
	resolved := ""
	rest := splitPath(p)
	hops := 0
	for len(rest) > 0 {
		c := rest[0]
		rest = rest[1:]
		if c == ".." {
			resolved = strings.TrimPrefix(path.Dir("/"+resolved), "/")
			continue
		}
		next := path.Join(resolved, c)
		n, ok := v.nodes[next]
		if !ok {
			if len(rest) == 0 {
				return next, false
			}
			return path.Join(append([]string{next}, rest...)...), false
		}
		if n.typ != tar.TypeSymlink {
			resolved = next
			continue
		}
		hops++
		if hops > maxSymlinks {
			return path.Join(append([]string{next}, rest...)...), false
		}
		target := n.link
		if strings.HasPrefix(target, "/") {
			resolved = ""
		}
		rest = append(splitPath(target), rest...)
	}
	_, ok := v.nodes[resolved]
	return resolved, ok || resolved == ""
}

// resolveParent resolves the parent directory of p through symlinks and keeps p's last
// component: where an entry named p ends up when a layer is applied.
func (v *fsView) resolveParent(p string) string {
	dir, base := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" {
		return base
	}
	rd, _ := v.resolve(dir)
	return path.Join(rd, base)
}

// isDir reports whether p, symlinks followed, is an existing directory.
func (v *fsView) isDir(p string) bool {
	r, ok := v.resolve(p)
	if !ok {
		return false
	}
	if r == "" {
		return true
	}
	return v.nodes[r].typ == tar.TypeDir
}

func splitPath(p string) []string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if c != "" && c != "." {
			out = append(out, c)
		}
	}
	return out
}

// lookupUser resolves a user name in /etc/passwd to its uid and primary gid.
func (v *fsView) lookupUser(name string) (uid, gid int, ok bool) {
	for _, line := range strings.Split(string(v.passwd), "\n") {
		f := strings.Split(line, ":")
		if len(f) < 4 || f[0] != name {
			continue
		}
		u, err1 := strconv.Atoi(f[2])
		g, err2 := strconv.Atoi(f[3])
		if err1 != nil || err2 != nil {
			return 0, 0, false
		}
		return u, g, true
	}
	if name == "root" {
		return 0, 0, true
	}
	return 0, 0, false
}

// lookupGroup resolves a group name in /etc/group.
func (v *fsView) lookupGroup(name string) (gid int, ok bool) {
	for _, line := range strings.Split(string(v.group), "\n") {
		f := strings.Split(line, ":")
		if len(f) < 3 || f[0] != name {
			continue
		}
		g, err := strconv.Atoi(f[2])
		return g, err == nil
	}
	if name == "root" {
		return 0, true
	}
	return 0, false
}

// ctxReader makes a long read (a layer download, a file copy) stop when ctx is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
