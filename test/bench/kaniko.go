package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/devtool/devtool/test/testenv"
)

// kanikoNode is the test node (testenv.StartNode: kubelet + containerd + runc on loopback) the
// kaniko-pod scenario builds on, started only when that scenario is selected: the bench's own
// API server has no node, and a build Pod needs one.
type kanikoNode struct {
	node *testenv.Node
	// err says why there is no node (not root, binaries missing, start failed); the scenario
	// is skipped with it.
	err error
	// executor is the kaniko executor image and base the busybox image, both in
	// node.PodRegistry: the registry address Pods reach (127.0.0.1 in a Pod is the Pod).
	executor, base string
	apiPID         int    // the node's API server, for its CPU time
	cacheDir       string // devtool's discovery cache for the node's cluster
}

// startKanikoNode starts the test node under <work dir>/node and pushes the kaniko executor
// and busybox images to its Pod-facing registry. Failures are recorded in e.kaniko.err (the
// scenario is then skipped with the reason), not returned: the other scenarios still run.
func (e *env) startKanikoNode(ctx context.Context, logf func(string, ...any)) {
	k := &e.kaniko
	if ok, msg := testenv.NodeAvailable(); !ok {
		k.err = errors.New(msg)
		logf("kaniko-pod will be skipped: %v", k.err)
		return
	}
	if _, err := testenv.KanikoExecutor(); err != nil {
		k.err = err
		logf("kaniko-pod will be skipped: %v", k.err)
		return
	}
	logf("starting the test node (kubelet, containerd) for kaniko-pod")
	dir := filepath.Join(e.dir, "node")
	t0 := time.Now()
	node, err := testenv.StartNode(ctx, dir, 2*time.Minute)
	if err != nil {
		k.err = fmt.Errorf("starting the test node: %w", err)
		logf("kaniko-pod will be skipped: %v", k.err)
		return
	}
	k.node = node
	logf("test node Ready in %.1fs; Pod registry %s; pushing the kaniko executor and busybox images", time.Since(t0).Seconds(), node.PodRegistry)
	if k.executor, k.base, err = node.KanikoImages(ctx); err != nil {
		k.err = err
		return
	}
	if k.apiPID, err = findProcess(filepath.Join(node.Dir, "api")); err != nil {
		logf("node API server CPU time will not be reported: %v", err)
	}
	k.cacheDir = filepath.Join(e.dir, "node-kube-cache")
}

// stop stops the node (by PID, testenv); safe without one.
func (k *kanikoNode) stop() error {
	if k.node == nil {
		return nil
	}
	err := k.node.Stop()
	k.node = nil
	return err
}

// kanikoPod: the RUN Dockerfile of build-run-overhead (FROM the busybox base, COPY a nonce,
// RUN), changed every run, built and pushed by `devtool build --builder kaniko` (a kaniko
// executor Pod on the test node, the context streamed over pods/attach) and by `devtool build
// --builder buildah` on the host. Both push to the node's Pod-facing registry and pull the
// base from it. Informational: kaniko's Pod round trip against a local engine, no target.
func kanikoPod(e *env) scenario {
	sc := scenario{ID: "kaniko-pod", Title: "RUN build through a kaniko Pod (devtool --builder kaniko) vs the same build through buildah locally (devtool --builder buildah); informational", Kind: overhead,
		Note: "test node on loopback (kubelet, containerd + runc, CNI bridge); both push to and pull the base from the node's registry on the bridge address; a new nonce file per run (new input-digest tag, no registry skip; kaniko runs without --cache); " +
			"kaniko's time includes Pod scheduling, sandbox and container start, context upload, base pull, unpack, snapshot and push inside the Pod; its CPU runs in the Pod, not in the client column; the executor image is pulled once, in the warm-up"}
	k := &e.kaniko
	skip := skipIfMissing(e.buildah, "buildah not installed")
	switch {
	case k.err != nil:
		skip = "no test node: " + k.err.Error()
	case k.node == nil:
		skip = "no test node (not started)"
	}
	if skip != "" {
		sc.tools = []*tool{{Name: "devtool build --builder kaniko (Pod)", Skip: skip}, {Name: "devtool build --builder buildah", Skip: skip}}
		return sc
	}
	side := func(name, builder string, extra ...string) *tool {
		var dir string
		return &tool{Name: name,
			prepare: func(context.Context, int) error {
				var err error
				if dir, err = e.runProject("kaniko-pod-" + builder); err != nil {
					return err
				}
				return nonce(filepath.Join(dir, "nonce.txt"))
			},
			run: func(ctx context.Context, i int) (sample, error) {
				argv := append([]string{e.devtool, "build", "--devfile", dir, "--builder", builder, "--push",
					"--image-registry", k.node.PodRegistry + "/bench-" + builder, "--insecure-registry", k.node.PodRegistry,
					"--var", "BASE_IMAGE=" + k.base}, extra...)
				return e.exec(ctx, command{argv: argv, serverPID: k.apiPID})
			}}
	}
	sc.tools = []*tool{
		side("devtool build --builder kaniko (Pod)", "kaniko", "--kaniko-execution", "pod", "--kaniko-image", k.executor,
			"--kubeconfig", k.node.Kubeconfig, "--cache-dir", k.cacheDir),
		side("devtool build --builder buildah", "buildah"),
	}
	return sc
}
