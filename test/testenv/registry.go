package testenv

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// BusyboxBin is where Debian's busybox-static package installs the static busybox binary that
// PushBusybox packs into the base image (apt-get install busybox-static).
const BusyboxBin = "/bin/busybox"

// BusyboxRepo is the repository, relative to a registry host, that PushBusybox pushes to.
const BusyboxRepo = "base/busybox:latest"

// StartRegistry starts an in-process OCI registry (go-containerregistry pkg/registry, blobs and
// manifests in memory, request logging off) on 127.0.0.1 with a random port and returns its
// host ("127.0.0.1:PORT"). Clients must use plain HTTP; ggcr does so for 127.0.0.1 by itself,
// engines need --tls-verify=false. The server stops on t.Cleanup.
func StartRegistry(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// Registry is an OCI registry served by ServeRegistry for a long-running process (make demo,
// the testenv command).
type Registry struct {
	// Host is the address clients use, "127.0.0.1:PORT" (the real port when addr asked for 0).
	Host string
	srv  *http.Server
	done chan error
}

// Listen serves the same registry (same blobs, manifests and tags) on addr too, e.g. an
// address Pods can reach, and returns the host clients use there ("10.244.7.1:PORT"). It stops
// with the registry. Errors: listening on addr.
func (r *Registry) Listen(ctx context.Context, addr string) (string, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return "", fmt.Errorf("listening for registry on %s: %w", addr, err)
	}
	go func() { _ = r.srv.Serve(ln) }() // Shutdown closes every listener
	return ln.Addr().String(), nil
}

// Wait blocks until the registry stops (its context is cancelled or serving fails) and returns
// nil after a cancellation, else the serve error.
func (r *Registry) Wait() error { return <-r.done }

// ServeRegistry listens on addr ("127.0.0.1:0" for a random port) and serves an in-process OCI
// registry until ctx is cancelled. With dir non-empty, blobs are stored under dir
// (registry.NewDiskBlobHandler) so large layers do not sit in memory; manifests and tags are
// always kept in memory by ggcr's registry, so the registry's content does NOT survive a restart
// even with dir set. Request logging is off. Errors: listening on addr.
func ServeRegistry(ctx context.Context, addr, dir string) (*Registry, error) {
	opts := []registry.Option{registry.Logger(log.New(io.Discard, "", 0))}
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("creating registry blob dir: %w", err)
		}
		opts = append(opts, registry.WithBlobHandler(registry.NewDiskBlobHandler(dir)))
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening for registry on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: registry.New(opts...), ReadHeaderTimeout: 10 * time.Second}
	r := &Registry{Host: ln.Addr().String(), srv: srv, done: make(chan error, 1)}
	go func() {
		err := srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		r.done <- err
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	return r, nil
}

// busyboxEpoch is the fixed timestamp of every file in, and the creation time of, the busybox
// base image, so PushBusybox always produces the same digest for the same busybox binary.
var busyboxEpoch = time.Unix(0, 0).UTC()

// PushBusybox builds a minimal busybox image from BusyboxBin (applet symlinks from
// `busybox --list` in /bin, /tmp 1777, /etc/passwd and /etc/group for root, empty /root /proc
// /sys /dev /var /sbin /usr/bin /usr/sbin) with config OS linux, Architecture runtime.GOARCH,
// PATH and Cmd ["/bin/sh"], pushes it to host/base/busybox:latest over plain HTTP and returns
// that reference. The image is reproducible: fixed timestamps, numeric root ownership, sorted
// entries. Errors: BusyboxBin missing (install busybox-static), or the push failing.
func PushBusybox(ctx context.Context, host string) (string, error) {
	layer, err := busyboxLayer(ctx)
	if err != nil {
		return "", err
	}
	img, err := busyboxImage(layer, v1.Platform{OS: "linux", Architecture: runtime.GOARCH})
	if err != nil {
		return "", err
	}
	ref := host + "/" + BusyboxRepo
	if err := pushImage(ctx, img, ref, "the busybox base image"); err != nil {
		return "", err
	}
	return ref, nil
}

// pushImage pushes img to ref ("host:port/repo:tag") over plain HTTP. Errors say what
// ("the busybox base image") failed to push where.
func pushImage(ctx context.Context, img v1.Image, ref, what string) error {
	tag, err := name.NewTag(ref, name.Insecure)
	if err != nil {
		return fmt.Errorf("parsing %q: %w", ref, err)
	}
	if err := remote.Write(tag, img, remote.WithContext(ctx)); err != nil {
		return fmt.Errorf("pushing %s to %s: %w", what, ref, err)
	}
	return nil
}

// tarLayer is an image layer of the uncompressed tar b.
func tarLayer(b []byte) (v1.Layer, error) {
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
}

// BusyboxIndexRepo is the repository, relative to a registry host, that PushBusyboxIndex
// pushes to.
const BusyboxIndexRepo = "base/busybox-multi:latest"

// PushBusyboxIndex pushes a multi-platform base image to host/base/busybox-multi:latest over
// plain HTTP and returns that reference: a Docker manifest list with one image per platform
// ("linux/amd64", "linux/arm64/v8"; at least one), each the PushBusybox image with its config's
// OS, Architecture and Variant (and its descriptor's platform) set to that platform. Every
// image holds the host's busybox layer, so only the host's entry can run: the index is for
// tests that read manifests and configs (multi-platform builds), not for running foreign
// architectures. Reproducible like PushBusybox. Errors: a platform that does not parse, no
// platform, BusyboxBin missing, or the push failing.
func PushBusyboxIndex(ctx context.Context, host string, platforms ...string) (string, error) {
	if len(platforms) == 0 {
		return "", errors.New("PushBusyboxIndex: no platform")
	}
	layer, err := busyboxLayer(ctx)
	if err != nil {
		return "", err
	}
	var adds []mutate.IndexAddendum
	for _, ps := range platforms {
		p, err := v1.ParsePlatform(ps)
		if err != nil {
			return "", fmt.Errorf("platform %q: %w", ps, err)
		}
		img, err := busyboxImage(layer, *p)
		if err != nil {
			return "", err
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{MediaType: types.DockerManifestSchema2, Platform: p}})
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.DockerManifestList), adds...)
	ref := host + "/" + BusyboxIndexRepo
	tag, err := name.NewTag(ref, name.Insecure)
	if err != nil {
		return "", fmt.Errorf("parsing %q: %w", ref, err)
	}
	if err := remote.WriteIndex(tag, idx, remote.WithContext(ctx)); err != nil {
		return "", fmt.Errorf("pushing busybox base index to %s: %w", ref, err)
	}
	return ref, nil
}

// busyboxImage is the busybox image of PushBusybox with its config labelled platform p.
func busyboxImage(layer v1.Layer, p v1.Platform) (v1.Image, error) {
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, fmt.Errorf("assembling busybox image: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("assembling busybox image: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	cf.Created = v1.Time{Time: busyboxEpoch}
	cf.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	cf.Config.Cmd = []string{"/bin/sh"}
	cf.History = []v1.History{{Created: v1.Time{Time: busyboxEpoch}, CreatedBy: "testenv.PushBusybox " + BusyboxBin}}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("assembling busybox image: %w", err)
	}
	return img, nil
}

func busyboxLayer(ctx context.Context) (v1.Layer, error) {
	bin, err := os.ReadFile(BusyboxBin)
	if err != nil {
		return nil, fmt.Errorf("reading busybox (apt-get install busybox-static): %w", err)
	}
	out, err := exec.CommandContext(ctx, BusyboxBin, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("listing busybox applets: %w", err)
	}
	applets := strings.Fields(string(out))
	sort.Strings(applets)

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := func(h *tar.Header) *tar.Header {
		h.ModTime = busyboxEpoch
		return h
	}
	var werr error
	add := func(h *tar.Header, body []byte) {
		if werr != nil {
			return
		}
		if werr = tw.WriteHeader(hdr(h)); werr == nil && len(body) > 0 {
			_, werr = tw.Write(body)
		}
	}
	dir := func(p string, mode int64) { add(&tar.Header{Typeflag: tar.TypeDir, Name: p + "/", Mode: mode}, nil) }
	file := func(p string, mode int64, body []byte) {
		add(&tar.Header{Typeflag: tar.TypeReg, Name: p, Mode: mode, Size: int64(len(body))}, body)
	}
	// Entries in lexical order so the tar is byte-for-byte stable.
	dir("bin", 0o755)
	file("bin/busybox", 0o755, bin)
	for _, a := range applets {
		if a == "busybox" || strings.Contains(a, "/") {
			continue
		}
		add(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox", Mode: 0o777}, nil)
	}
	dir("dev", 0o755)
	dir("etc", 0o755)
	file("etc/group", 0o644, []byte("root:x:0:\n"))
	file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\n"))
	dir("proc", 0o555)
	dir("root", 0o700)
	dir("sbin", 0o755)
	dir("sys", 0o555)
	dir("tmp", 0o1777)
	dir("usr", 0o755)
	dir("usr/bin", 0o755)
	dir("usr/sbin", 0o755)
	dir("var", 0o755)
	if werr == nil {
		werr = tw.Close()
	}
	if werr != nil {
		return nil, fmt.Errorf("writing busybox layer: %w", werr)
	}
	layer, err := tarLayer(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("compressing busybox layer: %w", err)
	}
	return layer, nil
}
