package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/devtool/devtool/pkg/build/kaniko"
	"github.com/devtool/devtool/pkg/cli"
	"github.com/devtool/devtool/test/testenv"
)

// kanikoSetup is nodeSetup plus the kaniko executor image and a busybox base in the node's
// registry where Pods reach it (PodRegistry).
func kanikoSetup(t *testing.T) (e *env, n *testenv.Node, executor, base string) {
	t.Helper()
	e, n = nodeSetup(t)
	testenv.NeedKaniko(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	executor, base, err := n.KanikoImages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return e, n, executor, base
}

// kanikoDevfile writes a project whose image components (one per name) each have a RUN
// Dockerfile running run, and, when ns is set, a Deployment "web" in ns serving the first
// image's /www with busybox httpd on 8080.
func kanikoDevfile(t *testing.T, ns string, run map[string]string, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	var comps strings.Builder
	for _, n := range names {
		df := fmt.Sprintf("ARG BASE\nFROM ${BASE}\nRUN %s\nRUN mkdir -p /www && echo \"%s built by kaniko\" > /www/index.html\nCMD [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]\n", run[n], n)
		if err := os.MkdirAll(filepath.Join(dir, n), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, n, "Dockerfile"), []byte(df), 0o644); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&comps, `  - name: %[1]s
    image:
      imageName: %[1]s
      autoBuild: true
      dockerfile:
        uri: ./%[1]s/Dockerfile
        buildContext: ./%[1]s
        args: ["BASE={{BASE}}"]
`, n)
	}
	deploy := ""
	if ns != "" {
		deploy = fmt.Sprintf(`  - name: web
    kubernetes:
      deployByDefault: true
      inlined: |
        apiVersion: v1
        kind: Namespace
        metadata:
          name: %[1]s
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: web
          namespace: %[1]s
        spec:
          replicas: 1
          selector:
            matchLabels: {app: web}
          template:
            metadata:
              labels: {app: web}
            spec:
              terminationGracePeriodSeconds: 1
              containers:
                - name: web
                  image: %[2]s
`, ns, names[0])
	}
	doc := "schemaVersion: 2.2.0\nmetadata:\n  name: kaniko-e2e\nvariables:\n  BASE: none\ncomponents:\n" + comps.String() + deploy
	if err := os.WriteFile(filepath.Join(dir, "devfile.yaml"), []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestKanikoDeployAuto: on a machine with no container engine (PATH without podman, docker or
// buildah), `deploy --builder auto` falls back to a kaniko build Pod in the cluster, which
// builds the RUN Dockerfile and pushes it; the Deployment rolls out with that image (--wait)
// and serves what the RUN wrote; the image pulled back holds the file; no build Pod or Secret
// is left. A second deploy finds the image in the registry and runs no build Pod.
func TestKanikoDeployAuto(t *testing.T) {
	e, n, executor, base := kanikoSetup(t)
	t.Setenv("PATH", t.TempDir()) // no engine here
	dir := kanikoDevfile(t, "kaniko-deploy", map[string]string{"app": "echo hello > /hello.txt"}, "app")
	args := []string{"deploy", "--wait=2m", "--devfile", dir, "--kubeconfig", e.kubeconfig, "--image-registry", n.PodRegistry + "/e2e",
		"--insecure-registry", n.PodRegistry, "--kaniko-image", executor, "--var", "BASE=" + base, "-o", "json"}
	rep, stderr, err := devtool(t, append(args, "-v")...)
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	if len(rep.Images) != 1 || rep.Images[0].Builder != "kaniko" || rep.Images[0].Cached || !strings.HasPrefix(rep.Images[0].Digest, "sha256:") {
		t.Fatalf("images = %+v, want one kaniko build with a digest", rep.Images)
	}
	for _, want := range []string{"(kaniko: line 3: RUN needs a container engine; none of podman, docker or buildah is available)", "auto chose kaniko", "kaniko build Pod default/devtool-build-app-", "Running: [/bin/sh -c echo hello > /hello.txt]", "rolled out"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("progress lacks %q:\n%s", want, stderr)
		}
	}
	if got := testenv.ImageFile(t, rep.Images[0].Ref(), "www/index.html"); got != "app built by kaniko\n" {
		t.Errorf("/www/index.html in the pushed image = %q", got)
	}
	ip := podIP(t, n, "kaniko-deploy", "web")
	resp, err := http.Get("http://" + net.JoinHostPort(ip, "8080") + "/")
	if err != nil {
		t.Fatalf("GET the app on its pod IP: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "app built by kaniko\n" {
		t.Errorf("the app answers %q", body)
	}
	assertNoKanikoObjects(t, n, "default")

	rep, stderr, err = devtool(t, args...)
	if err != nil {
		t.Fatalf("second deploy: %v", err)
	}
	if len(rep.Images) != 1 || !rep.Images[0].Cached || strings.Contains(stderr, "kaniko build Pod") {
		t.Errorf("second deploy rebuilt: images %+v\n%s", rep.Images, stderr)
	}
}

// assertNoKanikoObjects fails unless ns has no build Pod or Secret with devtool's labels.
func assertNoKanikoObjects(t *testing.T, n *testenv.Node, ns string) {
	t.Helper()
	sel := metav1.ListOptions{LabelSelector: kaniko.LabelComponent + "=image-build"}
	pods, err := n.Client.CoreV1().Pods(ns).List(context.Background(), sel)
	if err != nil {
		t.Fatal(err)
	}
	secrets, err := n.Client.CoreV1().Secrets(ns).List(context.Background(), sel)
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items)+len(secrets.Items) > 0 {
		t.Errorf("left behind in %s: %d build Pods, %d Secrets", ns, len(pods.Items), len(secrets.Items))
	}
}

// podWatch counts the build Pods that exist at once in ns, through a watch.
type podWatch struct {
	mu        sync.Mutex
	live, max int
	seen      int
	stop      func()
	done      chan struct{}
}

func watchBuildPods(t *testing.T, n *testenv.Node, ns string) *podWatch {
	t.Helper()
	w, err := n.Client.CoreV1().Pods(ns).Watch(context.Background(), metav1.ListOptions{LabelSelector: kaniko.LabelComponent + "=image-build"})
	if err != nil {
		t.Fatal(err)
	}
	pw := &podWatch{stop: w.Stop, done: make(chan struct{})}
	go func() {
		defer close(pw.done)
		live := map[string]bool{}
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			pw.mu.Lock()
			switch ev.Type {
			case watch.Added:
				if !live[p.Name] {
					pw.seen++
				}
				live[p.Name] = true
			case watch.Deleted:
				delete(live, p.Name)
			}
			pw.live = len(live)
			pw.max = max(pw.max, len(live))
			pw.mu.Unlock()
		}
	}()
	return pw
}

func (pw *podWatch) result() (maxLive, seen, live int) {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	return pw.max, pw.seen, pw.live
}

// TestKanikoParallelBuilds: three image components built as kaniko Pods with
// --max-parallel-builds 2: a watch never sees more than two build Pods at once (and sees two,
// so they did run in parallel). Then, with one component whose RUN fails at once beside two
// slow ones, the build fails fast, the other builds are cancelled and no build Pod is left.
func TestKanikoParallelBuilds(t *testing.T) {
	e, n, executor, base := kanikoSetup(t)
	ns := "kaniko-parallel"
	if _, err := n.Client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	common := []string{"build", "--push", "--builder", "kaniko", "--kubeconfig", e.kubeconfig, "-n", ns, "--image-registry", n.PodRegistry + "/e2e",
		"--insecure-registry", n.PodRegistry, "--kaniko-image", executor, "--var", "BASE=" + base, "-o", "json", "-v"}

	dir := kanikoDevfile(t, "", map[string]string{"one": "sleep 3", "two": "sleep 3", "three": "sleep 3"}, "one", "two", "three")
	pw := watchBuildPods(t, n, ns)
	start := time.Now()
	rep, stderr, err := devtool(t, append(common, "--devfile", dir, "--max-parallel-builds", "2")...)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	if len(rep.Images) != 3 {
		t.Fatalf("images = %+v, want 3", rep.Images)
	}
	for _, im := range rep.Images {
		if im.Builder != "kaniko" || !strings.HasPrefix(im.Digest, "sha256:") {
			t.Errorf("image %+v: want a kaniko build with a digest", im)
		}
	}
	if !strings.Contains(stderr, "waiting for a free build slot (2 kaniko build Pods at once") {
		t.Errorf("progress does not say a build waited for a slot:\n%s", stderr)
	}
	time.Sleep(time.Second) // the last Deleted event
	maxLive, seen, live := pw.result()
	pw.stop()
	t.Logf("3 builds in %s; at most %d build Pods at once, %d seen", took.Round(100*time.Millisecond), maxLive, seen)
	if maxLive != 2 || seen != 3 || live != 0 {
		t.Errorf("watch saw at most %d build Pods at once (want 2), %d in all (want 3), %d left (want 0)", maxLive, seen, live)
	}

	// The first failure cancels the others and deletes their Pods.
	dir = kanikoDevfile(t, "", map[string]string{"fast-fail": "exit 7", "slow-a": "sleep 60", "slow-b": "sleep 60"}, "fast-fail", "slow-a", "slow-b")
	start = time.Now()
	_, stderr, err = devtool(t, append(common, "--devfile", dir, "--max-parallel-builds", "3")...)
	took = time.Since(start)
	if err == nil {
		t.Fatal("build with a failing RUN succeeded")
	}
	if !strings.Contains(err.Error(), `image "fast-fail"`) || !strings.Contains(stderr, "cancelled") {
		t.Errorf("error %v / progress does not name the failed build and the cancelled ones:\n%s", err, stderr)
	}
	if took > 45*time.Second {
		t.Errorf("the failed build took %s: the slow builds (60 s) were not cancelled", took)
	}
	assertNoKanikoObjects(t, n, ns)
}

// TestKanikoCtrlC: Ctrl-C (SIGINT to the devtool process) while a kaniko build Pod runs its RUN:
// devtool exits 130, and within 10 s neither the build Pod nor the registry credentials Secret
// devtool created from the user's docker config is left in the namespace.
func TestKanikoCtrlC(t *testing.T) {
	e, n, executor, base := kanikoSetup(t)
	bin := devtoolBinary(t)
	ns := "kaniko-ctrlc"
	if _, err := n.Client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dockerConfig := t.TempDir()
	cfg := fmt.Sprintf(`{"auths": {%q: {"auth": "dXNlcjpwdw=="}}}`, n.PodRegistry)
	if err := os.WriteFile(filepath.Join(dockerConfig, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := kanikoDevfile(t, "", map[string]string{"slow": "echo sleeping && sleep 290"}, "slow")
	cmd := exec.Command(bin, "build", "--push", "--builder", "kaniko", "--devfile", dir, "--kubeconfig", e.kubeconfig, "-n", ns,
		"--image-registry", n.PodRegistry+"/e2e", "--insecure-registry", n.PodRegistry, "--kaniko-image", executor, "--var", "BASE="+base, "-v")
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+dockerConfig)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var raw bytes.Buffer
	sc := bufio.NewScanner(stderr)
	var signalled time.Time
	for sc.Scan() {
		raw.WriteString(sc.Text() + "\n")
		if signalled.IsZero() && strings.Contains(sc.Text(), "Running: [/bin/sh -c echo sleeping") {
			sel := metav1.ListOptions{LabelSelector: kaniko.LabelComponent + "=image-build"}
			pods, _ := n.Client.CoreV1().Pods(ns).List(context.Background(), sel)
			secrets, _ := n.Client.CoreV1().Secrets(ns).List(context.Background(), sel)
			if len(pods.Items) != 1 || len(secrets.Items) != 1 {
				t.Errorf("while building: %d build Pods, %d Secrets, want 1 and 1", len(pods.Items), len(secrets.Items))
			}
			if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			signalled = time.Now()
		}
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != cli.ExitCancelled {
		t.Fatalf("exit: %v, want %d\n%s", err, cli.ExitCancelled, raw.String())
	}
	if signalled.IsZero() {
		t.Fatalf("the RUN never ran:\n%s", raw.String())
	}
	for {
		sel := metav1.ListOptions{LabelSelector: kaniko.LabelComponent + "=image-build"}
		pods, _ := n.Client.CoreV1().Pods(ns).List(context.Background(), sel)
		secrets, _ := n.Client.CoreV1().Secrets(ns).List(context.Background(), sel)
		if len(pods.Items) == 0 && len(secrets.Items) == 0 {
			t.Logf("exit %d; build Pod and Secret gone %.1fs after SIGINT", exit.ExitCode(), time.Since(signalled).Seconds())
			break
		}
		if time.Since(signalled) > 10*time.Second {
			t.Fatalf("10 s after SIGINT: %d build Pods, %d Secrets left\n%s", len(pods.Items), len(secrets.Items), raw.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if strings.Contains(raw.String(), "dXNlcjpwdw==") || strings.Contains(raw.String(), "UnhandledError") {
		t.Errorf("stderr shows a credential or client-go's internal errors:\n%s", raw.String())
	}
}

// TestKanikoS2I: a source-to-image component built by a kaniko Pod (the Dockerfile devtool
// generates from the builder image, kaniko as the engine that runs assemble): the image holds
// the sample's source and what assemble wrote, its Cmd is the builder's run script.
func TestKanikoS2I(t *testing.T) {
	e, n, executor, _ := kanikoSetup(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	builder, err := testenv.PushS2IBuilder(ctx, n.PodRegistry, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep, stderr, err := devtool(t, "build", "--push", "--builder", "kaniko", "--devfile", sample(t, "s2i-hello"), "--kubeconfig", e.kubeconfig,
		"--image-registry", n.PodRegistry+"/e2e", "--insecure-registry", n.PodRegistry, "--kaniko-image", executor, "--var", "BUILDER_IMAGE="+builder, "-o", "json")
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	if len(rep.Images) != 1 || rep.Images[0].Builder != "s2i/kaniko" || !strings.HasPrefix(rep.Images[0].Digest, "sha256:") {
		t.Fatalf("images = %+v, want one s2i/kaniko build with a digest\n%s", rep.Images, stderr)
	}
	if got := testenv.ImageFile(t, rep.Images[0].Ref(), "opt/app-root/src/index.txt"); got != "Hello from a source-to-image build\n" {
		t.Errorf("index.txt = %q", got)
	}
	if got := testenv.ImageFile(t, rep.Images[0].Ref(), "opt/app-root/src/ASSEMBLED"); got == "" {
		t.Error("assemble did not run")
	}
	assertNoKanikoObjects(t, n, "default")
}
