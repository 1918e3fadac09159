package engine

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/devtool/devtool/pkg/build"
)

func TestBuildArgv(t *testing.T) {
	// None of these is read: a bare KEY is unset, and options replace odo's variables.
	t.Setenv("FROM_ENV", "secret")
	t.Setenv(EnvBuildArgs, "--from-env")
	t.Setenv(EnvBuildahIsolation, "oci")
	req := build.Request{
		Name:       "backend",
		ContextDir: "/src/ctx",
		Dockerfile: "/src/Dockerfile",
		Args:       []string{"A=1", "FROM_ENV", "UNSET_ARG_FOR_TEST", "C=1", "B=x=y", "C"},
		Repository: "127.0.0.1:5000/app",
		Platforms:  []string{"linux/arm64"},
	}
	tests := []struct {
		name   string
		kind   Kind
		opts   []Option
		tlsOff bool
		want   string
	}{
		{
			name: "buildah", kind: Buildah, opts: []Option{WithIsolation("chroot")}, tlsOff: true,
			want: "buildah build --isolation chroot --tls-verify=false -f /src/Dockerfile -t 127.0.0.1:5000/app:t " +
				"--build-arg A=1 --build-arg B=x=y --platform linux/arm64 /src/ctx",
		},
		{
			name: "buildah with global and build flags", kind: Buildah,
			opts: []Option{
				WithIsolation("oci"),
				WithGlobalFlags("--root", "/r", "--storage-driver", "vfs"),
				WithBuildFlags("--layers", "--network=host"),
			},
			want: "buildah --root /r --storage-driver vfs build --isolation oci -f /src/Dockerfile -t 127.0.0.1:5000/app:t " +
				"--build-arg A=1 --build-arg B=x=y --platform linux/arm64 --layers --network=host /src/ctx",
		},
		{
			name: "podman", kind: Podman, tlsOff: true,
			want: "podman build --tls-verify=false -f /src/Dockerfile -t 127.0.0.1:5000/app:t " +
				"--build-arg A=1 --build-arg B=x=y --platform linux/arm64 /src/ctx",
		},
		{
			name: "docker ignores isolation and tls", kind: Docker, opts: []Option{WithIsolation("chroot")}, tlsOff: true,
			want: "docker build -f /src/Dockerfile -t 127.0.0.1:5000/app:t " +
				"--build-arg A=1 --build-arg B=x=y --platform linux/arm64 /src/ctx",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := New(tc.kind, tc.opts...).(*engine)
			got := strings.Join(e.buildArgv(string(tc.kind), req, req.Repository+":t", tc.tlsOff), " ")
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("build argv (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	// New reads no environment: these change nothing.
	t.Setenv(EnvBuildahIsolation, "oci")
	t.Setenv(EnvPodmanCmd, "/opt/podman")
	t.Setenv(EnvDockerCmd, "nerdctl")
	t.Setenv(EnvBuildArgs, "--layers")
	for _, k := range kinds {
		c := New(k).(*engine).cfg
		wantIso := ""
		if k == Buildah {
			wantIso = "chroot" // buildah isolates with chroot
		}
		if c.binary != string(k) || c.isolation != wantIso || len(c.buildFlags) != 0 || len(c.globalFlags) != 0 {
			t.Errorf("New(%s) config = %+v, want binary %s, isolation %q, no flags", k, c, k, wantIso)
		}
	}
	if got := New(Buildah, WithIsolation("")).(*engine).cfg.isolation; got != "" {
		t.Errorf(`WithIsolation(""): isolation = %q, want none passed`, got)
	}
	if got := New(Podman, WithBuildFlags("--a"), WithBuildFlags()).(*engine).cfg.buildFlags; len(got) != 0 {
		t.Errorf("WithBuildFlags() left %v, want it to replace earlier build flags", got)
	}
}

var kinds = []Kind{Buildah, Podman, Docker}

// TestEnvOptions: odo's variables and BUILDAH_ISOLATION, read through the given getenv.
func TestEnvOptions(t *testing.T) {
	odo := map[string]string{EnvPodmanCmd: "/opt/podman", EnvDockerCmd: "nerdctl", EnvBuildArgs: "--layers; --network=host;;"}
	type cfg struct {
		Binary      string
		GlobalFlags []string
		BuildFlags  []string
		Isolation   string
	}
	tests := []struct {
		name string
		env  map[string]string
		kind Kind
		opts []Option // given to New after EnvOptions
		want cfg
	}{
		{name: "nothing set: New's defaults", kind: Buildah, want: cfg{Binary: "buildah", Isolation: "chroot"}},
		{name: "podman: PODMAN_CMD, ODO_IMAGE_BUILD_ARGS", env: odo, kind: Podman, want: cfg{Binary: "/opt/podman", BuildFlags: []string{"--layers", "--network=host"}}},
		{name: "docker: DOCKER_CMD", env: odo, kind: Docker, want: cfg{Binary: "nerdctl", BuildFlags: []string{"--layers", "--network=host"}}},
		{name: "buildah: neither *_CMD", env: odo, kind: Buildah, want: cfg{Binary: "buildah", BuildFlags: []string{"--layers", "--network=host"}, Isolation: "chroot"}},
		{name: "empty values count as unset", env: map[string]string{EnvPodmanCmd: "", EnvBuildArgs: " ; "}, kind: Podman, want: cfg{Binary: "podman"}},
		{name: "BUILDAH_ISOLATION set: no --isolation", env: map[string]string{EnvBuildahIsolation: "oci"}, kind: Buildah, want: cfg{Binary: "buildah"}},
		{name: "BUILDAH_ISOLATION set empty", env: map[string]string{EnvBuildahIsolation: ""}, kind: Buildah, want: cfg{Binary: "buildah"}},
		{name: "BUILDAH_ISOLATION and podman", env: map[string]string{EnvBuildahIsolation: "oci"}, kind: Podman, want: cfg{Binary: "podman"}},
		{name: "ODO_CONTAINER_BACKEND_GLOBAL_ARGS", env: map[string]string{EnvGlobalArgs: "--root=/srv/p; --log-level=debug;"}, kind: Podman,
			want: cfg{Binary: "podman", GlobalFlags: []string{"--root=/srv/p", "--log-level=debug"}}},
		{name: "ODO_CONTAINER_BACKEND_GLOBAL_ARGS before later global flags", env: map[string]string{EnvGlobalArgs: "--host=unix:///a"}, kind: Docker,
			opts: []Option{WithGlobalFlags("--debug")}, want: cfg{Binary: "docker", GlobalFlags: []string{"--host=unix:///a", "--debug"}}},
		{name: "later options win", env: odo, kind: Podman, opts: []Option{WithBinary("podman-remote"), WithBuildFlags("--pull")},
			want: cfg{Binary: "podman-remote", BuildFlags: []string{"--pull"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			getenv := func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
			c := New(tc.kind, append(EnvOptions(tc.kind, getenv), tc.opts...)...).(*engine).cfg
			got := cfg{Binary: c.binary, GlobalFlags: c.globalFlags, BuildFlags: c.buildFlags, Isolation: c.isolation}
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

// TestBuildArgvPlatforms: several platforms build into the manifest list REPO:TAG (buildah
// and podman `build --manifest`, podman without its layer cache) instead of tagging one image;
// one platform is tagged as usual.
func TestBuildArgvPlatforms(t *testing.T) {
	req := build.Request{Name: "backend", ContextDir: "/src/ctx", Dockerfile: "/src/Dockerfile", Repository: "127.0.0.1:5000/app"}
	tests := []struct {
		name      string
		kind      Kind
		platforms []string
		want      string
	}{
		{"buildah, two platforms", Buildah, []string{"linux/amd64", "linux/arm64"},
			"buildah build --isolation chroot -f /src/Dockerfile --manifest 127.0.0.1:5000/app:t --platform linux/amd64 --platform linux/arm64 /src/ctx"},
		{"podman, three platforms", Podman, []string{"linux/amd64", "linux/arm64/v8", "linux/s390x"},
			"podman build --layers=false -f /src/Dockerfile --manifest 127.0.0.1:5000/app:t --platform linux/amd64 --platform linux/arm64/v8 --platform linux/s390x /src/ctx"},
		{"podman, one platform", Podman, []string{"linux/arm64"},
			"podman build -f /src/Dockerfile -t 127.0.0.1:5000/app:t --platform linux/arm64 /src/ctx"},
		{"buildah, no platform: the host's", Buildah, nil,
			"buildah build --isolation chroot -f /src/Dockerfile -t 127.0.0.1:5000/app:t /src/ctx"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := req
			r.Platforms = tc.platforms
			got := strings.Join(New(tc.kind).(*engine).buildArgv(string(tc.kind), r, r.Repository+":t", false), " ")
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("build argv (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPushArgv(t *testing.T) {
	t.Setenv(build.EnvInsecureRegistries, "quay.io") // not read: the policy decides
	lan := build.RegistryPolicy{Insecure: []string{"registry.lan"}}
	tests := []struct {
		kind   Kind
		policy build.RegistryPolicy
		ref    string
		want   string
	}{
		{Buildah, build.RegistryPolicy{}, "127.0.0.1:5000/app:t", "buildah --root /r push --digestfile /d --tls-verify=false 127.0.0.1:5000/app:t docker://127.0.0.1:5000/app:t"},
		{Buildah, lan, "registry.lan/app:t", "buildah --root /r push --digestfile /d --tls-verify=false registry.lan/app:t docker://registry.lan/app:t"},
		{Buildah, build.RegistryPolicy{}, "registry.lan/app:t", "buildah --root /r push --digestfile /d registry.lan/app:t docker://registry.lan/app:t"},
		{Podman, lan, "quay.io/me/app:t", "podman --root /r push --digestfile /d quay.io/me/app:t docker://quay.io/me/app:t"},
		{Docker, lan, "quay.io/me/app:t", "docker --root /r push quay.io/me/app:t"},
	}
	for _, tc := range tests {
		e := New(tc.kind, WithGlobalFlags("--root", "/r"), WithRegistryPolicy(tc.policy)).(*engine)
		if got := strings.Join(e.pushArgv(string(tc.kind), tc.ref, "/d", false), " "); got != tc.want {
			t.Errorf("%s push %s (policy %v):\n got %s\nwant %s", tc.kind, tc.ref, tc.policy, got, tc.want)
		}
	}
}

// TestPushArgvManifest: a manifest list (several platforms) is pushed with its images by
// `manifest push --all`, under the same TLS rule as one image.
func TestPushArgvManifest(t *testing.T) {
	lan := build.RegistryPolicy{Insecure: []string{"registry.lan"}}
	tests := []struct {
		kind Kind
		ref  string
		want string
	}{
		{Buildah, "127.0.0.1:5000/app:t", "buildah --root /r manifest push --all --digestfile /d --tls-verify=false 127.0.0.1:5000/app:t docker://127.0.0.1:5000/app:t"},
		{Podman, "registry.lan/app:t", "podman --root /r manifest push --all --digestfile /d --tls-verify=false registry.lan/app:t docker://registry.lan/app:t"},
		{Podman, "quay.io/me/app:t", "podman --root /r manifest push --all --digestfile /d quay.io/me/app:t docker://quay.io/me/app:t"},
	}
	for _, tc := range tests {
		e := New(tc.kind, WithGlobalFlags("--root", "/r"), WithRegistryPolicy(lan)).(*engine)
		if got := strings.Join(e.pushArgv(string(tc.kind), tc.ref, "/d", true), " "); got != tc.want {
			t.Errorf("%s manifest push %s:\n got %s\nwant %s", tc.kind, tc.ref, got, tc.want)
		}
	}
}

func TestInsecurePulls(t *testing.T) {
	// Neither is read: the policy lists registry.lan, and a bare build arg is unset.
	t.Setenv(build.EnvInsecureRegistries, "quay.io")
	t.Setenv("BASE_FROM_ENV", "127.0.0.1:5000/base")
	policy := build.RegistryPolicy{Insecure: []string{"registry.lan"}}
	tests := []struct {
		name       string
		dockerfile string
		args       []string
		want       bool
	}{
		{"loopback base", "FROM 127.0.0.1:5000/base/busybox:latest\nRUN true\n", nil, true},
		{"localhost with platform flag and stage", "FROM --platform=linux/amd64 localhost:5000/bbb AS build\nFROM build\nCOPY --from=build /x /x\n", nil, true},
		{"listed insecure host", "from registry.lan/bbb\n", nil, true},
		{"public base", "FROM golang:1.22\n", nil, false},
		{"mixed keeps TLS", "FROM 127.0.0.1:5000/bbb AS one\nFROM quay.io/x/y\nCOPY --from=one /a /a\n", nil, false},
		{"COPY --from a public image", "FROM 127.0.0.1:5000/bbb\nCOPY --from=docker.io/library/alpine /x /x\n", nil, false},
		{"COPY --from a stage index", "FROM 127.0.0.1:5000/bbb\nFROM 127.0.0.1:5000/ccc\nCOPY --from=0 /x /x\n", nil, true},
		{"scratch only pulls nothing", "FROM scratch\nCOPY . /\n", nil, false},
		{"ARG default", "ARG BASE=127.0.0.1:5000/bbb\nFROM ${BASE}:latest\n", nil, true},
		{"ARG overridden by build arg", "ARG BASE=127.0.0.1:5000/bbb\nFROM $BASE\n", []string{"BASE=quay.io/bbb"}, false},
		{"bare build arg is unset, not read from the environment", "ARG BASE_FROM_ENV\nFROM $BASE_FROM_ENV\n", []string{"BASE_FROM_ENV"}, false},
		{"bare build arg unsets an earlier value", "ARG BASE=127.0.0.1:5000/bbb\nFROM $BASE\n", []string{"BASE=quay.io/bbb", "BASE"}, true},
		{"host listed only in the environment", "FROM quay.io/bbb\n", nil, false},
		{"ARG with :- default", "ARG TAG\nFROM 127.0.0.1:5000/bbb:${TAG:-latest}\n", nil, true},
		{"undeclared ARG", "FROM $NOPE\n", nil, false},
		{"continuation and comments", "# comment\nFROM \\\n  127.0.0.1:5000/bbb \\\n  AS x\n# FROM quay.io/yyy\n", nil, true},
		{"escape directive", "# escape=`\nFROM `\n 127.0.0.1:5000/bbb\n", nil, true},
		{"scratch stage name not an image", "FROM scratch AS base\nFROM base\n", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := insecurePulls([]byte(tc.dockerfile), tc.args, policy); got != tc.want {
				t.Errorf("insecurePulls = %v, want %v for\n%s", got, tc.want, tc.dockerfile)
			}
		})
	}
}

func TestTailWriter(t *testing.T) {
	tw := &tailWriter{max: 3}
	for _, chunk := range []string{"one\ntw", "o\nthree\r\n", "progress 10%\rprogress 100%\n", "four\nfive (no newline)"} {
		if n, err := tw.Write([]byte(chunk)); n != len(chunk) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if got, want := tw.String(), "progress 100%\nfour\nfive (no newline)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	long := &tailWriter{max: 2}
	long.Write([]byte(strings.Repeat("x", 3*maxLineBytes) + "\nend\n"))
	if got := long.String(); len(got) != maxLineBytes+len("\nend") {
		t.Errorf("long line kept %d bytes, want it capped at %d", len(got), maxLineBytes)
	}
}

// TestInsecurePullsRunMount: RUN --mount=…,from=IMAGE pulls IMAGE, so it must keep TLS on
// when IMAGE is on a secure registry.
func TestInsecurePullsRunMount(t *testing.T) {
	tests := []struct {
		name, dockerfile string
		want             bool
	}{
		{"bind mount from a public image", "FROM 127.0.0.1:5000/bbb\nRUN --mount=type=bind,from=quay.io/x/tools,target=/t /t/run\n", false},
		{"cache mount from a public image", "FROM 127.0.0.1:5000/bbb\nRUN --network=none --mount=type=cache,target=/c,from=docker.io/library/alpine true\n", false},
		{"mount from a stage", "FROM 127.0.0.1:5000/bbb AS tools\nFROM 127.0.0.1:5000/ccc\nRUN --mount=type=bind,from=tools,target=/t /t/run\n", true},
		{"mount from a loopback image", "FROM 127.0.0.1:5000/bbb\nRUN --mount=type=bind,from=127.0.0.1:5000/tools,target=/t /t/run\n", true},
		{"mount from a variable", "ARG T=127.0.0.1:5000/tools\nFROM 127.0.0.1:5000/bbb\nRUN --mount=type=bind,from=$T,target=/t true\n", false},
		{"from= in the command is not a flag", "FROM 127.0.0.1:5000/bbb\nRUN echo --mount=type=bind,from=quay.io/x\n", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := insecurePulls([]byte(tc.dockerfile), nil, build.RegistryPolicy{}); got != tc.want {
				t.Errorf("insecurePulls = %v, want %v for\n%s", got, tc.want, tc.dockerfile)
			}
		})
	}
}

// TestConfig: settings that change the image are part of the builder's Config, which
// build.Cached hashes into the tag.
func TestConfig(t *testing.T) {
	var _ build.Configured = New(Buildah).(*engine)
	if got := New(Podman).(*engine).Config(); got != "" {
		t.Errorf("podman without settings: Config = %q, want empty", got)
	}
	dev := New(Podman, WithBuildFlags("--target=dev")).(*engine).Config()
	prod := New(Podman, WithBuildFlags("--target=prod")).(*engine).Config()
	if dev == prod || dev == "" {
		t.Errorf("Config with --target=dev %q, with --target=prod %q: want different", dev, prod)
	}
	getenv := func(k string) (string, bool) {
		return map[string]string{EnvBuildArgs: "--target=prod"}[k], k == EnvBuildArgs
	}
	if env := New(Podman, EnvOptions(Podman, getenv)...).(*engine).Config(); env != prod {
		t.Errorf("ODO_IMAGE_BUILD_ARGS: Config = %q, want %q", env, prod)
	}
	if oci, chroot := New(Buildah, WithIsolation("oci")).(*engine).Config(), New(Buildah, WithIsolation("chroot")).(*engine).Config(); oci == chroot {
		t.Errorf("isolation not in Config: %q", oci)
	}
}

// TestRunLogHidesBuildArgValues: the "running:" line shows build-arg names, not values.
func TestRunLogHidesBuildArgValues(t *testing.T) {
	var log strings.Builder
	e := New(Buildah).(*engine)
	if _, err := e.run(t.Context(), "x", []string{"true", "build", "--build-arg", "TOKEN=s3cret", "--build-arg", "FROM_ENV", "/ctx"}, &log); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(log.String(), "s3cret") || !strings.Contains(log.String(), "--build-arg TOKEN=… --build-arg FROM_ENV /ctx") {
		t.Errorf("log = %q, want build-arg values hidden", log.String())
	}
}

// TestBuildArgvPathsAbsolute: a relative context or Dockerfile that looks like a flag stays
// a path.
func TestBuildArgvPathsAbsolute(t *testing.T) {
	e := New(Docker).(*engine)
	argv := e.buildArgv("docker", build.Request{ContextDir: "--help", Dockerfile: "-Dockerfile"}, "r:t", false)
	// docker build -f DOCKERFILE … CONTEXT
	for _, a := range []string{argv[3], argv[len(argv)-1]} {
		if strings.HasPrefix(a, "-") {
			t.Errorf("argv %q: path %q would be read as a flag", argv, a)
		}
	}
}

// TestGlobalArgsReachPush: ODO_CONTAINER_BACKEND_GLOBAL_ARGS goes before the subcommand of
// the build and of the push, as in odo.
func TestGlobalArgsReachPush(t *testing.T) {
	getenv := func(k string) (string, bool) {
		v, ok := map[string]string{EnvGlobalArgs: "--root=/srv/p;--log-level=debug"}[k]
		return v, ok
	}
	req := build.Request{ContextDir: "/c", Dockerfile: "/c/Dockerfile"}
	for _, k := range kinds {
		e := New(k, EnvOptions(k, getenv)...).(*engine)
		for what, argv := range map[string][]string{
			"build":                e.buildArgv(string(k), req, "registry.lan/app:t", false),
			"push":                 e.pushArgv(string(k), "registry.lan/app:t", "/d", false),
			"push (manifest list)": e.pushArgv(string(k), "registry.lan/app:t", "/d", true),
		} {
			if got := strings.Join(argv[:3], " "); got != string(k)+" --root=/srv/p --log-level=debug" {
				t.Errorf("%s %s argv starts %q, want the global args right after the program", k, what, got)
			}
		}
	}
}

// TestBuildArgValuesStayValues: a devfile build argument whose value (or name) looks like a
// flag is passed as the value of --build-arg, never as a flag of its own: every argument
// from Request.Args directly follows a "--build-arg".
func TestBuildArgValuesStayValues(t *testing.T) {
	req := build.Request{ContextDir: "/c", Dockerfile: "/c/Dockerfile",
		Args: []string{"A=--no-cache", "B=--network=host --pull", "--squash=1"}}
	for _, k := range kinds {
		argv := New(k).(*engine).buildArgv(string(k), req, "registry.lan/app:t", false)
		found := 0
		for i, a := range argv {
			for _, want := range req.Args {
				if a == want {
					found++
					if argv[i-1] != "--build-arg" {
						t.Errorf("%s: %q is not the value of --build-arg in %q", k, a, argv)
					}
				}
			}
			if a == "--no-cache" || a == "--squash" || a == "--pull" {
				t.Errorf("%s: %q became a flag: %q", k, a, argv)
			}
		}
		if found != len(req.Args) {
			t.Errorf("%s: %d of %d build args passed: %q", k, found, len(req.Args), argv)
		}
	}
}
