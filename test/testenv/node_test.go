package testenv

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestNode starts a real node, runs a busybox Pod (pulled by containerd from the node's
// loopback registry) that serves HTTP on the pod network, reads the page from the pod IP and
// the Pod's log through the API server (kubelet on loopback), then stops the node and checks
// that nothing it made is left: no mount under its dir, no bridge, no cgroup root, no
// process.
func TestNode(t *testing.T) {
	if ok, msg := NodeAvailable(); !ok {
		if Required() {
			t.Fatalf("%s=1 but the test node cannot run: %s", EnvRequire, msg)
		}
		t.Skipf("test node not available: %s", msg)
	}
	dir, err := os.MkdirTemp("", "dtnode-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	start := time.Now()
	n, err := StartNode(context.Background(), dir, 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = n.Stop()
		}
	}()
	t.Logf("node Ready in %s", time.Since(start).Round(10*time.Millisecond))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "web", Image: n.Busybox, ImagePullPolicy: corev1.PullAlways,
			Command: []string{"sh", "-c", "mkdir -p /w && echo node-says-hi > /w/index.html && echo started && exec httpd -f -p 8080 -h /w"},
		}}},
	}
	if _, err := n.Client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var ip string
	for ip == "" {
		p, err := n.Client.CoreV1().Pods("default").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" {
			ip = p.Status.PodIP
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("pod not Running: %+v", p.Status)
		case <-time.After(200 * time.Millisecond):
		}
	}
	t.Logf("pod Running at %s after %s", ip, time.Since(start).Round(10*time.Millisecond))
	var body string
	for body == "" && ctx.Err() == nil {
		resp, err := http.Get("http://" + net.JoinHostPort(ip, "8080") + "/")
		if err != nil {
			time.Sleep(200 * time.Millisecond)
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
	}
	if strings.TrimSpace(body) != "node-says-hi" {
		t.Errorf("GET pod = %q, want node-says-hi", body)
	}
	logs, err := n.Client.CoreV1().Pods("default").GetLogs("web", &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil || !strings.Contains(string(logs), "started") {
		t.Errorf("pod log = %q, %v; want it to contain \"started\"", logs, err)
	}

	procs := n.procs
	bridge, root := n.bridge, n.cgroupRoot
	stopped = true
	st := time.Now()
	if err := n.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
	t.Logf("node stopped and cleaned in %s", time.Since(st).Round(10*time.Millisecond))
	for _, p := range procs {
		select {
		case <-p.done:
		default:
			t.Errorf("%s (pid %d) still running after Stop", p.name, p.cmd.Process.Pid)
		}
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mi), dir) {
		t.Errorf("mounts left under %s", dir)
	}
	if _, err := net.InterfaceByName(bridge); err == nil {
		t.Errorf("bridge %s left", bridge)
	}
	for _, h := range cgroupHierarchies() {
		if _, err := os.Stat(filepath.Join(h, root)); err == nil {
			t.Errorf("cgroup %s left", filepath.Join(h, root))
		}
	}
}
