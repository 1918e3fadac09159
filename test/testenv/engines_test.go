package testenv

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDockerdStopCleansUp: the daemon StartDockerd starts answers on its socket, pulls from a
// loopback registry and runs a container; Stop leaves no process whose command line names
// its directory (dockerd, containerd, shims), nothing mounted under it, and no directory.
func TestDockerdStopCleansUp(t *testing.T) {
	if _, err := exec.LookPath("dockerd"); err != nil || os.Geteuid() != 0 {
		if Required() {
			t.Fatalf("%s=1: dockerd is not installed or not root (test/testenv/install-deps.sh installs docker.io)", EnvRequire)
		}
		t.Skip("dockerd is not installed, or not root (apt-get install docker.io; test/testenv/install-deps.sh)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	d, err := StartDockerd(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			d.Stop()
		}
	}()
	host := StartRegistry(t)
	base, err := PushBusybox(ctx, host)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(ctx, "docker", "--host", d.Host, "run", "--rm", "--network", "none", base, "echo", "ran").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ran") {
		t.Fatalf("docker run: %v\n%s\ndockerd log:\n%s", err, out, tailLines(d.Log(), 20))
	}
	dir := d.dir
	if n := len(processesNaming(t, dir)); n == 0 {
		t.Fatalf("no process names %s while dockerd runs", dir)
	}
	d.Stop()
	stopped = true
	if pids := processesNaming(t, dir); len(pids) > 0 {
		t.Errorf("processes naming %s after Stop: %v", dir, pids)
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(mi), dir) {
		t.Errorf("mounts under %s after Stop", dir)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s still exists after Stop (stat: %v)", dir, err)
	}
}

// processesNaming returns the command lines of the live processes whose command line
// contains s.
func processesNaming(t *testing.T, s string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		if cl := strings.ReplaceAll(string(b), "\x00", " "); strings.Contains(cl, s) {
			found = append(found, e.Name()+": "+cl)
		}
	}
	return found
}

// TestPodmanConfig: with the containers.conf PodmanConfig writes, podman runs a container
// here (runc; ulimits within the process's hard limits) — the case podman's defaults fail.
func TestPodmanConfig(t *testing.T) {
	if _, err := exec.LookPath("podman"); err != nil || os.Geteuid() != 0 {
		if Required() {
			t.Fatalf("%s=1: podman is not installed or not root (test/testenv/install-deps.sh installs it)", EnvRequire)
		}
		t.Skip("podman is not installed, or not root (apt-get install podman runc; test/testenv/install-deps.sh)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "pc-") // short: podman refuses a --runroot over 50 characters
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	conf, err := PodmanConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	host := StartRegistry(t)
	base, err := PushBusybox(ctx, host)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, "podman", "--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "run"), "--storage-driver", "vfs",
		"run", "--rm", "--network", "none", "--tls-verify=false", base, "sh", "-c", "ulimit -n")
	cmd.Env = append(os.Environ(), "CONTAINERS_CONF="+conf)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("podman run: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); !strings.HasSuffix(got, "20000") {
		t.Errorf("ulimit -n in the container = %q, want 20000", got)
	}
}
