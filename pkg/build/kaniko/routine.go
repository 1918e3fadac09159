package kaniko

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/devtool/devtool/pkg/build"
)

// ExecutorPath is where kaniko's own images keep the executor; Routine runs it from there
// unless told otherwise.
const ExecutorPath = "/kaniko/executor"

// routineGrace is how long a cancelled executor gets between SIGINT and SIGKILL.
const routineGrace = 5 * time.Second

// Routine runs the kaniko executor as a child process of devtool, in the container devtool
// runs in (seed 000's "routine" execution: no Pod, no cluster; devtool added to a kaniko image
// in a CI job). kaniko unpacks the base image over that container's root file system, so
// Routine refuses to run unless devtool is in a container (InContainer) and the build context
// is on a mount point or below /kaniko, which kaniko leaves alone.
type Routine struct {
	executor string
	cfg      settings
	getenv   func(string) string
	root     string // "/" except in tests of the checks
}

// NewRoutine returns a Routine that runs executor ("" means ExecutorPath) with the registry
// policy's credentials (a 0600 config.json in a temporary DOCKER_CONFIG), plain-HTTP
// registries and mirrors, and kaniko's layer cache in cacheRepo ("" for none; see
// WithCacheRepo). getenv is the environment InContainer reads (os.Getenv in devtool).
func NewRoutine(executor string, policy build.RegistryPolicy, cacheRepo string, getenv func(string) string) *Routine {
	if executor == "" {
		executor = ExecutorPath
	}
	return &Routine{executor: executor, cfg: settings{policy: policy, cacheRepo: cacheRepo}, getenv: getenv, root: "/"}
}

// Name is "kaniko".
func (r *Routine) Name() string { return builderName }

// InContainer reports whether this process runs in a container, and the evidence: the marker
// files docker (/.dockerenv) and podman (/run/.containerenv) create, a Kubernetes service
// environment, or a container cgroup (docker, containerd, kubepods, libpod, lxc) in
// /proc/self/cgroup. A chroot is not a container unless it carries one of those. getenv is
// the environment (os.Getenv in devtool).
func InContainer(getenv func(string) string) (bool, string) { return inContainer("/", getenv) }

func inContainer(root string, getenv func(string) string) (bool, string) {
	for _, f := range []string{"/.dockerenv", "/run/.containerenv"} {
		if _, err := os.Stat(filepath.Join(root, f)); err == nil {
			return true, f + " exists"
		}
	}
	if getenv("KUBERNETES_SERVICE_HOST") != "" {
		return true, "KUBERNETES_SERVICE_HOST is set (a Pod)"
	}
	if b, err := os.ReadFile(filepath.Join(root, "/proc/self/cgroup")); err == nil {
		for _, marker := range []string{"/docker", "/kubepods", "containerd", "libpod", "/lxc/"} {
			if strings.Contains(string(b), marker) {
				return true, "/proc/self/cgroup names " + strings.Trim(marker, "/")
			}
		}
	}
	return false, ""
}

// Available reports whether devtool runs in a container that has the executor.
func (r *Routine) Available() bool {
	ok, _ := inContainer(r.root, r.getenv)
	_, err := os.Stat(r.executor)
	return ok && err == nil
}

// check refuses a build kaniko would damage or that cannot run here.
func (r *Routine) check(req build.Request) error {
	if ok, _ := inContainer(r.root, r.getenv); !ok {
		return fmt.Errorf("image %q: devtool is not running inside a container, and kaniko run here would unpack the base image over this machine's root file system; build in the cluster instead (--kaniko-execution=pod) or use another --builder", req.Name)
	}
	if _, err := os.Stat(r.executor); err != nil {
		return fmt.Errorf("image %q: no kaniko executor at %s (devtool runs kaniko in-container from a kaniko image; set DEVTOOL_KANIKO_EXECUTOR): %w", req.Name, r.executor, err)
	}
	mounts, err := mountPoints(filepath.Join(r.root, "/proc/self/mountinfo"))
	if err != nil {
		return fmt.Errorf("image %q: reading mount points: %w", req.Name, err)
	}
	if !safeFromKaniko(req.ContextDir, mounts) {
		return fmt.Errorf("image %q: the build context %s is neither on a mounted volume nor below /kaniko, and kaniko deletes the container's other files between stages; mount the project as a volume (e.g. /workspace)", req.Name, req.ContextDir)
	}
	return nil
}

// safeFromKaniko reports whether kaniko leaves dir alone: it is below /kaniko, or on a mount
// point other than "/" (kaniko ignores mount points when it unpacks and deletes).
func safeFromKaniko(dir string, mounts []string) bool {
	if within(dir, "/kaniko") {
		return true
	}
	for _, m := range mounts {
		if m != "/" && within(dir, m) {
			return true
		}
	}
	return false
}

func within(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}

// mountPoints lists the mount points of a /proc/self/mountinfo file (field 5).
func mountPoints(file string) ([]string, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		if fs := strings.Fields(s.Text()); len(fs) > 4 {
			out = append(out, strings.ReplaceAll(fs[4], `\040`, " "))
		}
	}
	return out, s.Err()
}

// Build runs the executor on req (--context dir://ContextDir, --force: devtool checked it is
// in a container). Cancelling ctx sends the executor SIGINT, then SIGKILL after 5 s. Errors
// name req.Name; a failed build gives the exit status and the last lines of its log.
func (r *Routine) Build(ctx context.Context, req build.Request, log io.Writer) (build.Result, error) {
	if log == nil {
		log = io.Discard
	}
	if err := r.check(req); err != nil {
		return build.Result{}, err
	}
	dockerfile, err := readDockerfile(req)
	if err != nil {
		return build.Result{}, err
	}
	tmp, err := os.MkdirTemp("/kaniko", "devtool-")
	if err != nil {
		// kaniko keeps /kaniko; elsewhere the file could be deleted before it is read.
		return build.Result{}, fmt.Errorf("image %q: %w", req.Name, err)
	}
	defer os.RemoveAll(tmp)
	args, err := executorArgs(req, dockerfile, req.Dockerfile, r.cfg, r.cfg.policy.CAFile)
	if err != nil {
		return build.Result{}, err
	}
	digestFile := filepath.Join(tmp, "digest")
	args = append([]string{"--context=dir://" + req.ContextDir, "--digest-file=" + digestFile, "--force"}, args...)
	env := os.Environ()
	doc, found, err := dockerConfig(req, dockerfile, r.cfg)
	if err != nil {
		return build.Result{}, err
	}
	if found {
		if err := os.WriteFile(filepath.Join(tmp, "config.json"), doc, 0o600); err != nil {
			return build.Result{}, err
		}
		env = append(env, "DOCKER_CONFIG="+tmp)
	}
	tail := newTailWriter(log, 20)
	cmd := exec.Command(r.executor, args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, tail, tail
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return build.Result{}, fmt.Errorf("image %q: starting the kaniko executor: %w", req.Name, err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err = <-waited:
	case <-ctx.Done():
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
		select {
		case <-waited:
		case <-time.After(routineGrace):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-waited
		}
		return build.Result{}, ctx.Err()
	}
	tail.flush()
	if err != nil {
		msg := fmt.Sprintf("image %q: the kaniko executor failed (%v)", req.Name, err)
		if lines := tail.lines(); len(lines) > 0 {
			msg += "; last lines of its log:\n  " + strings.Join(lines, "\n  ")
		}
		return build.Result{}, errors.New(msg)
	}
	res := build.Result{Name: req.Name, Repository: req.Repository, Tag: req.Tag, Builder: builderName}
	if res.Tag == "" {
		res.Tag = "latest"
	}
	if req.Push {
		b, err := os.ReadFile(digestFile)
		if d := strings.TrimSpace(string(b)); err == nil && strings.HasPrefix(d, "sha256:") {
			res.Digest = d
		} else {
			return build.Result{}, fmt.Errorf("image %q: %w", req.Name, errDigest)
		}
	}
	return res, nil
}
