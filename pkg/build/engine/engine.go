// Package engine builds images with a container engine's CLI — buildah, podman or docker —
// run through exec.CommandContext with an argv (never a shell). These backends handle every
// Dockerfile, including RUN; design.md §4 picks them when the native builder cannot.
//
// What runs (argv; global flags from WithGlobalFlags go right after the program):
//
//	buildah build --isolation chroot [--tls-verify=false] -f DOCKERFILE -t REPO:TAG
//	        [--build-arg K=V]… [--platform P] [build flags…] CONTEXT
//	buildah push --digestfile TMP [--tls-verify=false] REPO:TAG docker://REPO:TAG
//	podman  build [--isolation I] [--tls-verify=false] -f … -t … … CONTEXT
//	podman  push --digestfile TMP [--tls-verify=false] REPO:TAG docker://REPO:TAG
//	docker  build -f … -t … [--build-arg …]… [--platform P] [build flags…] CONTEXT
//	docker  push REPO:TAG        (digest from its output, else docker image inspect)
//
// Several platforms (buildah, podman) build one manifest list instead of one image:
//
//	buildah manifest exists REPO:TAG, then manifest rm REPO:TAG (a list) or rmi REPO:TAG (an image)
//	buildah build … -f … --manifest REPO:TAG … --platform P1 --platform P2 … CONTEXT
//	buildah manifest push --all --digestfile TMP [--tls-verify=false] REPO:TAG docker://REPO:TAG
//
// Docker builds several platforms only with buildx, so the docker builder refuses them. A
// RUN step for a platform other than the host's needs qemu-user-static registered with
// binfmt_misc; without it the engine fails with "exec format error".
//
// A build argument given as "KEY" alone (no value) is not passed: the engine would take the
// value from its own environment, which build.Request.Args rules out.
//
// --tls-verify=false is decided by the build.RegistryPolicy given with WithRegistryPolicy
// (loopback registries qualify unless the policy gives them a CA or marks them secure): for a
// push to such a registry, and for a build whose every pulled image is on one. buildah and
// podman also get --cert-dir (the policy's CA bundles) and --authfile (the policy's
// credentials) for the registries the build touches, and the build gets --registries-conf
// when a pulled registry has mirrors, right after the subcommand (registryFiles).
//
// The package reads no environment variables itself. Machine-specific engine settings belong
// in the engines' own configuration, which they read from the environment devtool passes
// through: CONTAINERS_CONF (podman's OCI runtime, e.g. runtime = "runc" where crun cannot run
// on a cgroup v1/v2 hybrid host), CONTAINERS_STORAGE_CONF (storage driver and root),
// CONTAINERS_REGISTRIES_CONF (mirrors, insecure registries), BUILDAH_ISOLATION, DOCKER_HOST.
// Options cover the rest; EnvOptions turns odo's variables (PODMAN_CMD, DOCKER_CMD,
// ODO_IMAGE_BUILD_ARGS, ODO_CONTAINER_BACKEND_GLOBAL_ARGS) and BUILDAH_ISOLATION into options
// for pkg/cli.
//
// # Cancellation
//
// Each engine command runs in its own process group. Cancelling the build's context sends
// SIGINT to the whole group — the engine and whatever it started, such as the processes of a
// RUN step under buildah's chroot isolation — and SIGKILL to what is left of the group as
// soon as the engine has exited and its output is closed, at the latest after a grace period
// of 5 s, so no RUN process outlives the build by more than that. (A RUN process that is PID 1
// of its own PID namespace ignores SIGINT; only the SIGKILL stops it. A process that makes
// itself a new session or group escapes this, as it would a terminal's Ctrl-C.)
package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/devtool/devtool/pkg/build"
	"github.com/google/go-containerregistry/pkg/name"
)

// Kind names a container engine; it is also the builder's Name ("--builder buildah").
type Kind string

// The supported engines.
const (
	Podman  Kind = "podman"
	Docker  Kind = "docker"
	Buildah Kind = "buildah"
)

// Environment variables EnvOptions maps to options.
const (
	// EnvPodmanCmd and EnvDockerCmd name the podman and docker programs (odo's variables).
	EnvPodmanCmd = "PODMAN_CMD"
	EnvDockerCmd = "DOCKER_CMD"
	// EnvBuildArgs holds extra build flags, separated by ";" (odo's ODO_IMAGE_BUILD_ARGS),
	// e.g. "--layers;--network=host".
	EnvBuildArgs = "ODO_IMAGE_BUILD_ARGS"
	// EnvGlobalArgs holds flags placed before the subcommand of every engine command — build,
	// push, and docker's daemon probe — separated by ";" (odo's
	// ODO_CONTAINER_BACKEND_GLOBAL_ARGS), e.g. "--root=/srv/podman;--log-level=debug".
	EnvGlobalArgs = "ODO_CONTAINER_BACKEND_GLOBAL_ARGS"
	// EnvBuildahIsolation is buildah's own variable; when it is set, devtool should pass no
	// --isolation, so that buildah (and podman) use its value.
	EnvBuildahIsolation = "BUILDAH_ISOLATION"
)

// outputLines is how many trailing lines of engine output an ExecError keeps.
const outputLines = 20

// stopGrace is how long a cancelled engine gets between SIGINT and SIGKILL.
const stopGrace = 5 * time.Second

// Option configures an engine builder at construction.
type Option func(*config)

type config struct {
	binary       string
	globalFlags  []string
	buildFlags   []string
	isolation    string
	isolationSet bool
	policy       build.RegistryPolicy
	stopGrace    time.Duration // between SIGINT and SIGKILL; tests shorten it
}

// WithBinary sets the program to run (a name looked up on PATH, or a path). Default: the
// Kind's name.
func WithBinary(program string) Option { return func(c *config) { c.binary = program } }

// WithGlobalFlags adds flags placed before the subcommand of every engine invocation, e.g.
// buildah's "--root", dir, "--runroot", dir, "--storage-driver", "vfs", or docker's "--host".
func WithGlobalFlags(flags ...string) Option {
	return func(c *config) { c.globalFlags = append(c.globalFlags, flags...) }
}

// WithBuildFlags sets the flags added to the build command, placed just before the context
// directory (e.g. "--layers", "--network=host"); a later WithBuildFlags replaces an earlier
// one. Default: none.
func WithBuildFlags(flags ...string) Option {
	return func(c *config) { c.buildFlags = append([]string(nil), flags...) }
}

// WithIsolation sets buildah's and podman's --isolation ("chroot", "oci", "rootless");
// "" passes none, leaving the engine's default (BUILDAH_ISOLATION, containers.conf). Ignored
// for docker.
//
// Default for buildah: "chroot" — no OCI runtime and no cgroups needed, so it works in CI
// containers and on hosts where buildah's default runtime (crun) fails (crun 1.8 refuses
// cgroup v1/v2 hybrid hosts); RUN steps share the host's network. It is what buildah's own
// container images set. For podman the default is "" (podman's own choice).
func WithIsolation(isolation string) Option {
	return func(c *config) { c.isolation, c.isolationSet = isolation, true }
}

// WithRegistryPolicy sets which registries the engine reaches without TLS verification
// (p.IsInsecure): pushes to them, and builds whose every pulled image is on one, get
// --tls-verify=false (buildah, podman; docker takes this from its daemon's configuration).
// Default: the zero policy, loopback registries only.
func WithRegistryPolicy(p build.RegistryPolicy) Option {
	return func(c *config) { c.policy = p }
}

// EnvOptions returns the options that odo's environment variables and buildah's own ask for,
// for engine k, reading them with getenv (which reports whether a variable is set; pkg/cli
// passes its injected environment, tests a map):
//
//   - PODMAN_CMD (podman) and DOCKER_CMD (docker), when non-empty: WithBinary;
//   - ODO_CONTAINER_BACKEND_GLOBAL_ARGS, ";"-separated, entries trimmed and empty ones
//     dropped, when it has any: WithGlobalFlags (so they reach push and docker's daemon probe
//     too, as in odo);
//   - ODO_IMAGE_BUILD_ARGS, split the same way: WithBuildFlags;
//   - BUILDAH_ISOLATION set, even empty (buildah, podman): WithIsolation(""), so that the
//     engine applies the variable itself.
//
// Options given after these to New override them.
func EnvOptions(k Kind, getenv func(string) (string, bool)) []Option {
	var opts []Option
	binVar := map[Kind]string{Podman: EnvPodmanCmd, Docker: EnvDockerCmd}[k]
	if binVar != "" {
		if v, _ := getenv(binVar); v != "" {
			opts = append(opts, WithBinary(v))
		}
	}
	if v, _ := getenv(EnvGlobalArgs); v != "" {
		if flags := splitArgs(v); len(flags) > 0 {
			opts = append(opts, WithGlobalFlags(flags...))
		}
	}
	if v, _ := getenv(EnvBuildArgs); v != "" {
		if flags := splitArgs(v); len(flags) > 0 {
			opts = append(opts, WithBuildFlags(flags...))
		}
	}
	if k == Buildah || k == Podman {
		if _, set := getenv(EnvBuildahIsolation); set {
			opts = append(opts, WithIsolation(""))
		}
	}
	return opts
}

// splitArgs splits odo's ";"-separated argument lists, trimming entries and dropping empty
// ones.
func splitArgs(v string) []string {
	var flags []string
	for _, f := range strings.Split(v, ";") {
		if f = strings.TrimSpace(f); f != "" {
			flags = append(flags, f)
		}
	}
	return flags
}

// New returns the Builder for engine k. Its Name is string(k). Settings come from opts only
// (New reads no environment; see EnvOptions): the program string(k), no global or build
// flags, isolation "chroot" for buildah (WithIsolation), the zero RegistryPolicy.
//
// Build runs the engine's build (and, with Request.Push, push) command, streaming the engine's
// stdout and stderr to the log writer. Result.Digest is the pushed manifest digest; without
// Push it is empty (a local image ID is not a registry digest). Several Request.Platforms
// build a manifest list (buildah/podman `build --manifest`, pushed with `manifest push --all`;
// Result.Digest is the list's digest). Errors: the engine program missing (the message says
// how to install it), several platforms for docker (they need buildx), or *build.ExecError
// when the engine fails.
func New(k Kind, opts ...Option) build.Builder {
	return &engine{kind: k, cfg: newConfig(k, opts)}
}

func newConfig(k Kind, opts []Option) config {
	c := config{binary: string(k), stopGrace: stopGrace}
	for _, o := range opts {
		o(&c)
	}
	if k == Buildah && !c.isolationSet {
		c.isolation = "chroot"
	}
	return c
}

// dockerProbeTimeout bounds how long Available waits for the docker daemon.
const dockerProbeTimeout = 3 * time.Second

// Available reports whether engine k, configured by opts as New would be, can build here: its
// program (WithBinary) is on PATH, and for docker also that the daemon answers
// `docker [global flags] version` within 3 seconds (a docker CLI without a daemon is common;
// WithGlobalFlags such as "--host" apply). podman and buildah need no daemon. It returns
// false when ctx ends first.
func Available(ctx context.Context, k Kind, opts ...Option) bool {
	c := newConfig(k, opts)
	path, err := exec.LookPath(c.binary)
	if err != nil {
		return false
	}
	if k != Docker {
		return ctx.Err() == nil
	}
	ctx, cancel := context.WithTimeout(ctx, dockerProbeTimeout)
	defer cancel()
	argv := append(append([]string(nil), c.globalFlags...), "version", "--format", "{{.Server.Version}}")
	cmd := exec.CommandContext(ctx, path, argv...)
	cmd.WaitDelay = time.Second
	return cmd.Run() == nil
}

type engine struct {
	kind Kind
	cfg  config
}

func (e *engine) Name() string { return string(e.kind) }

// Config implements build.Configured: the build flags (WithBuildFlags, ODO_IMAGE_BUILD_ARGS
// through EnvOptions) and the isolation can change the image ("--target=prod", "--build-arg=…", RUN under
// another isolation), so build.Cached hashes them into the input-digest tag.
func (e *engine) Config() string {
	if len(e.cfg.buildFlags) == 0 && e.cfg.isolation == "" {
		return ""
	}
	b, _ := json.Marshal(struct {
		BuildFlags []string `json:"buildFlags,omitempty"`
		Isolation  string   `json:"isolation,omitempty"`
	}{e.cfg.buildFlags, e.cfg.isolation})
	return string(b)
}

func (e *engine) Build(ctx context.Context, req build.Request, log io.Writer) (build.Result, error) {
	if log == nil {
		log = io.Discard
	}
	bin, err := exec.LookPath(e.cfg.binary)
	if err != nil {
		return build.Result{}, fmt.Errorf("image %q: the %s builder runs %q, which is not installed or not on PATH (%s, or choose another --builder): %w",
			req.Name, e.kind, e.cfg.binary, installHint(e.kind), err)
	}
	req.Platforms = dedupe(req.Platforms)
	multi := len(req.Platforms) > 1
	if multi && e.kind == Docker {
		return build.Result{}, fmt.Errorf("image %q: the docker builder cannot build several platforms (%s): docker needs buildx for that, which devtool does not drive; "+
			"use --builder buildah or podman, --builder native for a Dockerfile without RUN, or pass a single --platform",
			req.Name, strings.Join(req.Platforms, ", "))
	}
	if req.Tag == "" {
		req.Tag = "latest"
	}
	ref := req.Repository + ":" + req.Tag
	dockerfile, err := os.ReadFile(req.Dockerfile)
	if err != nil {
		return build.Result{}, fmt.Errorf("image %q: reading the Dockerfile: %w", req.Name, err)
	}
	tlsOff := insecurePulls(dockerfile, req.Args, e.cfg.policy)
	if multi {
		// --manifest adds to a list of that name when one exists: start from an empty one.
		if err := e.removeManifest(ctx, bin, req.Name, ref, log); err != nil {
			return build.Result{}, err
		}
	}
	regFlags, buildOnly, cleanup, err := e.registryFiles(e.buildHosts(dockerfile, req.Args, ref, req.Push))
	defer cleanup()
	if err != nil {
		return build.Result{}, fmt.Errorf("image %q: %w", req.Name, err)
	}
	if _, err := e.run(ctx, req.Name, e.withFlags(e.buildArgv(bin, req, ref, tlsOff), append(append([]string(nil), regFlags...), buildOnly...)), log); err != nil {
		return build.Result{}, err
	}
	res := build.Result{Name: req.Name, Repository: req.Repository, Tag: req.Tag, Builder: e.Name()}
	if !req.Push {
		return res, nil
	}
	if res.Digest, err = e.push(ctx, bin, req.Name, ref, multi, regFlags, log); err != nil {
		return build.Result{}, err
	}
	return res, nil
}

// dedupe drops repeated platforms, keeping the first of each.
func dedupe(platforms []string) []string {
	var out []string
	for _, p := range platforms {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// removeManifest frees the name ref for a multi-platform build's --manifest, which adds to a
// list of that name when one exists and fails when ref names an image: `manifest exists`
// exits 0 for a list (then `manifest rm`), 1 for nothing, and otherwise (125, "image is not
// a manifest list") ref names an image, whose name `rmi` removes — as a single-platform build
// would have re-tagged it.
func (e *engine) removeManifest(ctx context.Context, bin, image, ref string, log io.Writer) error {
	argv := append([]string{bin}, e.cfg.globalFlags...)
	_, err := e.run(ctx, image, append(argv, "manifest", "exists", ref), log)
	var xe *build.ExecError
	switch {
	case err == nil:
		_, err = e.run(ctx, image, append(argv, "manifest", "rm", ref), log)
	case ctx.Err() != nil || !errors.As(err, &xe):
	case xe.ExitCode == 1:
		err = nil
	default:
		_, err = e.run(ctx, image, append(argv, "rmi", ref), log)
	}
	return err
}

// buildArgv is the build command line. tlsOff adds --tls-verify=false (buildah, podman) for
// base images on insecure registries.
func (e *engine) buildArgv(bin string, req build.Request, ref string, tlsOff bool) []string {
	argv := append([]string{bin}, e.cfg.globalFlags...)
	argv = append(argv, "build")
	if e.kind != Docker {
		if e.cfg.isolation != "" {
			argv = append(argv, "--isolation", e.cfg.isolation)
		}
		if tlsOff {
			argv = append(argv, "--tls-verify=false")
		}
	}
	// Several platforms (buildah, podman): one image per platform, gathered in the manifest
	// list ref (buildah build --manifest; Build rejects several for docker).
	if len(req.Platforms) > 1 {
		if e.kind == Podman {
			// podman 4.3 (buildah 1.28 inside) reuses one platform's cached layers for the
			// next: without this both entries of the list hold the first platform's image.
			argv = append(argv, "--layers=false")
		}
		argv = append(argv, "-f", absPath(req.Dockerfile), "--manifest", ref)
	} else {
		argv = append(argv, "-f", absPath(req.Dockerfile), "-t", ref)
	}
	// KEY alone is unset (build.Request.Args): passed bare, the engine would read its own
	// environment for it. It also unsets an earlier KEY=VALUE, the last one winning.
	last := map[string]string{}
	for _, a := range req.Args {
		k, _, _ := strings.Cut(a, "=")
		last[k] = a
	}
	for _, a := range req.Args {
		if k, _, _ := strings.Cut(a, "="); strings.Contains(a, "=") && strings.Contains(last[k], "=") {
			argv = append(argv, "--build-arg", a)
		}
	}
	for _, p := range req.Platforms {
		argv = append(argv, "--platform", p)
	}
	argv = append(argv, e.cfg.buildFlags...)
	return append(argv, absPath(req.ContextDir))
}

// absPath makes p absolute, so that a path such as "-rm" cannot be read as a flag.
func absPath(p string) string {
	if p == "" {
		return p
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// pushArgv is the push command line for buildah and podman, which write the pushed manifest
// digest to digestFile. A manifest list (multi) is pushed with `manifest push --all`, its
// images with it; digestFile then gets the list's digest.
func (e *engine) pushArgv(bin, ref, digestFile string, multi bool) []string {
	argv := append([]string{bin}, e.cfg.globalFlags...)
	if e.kind == Docker {
		return append(argv, "push", ref)
	}
	if multi {
		argv = append(argv, "manifest", "push", "--all")
	} else {
		argv = append(argv, "push")
	}
	argv = append(argv, "--digestfile", digestFile)
	if e.cfg.policy.IsInsecure(registryHost(ref)) {
		argv = append(argv, "--tls-verify=false")
	}
	return append(argv, ref, "docker://"+ref)
}

func (e *engine) push(ctx context.Context, bin, image, ref string, multi bool, regFlags []string, log io.Writer) (string, error) {
	if e.kind == Docker {
		out, err := e.run(ctx, image, e.pushArgv(bin, ref, "", false), log)
		if err != nil {
			return "", err
		}
		if m := dockerPushDigest.FindStringSubmatch(out); m != nil {
			return m[1], nil
		}
		return e.dockerRepoDigest(ctx, bin, image, ref)
	}
	dir, err := os.MkdirTemp("", "devtool-push-")
	if err != nil {
		return "", fmt.Errorf("image %q: %w", image, err)
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "digest")
	if _, err := e.run(ctx, image, e.withFlags(e.pushArgv(bin, ref, file, multi), regFlags), log); err != nil {
		return "", err
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("image %q: reading the digest %s push wrote: %w", image, e.kind, err)
	}
	d := strings.TrimSpace(string(b))
	if !strings.HasPrefix(d, "sha256:") {
		return "", fmt.Errorf("image %q: %s push wrote %q as the digest, want sha256:…", image, e.kind, d)
	}
	return d, nil
}

// dockerPushDigest matches docker push's last line, "TAG: digest: sha256:… size: N".
var dockerPushDigest = regexp.MustCompile(`digest: (sha256:[0-9a-f]{64})`)

// dockerRepoDigest asks docker for the repo digest of ref after a push whose output did not
// show it.
func (e *engine) dockerRepoDigest(ctx context.Context, bin, image, ref string) (string, error) {
	argv := append([]string{bin}, e.cfg.globalFlags...)
	argv = append(argv, "image", "inspect", "--format", "{{json .RepoDigests}}", ref)
	out, err := e.run(ctx, image, argv, io.Discard)
	if err != nil {
		return "", err
	}
	var digests []string
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &digests); err != nil {
		return "", fmt.Errorf("image %q: reading docker image inspect output %q: %w", image, out, err)
	}
	want, err := name.ParseReference(ref)
	if err != nil {
		return "", fmt.Errorf("image %q: parsing %q: %w", image, ref, err)
	}
	for _, d := range digests {
		r, err := name.NewDigest(d)
		if err == nil && r.Context().Name() == want.Context().Name() {
			return r.DigestStr(), nil
		}
	}
	return "", fmt.Errorf("image %q: docker pushed %s but reports no digest for it (RepoDigests %v)", image, ref, digests)
}

// run runs argv, streaming its combined output to log, and returns the last lines of that
// output. A failure is a *build.ExecError.
func (e *engine) run(ctx context.Context, image string, argv []string, log io.Writer) (string, error) {
	fmt.Fprintf(log, "running: %s\n", strings.Join(redactBuildArgs(argv), " "))
	tail := &tailWriter{max: outputLines}
	out := io.MultiWriter(log, tail)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	// One writer for both streams: os/exec then uses a single pipe, so log sees the engine's
	// lines in order and is never written concurrently.
	cmd.Stdout, cmd.Stderr = out, out
	// The engine leads its own process group, so that a cancelled build stops what it
	// started too: buildah's chroot isolation runs RUN steps as its descendants, which
	// outlive buildah when it is killed. On cancellation the group gets SIGINT; once the
	// leader has exited and the output pipe is closed, or the grace period (WaitDelay) is
	// over and os/exec has killed the leader, the rest of the group gets SIGKILL.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
		if errors.Is(err, syscall.ESRCH) {
			return os.ErrProcessDone
		}
		return err
	}
	cmd.WaitDelay = e.cfg.stopGrace
	err := cmd.Run()
	if ctx.Err() != nil && cmd.Process != nil {
		// Whatever of the group survived the leader. While a member lives its group id
		// cannot be reused; with none left this fails with ESRCH.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	if err == nil {
		return tail.String(), nil
	}
	xe := &build.ExecError{Name: image, Argv: argv, ExitCode: -1, Output: tail.String(), Err: err}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		xe.ExitCode = ee.ExitCode()
	}
	if ctx.Err() != nil {
		xe.Err = ctx.Err()
	}
	return "", xe
}

// redactBuildArgs hides build-argument values ("--build-arg K=V" shows as "K=…"): they may be
// credentials, and the log goes to terminals and CI output (build.ExecError hides them too).
func redactBuildArgs(argv []string) []string {
	out := append([]string(nil), argv...)
	for i := 1; i < len(out); i++ {
		if out[i-1] != "--build-arg" {
			continue
		}
		if k, _, ok := strings.Cut(out[i], "="); ok {
			out[i] = k + "=…"
		}
	}
	return out
}

func installHint(k Kind) string {
	switch k {
	case Buildah:
		return "install it: apt-get install buildah, dnf install buildah"
	case Podman:
		return "install it: apt-get install podman, dnf install podman"
	case Docker:
		return "install it: apt-get install docker.io, or Docker Engine from docs.docker.com"
	}
	return "install it"
}

// registryHost is the registry part of an image reference ("index.docker.io" when it has
// none), or "" when ref does not parse.
func registryHost(ref string) string {
	r, err := name.ParseReference(ref)
	if err != nil {
		return ""
	}
	return r.Context().RegistryStr()
}
