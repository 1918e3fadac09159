// Package bench measures devtool's build paths side by side with the peer tool on the same
// machine, in the same run (style.md: benchmarks, reported as ratios by `make bench`):
//
//   - BenchmarkBuildHello: the hello sample's RUN-free Dockerfile built and pushed to a
//     loopback registry, cold (no cache of the base image), by devtool's native builder and by
//     buildah (build + push, what odo and skaffold run for a Dockerfile).
//   - BenchmarkRebuildUnchanged: the same build again with nothing changed: devtool's
//     input-digest cache (hash the context, HEAD the registry, skip) against buildah's own
//     layer cache (buildah build + push again).
//
// Each benchmark has sub-benchmarks devtool and buildah; `make bench` prints buildah/devtool.
package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/devtool/devtool/pkg/build"
	"github.com/devtool/devtool/pkg/build/engine"
	"github.com/devtool/devtool/pkg/build/native"
	"github.com/devtool/devtool/test/testenv"
)

type fixture struct {
	host, base, ctxDir string
	storage            []string // buildah --root/--runroot for an isolated store
}

func setup(b *testing.B) *fixture {
	b.Helper()
	host := testenv.StartRegistry(b)
	base, err := testenv.PushBusybox(context.Background(), host)
	if err != nil {
		b.Fatal(err)
	}
	ctxDir, err := filepath.Abs(filepath.Join("..", "..", "testdata", "samples", "hello"))
	if err != nil {
		b.Fatal(err)
	}
	st := b.TempDir()
	return &fixture{host: host, base: base, ctxDir: ctxDir,
		storage: []string{"--root", filepath.Join(st, "root"), "--runroot", filepath.Join(st, "runroot"), "--storage-driver", "vfs"}}
}

func (f *fixture) request(repo, tag string) build.Request {
	return build.Request{
		Name: "hello", ContextDir: f.ctxDir, Dockerfile: filepath.Join(f.ctxDir, "Dockerfile"),
		Args: []string{"BASE_IMAGE=" + f.base}, Repository: f.host + "/" + repo, Tag: tag, Push: true,
	}
}

func needBuildah(b *testing.B) {
	if _, err := exec.LookPath("buildah"); err != nil {
		if testenv.Required() {
			b.Fatal("buildah is not installed (make deps)")
		}
		b.Skip("buildah is not installed")
	}
}

func BenchmarkBuildHello(b *testing.B) {
	f := setup(b)
	ctx := context.Background()
	b.Run("devtool", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			// A new Builder each time: cold, like buildah with a fresh store (both pull the
			// base image's manifest and layers).
			nb := native.New()
			if _, err := nb.Build(ctx, f.request("native", fmt.Sprint(i)), io.Discard); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("buildah", func(b *testing.B) {
		needBuildah(b)
		eb := engine.New(engine.Buildah, engine.WithGlobalFlags(f.storage...))
		for i := 0; i < b.N; i++ {
			// A fresh store each time: buildah's layer cache would otherwise make this the
			// "unchanged" benchmark below.
			b.StopTimer()
			_ = os.RemoveAll(f.storage[1])
			b.StartTimer()
			if _, err := eb.Build(ctx, f.request("buildah", fmt.Sprint(i)), io.Discard); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkRebuildUnchanged(b *testing.B) {
	f := setup(b)
	ctx := context.Background()
	reg := build.RemoteRegistry(build.RegistryPolicy{})
	b.Run("devtool", func(b *testing.B) {
		cb := build.Cached(native.New(), reg)
		if _, err := cb.Build(ctx, f.request("native-cached", ""), io.Discard); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			res, err := cb.Build(ctx, f.request("native-cached", ""), io.Discard)
			if err != nil {
				b.Fatal(err)
			}
			if !res.Cached {
				b.Fatal("second build was not cached")
			}
		}
	})
	b.Run("buildah", func(b *testing.B) {
		needBuildah(b)
		eb := engine.New(engine.Buildah, engine.WithGlobalFlags(f.storage...))
		if _, err := eb.Build(ctx, f.request("buildah-cached", "x"), io.Discard); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := eb.Build(ctx, f.request("buildah-cached", "x"), io.Discard); err != nil {
				b.Fatal(err)
			}
		}
	})
}
