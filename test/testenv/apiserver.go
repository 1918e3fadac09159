// Package testenv runs the real components devtool's integration tests and `make demo` need on
// loopback: a kube-apiserver + etcd test binary (test/testenv/bin/testapiserver, built by
// test/testenv/build.sh, see docs testenv-apiserver.md) and an OCI registry.
//
// Use one API server per test package, started from TestMain, or APIServerForTest for a
// single test: start → ready takes ~2.5 s and each server holds ~300 MB.
package testenv

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ModulePath is the Go module whose root holds test/testenv/bin/testapiserver.
const ModulePath = "github.com/devtool/devtool"

// EnvAPIServerBin names the environment variable that overrides the API server binary path.
const EnvAPIServerBin = "TESTAPISERVER_BIN"

// EnvRequire names the environment variable that, set to "1", turns a missing test
// environment from a skip into a test failure (make test sets it).
const EnvRequire = "DEVTOOL_REQUIRE_TESTENV"

// BuildHint is what to run when the API server binary is missing.
const BuildHint = "make deps (or test/testenv/build.sh)"

// APIServer is a running testapiserver process (etcd + kube-apiserver in one process,
// listening on 127.0.0.1 only).
type APIServer struct {
	// Dir is the state directory: pki/, etcd/, kubeconfig, ready, apiserver.log.
	Dir string
	// Kubeconfig is <Dir>/kubeconfig; its contexts authenticate as system:masters.
	Kubeconfig string
	// URL is the server URL, https://127.0.0.1:<port>.
	URL string

	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // exit status, valid once done is closed
}

// ModuleRoot walks up from the working directory to the directory whose go.mod declares
// ModulePath. It returns an error if there is none.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("finding module root: %w", err)
	}
	for {
		if isModuleRoot(filepath.Join(dir, "go.mod")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod for module %s above the working directory", ModulePath)
		}
		dir = parent
	}
}

func isModuleRoot(gomod string) bool {
	f, err := os.Open(gomod)
	if err != nil {
		return false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) == 2 && fields[0] == "module" {
			return strings.Trim(fields[1], `"`) == ModulePath
		}
	}
	return false
}

// APIServerBinary returns the path of the testapiserver binary: $TESTAPISERVER_BIN if set,
// else <module root>/test/testenv/bin/testapiserver. It returns an error wrapping
// fs.ErrNotExist when the binary is not there.
func APIServerBinary() (string, error) {
	bin := os.Getenv(EnvAPIServerBin)
	if bin == "" {
		root, err := ModuleRoot()
		if err != nil {
			return "", err
		}
		bin = filepath.Join(root, "test", "testenv", "bin", "testapiserver")
	}
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("test API server binary (build it with %s): %w", BuildHint, err)
	}
	return bin, nil
}

// StartAPIServer starts the testapiserver binary on state directory dir (created if needed)
// and returns once it has written <dir>/ready (GET /readyz == ok), or an error after timeout,
// when ctx ends, or when the process exits first (the error points at <dir>/apiserver.log).
// The process is in its own process group and gets SIGTERM when the calling process dies
// (Pdeathsig), so a crashed test does not leave it behind. Stop it with Stop. extra are
// kube-apiserver flags appended to the binary's own (after "--").
func StartAPIServer(ctx context.Context, dir string, timeout time.Duration, extra ...string) (*APIServer, error) {
	bin, err := APIServerBinary()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating API server dir: %w", err)
	}
	_ = os.Remove(filepath.Join(dir, "ready"))
	logPath := filepath.Join(dir, "apiserver.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("creating API server log: %w", err)
	}
	cmd := exec.Command(bin, append([]string{"-dir", dir, "--"}, extra...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	s := &APIServer{Dir: dir, Kubeconfig: filepath.Join(dir, "kubeconfig"), cmd: cmd, done: make(chan struct{})}
	go func() {
		s.err = cmd.Wait()
		logf.Close()
		close(s.done)
	}()
	url, err := waitReady(ctx, dir, timeout, s.done)
	if err != nil {
		_ = s.Stop()
		return nil, fmt.Errorf("test API server (log %s): %w", logPath, err)
	}
	s.URL = url
	return s, nil
}

// WaitReady waits until <dir>/ready exists and returns the server URL written in it. It
// gives up after timeout or when ctx ends.
func WaitReady(ctx context.Context, dir string, timeout time.Duration) (string, error) {
	return waitReady(ctx, dir, timeout, nil)
}

// waitReady polls <dir>/ready; exited, if not nil, is closed when the process exits.
func waitReady(ctx context.Context, dir string, timeout time.Duration, exited <-chan struct{}) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "ready")); err == nil && len(strings.TrimSpace(string(b))) > 0 {
			return strings.TrimSpace(string(b)), nil
		}
		select {
		case <-exited:
			return "", errors.New("exited before it was ready")
		case <-ctx.Done():
			return "", fmt.Errorf("not ready after %s: %w", timeout, ctx.Err())
		case <-tick.C:
		}
	}
}

// Stop sends SIGTERM to the server process (by PID, never by name), waits for it to exit and
// sends SIGKILL if it is still running after 30 s. It returns nil if the process exited
// cleanly or was already stopped, and the exit error otherwise. It is safe to call twice.
func (s *APIServer) Stop() error {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return nil
	}
	select {
	case <-s.done:
		return nil
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	var exitErr *exec.ExitError
	if errors.As(s.err, &exitErr) && exitErr.Sys().(syscall.WaitStatus).Signaled() {
		if exitErr.Sys().(syscall.WaitStatus).Signal() == syscall.SIGTERM {
			return nil
		}
	}
	return s.err
}

// Available reports whether the API server binary exists; when it does not, the returned
// message says how to build it.
func Available() (bool, string) {
	if _, err := APIServerBinary(); err != nil {
		return false, err.Error()
	}
	return true, ""
}

// Required reports whether a missing test environment must fail the tests ($DEVTOOL_REQUIRE_TESTENV=1).
func Required() bool { return os.Getenv(EnvRequire) == "1" }

// APIServerForTest starts an API server in t.TempDir() for one test and stops it in
// t.Cleanup. If the binary is missing the test is skipped, or fails when
// $DEVTOOL_REQUIRE_TESTENV=1. Prefer one server per package (TestMain + StartAPIServer):
// each start costs ~2.5 s and ~300 MB.
func APIServerForTest(t testing.TB) *APIServer {
	t.Helper()
	if ok, msg := Available(); !ok {
		if Required() {
			t.Fatalf("%s=1 but the test API server is missing: %s", EnvRequire, msg)
		}
		t.Skipf("test API server not available: %s", msg)
	}
	s, err := StartAPIServer(context.Background(), t.TempDir(), 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stopping test API server: %v", err)
		}
	})
	return s
}

// UnreachableKubeconfig writes a kubeconfig in t.TempDir() whose only cluster is server (e.g.
// "https://127.0.0.1:1", a port nothing listens on) with a dummy token, and returns its path:
// for tests of what happens when the cluster cannot be reached.
func UnreachableKubeconfig(t testing.TB, server string) string {
	t.Helper()
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	content := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: %q}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`, server)
	if err := os.WriteFile(kc, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return kc
}
