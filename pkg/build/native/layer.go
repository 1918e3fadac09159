package native

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// entry is one tar entry of a layer the native builder writes.
type entry struct {
	name string // clean path without leading "/"
	node fsNode
	src  string // host file with the content of a regular file
	size int64
}

// layerWriter writes reproducible layers: entries sorted by name (so parents come before
// their children), every timestamp the build epoch, numeric owners only (no user or group
// names), no extended attributes. The uncompressed tar goes to a temporary file; ggcr gzips
// it once (tarball.WithCompressedCaching) at its default level, which is deterministic for a
// given Go toolchain.
type layerWriter struct {
	dir   string // temporary directory for the tar files
	epoch time.Time
	n     int
}

// write writes entries as a layer of media type mt.
func (w *layerWriter) write(ctx context.Context, entries []entry, mt types.MediaType) (v1.Layer, error) {
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
	w.n++
	f, err := os.CreateTemp(w.dir, fmt.Sprintf("layer-%d-*.tar", w.n))
	if err != nil {
		return nil, fmt.Errorf("creating layer: %w", err)
	}
	name := f.Name()
	werr := w.writeTar(ctx, f, entries)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return nil, werr
	}
	opener := func() (io.ReadCloser, error) {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		return struct {
			io.Reader
			io.Closer
		}{&ctxReader{ctx: ctx, r: f}, f}, nil
	}
	l, err := tarball.LayerFromOpener(opener, tarball.WithCompressedCaching, tarball.WithMediaType(mt))
	if err != nil {
		return nil, fmt.Errorf("compressing layer: %w", err)
	}
	return l, nil
}

func (w *layerWriter) writeTar(ctx context.Context, out io.Writer, entries []entry) error {
	tw := tar.NewWriter(out)
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		h := &tar.Header{
			Name:     e.name,
			Mode:     e.node.mode,
			Uid:      e.node.uid,
			Gid:      e.node.gid,
			ModTime:  w.epoch,
			Typeflag: e.node.typ,
		}
		switch e.node.typ {
		case tar.TypeDir:
			h.Name += "/"
		case tar.TypeSymlink:
			h.Linkname = e.node.link
		case tar.TypeReg:
			h.Size = e.size
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("writing layer entry %s: %w", e.name, err)
		}
		if e.node.typ == tar.TypeReg && e.size > 0 {
			if err := copyFile(ctx, tw, e.src, e.size); err != nil {
				return fmt.Errorf("adding %s to the layer: %w", e.src, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("writing layer: %w", err)
	}
	return nil
}

// copyFile copies exactly size bytes of src; a file that changed size since it was listed is
// an error rather than a corrupt layer.
func copyFile(ctx context.Context, w io.Writer, src string, size int64) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.Copy(w, io.LimitReader(&ctxReader{ctx: ctx, r: f}, size))
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("file changed during the build (%d bytes, expected %d)", n, size)
	}
	return nil
}
