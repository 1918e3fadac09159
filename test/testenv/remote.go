package testenv

import (
	"context"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// StartFileServer serves dir over plain HTTP on loopback (net/http FileServer) until t ends
// and returns its base URL. Files may be changed while it runs.
func StartFileServer(t testing.TB, dir string) string {
	t.Helper()
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	return srv.URL
}

// StartBlackHole listens on loopback, accepts connections and never answers, until t ends;
// it returns an http:// base URL. A client without a timeout hangs on it.
func StartBlackHole(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never read or written
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + ln.Addr().String()
}

// StartOversizeServer answers every GET with 200 and an endless body of 'x' bytes (chunked,
// no Content-Length) until the client stops reading; it returns the base URL.
func StartOversizeServer(t testing.TB) string {
	t.Helper()
	chunk := []byte(strings.Repeat("x", 64<<10))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	t.Cleanup(func() { srv.CloseClientConnections(); srv.Close() })
	return srv.URL
}

// GitServer is a git server on loopback: Debian git's git-http-backend (smart HTTP) behind a
// net/http/cgi handler, serving the repositories under Root.
type GitServer struct {
	// URL is the base URL; repository <name> is URL + "/" + name.
	URL  string
	Root string
}

// gitHTTPBackend finds git-http-backend (Debian: /usr/lib/git-core, `git --exec-path`).
func gitHTTPBackend() (string, string) {
	gitBin, err := exec.LookPath("git")
	if err != nil {
		return "", "git is not installed (apt-get install git)"
	}
	out, err := exec.Command(gitBin, "--exec-path").Output()
	if err != nil {
		return "", "git --exec-path failed: " + err.Error()
	}
	p := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	if _, err := os.Stat(p); err != nil {
		return "", "git-http-backend not found at " + p + " (apt-get install git)"
	}
	return p, ""
}

// StartGitServer starts a GitServer in a temporary directory. Without git the test is skipped
// (failed under DEVTOOL_REQUIRE_TESTENV=1: install-deps.sh installs git).
func StartGitServer(t testing.TB) *GitServer {
	t.Helper()
	backend, msg := gitHTTPBackend()
	if backend == "" {
		if Required() {
			t.Fatalf("%s=1 but %s", EnvRequire, msg)
		}
		t.Skip(msg)
	}
	root := t.TempDir()
	h := &cgi.Handler{Path: backend, Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &GitServer{URL: srv.URL, Root: root}
}

// Commit writes files (slash path → content) into repository name (a bare repository under
// Root, created on first use, default branch main), commits them on branch, and returns the
// commit hash. It runs the git command line with a fixed identity and no user configuration.
func (g *GitServer) Commit(t testing.TB, name, branch string, files map[string]string) string {
	t.Helper()
	bare := filepath.Join(g.Root, name)
	work := t.TempDir()
	run := func(dir string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
			"GIT_AUTHOR_NAME=test", "GIT_AUTHOR_EMAIL=test@example.com",
			"GIT_COMMITTER_NAME=test", "GIT_COMMITTER_EMAIL=test@example.com")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if _, err := os.Stat(bare); err != nil {
		run(g.Root, "init", "-q", "--bare", "-b", "main", bare)
		run(bare, "config", "http.receivepack", "true")
	}
	run(work, "init", "-q", "-b", branch)
	run(work, "remote", "add", "origin", bare)
	if strings.Contains(run(work, "ls-remote", "origin", "refs/heads/"+branch), branch) {
		run(work, "fetch", "-q", "origin", branch)
		run(work, "checkout", "-q", "-B", branch, "FETCH_HEAD")
	}
	for p, c := range files {
		fp := filepath.Join(work, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(fp), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(fp, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run(work, "add", "-A")
	run(work, "commit", "-q", "-m", "test commit")
	run(work, "push", "-q", "origin", "HEAD:refs/heads/"+branch)
	return run(work, "rev-parse", "HEAD")
}

// Tag creates tag on commit in repository name.
func (g *GitServer) Tag(t testing.TB, name, tag, commit string) {
	t.Helper()
	cmd := exec.Command("git", "--git-dir", filepath.Join(g.Root, name), "tag", "-f", tag, commit)
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git tag: %v\n%s", err, out)
	}
}
