package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/devtool/devtool/test/testenv"
)

// env is the local environment every scenario runs against, started once.
type env struct {
	root string // module root
	dir  string // work directory (temporary)

	api      *testenv.APIServer
	apiPID   int // for its CPU time
	stopReg  context.CancelFunc
	registry string // host:port of the in-process registry
	base     string // the busybox base image reference
	cs       kubernetes.Interface
	childEnv []string // environment of every measured process
	cacheDir string   // kubectl's and devtool's discovery cache (--cache-dir)
	storage  string   // containers-storage.conf for buildah (devtool's and the raw one)
	devtool  string
	gnuTime  string // /usr/bin/time, which measures a child's peak RSS
	kubectl  string
	buildah  string
	// dockerd is the bench's Docker daemon (nil when it cannot run here: dockerdErr says why).
	dockerd    *testenv.Dockerd
	dockerdErr error
	// kaniko is the test node of the kaniko-pod scenario (started only when it is selected).
	kaniko    kanikoNode
	describeJ []string // devtool's describe (or validate) -o json arguments
}

// setup starts the API server and the registry, pushes the base image and builds devtool when
// o.devtool is empty. On error the returned env (if not nil) must still be closed.
func setup(ctx context.Context, root string, o *options, logf func(string, ...any)) (*env, error) {
	dir, err := os.MkdirTemp("", "devtool-bench-")
	if err != nil {
		return nil, err
	}
	e := &env{root: root, dir: dir, kubectl: o.kubectl, buildah: o.buildah}
	if o.devtool == "" {
		o.devtool = filepath.Join(dir, "devtool")
		logf("building devtool into %s", o.devtool)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", o.devtool, "./cmd/devtool")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return e, fmt.Errorf("building devtool: %v\n%s", err, out)
		}
	}
	if e.devtool, err = filepath.Abs(o.devtool); err != nil {
		return e, err
	}

	logf("starting the API server")
	if ok, msg := testenv.Available(); !ok {
		return e, errors.New(msg)
	}
	apiDir := filepath.Join(dir, "apiserver")
	if e.api, err = testenv.StartAPIServer(ctx, apiDir, 90*time.Second); err != nil {
		return e, err
	}
	if e.apiPID, err = findProcess(apiDir); err != nil {
		logf("API server CPU time will not be reported: %v", err)
	}
	rctx, cancel := context.WithCancel(context.Background())
	e.stopReg = cancel
	reg, err := testenv.ServeRegistry(rctx, "127.0.0.1:0", filepath.Join(dir, "registry"))
	if err != nil {
		return e, err
	}
	e.registry = reg.Host
	logf("registry %s; pushing the busybox base image", e.registry)
	if e.base, err = testenv.PushBusybox(ctx, e.registry); err != nil {
		return e, err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", e.api.Kubeconfig)
	if err != nil {
		return e, err
	}
	cfg.QPS = -1
	if e.cs, err = kubernetes.NewForConfig(cfg); err != nil {
		return e, err
	}

	e.cacheDir = filepath.Join(dir, "kube-cache")
	home := filepath.Join(dir, "home")
	e.storage = filepath.Join(dir, "storage.conf")
	storage := fmt.Sprintf("[storage]\ndriver = \"vfs\"\nrunroot = %q\ngraphroot = %q\n", filepath.Join(dir, "buildah", "run"), filepath.Join(dir, "buildah", "root"))
	for _, d := range []string{e.cacheDir, home} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return e, err
		}
	}
	if err := os.WriteFile(e.storage, []byte(storage), 0o644); err != nil {
		return e, err
	}
	// In-process runs (profiles) start buildah too.
	os.Setenv("CONTAINERS_STORAGE_CONF", e.storage)
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "HOME", "KUBECONFIG", "CONTAINERS_STORAGE_CONF", "DEVTOOL_IMAGE_REGISTRY", "NO_COLOR", "TERM":
			continue
		}
		e.childEnv = append(e.childEnv, kv)
	}
	e.childEnv = append(e.childEnv, "HOME="+home, "KUBECONFIG="+e.api.Kubeconfig, "CONTAINERS_STORAGE_CONF="+e.storage, "NO_COLOR=1", "TERM=dumb")

	if p, err := exec.LookPath("/usr/bin/time"); err == nil && exec.Command(p, "-f", "%M", "-o", os.DevNull, "true").Run() == nil {
		e.gnuTime = p
	} else {
		logf("GNU time (/usr/bin/time) not found: peak RSS will not be reported")
	}
	// Only when a docker scenario runs: dockerd takes seconds to start.
	if _, err := exec.LookPath("dockerd"); err == nil && (o.only == nil || o.only.MatchString("build-run-overhead-docker")) {
		logf("starting dockerd")
		if e.dockerd, e.dockerdErr = testenv.StartDockerd(ctx); e.dockerdErr != nil {
			logf("docker scenarios will be skipped: %v", e.dockerdErr)
		}
	}
	// Only when kaniko-pod runs: the node takes seconds to start and needs root.
	if o.only == nil || o.only.MatchString("kaniko-pod") {
		e.startKanikoNode(ctx, logf)
	}
	e.describeJ = []string{"validate", "-o", "json"}
	if exec.Command(e.devtool, "describe", "--help").Run() == nil {
		e.describeJ = []string{"describe", "-o", "json"}
	}
	return e, nil
}

// close stops the registry, the test node of kaniko-pod and the API server (by PID) and removes
// the work directory unless keep.
func (e *env) close(keep bool) error {
	if e.stopReg != nil {
		e.stopReg()
	}
	if e.dockerd != nil {
		e.dockerd.Stop()
	}
	err := e.kaniko.stop()
	if e.api != nil {
		err = errors.Join(err, e.api.Stop())
	}
	if !keep {
		if rerr := os.RemoveAll(e.dir); rerr != nil && err == nil {
			err = rerr
		}
	}
	return err
}

// findProcess returns the PID of the testapiserver process started on state directory dir,
// found by its command line (testenv does not expose it; only /proc is read).
func findProcess(dir string) (int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, ent := range entries {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", ent.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		for i := 0; i+1 < len(args); i++ {
			if args[i] == "-dir" && args[i+1] == dir && strings.Contains(args[0], "testapiserver") {
				return pid, nil
			}
		}
	}
	return 0, fmt.Errorf("no testapiserver process for %s in /proc", dir)
}

// cpuSeconds is the user+system CPU time of process pid so far; 0 when unknown.
func cpuSeconds(pid int) float64 {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces) start after the last ')'.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / 100 // USER_HZ is 100 on Linux
}

// command is one process of a measured run.
type command struct {
	argv []string
	dir  string
	env  []string // added to env.childEnv
	// serverPID is the API server whose CPU time the run counts (0: the bench's).
	serverPID int
}

// exec runs cmds one after the other and returns their summed wall and CPU time, the largest
// peak RSS and the API server's CPU time meanwhile. A failing command is an error with the
// tail of its output.
func (e *env) exec(ctx context.Context, cmds ...command) (sample, error) {
	var s sample
	for _, c := range cmds {
		argv := c.argv
		rssFile := ""
		if e.gnuTime != "" {
			rssFile = filepath.Join(e.dir, "maxrss")
			argv = append([]string{e.gnuTime, "-f", "%M", "-o", rssFile}, argv...)
		}
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Dir = c.dir
		cmd.Env = append(append([]string(nil), e.childEnv...), c.env...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
		cmd.WaitDelay = 10 * time.Second
		server := e.apiPID
		if c.serverPID != 0 {
			server = c.serverPID
		}
		server0 := cpuSeconds(server)
		t0 := time.Now()
		err := cmd.Run()
		wall := time.Since(t0).Seconds()
		server1 := cpuSeconds(server)
		if err != nil {
			return s, fmt.Errorf("%s: %v\n%s", strings.Join(c.argv, " "), err, tail(out.String(), 2000))
		}
		ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		s.Wall += wall
		s.ServerCPU += server1 - server0
		if ru != nil {
			s.CPU += tv(ru.Utime) + tv(ru.Stime)
		}
		s.MaxRSSKB = max(s.MaxRSSKB, readMaxRSS(rssFile))
	}
	return s, nil
}

// readMaxRSS reads the peak RSS in KiB that GNU time wrote to path (its last line); 0 when
// unknown. The rusage of a child of this process cannot tell: Go starts children with vfork, so
// the kernel counts this process's own RSS as the child's peak.
func readMaxRSS(path string) int64 {
	if path == "" {
		return 0
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	kb, _ := strconv.ParseInt(strings.TrimSpace(lines[len(lines)-1]), 10, 64)
	return kb
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// namespace creates namespace name (untimed preparation of a run).
func (e *env) namespace(ctx context.Context, name string) error {
	_, err := e.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// selfCPU is the CPU time of this process so far (in-process measurements).
func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return tv(ru.Utime) + tv(ru.Stime)
}
