package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/devtool/devtool/pkg/run"
	"github.com/devtool/devtool/test/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopSharedDockerd() // started by TestAutoPicksAWorkingEngine's docker cases
	os.Exit(code)
}

// onlyOnPath makes PATH a new directory holding symlinks to the given programs (found on the
// current PATH), so that the test sees a machine with only those installed. It skips the
// test when one is missing, or fails it under DEVTOOL_REQUIRE_TESTENV=1 (install-deps.sh
// installs them all).
func onlyOnPath(t *testing.T, programs ...string) {
	t.Helper()
	dir := t.TempDir()
	for _, p := range programs {
		target, err := exec.LookPath(p)
		if err != nil {
			if testenv.Required() {
				t.Fatalf("%s=1: %s is not installed (test/testenv/install-deps.sh)", testenv.EnvRequire, p)
			}
			t.Skipf("%s is not installed (test/testenv/install-deps.sh installs it)", p)
		}
		if err := os.Symlink(target, filepath.Join(dir, p)); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", dir)
}

// TestAutoPicksAWorkingEngine: `devtool build --builder auto --push` on machines with only
// docker (with and without a daemon), only podman, only buildah, and none of them — each
// simulated by a PATH holding only that program — picks the engine that works, builds and
// pushes for real, and says why; with none, a RUN-free Dockerfile is built natively and a
// RUN one fails with an error naming the Dockerfile and what to install. Engine settings
// reach the engines through odo's ODO_CONTAINER_BACKEND_GLOBAL_ARGS only (private storage,
// runc, the test's dockerd) and, for podman's host network, ODO_IMAGE_BUILD_ARGS.
func TestAutoPicksAWorkingEngine(t *testing.T) {
	if os.Geteuid() != 0 {
		if testenv.Required() {
			t.Fatalf("%s=1: the engine tests run as root", testenv.EnvRequire)
		}
		t.Skip("the engine tests run as root (rootless engines need /etc/subuid entries)")
	}
	const (
		runDockerfile  = "ARG BASE\nFROM ${BASE}\nRUN echo built > /built.txt\nCOPY app.txt /\n"
		copyDockerfile = "ARG BASE\nFROM ${BASE}\nCOPY app.txt /\n"
		runWhy         = "line 3: RUN needs a container engine"
	)
	tests := []struct {
		name       string
		path       []string
		dockerd    bool // start the package's dockerd and point docker at it
		noDaemon   bool // point docker at a socket nobody listens on
		dockerfile string
		want       string // the builder in the report; "" for an error
		wantWhy    string // in the progress, or in the error
	}{
		{name: "only docker", path: []string{"docker"}, dockerd: true, dockerfile: runDockerfile,
			want: "docker", wantWhy: "docker: " + runWhy + "; podman is not available"},
		{name: "only a docker client without a daemon", path: []string{"docker"}, noDaemon: true, dockerfile: runDockerfile,
			wantWhy: "needs a container engine (" + runWhy + ") and none of podman, docker, buildah or kaniko is available; install or start one (kaniko runs as a Pod in the cluster of --kubeconfig, which must let you create and attach to Pods), or remove RUN instructions so the native builder applies"},
		{name: "only podman", path: []string{"podman"}, dockerfile: runDockerfile,
			want: "podman", wantWhy: "podman: " + runWhy},
		{name: "only buildah", path: []string{"buildah"}, dockerfile: runDockerfile,
			want: "buildah", wantWhy: "buildah: " + runWhy + "; none of podman or docker is available"},
		{name: "none, no RUN", dockerfile: copyDockerfile,
			want: "native", wantWhy: "native: in-process"},
		{name: "none, RUN", dockerfile: runDockerfile,
			wantWhy: "none of podman, docker, buildah or kaniko is available"},
	}
	ctx := context.Background()
	host := testenv.StartRegistry(t)
	base, err := testenv.PushBusybox(ctx, host)
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Short: podman refuses a --runroot longer than 50 characters.
			store, err := os.MkdirTemp("", "auto-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(store) })
			global := []string{"--root=" + filepath.Join(store, "root"), "--runroot=" + filepath.Join(store, "run")}
			switch {
			case tc.dockerd:
				global = []string{"--host=" + testenv.SharedDockerd(t).Host}
			case tc.noDaemon:
				global = []string{"--host=unix://" + filepath.Join(store, "nobody.sock")}
			case len(tc.path) == 1 && tc.path[0] == "podman":
				// vfs: podman's overlay driver may leave its directory mounted.
				global = append(global, "--storage-driver=vfs", "--runtime=runc", "--cgroup-manager=cgroupfs", "--events-backend=file")
			case len(tc.path) == 1 && tc.path[0] == "buildah":
				global = append(global, "--storage-driver=vfs")
			}
			onlyOnPath(t, tc.path...)
			t.Setenv("DOCKER_HOST", "") // only the --host above reaches a daemon

			dir := t.TempDir()
			for p, content := range map[string]string{
				"Dockerfile": tc.dockerfile,
				"app.txt":    "app\n",
				"devfile.yaml": "schemaVersion: 2.2.0\nmetadata: {name: picker}\ncomponents:\n" +
					"  - name: img\n    image:\n      imageName: picker\n      dockerfile: {uri: Dockerfile, buildContext: ., args: [\"BASE=" + base + "\"]}\n",
			} {
				if err := os.WriteFile(filepath.Join(dir, p), []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			env := map[string]string{"ODO_CONTAINER_BACKEND_GLOBAL_ARGS": strings.Join(global, ";")}
			if len(tc.path) == 1 && tc.path[0] == "podman" {
				// RUN on the host's network: podman's default bridge network would add a
				// bridge and iptables chains to the host (and needs iptables on PATH).
				env["ODO_IMAGE_BUILD_ARGS"] = "--network=host"
			}
			var out, errb bytes.Buffer
			cctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
			defer cancel()
			err = Main(cctx, []string{"build", "--push", "--devfile", dir, "--builder", "auto", "--image-registry", fmt.Sprintf("%s/auto%d", host, i), "-o", "json"},
				Streams{In: strings.NewReader(""), Out: &out, Err: &errb}, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
			t.Logf("stderr:\n%s", errb.String())
			if tc.want == "" {
				if err == nil {
					t.Fatalf("build succeeded, want an error saying %q", tc.wantWhy)
				}
				if !strings.Contains(err.Error(), tc.wantWhy) || !strings.Contains(err.Error(), "Dockerfile") {
					t.Errorf("error %q does not contain %q and name the Dockerfile", err, tc.wantWhy)
				}
				return
			}
			if err != nil {
				t.Fatalf("build: %v", err)
			}
			var rep run.Report
			if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
				t.Fatalf("stdout is not a report: %v\n%s", err, out.String())
			}
			// Each case pushes to its own repository, so the input-digest cache never skips
			// the build.
			if len(rep.Images) != 1 || rep.Images[0].Builder != tc.want || rep.Images[0].Cached || rep.Images[0].Digest == "" {
				t.Fatalf("images = %+v, want one pushed by %s", rep.Images, tc.want)
			}
			if !strings.Contains(errb.String(), tc.wantWhy) {
				t.Errorf("progress does not say %q", tc.wantWhy)
			}
		})
	}
}
