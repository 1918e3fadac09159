package testenv

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// KanikoRepo is the repository, relative to a registry host, PushKaniko pushes the executor
// image to.
const KanikoRepo = "tools/kaniko-executor:v1.25.11"

// KanikoHint is what to run when the kaniko executor binary is missing.
const KanikoHint = "make deps (test/testenv/build-kaniko.sh builds test/testenv/bin/kaniko-executor from the Go module proxy)"

// KanikoExecutor returns the path of the kaniko executor binary build-kaniko.sh builds
// (test/testenv/bin/kaniko-executor). Errors: it is missing (the error says how to build it).
func KanikoExecutor() (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(root, "test", "testenv", "bin", "kaniko-executor")
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("kaniko executor (%s): %w", KanikoHint, err)
	}
	return bin, nil
}

// NeedKaniko returns the executor binary (KanikoExecutor), or skips t when it is missing (fails
// it under DEVTOOL_REQUIRE_TESTENV=1).
func NeedKaniko(t testing.TB) string {
	t.Helper()
	bin, err := KanikoExecutor()
	if err != nil {
		if Required() {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	return bin
}

// KanikoImages pushes the kaniko executor image (PushKaniko) and the busybox base image
// (PushBusybox) to the node's PodRegistry, where build Pods pull them, once per node, and
// returns their references. Errors: the executor is missing, or a push fails (the same error
// every call).
func (n *Node) KanikoImages(ctx context.Context) (executor, base string, err error) {
	n.kaniko.once.Do(func() {
		k := &n.kaniko
		if k.executor, k.err = PushKaniko(ctx, n.PodRegistry); k.err == nil {
			k.base, k.err = PushBusybox(ctx, n.PodRegistry)
		}
	})
	return n.kaniko.executor, n.kaniko.base, n.kaniko.err
}

// kanikoImages is what KanikoImages pushed.
type kanikoImages struct {
	once           sync.Once
	executor, base string
	err            error
}

// PushKaniko pushes an executor image in the layout of kaniko's own (the executor at
// /kaniko/executor as the entrypoint, an empty /kaniko/.docker/config.json, DOCKER_CONFIG,
// /workspace; from scratch, nothing else) to host/KanikoRepo over plain HTTP and returns its
// reference. Errors: the binary is missing, or the push fails.
func PushKaniko(ctx context.Context, host string) (string, error) {
	bin, err := KanikoExecutor()
	if err != nil {
		return "", err
	}
	body, err := os.ReadFile(bin)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range []struct {
		name string
		mode int64
		body []byte
		dir  bool
	}{
		{name: "kaniko/", mode: 0o755, dir: true},
		{name: "kaniko/.docker/", mode: 0o755, dir: true},
		{name: "kaniko/.docker/config.json", mode: 0o644, body: []byte("{}")},
		{name: "kaniko/executor", mode: 0o755, body: body},
		{name: "workspace/", mode: 0o755, dir: true},
	} {
		h := &tar.Header{Name: e.name, Mode: e.mode, ModTime: busyboxEpoch, Typeflag: tar.TypeReg, Size: int64(len(e.body))}
		if e.dir {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return "", err
		}
		if _, err := tw.Write(e.body); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	layer, err := tarLayer(buf.Bytes())
	if err != nil {
		return "", err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return "", err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return "", err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Created = "linux", runtime.GOARCH, v1.Time{Time: busyboxEpoch}
	cf.Config.Env = []string{"HOME=/root", "USER=root", "PATH=/usr/local/bin:/kaniko", "DOCKER_CONFIG=/kaniko/.docker/"}
	cf.Config.Entrypoint = []string{"/kaniko/executor"}
	cf.Config.WorkingDir = "/workspace"
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return "", err
	}
	ref := host + "/" + KanikoRepo
	if err := pushImage(ctx, img, ref, "the kaniko executor image"); err != nil {
		return "", err
	}
	return ref, nil
}
