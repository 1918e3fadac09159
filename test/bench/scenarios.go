package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// scenarios lists what `make bench` measures, in report order.
func scenarios(e *env, o *options) []scenario {
	return []scenario{
		startup(e),
		helloNoop(e, o),
		objects200(e, true),
		objects200(e, false),
		buildNative(e),
		buildUnchanged(e),
		buildRunOverhead(e),
		engineOverhead(e, "podman"),
		engineOverhead(e, "docker"),
		buildS2I(e, o),
		kanikoPod(e),
		corpusParse(e),
		describeJSON(e, o),
	}
}

// kube are the connection flags of devtool's and kubectl's cluster commands: the test API
// server, and a discovery cache of the bench's own (warm after the warm-up run, as a user's).
func (e *env) kube() []string {
	return []string{"--kubeconfig", e.api.Kubeconfig, "--cache-dir", e.cacheDir}
}

// project copies testdata/<src> (a directory) to <work dir>/<name> once and returns its path.
func (e *env) project(src, name string) (string, error) {
	dst := filepath.Join(e.dir, "projects", name)
	if _, err := os.Stat(dst); err == nil {
		return dst, nil
	}
	return dst, copyDir(filepath.Join(e.root, "testdata", src), dst)
}

func copyDir(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, info.Mode().Perm()|0o200)
	})
}

// nonce writes a file whose content is new every time, so that a build's input changes.
func nonce(path string) error {
	return os.WriteFile(path, []byte(fmt.Sprintf("%d\n", time.Now().UnixNano())), 0o644)
}

func skipIfMissing(bin, why string) string {
	if bin == "" {
		return why
	}
	return ""
}

// devtoolTool runs devtool with args (built per run by argsFor).
func (e *env) devtoolTool(name string, prepare func(context.Context, int) error, argsFor func(i int) []string) *tool {
	return &tool{Name: name, prepare: prepare, run: func(ctx context.Context, i int) (sample, error) {
		return e.exec(ctx, command{argv: append([]string{e.devtool}, argsFor(i)...)})
	}}
}

// helloNoop: deploy testdata/samples/hello, then again with nothing changed (the build is
// skipped by the input-digest cache, every object is unchanged).
func helloNoop(e *env, o *options) scenario {
	sc := scenario{
		ID: "hello-noop", Title: "no-op redeploy of testdata/samples/hello", Kind: ratio,
		Targets: []target{{Peer: "odo deploy", Value: 10}, {Peer: "skaffold run", Value: 5}},
		Note:    "kubectl applies the manifests devtool renders (it builds nothing); odo and skaffold build and deploy the same project",
	}
	deployArgs := func(p, ns string) []string {
		return append([]string{"deploy", "--devfile", p, "--image-registry", e.registry + "/bench", "--var", "BASE_IMAGE=" + e.base, "--var", "NAMESPACE=" + ns}, e.kube()...)
	}
	var dev string
	sc.tools = append(sc.tools, e.devtoolTool("devtool deploy", func(context.Context, int) error {
		var err error
		dev, err = e.project("samples/hello", "hello-devtool")
		return err
	}, func(int) []string { return deployArgs(dev, "bench-hello") }))

	rendered := filepath.Join(e.dir, "projects", "hello-kubectl.yaml")
	sc.tools = append(sc.tools, &tool{
		Name: "kubectl apply --server-side", Skip: skipIfMissing(e.kubectl, "kubectl not installed"),
		prepare: func(ctx context.Context, i int) error {
			if i >= 0 {
				return nil
			}
			p, err := e.project("samples/hello", "hello-devtool")
			if err != nil {
				return err
			}
			return e.render(ctx, p, rendered, "--image-registry", e.registry+"/bench", "--var", "NAMESPACE=bench-hello-kubectl")
		},
		run: func(ctx context.Context, i int) (sample, error) {
			return e.exec(ctx, command{argv: append([]string{e.kubectl, "apply", "--server-side", "-f", rendered}, e.kube()...)})
		},
	})
	sc.tools = append(sc.tools, e.odoDeploy(o), e.skaffoldRun(o))
	sc.profile = func(ctx context.Context, path string) (string, error) {
		return e.profileCLI(ctx, path, func(int) []string { return deployArgs(dev, "bench-hello") })
	}
	return sc
}

// render writes devtool's rendered manifests of project p to path.
func (e *env) render(ctx context.Context, p, path string, args ...string) error {
	cmd := exec.CommandContext(ctx, e.devtool, append([]string{"render", "--devfile", p, "--var", "BASE_IMAGE=" + e.base}, args...)...)
	cmd.Env = e.childEnv
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("devtool render: %w", err)
	}
	return os.WriteFile(path, out, 0o644)
}

// odoDeploy runs `odo deploy` on a copy of the hello sample ($ODO_BIN; odo builds with podman).
// Not run on the machine this harness was written on (no odo there).
func (e *env) odoDeploy(o *options) *tool {
	t := &tool{Name: "odo deploy", Skip: skipIfMissing(o.odo, "ODO_BIN not set")}
	var dir string
	var env []string
	t.prepare = func(ctx context.Context, i int) error {
		if i >= 0 {
			return nil
		}
		var err error
		if dir, err = e.project("samples/hello", "hello-odo"); err != nil {
			return err
		}
		odoDir := filepath.Join(e.dir, "odo")
		kc, err := e.kubeconfigIn("bench-hello-odo", odoDir)
		if err != nil {
			return err
		}
		env = []string{"KUBECONFIG=" + kc, "GLOBALODOCONFIG=" + filepath.Join(odoDir, "preference.yaml"),
			"ODO_TRACKING_CONSENT=no", "ODO_DISABLE_TELEMETRY=true",
			"CONTAINERS_REGISTRIES_CONF=" + filepath.Join(odoDir, "registries.conf")}
		if err := os.WriteFile(filepath.Join(odoDir, "registries.conf"), []byte(fmt.Sprintf("[[registry]]\nlocation = %q\ninsecure = true\n", e.registry)), 0o644); err != nil {
			return err
		}
		if err := e.namespace(ctx, "bench-hello-odo"); err != nil {
			return err
		}
		_, err = e.exec(ctx, command{argv: []string{o.odo, "preference", "set", "ImageRegistry", e.registry + "/odo", "--force"}, dir: dir, env: env})
		return err
	}
	t.run = func(ctx context.Context, i int) (sample, error) {
		return e.exec(ctx, command{argv: []string{o.odo, "deploy", "--var", "BASE_IMAGE=" + e.base, "--var", "NAMESPACE=bench-hello-odo"}, dir: dir, env: env})
	}
	return t
}

// skaffoldRun runs `skaffold run` on a copy of the hello sample with a generated skaffold.yaml:
// a custom build running buildah (there is no Docker daemon here), the rendered manifests, the
// kubectl deployer ($SKAFFOLD_BIN; skaffold v2.16.1 builds from the Go module proxy with the
// replace lines of its own go.mod). --status-check=false: devtool deploy does not wait for
// rollouts either (and the bench's API server has no node, so nothing ever rolls out).
func (e *env) skaffoldRun(o *options) *tool {
	t := &tool{Name: "skaffold run", Skip: skipIfMissing(o.skaffold, "SKAFFOLD_BIN not set")}
	var dir string
	t.prepare = func(ctx context.Context, i int) error {
		if i >= 0 {
			return nil
		}
		var err error
		if dir, err = e.project("samples/hello", "hello-skaffold"); err != nil {
			return err
		}
		manifests := filepath.Join(dir, "k8s.yaml")
		if err := e.render(ctx, dir, manifests, "--image-registry", e.registry+"/skaffold", "--var", "NAMESPACE=bench-hello-skaffold"); err != nil {
			return err
		}
		image := e.registry + "/skaffold/hello"
		b, err := os.ReadFile(manifests)
		if err != nil {
			return err
		}
		b = regexp.MustCompile(`(?m)^(\s*image:\s*)\S+$`).ReplaceAll(b, []byte("${1}"+image))
		if err := os.WriteFile(manifests, b, 0o644); err != nil {
			return err
		}
		script := fmt.Sprintf("#!/bin/sh\nset -e\n%s bud --isolation chroot --tls-verify=false --build-arg BASE_IMAGE=%s -t \"$IMAGE\" .\nif [ \"$PUSH_IMAGE\" = true ]; then %s push --tls-verify=false \"$IMAGE\" \"docker://$IMAGE\"; fi\n", e.buildah, e.base, e.buildah)
		if err := os.WriteFile(filepath.Join(dir, "build.sh"), []byte(script), 0o755); err != nil {
			return err
		}
		cfg := fmt.Sprintf(`apiVersion: skaffold/v4beta11
kind: Config
build:
  local: {push: true}
  insecureRegistries: [%q]
  artifacts:
  - image: %s
    context: .
    custom:
      buildCommand: ./build.sh
      dependencies: {paths: ["Dockerfile", "www", "serve.sh"]}
manifests:
  rawYaml: [k8s.yaml]
deploy:
  kubectl: {}
`, e.registry, image)
		return os.WriteFile(filepath.Join(dir, "skaffold.yaml"), []byte(cfg), 0o644)
	}
	t.run = func(ctx context.Context, i int) (sample, error) {
		return e.exec(ctx, command{argv: []string{o.skaffold, "run", "--status-check=false", "--kubeconfig", e.api.Kubeconfig}, dir: dir, env: []string{"SKAFFOLD_UPDATE_CHECK=false", "SKAFFOLD_COLLECT_METRICS=false"}})
	}
	return t
}

// kubeconfigIn writes a copy of the kubeconfig whose context's namespace is ns (for odo, which
// deploys to the current namespace) into dir and returns its path.
func (e *env) kubeconfigIn(ns, dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	b, err := os.ReadFile(e.api.Kubeconfig)
	if err != nil {
		return "", err
	}
	kc := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kc, b, 0o600); err != nil {
		return "", err
	}
	if e.kubectl != "" {
		if out, err := exec.Command(e.kubectl, "--kubeconfig", kc, "config", "set-context", "--current", "--namespace="+ns).CombinedOutput(); err != nil {
			return "", fmt.Errorf("kubectl config set-context: %v: %s", err, out)
		}
	}
	return kc, nil
}

// objects200Manifests are 50 each of ConfigMap, Secret, Service and Deployment. The Services
// are headless: the test API server's Service IP range (a /24) would run out after a few cold
// runs of 50 each.
func objects200Manifests(image string) string {
	var b strings.Builder
	for i := 1; i <= 50; i++ {
		fmt.Fprintf(&b, `---
apiVersion: v1
kind: ConfigMap
metadata: {name: cm-%02[1]d, labels: {app: app-%02[1]d}}
data: {key: "value-%[1]d", other: "x"}
---
apiVersion: v1
kind: Secret
metadata: {name: secret-%02[1]d, labels: {app: app-%02[1]d}}
type: Opaque
stringData: {password: "p-%[1]d"}
---
apiVersion: v1
kind: Service
metadata: {name: svc-%02[1]d, labels: {app: app-%02[1]d}}
spec:
  clusterIP: None
  selector: {app: app-%02[1]d}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: app-%02[1]d, labels: {app: app-%02[1]d}}
spec:
  replicas: 1
  selector: {matchLabels: {app: app-%02[1]d}}
  template:
    metadata: {labels: {app: app-%02[1]d}}
    spec:
      containers:
      - name: web
        image: %[2]s
        command: [sleep, "3600"]
        envFrom: [{configMapRef: {name: cm-%02[1]d}}]
`, i, image)
	}
	return b.String()
}

// objects200Project is a devfile whose deploy command applies the 200 objects.
func (e *env) objects200Project() (string, error) {
	dir := filepath.Join(e.dir, "projects", "objects200")
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	devfile := `schemaVersion: 2.2.0
metadata: {name: objects200}
components:
  - name: objects
    kubernetes: {uri: objects.yaml}
commands:
  - id: deploy
    apply: {component: objects, group: {kind: deploy, isDefault: true}}
`
	if err := os.WriteFile(filepath.Join(dir, "devfile.yaml"), []byte(devfile), 0o644); err != nil {
		return "", err
	}
	return dir, os.WriteFile(filepath.Join(dir, "objects.yaml"), []byte(objects200Manifests(e.base)), 0o644)
}

// objects200: the 200 objects into a new namespace per run (cold), or again into the same one
// (nothing changed).
func objects200(e *env, cold bool) scenario {
	sc := scenario{ID: "objects200-noop", Title: "200 mixed objects, nothing changed", Kind: ratio,
		Targets: []target{{Peer: "kubectl apply --server-side", Value: 5}}}
	if cold {
		sc.ID, sc.Title = "objects200-cold", "200 mixed objects, cold (new namespace)"
		sc.Targets[0].Value = 3
	}
	ns := func(tool string, i int) string {
		if !cold {
			return "noop-" + tool
		}
		if i < 0 {
			return "cold-" + tool + "-warmup"
		}
		return fmt.Sprintf("cold-%s-%d", tool, i+1)
	}
	var dir string
	prep := func(tool string) func(context.Context, int) error {
		return func(ctx context.Context, i int) error {
			var err error
			if dir, err = e.objects200Project(); err != nil {
				return err
			}
			return e.namespace(ctx, ns(tool, i))
		}
	}
	devArgs := func(i int) []string {
		return append([]string{"deploy", "--devfile", dir, "-n", ns("devtool", i)}, e.kube()...)
	}
	sc.tools = []*tool{
		e.devtoolTool("devtool deploy", prep("devtool"), devArgs),
		{Name: "kubectl apply --server-side", Skip: skipIfMissing(e.kubectl, "kubectl not installed"), prepare: prep("kubectl"),
			run: func(ctx context.Context, i int) (sample, error) {
				return e.exec(ctx, command{argv: append([]string{e.kubectl, "apply", "--server-side", "-f", filepath.Join(dir, "objects.yaml"), "-n", ns("kubectl", i)}, e.kube()...)})
			}},
	}
	sc.profile = func(ctx context.Context, path string) (string, error) {
		return e.profileCLI(ctx, path, func(i int) []string {
			if cold {
				n := fmt.Sprintf("cold-devtool-profile-%d", i)
				if err := e.namespace(ctx, n); err != nil {
					return nil
				}
				return append([]string{"deploy", "--devfile", dir, "-n", n}, e.kube()...)
			}
			return devArgs(0)
		})
	}
	return sc
}

// buildahBud is `buildah bud` + `buildah push` of project dir's Dockerfile to ref, with the
// flags devtool's buildah builder uses (pkg/build/engine).
func (e *env) buildahBud(dir, ref string, extra ...string) []command {
	build := append([]string{e.buildah, "bud", "--isolation", "chroot", "--tls-verify=false", "-f", filepath.Join(dir, "Dockerfile"), "-t", ref, "--build-arg", "BASE_IMAGE=" + e.base}, extra...)
	return []command{
		{argv: append(build, dir)},
		{argv: []string{e.buildah, "push", "--digestfile", filepath.Join(e.dir, "digest"), "--tls-verify=false", ref, "docker://" + ref}},
	}
}

// buildNative: the hello sample's RUN-free Dockerfile after a source change (a new file in
// www/), built and pushed by devtool's native builder and by buildah.
func buildNative(e *env) scenario {
	sc := scenario{ID: "build-native", Title: "RUN-free Dockerfile after a source change: native builder vs buildah bud + push", Kind: ratio,
		Note: "both push to the loopback registry; buildah's store keeps the base image between runs (vfs driver)"}
	var dev, raw string
	sc.tools = []*tool{
		e.devtoolTool("devtool build --builder native", func(context.Context, int) error {
			var err error
			if dev, err = e.project("samples/hello", "build-native"); err != nil {
				return err
			}
			return nonce(filepath.Join(dev, "www", "nonce.txt"))
		}, func(int) []string {
			return []string{"build", "--devfile", dev, "--builder", "native", "--push", "--image-registry", e.registry + "/native", "--var", "BASE_IMAGE=" + e.base}
		}),
		{Name: "buildah bud + push", Skip: skipIfMissing(e.buildah, "buildah not installed"),
			prepare: func(context.Context, int) error {
				var err error
				if raw, err = e.project("samples/hello", "build-buildah"); err != nil {
					return err
				}
				return nonce(filepath.Join(raw, "www", "nonce.txt"))
			},
			run: func(ctx context.Context, i int) (sample, error) {
				return e.exec(ctx, e.buildahBud(raw, fmt.Sprintf("%s/buildah/hello:r%d", e.registry, i+1))...)
			}},
	}
	return sc
}

// buildUnchanged: the same build with nothing changed: devtool's input-digest cache (hash the
// context, ask the registry, skip) vs buildah's layer cache (bud --layers, push).
func buildUnchanged(e *env) scenario {
	sc := scenario{ID: "build-unchanged", Title: "RUN-free Dockerfile, nothing changed: devtool build (input-digest cache) vs buildah bud --layers + push", Kind: ratio}
	var dev, raw string
	sc.tools = []*tool{
		e.devtoolTool("devtool build --builder native", func(context.Context, int) error {
			var err error
			dev, err = e.project("samples/hello", "build-unchanged-devtool")
			return err
		}, func(int) []string {
			return []string{"build", "--devfile", dev, "--builder", "native", "--push", "--image-registry", e.registry + "/unchanged", "--var", "BASE_IMAGE=" + e.base}
		}),
		{Name: "buildah bud --layers + push", Skip: skipIfMissing(e.buildah, "buildah not installed"),
			prepare: func(context.Context, int) error {
				var err error
				raw, err = e.project("samples/hello", "build-unchanged-buildah")
				return err
			},
			run: func(ctx context.Context, i int) (sample, error) {
				return e.exec(ctx, e.buildahBud(raw, e.registry+"/buildah-unchanged/hello:latest", "--layers")...)
			}},
	}
	return sc
}

const runDockerfile = `ARG BASE_IMAGE=busybox:latest
FROM ${BASE_IMAGE}
COPY nonce.txt /nonce.txt
RUN cat /nonce.txt > /built.txt && echo built
`

const runDevfile = `schemaVersion: 2.2.0
metadata: {name: runbuild}
variables: {BASE_IMAGE: "busybox:latest"}
components:
  - name: image
    image:
      imageName: run
      dockerfile: {uri: ./Dockerfile, buildContext: ., args: ["BASE_IMAGE={{BASE_IMAGE}}"]}
commands:
  - id: build
    apply: {component: image, group: {kind: build, isDefault: true}}
`

// runProject writes a project whose Dockerfile has a RUN step.
func (e *env) runProject(name string) (string, error) {
	dir := filepath.Join(e.dir, "projects", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(runDockerfile), 0o644); err != nil {
		return "", err
	}
	return dir, os.WriteFile(filepath.Join(dir, "devfile.yaml"), []byte(runDevfile), 0o644)
}

// buildRunOverhead: a Dockerfile with RUN, changed every run, through devtool --builder buildah
// and through the same buildah commands run directly: devtool's overhead.
func buildRunOverhead(e *env) scenario {
	sc := scenario{ID: "build-run-overhead", Title: "RUN build through devtool --builder buildah vs the same buildah commands", Kind: overhead,
		Targets:    []target{{Peer: "buildah build + push (raw)", Value: 5}},
		Note:       "both use one buildah store (vfs) and the same argv; a new nonce file per run changes the input; 2× -runs runs (builds vary)",
		RunsFactor: 2}
	var dev, raw string
	skip := skipIfMissing(e.buildah, "buildah not installed")
	sc.tools = []*tool{
		e.devtoolTool("devtool build --builder buildah", func(context.Context, int) error {
			var err error
			if dev, err = e.runProject("run-devtool"); err != nil {
				return err
			}
			return nonce(filepath.Join(dev, "nonce.txt"))
		}, func(int) []string {
			return []string{"build", "--devfile", dev, "--builder", "buildah", "--push", "--image-registry", e.registry + "/devtool-run", "--var", "BASE_IMAGE=" + e.base}
		}),
		{Name: "buildah build + push (raw)", Skip: skip,
			prepare: func(context.Context, int) error {
				var err error
				if raw, err = e.runProject("run-raw"); err != nil {
					return err
				}
				return nonce(filepath.Join(raw, "nonce.txt"))
			},
			run: func(ctx context.Context, i int) (sample, error) {
				cmds := e.buildahBud(raw, fmt.Sprintf("%s/raw-run/run:r%d", e.registry, i+1))
				cmds[0].argv[1] = "build" // devtool runs `buildah build`
				return e.exec(ctx, cmds...)
			}},
	}
	if skip != "" {
		sc.tools[0].Skip = skip
	}
	return sc
}

// describeJSON: devtool describe -o json (validate -o json where the binary has no describe) vs
// odo describe component -o json, on the hello sample.
func describeJSON(e *env, o *options) scenario {
	sc := scenario{ID: "describe-json", Title: "describe -o json vs odo describe component -o json", Kind: ratio,
		Targets: []target{{Peer: "odo describe component -o json", Value: 10}}}
	var dir string
	sc.tools = []*tool{
		e.devtoolTool("devtool "+strings.Join(e.describeJ, " "), func(context.Context, int) error {
			var err error
			dir, err = e.project("samples/hello", "hello-describe")
			return err
		}, func(int) []string { return append(append([]string(nil), e.describeJ...), "--devfile", dir) }),
		{Name: "odo describe component -o json", Skip: skipIfMissing(o.odo, "ODO_BIN not set"),
			run: func(ctx context.Context, i int) (sample, error) {
				return e.exec(ctx, command{argv: []string{o.odo, "describe", "component", "-o", "json"}, dir: dir, env: []string{"ODO_TRACKING_CONSENT=no", "ODO_DISABLE_TELEMETRY=true"}})
			}},
	}
	return sc
}

// engineOverhead: the buildRunOverhead measurement for podman (with runc) and docker (the
// bench's own dockerd, testenv.StartDockerd): a RUN Dockerfile, changed every run, through
// `devtool build --builder X --push` and through the same X build + X push commands run
// directly. Engine settings reach devtool through odo's ODO_CONTAINER_BACKEND_GLOBAL_ARGS,
// and the raw commands get the same global flags, so both run the same argv.
func engineOverhead(e *env, kind string) scenario {
	sc := scenario{ID: "build-run-overhead-" + kind, Title: "RUN build through devtool --builder " + kind + " vs the same " + kind + " commands", Kind: overhead,
		Targets:    []target{{Peer: kind + " build + push (raw)", Value: 5}},
		RunsFactor: 2}
	var global []string
	bin, _ := exec.LookPath(kind)
	skip := skipIfMissing(bin, kind+" not installed")
	switch kind {
	case "podman":
		// crun, podman's default runtime, fails on cgroup v1/v2 hybrid hosts; no systemd.
		global = []string{"--runtime=runc", "--cgroup-manager=cgroupfs", "--events-backend=file"}
		sc.Note = "podman with runc, --network=host and the bench's vfs store (CONTAINERS_STORAGE_CONF); same argv; a new nonce file per run; 2× -runs runs"
	case "docker":
		if e.dockerd == nil && skip == "" {
			skip = "no Docker daemon (dockerd from docker.io, started by the bench as root)"
			if e.dockerdErr != nil {
				skip = "no Docker daemon: " + e.dockerdErr.Error()
			}
		}
		if e.dockerd != nil {
			global = []string{"--host=" + e.dockerd.Host}
		}
		sc.Note = "the bench's dockerd (private socket, overlay2, classic builder); same argv; a new nonce file per run; 2× -runs runs"
	}
	env := []string{"ODO_CONTAINER_BACKEND_GLOBAL_ARGS=" + strings.Join(global, ";")}
	var buildFlags []string
	if kind == "podman" {
		// RUN on the host's network: podman's default bridge network would add a bridge
		// and iptables chains to the host.
		buildFlags = []string{"--network=host"}
		env = append(env, "ODO_IMAGE_BUILD_ARGS="+strings.Join(buildFlags, ";"))
	}
	var dev, raw string
	devTool := e.devtoolTool("devtool build --builder "+kind, func(context.Context, int) error {
		var err error
		if dev, err = e.runProject("run-devtool-" + kind); err != nil {
			return err
		}
		return nonce(filepath.Join(dev, "nonce.txt"))
	}, nil)
	devTool.run = func(ctx context.Context, i int) (sample, error) {
		return e.exec(ctx, command{env: env, argv: []string{e.devtool, "build", "--devfile", dev, "--builder", kind, "--push",
			"--image-registry", e.registry + "/devtool-" + kind, "--var", "BASE_IMAGE=" + e.base}})
	}
	devTool.Skip = skip
	sc.tools = []*tool{devTool,
		{Name: kind + " build + push (raw)", Skip: skip,
			prepare: func(context.Context, int) error {
				var err error
				if raw, err = e.runProject("run-raw-" + kind); err != nil {
					return err
				}
				return nonce(filepath.Join(raw, "nonce.txt"))
			},
			run: func(ctx context.Context, i int) (sample, error) {
				ref := fmt.Sprintf("%s/raw-%s/run:r%d", e.registry, kind, i+1)
				g := append([]string{bin}, global...)
				build := append(append([]string(nil), g...), "build")
				push := append(append([]string(nil), g...), "push")
				if kind == "podman" {
					build = append(build, "--tls-verify=false")
					push = append(push, "--digestfile", filepath.Join(e.dir, "digest-"+kind), "--tls-verify=false")
				}
				build = append(build, "-f", filepath.Join(raw, "Dockerfile"), "-t", ref, "--build-arg", "BASE_IMAGE="+e.base)
				build = append(append(build, buildFlags...), raw)
				push = append(push, ref)
				if kind == "podman" {
					push = append(push, "docker://"+ref)
				}
				return e.exec(ctx, command{argv: build}, command{argv: push})
			}},
	}
	return sc
}
