package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Dockerd is a Docker daemon (Debian's docker.io, dockerd 20.10) started by StartDockerd for
// tests and benchmarks: private socket, data root and exec root under one directory, no
// iptables rules, no bridge, BuildKit off (its RUN steps need a bridge network; the classic
// builder does not). See /work/shared/docs/testenv-builders.md §7 and docs/engines.md.
type Dockerd struct {
	// Host is the DOCKER_HOST value that reaches this daemon, "unix:///…/docker.sock".
	Host string
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
	log  *lockedWriter
}

// dockerdStartTimeout bounds how long StartDockerd waits for the daemon to answer.
const dockerdStartTimeout = 60 * time.Second

// StartDockerd starts dockerd (found on PATH) as root on a socket in a new temporary
// directory and waits until `docker version` reaches it (at most 60 s). Stop stops it.
// Errors: not root, dockerd or a docker client missing (apt-get install docker.io), or the
// daemon not answering in time (the error holds the end of its log).
func StartDockerd(ctx context.Context) (*Dockerd, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("dockerd runs as root here (rootless dockerd needs extra set-up)")
	}
	bin, err := exec.LookPath("dockerd")
	if err != nil {
		return nil, fmt.Errorf("dockerd is not installed (apt-get install docker.io): %w", err)
	}
	client, err := exec.LookPath("docker")
	if err != nil {
		return nil, fmt.Errorf("the docker client is not installed (apt-get install docker.io): %w", err)
	}
	// A short directory: the socket path must fit in sun_path (108 bytes).
	dir, err := os.MkdirTemp("", "dockerd-")
	if err != nil {
		return nil, err
	}
	conf := map[string]any{
		"storage-driver": "overlay2",
		"iptables":       false, "ip6tables": false, "ip-forward": false, "ip-masq": false,
		"bridge":   "none",
		"features": map[string]bool{"buildkit": false},
	}
	b, _ := json.Marshal(conf)
	if err := os.WriteFile(filepath.Join(dir, "daemon.json"), b, 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	sock := filepath.Join(dir, "docker.sock")
	// A private containerd namespace: should dockerd find a system containerd and use it,
	// two test daemons still do not see each other's containers.
	ns := "devtool-" + filepath.Base(dir)
	d := &Dockerd{Host: "unix://" + sock, dir: dir, done: make(chan struct{}), log: &lockedWriter{b: &bytes.Buffer{}}}
	d.cmd = exec.Command(bin,
		"--config-file", filepath.Join(dir, "daemon.json"),
		"--data-root", filepath.Join(dir, "root"),
		"--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "dockerd.pid"),
		"--containerd-namespace", ns, "--containerd-plugins-namespace", ns+"-plugins",
		"-H", d.Host)
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	// Its own process group, so a Ctrl-C meant for `go test` does not stop it before Stop.
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("starting dockerd: %w", err)
	}
	go func() { _ = d.cmd.Wait(); close(d.done) }()

	deadline := time.Now().Add(dockerdStartTimeout)
	for {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := exec.CommandContext(pctx, client, "--host", d.Host, "version", "--format", "{{.Server.Version}}").Run()
		cancel()
		if err == nil {
			return d, nil
		}
		select {
		case <-d.done:
			out := d.Log()
			d.Stop()
			return nil, fmt.Errorf("dockerd exited while starting; its log ends:\n%s", tailLines(out, 20))
		case <-ctx.Done():
			d.Stop()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			out := d.Log()
			d.Stop()
			return nil, fmt.Errorf("dockerd did not answer on %s within %v; its log ends:\n%s", d.Host, dockerdStartTimeout, tailLines(out, 20))
		}
	}
}

// Log returns what the daemon has written so far.
func (d *Dockerd) Log() string {
	d.log.mu.Lock()
	defer d.log.mu.Unlock()
	return d.log.b.String()
}

// Stop stops the daemon (SIGTERM, SIGKILL to its process group after 20 s; dockerd stops the
// containerd it started), unmounts whatever is still mounted under its directory
// (overlay2 layers, the data root's bind mount, network namespaces) and removes the
// directory. It is safe to call more than once.
func (d *Dockerd) Stop() {
	if d.cmd.Process != nil {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(20 * time.Second):
			_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
			<-d.done
		}
		// containerd and shims started by dockerd share its process group; a clean stop
		// leaves none, a killed one may.
		_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
	}
	unmountUnder(d.dir)
	_ = os.RemoveAll(d.dir)
}

var (
	sharedDockerdOnce sync.Once
	sharedDockerd     *Dockerd
	sharedDockerdErr  error
)

// SharedDockerd returns the one dockerd of this test binary, starting it on first use; the
// package's TestMain stops it with StopSharedDockerd after m.Run. It skips t with an install
// hint when dockerd cannot run here, or fails t when DEVTOOL_REQUIRE_TESTENV=1 (dockerd is
// one of the engines install-deps.sh installs).
func SharedDockerd(t testing.TB) *Dockerd {
	t.Helper()
	sharedDockerdOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*dockerdStartTimeout)
		defer cancel()
		sharedDockerd, sharedDockerdErr = StartDockerd(ctx)
	})
	if sharedDockerdErr != nil {
		if Required() {
			t.Fatalf("%s=1: %v", EnvRequire, sharedDockerdErr)
		}
		t.Skipf("no Docker daemon for this test: %v (test/testenv/install-deps.sh installs docker.io)", sharedDockerdErr)
	}
	return sharedDockerd
}

// StopSharedDockerd stops the daemon SharedDockerd started, if any. Call it from TestMain
// after m.Run.
func StopSharedDockerd() {
	if sharedDockerd != nil {
		sharedDockerd.Stop()
	}
}

// unmountUnder lazily unmounts every mount point at or below dir, deepest first.
func unmountUnder(dir string) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var points []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		p := unescapeMount(f[4])
		if p == dir || strings.HasPrefix(p, dir+"/") {
			points = append(points, p)
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	for _, p := range points {
		_ = syscall.Unmount(p, syscall.MNT_DETACH)
	}
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var out []byte
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &v); err == nil {
				out = append(out, v)
				i += 3
				continue
			}
		}
		out = append(out, s[i])
	}
	return string(out)
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// lockedWriter serialises writes from the daemon's two output streams.
type lockedWriter struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// PodmanConfig writes a containers.conf for podman on hosts without systemd whose cgroups are
// a v1/v2 hybrid (testenv-builders.md §6) into dir and returns its path, for CONTAINERS_CONF:
// runtime runc (crun 1.8 refuses hybrid cgroups), cgroupfs, file events, and ulimits within
// the hard limits of a process without CAP_SYS_RESOURCE (nofile 20000, nproc 32768; podman's
// defaults ask for 1048576, which `podman run` cannot set here).
func PodmanConfig(dir string) (string, error) {
	const conf = `[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
`
	p := filepath.Join(dir, "containers.conf")
	if err := os.WriteFile(p, []byte(conf), 0o644); err != nil {
		return "", err
	}
	return p, nil
}
