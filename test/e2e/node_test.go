package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/devtool/devtool/pkg/cli"
	"github.com/devtool/devtool/test/testenv"
)

// node is the package's real test node (kubelet + containerd), started on first use by
// nodeSetup and stopped after all tests.
var node testenv.NodeForMain

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		_ = os.RemoveAll(filepath.Dir(binPath))
	}
	if err := node.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping the test node:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// nodeSetup is setup on the package's real node: its API server, its registry (which
// containerd pulls from) and the busybox image in it.
func nodeSetup(t *testing.T) (*env, *testenv.Node) {
	t.Helper()
	n := node.Get(t)
	cfg, err := clientcmd.BuildConfigFromFlags("", n.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &env{kubeconfig: n.Kubeconfig, registry: n.Registry, base: n.Busybox, client: dc}, n
}

// podIP waits until a Pod with label app=<app> in ns is Running with an IP.
func podIP(t *testing.T, n *testenv.Node, ns, app string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		pods, err := n.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + app})
		if err == nil {
			for _, p := range pods.Items {
				if p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" && p.DeletionTimestamp == nil {
					return p.Status.PodIP
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no Running Pod app=%s in %s: %v", app, ns, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// TestNodeRollout: the hello sample is built natively, pushed to the node's registry, and
// `deploy --wait` returns once the Deployment rolled out for real (containerd pulled the
// image, the kubelet started busybox httpd); the page the sample serves answers on the pod IP.
func TestNodeRollout(t *testing.T) {
	e, n := nodeSetup(t)
	start := time.Now()
	rep, stderr, err := devtool(t, "deploy", "--wait=2m", "--devfile", sample(t, "hello"), "--kubeconfig", e.kubeconfig,
		"--image-registry", e.registry+"/demo", "--var", "BASE_IMAGE="+e.base, "--var", "NAMESPACE=node-rollout", "-o", "json")
	if err != nil {
		t.Fatalf("deploy --wait: %v", err)
	}
	t.Logf("deploy --wait took %s", time.Since(start).Round(10*time.Millisecond))
	if !strings.Contains(stderr, "rolled out") {
		t.Errorf("progress does not say the objects rolled out:\n%s", stderr)
	}
	for _, o := range rep.Objects {
		if o.Kind == "Deployment" && o.Status != "Current" {
			t.Errorf("Deployment status %q, want Current", o.Status)
		}
	}
	ip := podIP(t, n, "node-rollout", "hello")
	resp, err := http.Get("http://" + net.JoinHostPort(ip, "8080") + "/")
	if err != nil {
		t.Fatalf("GET the sample on its pod IP: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	page, _ := os.ReadFile(filepath.Join("..", "..", "testdata", "samples", "hello", "www", "index.html"))
	if resp.StatusCode != 200 || string(body) != string(page) {
		t.Errorf("GET / = %d %q, want 200 and www/index.html", resp.StatusCode, body)
	}
}

// failingDevfile writes a devfile deploying one Deployment "app" in namespace ns whose only
// container runs image with command (none: the image's).
func failingDevfile(t *testing.T, ns, image string, command ...string) string {
	t.Helper()
	dir := t.TempDir()
	cmd := ""
	if len(command) > 0 {
		var q []string
		for _, c := range command {
			q = append(q, fmt.Sprintf("%q", c))
		}
		cmd = "\n                  command: [" + strings.Join(q, ", ") + "]"
	}
	df := fmt.Sprintf(`schemaVersion: 2.2.0
metadata:
  name: failing
components:
  - name: k8s
    kubernetes:
      inlined: |
        apiVersion: v1
        kind: Namespace
        metadata:
          name: %[1]s
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: app
          namespace: %[1]s
        spec:
          replicas: 1
          selector:
            matchLabels: {app: app}
          template:
            metadata:
              labels: {app: app}
            spec:
              terminationGracePeriodSeconds: 1
              containers:
                - name: main
                  image: %[2]s%[3]s
commands:
  - id: deploy
    apply:
      component: k8s
      group: {kind: deploy, isDefault: true}
`, ns, image, cmd)
	if err := os.WriteFile(filepath.Join(dir, "devfile.yaml"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestNodeRolloutFailures: `deploy --wait` on the node fails fast (well before its 2 min
// timeout: RolloutFailed, not RolloutTimeout) with the reason when the image does not exist
// (the kubelet reports ImagePullBackOff) and when the container exits (exit code, then
// CrashLoopBackOff), naming the Pod, its container state, the container's last log lines
// (crash case) and the Warning events (pull case).
func TestNodeRolloutFailures(t *testing.T) {
	e, _ := nodeSetup(t)
	// Namespaces unique per run: the test can run again (-count) on the same node.
	sfx := fmt.Sprint(time.Now().UnixNano() % 1000000)
	pull, crash := "node-pull-"+sfx, "node-crash-"+sfx
	cases := []struct {
		name, ns, image string
		command         []string
		want            [][]string // each inner list: one of these must appear
	}{
		{"image missing", pull, e.registry + "/nothing/here:1", nil, [][]string{
			{"Deployment " + pull + "/app: Failed: Pod " + pull + "/app-"},
			{"ImagePullBackOff"},
			{e.registry + "/nothing/here:1"},
			{"event Warning Failed on Pod " + pull + "/app-"},
		}},
		// Seen as soon as the container exited (before or after the kubelet's back-off).
		{"container exits", crash, e.base, []string{"sh", "-c", "echo first line; echo crashing-for-the-test >&2; exit 3"}, [][]string{
			{"Deployment " + crash + "/app: Failed: Pod " + crash + "/app-"},
			{"terminated with exit code 3", "CrashLoopBackOff"},
			{"exit code 3"},
			{"log main: first line"},
			{"log main: crashing-for-the-test"},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := failingDevfile(t, c.ns, c.image, c.command...)
			start := time.Now()
			_, err := errorDocument(t, "deploy", "--wait=2m", "--devfile", dir, "--kubeconfig", e.kubeconfig, "-o", "json")
			took := time.Since(start)
			t.Logf("deploy --wait failed after %s", took.Round(10*time.Millisecond))
			if code, exit := cli.Classify(err); code != "RolloutFailed" || exit != cli.ExitDeploy {
				t.Errorf("Classify = %s/%d, want RolloutFailed/%d", code, exit, cli.ExitDeploy)
			}
			if took > time.Minute {
				t.Errorf("the wait took %s: it should fail as soon as the Pod is stuck", took)
			}
			msg := err.Error()
			for _, alts := range c.want {
				found := false
				for _, w := range alts {
					found = found || strings.Contains(msg, w)
				}
				if !found {
					t.Errorf("error does not contain any of %q:\n%s", alts, msg)
				}
			}
		})
	}
}

// signalWriter collects what is written to it and closes seen once it holds want.
type signalWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.buf.Write(p)
	if w.seen != nil && strings.Contains(w.buf.String(), w.want) {
		close(w.seen)
		w.seen = nil
	}
	return n, err
}

func (w *signalWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// TestExecStreamsOutput: an exec command's output reaches the user (deploy -v) while its Job
// still runs on the node: the first line shows up in devtool's progress while the Job has not
// completed and before the second line, which the command prints 4 s later; each line once.
func TestExecStreamsOutput(t *testing.T) {
	e, n := nodeSetup(t)
	const ns = "exec-stream"
	dir := writeProject(t, map[string]string{"devfile.yaml": fmt.Sprintf(`schemaVersion: 2.2.0
metadata: {name: streamer}
components:
  - name: runner
    container: {image: %s}
commands:
  - id: slow
    exec: {component: runner, commandLine: "echo first-output-line; sleep 4; echo second-output-line"}
  - id: deploy
    composite: {commands: [slow], group: {kind: deploy, isDefault: true}}
`, e.base)})
	if _, err := n.Client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	stderr := &signalWriter{want: "first-output-line", seen: make(chan struct{})}
	seen := stderr.seen
	done := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	go func() {
		// -v: the text progress shows commands' and builders' output only when asked.
		done <- cli.Main(ctx, []string{"deploy", "-v", "--devfile", dir, "--kubeconfig", e.kubeconfig, "-n", ns},
			cli.Streams{In: strings.NewReader(""), Out: io.Discard, Err: stderr}, func(string) (string, bool) { return "", false })
	}()
	select {
	case <-seen:
		out := stderr.String()
		if strings.Contains(out, "second-output-line") {
			t.Errorf("the first line arrived together with the second: not streamed\n%s", out)
		}
		job, err := n.Client.BatchV1().Jobs(ns).Get(ctx, "streamer-slow", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("the Job is gone when its first line arrived: %v", err)
		}
		if job.Status.Succeeded != 0 || job.Status.CompletionTime != nil {
			t.Errorf("the Job had already completed when its first line arrived: %+v", job.Status)
		}
	case err := <-done:
		t.Fatalf("devtool finished (%v) before the first output line was seen:\n%s", err, stderr.String())
	}
	if err := <-done; err != nil {
		t.Fatalf("deploy: %v\n%s", err, stderr.String())
	}
	out := stderr.String()
	t.Logf("devtool stderr:\n%s", out)
	if !strings.Contains(out, "second-output-line") || strings.Count(out, "first-output-line") != 1 {
		t.Errorf("output lines missing or repeated:\n%s", out)
	}
}

// TestNodeRolloutAfterBrokenDeploy: the fix-and-redeploy flow. A deploy whose image does not
// exist fails its wait (ImagePullBackOff); the next deploy, with a working image, waits for its
// own rollout and succeeds — the broken Pod of the old ReplicaSet, still there until the new
// Pod is ready, does not fail it.
func TestNodeRolloutAfterBrokenDeploy(t *testing.T) {
	e, _ := nodeSetup(t)
	ns := "node-fix-" + fmt.Sprint(time.Now().UnixNano()%1000000)
	broken := failingDevfile(t, ns, e.registry+"/nothing/here:2")
	if _, _, err := devtool(t, "deploy", "--wait=2m", "--devfile", broken, "--kubeconfig", e.kubeconfig, "-o", "json"); err == nil || !strings.Contains(err.Error(), "ImagePullBackOff") {
		t.Fatalf("broken deploy: %v, want an ImagePullBackOff failure", err)
	}
	fixed := failingDevfile(t, ns, e.base, "sleep", "3600")
	rep, _, err := devtool(t, "deploy", "--wait=2m", "--devfile", fixed, "--kubeconfig", e.kubeconfig, "-o", "json")
	if err != nil {
		t.Fatalf("fixed deploy --wait: %v", err)
	}
	for _, o := range rep.Objects {
		if o.Kind == "Deployment" && o.Status != "Current" {
			t.Errorf("Deployment status %q, want Current", o.Status)
		}
	}
}
