package e2e

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/devtool/devtool/pkg/cli"
	"github.com/devtool/devtool/pkg/event"
	"github.com/devtool/devtool/test/testenv"
)

// TestAPIServerStoppedMidDeploy: the API server goes away while the image builds (after the
// preflight passed): the deploy fails with a clear error naming the server and exit 4, and a
// re-run once the server is back converges (the image is reused from the registry, every
// object created).
func TestAPIServerStoppedMidDeploy(t *testing.T) {
	needBuildah(t)
	e := setup(t)
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "apiserver")
	srv, err := testenv.StartAPIServer(ctx, dir, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	proj := writeProject(t, map[string]string{
		"Dockerfile": "ARG BASE\nFROM ${BASE}\nRUN sleep 4\n",
		"devfile.yaml": `schemaVersion: 2.2.0
metadata: {name: fault}
components:
  - name: img
    image: {imageName: fault, dockerfile: {uri: Dockerfile, args: ["BASE={{BASE}}"]}}
  - name: k8s
    kubernetes:
      inlined: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: fault-a, namespace: default}
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: fault-b, namespace: default}
` + buildThenApply,
	})
	args := []string{"deploy", "--devfile", proj, "--kubeconfig", srv.Kubeconfig, "--image-registry", e.registry + "/e2e",
		"--var", "BASE=" + e.base, "--builder", "buildah"}
	var errb bytes.Buffer
	var once sync.Once
	stopped := make(chan struct{})
	sink := event.LineWriter(func(line string) {
		if strings.Contains(line, "building image component") {
			once.Do(func() {
				go func() { _ = srv.Stop(); close(stopped) }()
			})
		}
	})
	cctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	err = cli.Main(cctx, args, cli.Streams{In: strings.NewReader(""), Out: io.Discard, Err: io.MultiWriter(&errb, sink)}, func(string) (string, bool) { return "", false })
	t.Logf("first deploy:\n%s", errb.String())
	<-stopped
	code, exit := cli.Classify(err)
	if err == nil || exit != cli.ExitDeploy {
		t.Fatalf("deploy with the API server gone: %s/%d %v; want exit %d", code, exit, err, cli.ExitDeploy)
	}
	if !strings.Contains(err.Error(), "127.0.0.1") {
		t.Errorf("the error does not name the server: %v", err)
	}
	// The server comes back (same etcd data, new port, kubeconfig rewritten): a re-run converges.
	srv, err = testenv.StartAPIServer(ctx, dir, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	args[4] = srv.Kubeconfig
	rep, _, err := devtool(t, append(args, "-o", "json")...)
	if err != nil {
		t.Fatalf("re-run: %v", err)
	}
	if len(rep.Images) != 1 || !rep.Images[0].Cached {
		t.Errorf("re-run images = %+v, want the image pushed by the first run, reused", rep.Images)
	}
	got := map[string]string{}
	for _, o := range rep.Objects {
		got[o.Name] = string(o.Action)
	}
	if got["fault-a"] != "created" || got["fault-b"] != "created" {
		t.Errorf("re-run objects = %v, want both ConfigMaps created", got)
	}
}
