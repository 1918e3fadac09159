package build_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/devtool/devtool/pkg/build"
	"github.com/devtool/devtool/pkg/build/engine"
	"github.com/devtool/devtool/pkg/build/native"
)

// namedBuilder is a fake backend that records the requests it builds.
type namedBuilder struct {
	name  string
	mu    sync.Mutex
	built []build.Request
}

func (b *namedBuilder) Name() string { return b.name }

func (b *namedBuilder) Build(_ context.Context, req build.Request, log io.Writer) (build.Result, error) {
	b.mu.Lock()
	b.built = append(b.built, req)
	b.mu.Unlock()
	io.WriteString(log, b.name+" output\n")
	return build.Result{Name: req.Name, Repository: req.Repository, Tag: req.Tag, Builder: b.name}, nil
}

func (b *namedBuilder) builds() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.built)
}

// fakeCandidate describes a candidate for the Auto table test.
type fakeCandidate struct {
	name      string
	accepts   *bool  // nil: Accepts is nil
	why       string // Accepts' reason
	available *bool  // nil: Available is nil
}

var yes, no = func() *bool { b := true; return &b }(), func() *bool { b := false; return &b }()

// runRequest is a Request for a Dockerfile with the given content.
func dockerfileRequest(t *testing.T, content string) build.Request {
	t.Helper()
	dir := t.TempDir()
	df := filepath.Join(dir, "Dockerfile")
	if err := os.WriteFile(df, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return build.Request{Name: "backend", ContextDir: dir, Dockerfile: df, Repository: "registry.example/app", Tag: "t"}
}

func TestAuto(t *testing.T) {
	const runWhy = "line 2: RUN needs a container engine"
	engines := func(podman, docker, buildah *bool) []fakeCandidate {
		return []fakeCandidate{{name: "podman", available: podman}, {name: "docker", available: docker}, {name: "buildah", available: buildah}}
	}
	nativeCand := func(ok bool) fakeCandidate {
		if ok {
			return fakeCandidate{name: "native", accepts: yes, why: "in-process, the Dockerfile needs no RUN"}
		}
		return fakeCandidate{name: "native", accepts: no, why: runWhy}
	}
	tests := []struct {
		name       string
		cands      []fakeCandidate
		wantChosen string
		wantWhy    string
		wantProbed []string // Available asked, in order
		wantErr    string   // the error's text after `image "backend": `; <df> is the Dockerfile
	}{
		{
			name:       "native accepts: no engine is probed",
			cands:      append([]fakeCandidate{nativeCand(true)}, engines(yes, yes, yes)...),
			wantChosen: "native",
			wantWhy:    "native: in-process, the Dockerfile needs no RUN",
		},
		{
			name:       "native declines: the first available engine, with native's reason",
			cands:      append([]fakeCandidate{nativeCand(false)}, engines(no, yes, yes)...),
			wantChosen: "docker",
			wantWhy:    "docker: " + runWhy + "; podman is not available",
			wantProbed: []string{"podman", "docker"},
		},
		{
			name:       "order decides between available engines",
			cands:      append([]fakeCandidate{nativeCand(false)}, engines(yes, yes, yes)...),
			wantChosen: "podman",
			wantWhy:    "podman: " + runWhy,
			wantProbed: []string{"podman"},
		},
		{
			name:       "nil Available is always available",
			cands:      append([]fakeCandidate{nativeCand(false)}, engines(no, no, nil)...),
			wantChosen: "buildah",
			wantWhy:    "buildah: " + runWhy + "; none of podman or docker is available",
			wantProbed: []string{"podman", "docker"},
		},
		{
			name:       "none available: today's message",
			cands:      append([]fakeCandidate{nativeCand(false)}, engines(no, no, no)...),
			wantProbed: []string{"podman", "docker", "buildah"},
			wantErr:    "the Dockerfile <df> needs a container engine (" + runWhy + ") and none of podman, docker or buildah is available; install or start one, or remove RUN instructions so the native builder applies",
		},
		{
			name:       "the engine list comes from the candidates",
			cands:      []fakeCandidate{nativeCand(false), {name: "buildah", available: no}},
			wantProbed: []string{"buildah"},
			wantErr:    "the Dockerfile <df> needs a container engine (" + runWhy + ") and buildah is not available; install or start it, or remove RUN instructions so the native builder applies",
		},
		{
			name:       "an accepting candidate's own reason wins",
			cands:      []fakeCandidate{nativeCand(false), {name: "kaniko", accepts: yes, why: "runs in the cluster"}},
			wantChosen: "kaniko",
			wantWhy:    "kaniko: runs in the cluster",
		},
		{
			name:       "several candidates decline",
			cands:      []fakeCandidate{nativeCand(false), {name: "s2i", accepts: no, why: "no builder image"}, {name: "podman"}},
			wantChosen: "podman",
			wantWhy:    "podman: native: " + runWhy + "; s2i: no builder image",
		},
		{
			name:       "nothing declined: the first available",
			cands:      engines(no, yes, no),
			wantChosen: "docker",
			wantWhy:    "docker: the first available builder; podman is not available",
			wantProbed: []string{"podman", "docker"},
		},
		{
			name:       "only engines, none installed",
			cands:      engines(no, no, no),
			wantProbed: []string{"podman", "docker", "buildah"},
			wantErr:    "no builder for the Dockerfile <df>: none of podman, docker or buildah is available; install or start one",
		},
		{
			name:    "nobody accepts",
			cands:   []fakeCandidate{nativeCand(false)},
			wantErr: "no builder of --builder auto can build the Dockerfile <df>: " + runWhy,
		},
		{
			name:    "no candidates",
			wantErr: "--builder auto has no builders to choose from",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := dockerfileRequest(t, "FROM busybox\nRUN true\n")
			var (
				mu     sync.Mutex
				probed []string
				seen   [][]byte
			)
			builders := map[string]*namedBuilder{}
			var cands []build.Candidate
			for _, fc := range tc.cands {
				b := &namedBuilder{name: fc.name}
				builders[fc.name] = b
				c := build.Candidate{Builder: b}
				if fc.accepts != nil {
					ok, why := *fc.accepts, fc.why
					c.Accepts = func(df []byte) (bool, string) {
						mu.Lock()
						seen = append(seen, df)
						mu.Unlock()
						return ok, why
					}
				}
				if fc.available != nil {
					avail, name := *fc.available, fc.name
					c.Available = func(context.Context) bool {
						mu.Lock()
						probed = append(probed, name)
						mu.Unlock()
						return avail
					}
				}
				cands = append(cands, c)
			}
			auto := build.Auto(cands...)
			if auto.Name() != "auto" {
				t.Errorf("Name() = %q, want auto", auto.Name())
			}

			why, err := build.Explain(context.Background(), auto, req)
			var log bytes.Buffer
			res, berr := auto.Build(context.Background(), req, &log)

			if tc.wantErr != "" {
				want := `image "backend": ` + strings.ReplaceAll(tc.wantErr, "<df>", req.Dockerfile)
				for _, e := range []error{err, berr} {
					if e == nil || e.Error() != want {
						t.Errorf("error:\n got %v\nwant %s", e, want)
					}
				}
			} else {
				if err != nil || berr != nil {
					t.Fatalf("Explain: %v; Build: %v", err, berr)
				}
				if why != tc.wantWhy {
					t.Errorf("Explain = %q, want %q", why, tc.wantWhy)
				}
				wantRes := build.Result{Name: "backend", Repository: req.Repository, Tag: "t", Builder: tc.wantChosen}
				if diff := cmp.Diff(wantRes, res); diff != "" {
					t.Errorf("Result (-want +got):\n%s", diff)
				}
				if want := "auto chose " + tc.wantWhy + "\n" + tc.wantChosen + " output\n"; log.String() != want {
					t.Errorf("log = %q, want %q", log.String(), want)
				}
			}
			for name, b := range builders {
				want := 0
				if name == tc.wantChosen {
					want = 1
				}
				if b.builds() != want {
					t.Errorf("%s built %d times, want %d", name, b.builds(), want)
				}
			}
			// Explain and Build both choose, but availability is asked once per candidate.
			if diff := cmp.Diff(tc.wantProbed, probed); diff != "" {
				t.Errorf("Available calls (-want +got):\n%s", diff)
			}
			for _, df := range seen {
				if string(df) != "FROM busybox\nRUN true\n" {
					t.Errorf("Accepts got %q, want the Dockerfile's content", df)
				}
			}
		})
	}
}

func TestAutoUnreadableDockerfile(t *testing.T) {
	req := dockerfileRequest(t, "FROM x\n")
	req.Dockerfile += ".missing"
	_, err := build.Explain(context.Background(), build.Auto(build.Candidate{Builder: &namedBuilder{name: "native"}}), req)
	if err == nil || !strings.Contains(err.Error(), `image "backend": reading the Dockerfile`) {
		t.Errorf("err = %v, want one naming the image and the Dockerfile", err)
	}
}

// TestAutoAvailabilityOnce: concurrent builds share one availability check per candidate; a
// check cut short by a cancelled context is not remembered.
func TestAutoAvailabilityOnce(t *testing.T) {
	req := dockerfileRequest(t, "FROM x\n")
	var mu sync.Mutex
	calls := 0
	b := &namedBuilder{name: "podman"}
	auto := build.Auto(build.Candidate{Builder: b, Available: func(ctx context.Context) bool {
		mu.Lock()
		defer mu.Unlock()
		calls++
		return ctx.Err() == nil
	}})

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := build.Explain(cancelled, auto, req); err == nil {
		t.Error("Explain with a cancelled context succeeded")
	}

	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := auto.Build(context.Background(), req, io.Discard); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if calls != 2 || b.builds() != 8 {
		t.Errorf("Available called %d times, %d builds; want 2 (one cut short, one remembered) and 8", calls, b.builds())
	}
}

func TestExplain(t *testing.T) {
	req := dockerfileRequest(t, "FROM x\n")
	for _, b := range []build.Builder{fakeBuilder{}, build.Cached(fakeBuilder{}, nil)} {
		if why, err := build.Explain(context.Background(), b, req); err != nil || why != "--builder pushing" {
			t.Errorf("Explain(%T) = %q, %v; want --builder pushing", b, why, err)
		}
	}
	c := build.Cached(build.Auto(build.Candidate{Builder: fakeBuilder{}, Accepts: func([]byte) (bool, string) { return true, "fits" }}), nil)
	if _, ok := c.(build.Resolver); !ok {
		t.Error("Cached(Auto(…)) is not a Resolver")
	}
	if why, err := build.Explain(context.Background(), c, req); err != nil || why != "pushing: fits" {
		t.Errorf("Explain(Cached(Auto(…))) = %q, %v; want Auto's reason", why, err)
	}
}

// TestCachedAutoTagIgnoresAvailability: Cached(Auto(native, engines…)) tags by "auto" and the
// candidates' settings, so installing or removing an engine does not change the tag (while it
// does change which engine builds).
func TestCachedAutoTagIgnoresAvailability(t *testing.T) {
	newAuto := func(podman, buildah bool, buildahOpts ...engine.Option) build.Builder {
		return build.Auto(
			build.Candidate{Builder: native.New(), Accepts: native.Supports},
			build.Candidate{Builder: engine.New(engine.Podman), Available: func(context.Context) bool { return podman }},
			build.Candidate{Builder: engine.New(engine.Buildah, buildahOpts...), Available: func(context.Context) bool { return buildah }},
		)
	}
	resolve := func(t *testing.T, b build.Builder, req build.Request) (tag, why string) {
		t.Helper()
		c := build.Cached(b, nil)
		res, _, err := c.(build.Resolver).Resolve(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		why, _ = build.Explain(context.Background(), c, req)
		return res.Tag, why
	}
	for _, dockerfile := range []string{"FROM busybox\nRUN make\n", "FROM busybox\nCOPY . /\n"} {
		t.Run(strings.Fields(dockerfile)[2], func(t *testing.T) {
			req := dockerfileRequest(t, dockerfile)
			req.Tag = ""
			tags := map[string]bool{}
			whys := map[string]bool{}
			for _, avail := range [][2]bool{{true, true}, {false, true}, {true, false}, {false, false}} {
				tag, why := resolve(t, newAuto(avail[0], avail[1]), req)
				tags[tag] = true
				whys[why] = true
			}
			if len(tags) != 1 {
				t.Errorf("tags %v, want one whatever engine is available", tags)
			}
			var tag string
			for tag = range tags {
			}
			if native, _ := resolve(t, native.New(), req); native == tag {
				t.Errorf("Cached(Auto) tag %s = Cached(native)'s: want the tag to name auto", tag)
			}
			if other, _ := resolve(t, newAuto(true, true, engine.WithBuildFlags("--target=prod")), req); other == tag {
				t.Errorf("a candidate's settings changed, tag stayed %s", tag)
			}
			if strings.Contains(dockerfile, "RUN") && len(whys) < 2 {
				t.Errorf("reasons %v: want the choice to follow availability", whys)
			}
		})
	}
}

// TestAutoSkipsSinglePlatformBuilders: a request for several platforms passes over a
// SinglePlatform candidate (docker without buildx) and says why; one platform does not.
func TestAutoSkipsSinglePlatformBuilders(t *testing.T) {
	docker, buildah := &namedBuilder{name: "docker"}, &namedBuilder{name: "buildah"}
	a := build.Auto(
		build.Candidate{Builder: docker, SinglePlatform: true},
		build.Candidate{Builder: buildah},
	)
	req := dockerfileRequest(t, "FROM scratch\nRUN true\n")
	req.Platforms = []string{"linux/amd64", "linux/arm64"}
	why, err := build.Explain(context.Background(), a, req)
	if err != nil {
		t.Fatal(err)
	}
	if want := "buildah: docker builds one platform per image; --platform asks for linux/amd64,linux/arm64"; why != want {
		t.Errorf("Explain = %q, want %q", why, want)
	}
	req.Platforms = req.Platforms[:1]
	if why, err = build.Explain(context.Background(), a, req); err != nil || !strings.HasPrefix(why, "docker: ") {
		t.Errorf("one platform: Explain = %q, %v; want docker chosen", why, err)
	}
}
