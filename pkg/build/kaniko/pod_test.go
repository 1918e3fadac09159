package kaniko_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/devtool/devtool/pkg/build"
	"github.com/devtool/devtool/pkg/build/kaniko"
	"github.com/devtool/devtool/test/testenv"
)

var node testenv.NodeForMain

func TestMain(m *testing.M) {
	code := m.Run()
	if err := node.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping the test node:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// kanikoEnv is the package's node with the executor image and a base image where Pods pull them.
type kanikoEnv struct {
	node     *testenv.Node
	executor string // executor image reference
	base     string // busybox base image where Pods pull it
}

func kanikoNode(t *testing.T) kanikoEnv {
	t.Helper()
	n := node.Get(t)
	testenv.NeedKaniko(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	executor, base, err := n.KanikoImages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return kanikoEnv{node: n, executor: executor, base: base}
}

func newPod(t *testing.T, e kanikoEnv, ns string, opts ...kaniko.PodOption) *kaniko.Pod {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", e.node.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	policy := build.RegistryPolicy{Insecure: []string{e.node.PodRegistry}}
	p, err := kaniko.NewPod(cfg, ns, append([]kaniko.PodOption{kaniko.WithImage(e.executor), kaniko.WithRegistryPolicy(policy),
		kaniko.WithResources(mustQuantity("100m"), mustQuantity("128Mi"))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPodBuildRun: a RUN Dockerfile (build arg, a file outside the context's Dockerfile path)
// built by a kaniko Pod on the test node; the image pulled back holds what RUN wrote, the
// digest is the registry's, and no Pod or Secret is left.
func TestPodBuildRun(t *testing.T) {
	e := kanikoNode(t)
	ctx := context.Background()
	dir := testenv.WriteProject(t, map[string]string{
		"app/Dockerfile": "ARG BASE\nFROM ${BASE}\nARG GREETING=none\nCOPY hello.txt /hello.txt\nRUN echo \"$GREETING from RUN\" > /built.txt && cat /hello.txt >> /built.txt\nCMD [\"cat\", \"/built.txt\"]\n",
		"hello.txt":      "hello file\n",
	})
	p := newPod(t, e, "default")
	var log bytes.Buffer
	req := build.Request{Name: "app", ContextDir: dir, Dockerfile: filepath.Join(dir, "app/Dockerfile"),
		Args: []string{"BASE=" + e.base, "GREETING=hi"}, Repository: e.node.PodRegistry + "/kaniko/app", Tag: "t1", Push: true}
	res, err := p.Build(ctx, req, &log)
	if err != nil {
		t.Fatalf("build: %v\nlog:\n%s", err, log.String())
	}
	if !strings.HasPrefix(res.Digest, "sha256:") || res.Builder != "kaniko" {
		t.Fatalf("result %+v", res)
	}
	got := testenv.ImageFile(t, res.Ref(), "built.txt")
	if got != "hi from RUN\nhello file\n" {
		t.Fatalf("/built.txt = %q", got)
	}
	d, err := remote.Head(mustRef(t, req.Repository+":t1"))
	if err != nil || d.Digest.String() != res.Digest {
		t.Fatalf("registry digest %v (%v), result %s", d, err, res.Digest)
	}
	for _, want := range []string{"kaniko build Pod default/devtool-build-app-", `Running: [/bin/sh -c echo "$GREETING from RUN"`, "Pushed " + req.Repository} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q (the executor's output is streamed):\n%s", want, log.String())
		}
	}
	if strings.Contains(log.String(), "\x1b[") {
		t.Errorf("log has terminal colours:\n%s", log.String())
	}
	assertNoBuildObjects(t, e, "default")
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// assertNoBuildObjects fails unless ns has no Pod or Secret with devtool's build labels.
func assertNoBuildObjects(t *testing.T, e kanikoEnv, ns string) {
	t.Helper()
	sel := metav1.ListOptions{LabelSelector: kaniko.LabelComponent + "=image-build"}
	pods, err := e.node.Client.CoreV1().Pods(ns).List(context.Background(), sel)
	if err != nil {
		t.Fatal(err)
	}
	secrets, err := e.node.Client.CoreV1().Secrets(ns).List(context.Background(), sel)
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items)+len(secrets.Items) > 0 {
		t.Fatalf("left behind: %d build Pods, %d Secrets", len(pods.Items), len(secrets.Items))
	}
}

func mustQuantity(s string) resource.Quantity { return resource.MustParse(s) }

// credentials returns a registry policy whose docker config has credentials for host (the test
// registry accepts any), so the Pod builder creates a Secret for the build.
func credentials(t *testing.T, host string) build.RegistryPolicy {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`{"auths": {%q: {"auth": "dXNlcjpzM2NyZXQtcGFzc3dvcmQ="}}}`, host) // user:s3cret-password
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return build.RegistryPolicy{Insecure: []string{host}, Auth: build.Credentials{DockerConfig: dir}}
}

// TestPodBuildFailsCleanly: a RUN that exits 3 fails the build with the exit code and the last
// lines of the log; the Pod and the credentials Secret devtool created are gone.
func TestPodBuildFailsCleanly(t *testing.T) {
	e := kanikoNode(t)
	dir := testenv.WriteProject(t, map[string]string{"Dockerfile": "FROM " + e.base + "\nRUN echo about to fail && exit 3\n"})
	p := newPod(t, e, "default", kaniko.WithRegistryPolicy(credentials(t, e.node.PodRegistry)))
	var log bytes.Buffer
	_, err := p.Build(context.Background(), build.Request{Name: "broken", ContextDir: dir, Dockerfile: filepath.Join(dir, "Dockerfile"),
		Repository: e.node.PodRegistry + "/kaniko/broken", Tag: "t1", Push: true}, &log)
	if err == nil {
		t.Fatalf("build succeeded:\n%s", log.String())
	}
	for _, want := range []string{`image "broken"`, "failed (exit code ", "exit status 3", "about to fail"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if strings.Contains(err.Error()+log.String(), "s3cret-password") || strings.Contains(err.Error()+log.String(), "dXNlcjpzM2NyZXQtcGFzc3dvcmQ=") {
		t.Fatal("the registry password was printed")
	}
	assertNoBuildObjects(t, e, "default")
}

// TestPodBuildCancel: cancelling a build while its RUN runs (Ctrl-C) deletes the build Pod and
// the credentials Secret within 10 s.
func TestPodBuildCancel(t *testing.T) {
	e := kanikoNode(t)
	ns := "cancel-" + strings.ToLower(fmt.Sprint(time.Now().UnixNano()%100000))
	mkNamespace(t, e, ns)
	dir := testenv.WriteProject(t, map[string]string{"Dockerfile": "FROM " + e.base + "\nRUN echo sleeping && sleep 120\n"})
	p := newPod(t, e, ns, kaniko.WithRegistryPolicy(credentials(t, e.node.PodRegistry)))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := &signalWriter{want: "Running: [/bin/sh -c echo sleeping", seen: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		_, err := p.Build(ctx, build.Request{Name: "slow", ContextDir: dir, Dockerfile: filepath.Join(dir, "Dockerfile"),
			Repository: e.node.PodRegistry + "/kaniko/slow", Tag: "t1", Push: true}, log)
		done <- err
	}()
	select {
	case <-log.seen:
	case err := <-done:
		t.Fatalf("build ended before its RUN: %v\n%s", err, log.String())
	case <-time.After(2 * time.Minute):
		t.Fatalf("RUN did not start:\n%s", log.String())
	}
	// While it runs, the Pod and Secret exist and carry devtool's labels.
	sel := metav1.ListOptions{LabelSelector: kaniko.LabelManagedBy + "=devtool," + kaniko.LabelImage + "=slow"}
	pods, _ := e.node.Client.CoreV1().Pods(ns).List(context.Background(), sel)
	secrets, _ := e.node.Client.CoreV1().Secrets(ns).List(context.Background(), sel)
	if len(pods.Items) != 1 || len(secrets.Items) != 1 {
		t.Fatalf("during the build: %d Pods, %d Secrets with devtool's labels, want 1 and 1", len(pods.Items), len(secrets.Items))
	}
	pod := pods.Items[0]
	sc := pod.Spec.Containers[0].SecurityContext
	if *pod.Spec.AutomountServiceAccountToken || sc == nil || *sc.Privileged || *sc.AllowPrivilegeEscalation || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
		t.Errorf("build Pod is not least-privilege: automount %v, securityContext %+v", *pod.Spec.AutomountServiceAccountToken, sc)
	}
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "context canceled") {
			t.Fatalf("cancelled build returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Build did not return within 10 s of the cancel")
	}
	for {
		pods, _ := e.node.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
		secrets, _ := e.node.Client.CoreV1().Secrets(ns).List(context.Background(), sel)
		if len(pods.Items) == 0 && len(secrets.Items) == 0 {
			t.Logf("Pod and Secret gone %.1fs after the cancel", time.Since(start).Seconds())
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("10 s after the cancel: %d Pods, %d Secrets left", len(pods.Items), len(secrets.Items))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func mkNamespace(t *testing.T, e kanikoEnv, ns string) {
	t.Helper()
	if _, err := e.node.Client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// signalWriter closes seen once want was written.
type signalWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
	once sync.Once
}

func (w *signalWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(b)
	if strings.Contains(w.buf.String(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(b), nil
}

func (w *signalWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// TestPodBuildUserSecret: with WithSecret the build Pod mounts the user's Secret as kaniko's
// config.json, devtool creates no Secret of its own, and the user's Secret is still there
// afterwards; a Secret that does not exist is an error before any Pod is created.
func TestPodBuildUserSecret(t *testing.T) {
	e := kanikoNode(t)
	ns := "user-secret"
	mkNamespace(t, e, ns)
	cfg := fmt.Sprintf(`{"auths": {%q: {"auth": "dXNlcjpwdw=="}}}`, e.node.PodRegistry)
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "my-creds", Namespace: ns}, Type: corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(cfg)}}
	if _, err := e.node.Client.CoreV1().Secrets(ns).Create(context.Background(), sec, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dir := testenv.WriteProject(t, map[string]string{"Dockerfile": "FROM " + e.base + "\nRUN test -s /kaniko/.docker/config.json && echo mounted > /creds.txt\n"})
	req := build.Request{Name: "app", ContextDir: dir, Dockerfile: filepath.Join(dir, "Dockerfile"), Repository: e.node.PodRegistry + "/kaniko/secret", Tag: "t1", Push: true}
	var log bytes.Buffer
	res, err := newPod(t, e, ns, kaniko.WithSecret("my-creds")).Build(context.Background(), req, &log)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, log.String())
	}
	if got := testenv.ImageFile(t, res.Ref(), "creds.txt"); got != "mounted\n" {
		t.Errorf("/creds.txt = %q: the Secret was not mounted as config.json", got)
	}
	assertNoBuildObjects(t, e, ns)
	if _, err := e.node.Client.CoreV1().Secrets(ns).Get(context.Background(), "my-creds", metav1.GetOptions{}); err != nil {
		t.Errorf("the user's Secret is gone: %v", err)
	}
	_, err = newPod(t, e, ns, kaniko.WithSecret("no-such-secret")).Build(context.Background(), req, &log)
	if err == nil || !strings.Contains(err.Error(), `Secret "no-such-secret" (--kaniko-secret) in namespace "user-secret"`) {
		t.Errorf("missing Secret: %v", err)
	}
	assertNoBuildObjects(t, e, ns)
}

// TestPodBuildWrongExecutor: an executor image that is not kaniko (busybox: the container cannot
// start the executor's arguments) and one that does not exist both fail the build promptly,
// naming the Pod or the image, and leave nothing behind.
func TestPodBuildWrongExecutor(t *testing.T) {
	e := kanikoNode(t)
	dir := testenv.WriteProject(t, map[string]string{"Dockerfile": "FROM " + e.base + "\nRUN true\n"})
	req := build.Request{Name: "app", ContextDir: dir, Dockerfile: filepath.Join(dir, "Dockerfile"), Repository: e.node.PodRegistry + "/kaniko/wrong", Tag: "t1", Push: true}
	for _, tc := range []struct{ image, want string }{
		{e.base, "a kaniko executor image (--kaniko-image)?"},
		{e.node.PodRegistry + "/no/such-executor:v1", "cannot start: "},
	} {
		start := time.Now()
		var log bytes.Buffer
		_, err := newPod(t, e, "default", kaniko.WithImage(tc.image)).Build(context.Background(), req, &log)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("executor %s: error %v, want %q\n%s", tc.image, err, tc.want, log.String())
		}
		if d := time.Since(start); d > time.Minute {
			t.Errorf("executor %s: took %s", tc.image, d)
		}
		t.Logf("executor %s: %v (%.1fs)", tc.image, err, time.Since(start).Seconds())
		assertNoBuildObjects(t, e, "default")
	}
}

// TestPodBuildTLSAuthRegistry: a registry with a private CA and basic auth, where Pods reach it:
// the build Pod gets the credentials and the CA bundle from devtool's per-build Secret
// (--registry-certificate) and pushes; the image is there, pulled back with the same CA and
// credentials. Without the CA in the policy the push fails on the certificate.
func TestPodBuildTLSAuthRegistry(t *testing.T) {
	e := kanikoNode(t)
	gw, _, _ := strings.Cut(e.node.PodRegistry, ":")
	sec := testenv.StartSecureRegistryAt(t, gw+":0", "builder", "s3cret-pw", true)
	creds := build.Credentials{DockerConfig: testenv.WriteDockerConfig(t, sec.Host, "builder", "s3cret-pw")}
	dir := testenv.WriteProject(t, map[string]string{"Dockerfile": "FROM " + e.base + "\nRUN echo over tls > /tls.txt\n"})
	req := build.Request{Name: "tls", ContextDir: dir, Dockerfile: filepath.Join(dir, "Dockerfile"), Repository: sec.Host + "/kaniko/tls", Tag: "t1", Push: true}

	noCA := build.RegistryPolicy{Insecure: []string{e.node.PodRegistry}, Auth: creds}
	var log bytes.Buffer
	if _, err := newPod(t, e, "default", kaniko.WithRegistryPolicy(noCA)).Build(context.Background(), req, &log); err == nil || !strings.Contains(err.Error()+log.String(), "x509") {
		t.Errorf("without the CA: %v\n%s", err, log.String())
	}
	before := sec.Requests()
	policy := noCA
	policy.Registries = []build.RegistryConfig{{Host: sec.Host, CAFile: sec.CAFile}}
	log.Reset()
	res, err := newPod(t, e, "default", kaniko.WithRegistryPolicy(policy)).Build(context.Background(), req, &log)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, log.String())
	}
	if sec.Requests() == before {
		t.Fatal("no authenticated request reached the registry")
	}
	if strings.Contains(log.String(), "s3cret-pw") {
		t.Fatal("the password was printed")
	}
	tr, err := policy.Transport(http.DefaultTransport)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := name.ParseReference(res.Ref())
	img, err := remote.Image(r, remote.WithTransport(tr), remote.WithAuthFromKeychain(creds.Keychain()))
	if err != nil {
		t.Fatalf("pulling %s back: %v", res.Ref(), err)
	}
	if d, _ := img.Digest(); d.String() != res.Digest {
		t.Errorf("digest %s, reported %s", d, res.Digest)
	}
	assertNoBuildObjects(t, e, "default")
}

// TestPodBuildCache: with WithCacheRepo the first build Pod pushes its RUN layer to the cache
// repository and a second build of the same Dockerfile (another tag) reuses it instead of
// running the RUN again; both images hold the RUN's file.
func TestPodBuildCache(t *testing.T) {
	e := kanikoNode(t)
	dir := testenv.WriteProject(t, map[string]string{"Dockerfile": "FROM " + e.base + "\nRUN echo cached-run > /run.txt\n"})
	p := newPod(t, e, "default", kaniko.WithCacheRepo(e.node.PodRegistry+"/kaniko/cache"))
	var logs [2]bytes.Buffer
	for i, tag := range []string{"c1", "c2"} {
		req := build.Request{Name: "cache", ContextDir: dir, Dockerfile: filepath.Join(dir, "Dockerfile"), Repository: e.node.PodRegistry + "/kaniko/cached", Tag: tag, Push: true}
		res, err := p.Build(context.Background(), req, &logs[i])
		if err != nil {
			t.Fatalf("build %d: %v\n%s", i+1, err, logs[i].String())
		}
		if got := testenv.ImageFile(t, res.Ref(), "run.txt"); got != "cached-run\n" {
			t.Errorf("build %d: /run.txt = %q", i+1, got)
		}
	}
	if !strings.Contains(logs[0].String(), "Running: [/bin/sh -c echo cached-run") || !strings.Contains(logs[0].String(), "Pushing layer") {
		t.Errorf("first build did not run the RUN and push its layer to the cache:\n%s", logs[0].String())
	}
	if strings.Contains(logs[1].String(), "Running: [/bin/sh -c echo cached-run") || !strings.Contains(logs[1].String(), "Found cached layer") {
		t.Errorf("second build did not reuse the cached layer:\n%s", logs[1].String())
	}
	assertNoBuildObjects(t, e, "default")
}
