package run

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/devtool/devtool/pkg/build"
	"github.com/devtool/devtool/pkg/deploy"
	"github.com/devtool/devtool/pkg/devfile"
	"github.com/devtool/devtool/pkg/plan"
	"github.com/devtool/devtool/pkg/vars"
)

// Fakes for pure run logic; the real backends are tested in pkg/build, pkg/deploy and test/e2e.

type fakeBuilder struct {
	mu    sync.Mutex
	calls []build.Request
	fail  map[string]error // by Request.Name
	block map[string]bool  // wait for ctx cancellation
}

func (b *fakeBuilder) Name() string { return "fake" }

func (b *fakeBuilder) Build(ctx context.Context, req build.Request, log io.Writer) (build.Result, error) {
	b.mu.Lock()
	b.calls = append(b.calls, req)
	b.mu.Unlock()
	if b.block[req.Name] {
		select {
		case <-ctx.Done():
			return build.Result{}, ctx.Err()
		case <-time.After(10 * time.Second):
			return build.Result{}, errors.New("not cancelled")
		}
	}
	if err := b.fail[req.Name]; err != nil {
		return build.Result{}, err
	}
	tag := req.Tag
	if tag == "" {
		tag = "t-" + req.Name
	}
	return build.Result{Name: req.Name, Repository: req.Repository, Tag: tag, Digest: "sha256:" + strings.Repeat("a", 64), Builder: "fake"}, nil
}

type fakeDeployer struct {
	mu          sync.Mutex
	validated   []deploy.Preflight
	applied     []deploy.Request
	validateErr error

	calls     []string // "validate", "begin", "apply", "finish", "undeploy", in call order
	begun     []deploy.Request
	finished  [][]deploy.ObjectResult // the applied argument of each Commit
	prune     []bool
	beginErr  error
	pruned    []deploy.ObjectResult // Commit's result
	finishErr error
	undeploy  func(set deploy.ApplySet) ([]deploy.ObjectResult, error)
	undeploys []deploy.ApplySet
	began     map[*deploy.Transaction]bool
}

func (d *fakeDeployer) Validate(ctx context.Context, req deploy.Preflight) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, "validate")
	d.validated = append(d.validated, req)
	return d.validateErr
}

// Apply begins tx on its first apply, as deploy.Applier does: the begin is recorded as "begin".
func (d *fakeDeployer) Apply(ctx context.Context, tx *deploy.Transaction, req deploy.Request) (deploy.Result, error) {
	if tx != nil {
		set := tx.ApplySet()
		req.ApplySet = &set
		if err := d.begin(tx); err != nil {
			return deploy.Result{}, err
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, "apply")
	d.applied = append(d.applied, req)
	var res deploy.Result
	for _, o := range req.Objects {
		res.Objects = append(res.Objects, deploy.ObjectResult{APIVersion: o.GetAPIVersion(), Kind: o.GetKind(), Name: o.GetName(), Namespace: o.GetNamespace(), Action: deploy.Created})
	}
	return res, nil
}

func (d *fakeDeployer) begin(tx *deploy.Transaction) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.began == nil {
		d.began = map[*deploy.Transaction]bool{}
	}
	if !d.began[tx] {
		d.began[tx] = true
		time.Sleep(5 * time.Millisecond) // parallel apply steps must wait for it
		d.calls = append(d.calls, "begin")
		d.begun = append(d.begun, tx.BeginRequest())
	}
	return d.beginErr
}

func (d *fakeDeployer) Commit(ctx context.Context, tx *deploy.Transaction, applied []deploy.ObjectResult, prune bool) ([]deploy.ObjectResult, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, "finish")
	d.finished = append(d.finished, applied)
	d.prune = append(d.prune, prune)
	return d.pruned, d.finishErr
}

func (d *fakeDeployer) Undeploy(ctx context.Context, req deploy.UndeployRequest) ([]deploy.ObjectResult, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, "undeploy")
	d.undeploys = append(d.undeploys, req.ApplySet)
	if d.undeploy == nil {
		return nil, nil
	}
	return d.undeploy(req.ApplySet)
}

func (d *fakeDeployer) Wait(ctx context.Context, req deploy.WaitRequest) ([]deploy.ObjectStatus, error) {
	return nil, errors.New("fakeDeployer cannot wait")
}

func (d *fakeDeployer) RunJob(ctx context.Context, req deploy.JobRequest) (deploy.JobResult, error) {
	return deploy.JobResult{}, errors.New("fakeDeployer cannot run Jobs")
}

func project(t *testing.T, files map[string]string) (*devfile.Devfile, *plan.Plan) {
	t.Helper()
	dir := t.TempDir()
	for n, c := range files {
		p := filepath.Join(dir, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d, err := devfile.Load(context.Background(), dir, devfile.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Compile(d, plan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return d, p
}

const twoImages = `schemaVersion: 2.2.0
metadata: {name: shop}
variables: {NS: shop-ns}
components:
  - name: front
    image: {imageName: front, dockerfile: {uri: Dockerfile, buildContext: .}}
  - name: back
    image: {imageName: quay.example/team/back, dockerfile: {uri: Dockerfile, buildContext: .}}
  - name: front-k8s
    kubernetes:
      inlined: |
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: front, namespace: "{{NS}}"}
        spec:
          template:
            spec:
              containers:
              - {name: a, image: front}
              - {name: b, image: "{{CONTAINER_IMAGE}}"}
  - name: back-k8s
    kubernetes:
      uri: "k8s/{{NS}}.yaml"
commands:
  - id: build-front
    apply: {component: front}
  - id: build-back
    apply: {component: back}
  - id: deploy-front
    apply: {component: front-k8s}
  - id: deploy-back
    apply: {component: back-k8s}
  - id: front
    composite: {commands: [build-front, deploy-front]}
  - id: back
    composite: {commands: [build-back, deploy-back]}
  - id: deploy
    composite: {commands: [front, back], parallel: true, group: {kind: deploy, isDefault: true}}
`

func twoImageProject(t *testing.T) (*devfile.Devfile, *plan.Plan) {
	return project(t, map[string]string{
		"devfile.yaml": twoImages,
		"Dockerfile":   "FROM scratch\n",
		"k8s/shop-ns.yaml": `apiVersion: v1
kind: Pod
metadata: {name: back}
spec: {containers: [{name: c, image: "quay.example/team/back:latest"}]}
`,
	})
}

func TestDeployPinsBuiltImages(t *testing.T) {
	d, p := twoImageProject(t)
	b, dep := &fakeBuilder{}, &fakeDeployer{}
	r := &Runner{Choose: func(build.Request, []byte) (build.Builder, string, error) { return b, "test", nil }, Deployer: dep}
	rep, err := r.Deploy(context.Background(), d, p, Options{ImageRegistry: "127.0.0.1:5000/me", Push: true, Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	digest := "@sha256:" + strings.Repeat("a", 64)
	var got []string
	for _, req := range dep.applied {
		for _, o := range req.Objects {
			for _, img := range deploy.ImagesOf([]*unstructured.Unstructured{o}) {
				got = append(got, o.GetKind()+" "+img)
			}
		}
	}
	sort.Strings(got) // the two chains apply in parallel
	want := []string{
		// Relative name rewritten to <registry>/<devfile name>-<name>, pinned by digest; the
		// one build ancestor makes CONTAINER_IMAGE that image too.
		"Deployment 127.0.0.1:5000/me/shop-front:t-front" + digest,
		// The uri ({{NS}} substituted) read after variables are known; the absolute name
		// matches "…:latest" written in the manifest.
		"Pod quay.example/team/back:t-back" + digest,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("deployed images (-want +got):\n%s", diff)
	}
	if len(dep.validated) != 1 || len(dep.validated[0].Objects) != 2 {
		t.Errorf("preflight: %d Validate calls, want 1 with both objects", len(dep.validated))
	}
	if len(rep.Images) != 2 || rep.Images[0].Name != "back" || rep.Images[1].Name != "front" {
		t.Errorf("report images = %+v, want back and front (sorted)", rep.Images)
	}
	for _, req := range dep.applied {
		for _, o := range req.Objects {
			if o.GetLabels()["app.kubernetes.io/managed-by"] != "devtool" || o.GetLabels()["app.kubernetes.io/name"] != "shop" {
				t.Errorf("%s labels = %v", o.GetKind(), o.GetLabels())
			}
		}
	}
}

func TestPreflightFailureBuildsNothing(t *testing.T) {
	d, p := twoImageProject(t)
	b := &fakeBuilder{}
	dep := &fakeDeployer{validateErr: &deploy.ValidationError{Problems: []deploy.ObjectProblem{{Object: "Pod v1 default/back", Message: "bad"}}}}
	r := &Runner{Choose: func(build.Request, []byte) (build.Builder, string, error) { return b, "", nil }, Deployer: dep}
	_, err := r.Deploy(context.Background(), d, p, Options{ImageRegistry: "127.0.0.1:5000/me", Push: true})
	var pe *PreflightError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want *PreflightError", err)
	}
	if len(b.calls) != 0 || len(dep.applied) != 0 {
		t.Errorf("after a failed preflight: %d builds, %d applies; want none", len(b.calls), len(dep.applied))
	}
}

func TestFirstFailureCancelsParallelBuilds(t *testing.T) {
	d, p := twoImageProject(t)
	b := &fakeBuilder{fail: map[string]error{"back": errors.New("boom")}, block: map[string]bool{"front": true}}
	dep := &fakeDeployer{}
	r := &Runner{Choose: func(build.Request, []byte) (build.Builder, string, error) { return b, "", nil }, Deployer: dep}
	start := time.Now()
	_, err := r.Deploy(context.Background(), d, p, Options{ImageRegistry: "127.0.0.1:5000/me", Push: true})
	var se *StepError
	if !errors.As(err, &se) || se.Step != "build-back" || se.Kind != plan.StepBuild {
		t.Fatalf("err = %v, want a *StepError for build-back", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("the blocked build was not cancelled (took %s)", time.Since(start))
	}
	if len(dep.applied) != 0 {
		t.Errorf("applied %d times after a failed build", len(dep.applied))
	}
}

func TestInputErrorsBeforeAnything(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		opts  Options
		want  []string
	}{
		{
			name: "missing Dockerfile",
			files: map[string]string{"devfile.yaml": `schemaVersion: 2.2.0
metadata: {name: x}
components:
  - name: img
    image: {imageName: x, dockerfile: {uri: docker/Dockerfile, buildContext: .}}
commands:
  - id: b
    apply: {component: img, group: {kind: deploy}}
`},
			opts: Options{ImageRegistry: "127.0.0.1:5000"},
			want: []string{`image component "img"`, `dockerfile uri "docker/Dockerfile"`, "no such file"},
		},
		{
			name: "relative image name without a registry",
			files: map[string]string{"Dockerfile": "FROM scratch\n", "devfile.yaml": `schemaVersion: 2.2.0
metadata: {name: x}
components:
  - name: img
    image: {imageName: x, dockerfile: {uri: Dockerfile}}
commands:
  - id: b
    apply: {component: img, group: {kind: deploy}}
`},
			opts: Options{Push: true},
			want: []string{`imageName "x" has no registry`, "--image-registry"},
		},
		{
			name: "undefined variable with --strict",
			files: map[string]string{"devfile.yaml": `schemaVersion: 2.2.0
metadata: {name: x}
components:
  - name: m
    kubernetes: {inlined: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: '{{NAME}}'}\n"}
commands:
  - id: a
    apply: {component: m, group: {kind: deploy}}
`},
			opts: Options{Strict: true},
			want: []string{`"NAME"`, "components[name=m].kubernetes"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, p := project(t, tt.files)
			b, dep := &fakeBuilder{}, &fakeDeployer{}
			r := &Runner{Choose: func(build.Request, []byte) (build.Builder, string, error) { return b, "", nil }, Deployer: dep}
			_, err := r.Deploy(context.Background(), d, p, tt.opts)
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("err = %v, want *InputError", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
			if len(b.calls)+len(dep.validated)+len(dep.applied) != 0 {
				t.Errorf("something ran: %d builds, %d validations, %d applies", len(b.calls), len(dep.validated), len(dep.applied))
			}
		})
	}
}

func TestVarOverridesAndQualify(t *testing.T) {
	d, p := twoImageProject(t)
	r := &Runner{}
	// --var-file overrides the devfile, --var overrides --var-file.
	if err := os.WriteFile(filepath.Join(d.Dir, "k8s", "flag-ns.yaml"), []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: back}\nspec: {containers: [{name: c, image: \"quay.example/team/back\"}]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, warnings, err := r.Render(d, p, Options{ImageRegistry: "reg.example/me/", Vars: []vars.Layer{
		{Source: "--var-file", Values: map[string]string{"NS": "file-ns"}},
		{Source: "--var", Values: map[string]string{"NS": "flag-ns"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings: %v", warnings)
	}
	// Rendering shows images that builds would produce as their repository.
	if imgs := deploy.ImagesOf(out[0].Objects); !cmp.Equal(imgs, []string{"reg.example/me/shop-front"}) {
		t.Errorf("rendered images = %v", imgs)
	}
	if len(out) != 2 || out[0].Objects[0].GetNamespace() != "flag-ns" {
		t.Fatalf("render = %+v", out)
	}
	tests := []struct{ in, registry, name, repo, tag string }{
		{"front", "reg.example/me/", "shop", "reg.example/me/shop-front", ""},
		{"front:v1", "reg.example/me", "shop", "reg.example/me/shop-front", "v1"},
		{"team/Front", "reg.example", "Shop", "reg.example/shop-team-front", ""},
		{"quay.io/x/y:2", "reg.example", "shop", "quay.io/x/y", "2"},
		{"localhost/y", "reg.example", "shop", "localhost/y", ""},
		{"localhost:5000/y@sha256:abc", "reg.example", "shop", "localhost:5000/y", ""},
		{"front", "", "shop", "front", ""},
	}
	for _, tt := range tests {
		repo, tag, _ := qualify(tt.in, tt.registry, tt.name)
		if repo != tt.repo || tag != tt.tag {
			t.Errorf("qualify(%q, %q, %q) = %q, %q; want %q, %q", tt.in, tt.registry, tt.name, repo, tag, tt.repo, tt.tag)
		}
	}
}

// TestApplyAttributesReferenceVariables: design.md §3's example, an apply command's attribute
// `CONTAINER_IMAGE: "{{myimage}}"`, sets CONTAINER_IMAGE to the value of myimage for that apply.
func TestApplyAttributesReferenceVariables(t *testing.T) {
	d, p := project(t, map[string]string{
		"Dockerfile": "FROM scratch\n",
		"devfile.yaml": `schemaVersion: 2.2.0
metadata: {name: attrs}
variables: {myimage: quay.example/me/app, other: quay.example/me/other}
components:
  - name: img
    image: {imageName: "{{myimage}}", dockerfile: {uri: Dockerfile}}
  - name: m
    kubernetes:
      inlined: |
        apiVersion: v1
        kind: Pod
        metadata: {name: p}
        spec: {containers: [{name: c, image: "{{CONTAINER_IMAGE}}"}]}
commands:
  - id: build
    apply: {component: img}
  - id: apply-m
    attributes: {CONTAINER_IMAGE: "{{myimage}}"}
    apply: {component: m}
  - id: deploy
    composite: {commands: [build, apply-m], group: {kind: deploy}}
`,
	})
	b, dep := &fakeBuilder{}, &fakeDeployer{}
	r := &Runner{Choose: func(build.Request, []byte) (build.Builder, string, error) { return b, "", nil }, Deployer: dep}
	rep, err := r.Deploy(context.Background(), d, p, Options{Push: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Warnings) != 0 {
		t.Errorf("warnings: %v", rep.Warnings)
	}
	if len(dep.applied) != 1 {
		t.Fatalf("%d applies", len(dep.applied))
	}
	want := []string{"quay.example/me/app:t-img@sha256:" + strings.Repeat("a", 64)}
	if diff := cmp.Diff(want, deploy.ImagesOf(dep.applied[0].Objects)); diff != "" {
		t.Errorf("deployed images (-want +got):\n%s", diff)
	}
}

// TestParallelAppliesShareWarnings: parallel apply steps render (and record undefined
// variables) at the same time; -race must stay quiet.
func TestParallelAppliesShareWarnings(t *testing.T) {
	d, p := project(t, map[string]string{"devfile.yaml": `schemaVersion: 2.2.0
metadata: {name: par}
components:
  - name: a
    kubernetes: {inlined: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: '{{undefined_a}}'}\n"}
  - name: b
    kubernetes: {inlined: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\ndata: {k: '{{undefined_b}}'}\n"}
commands:
  - id: apply-a
    apply: {component: a}
  - id: apply-b
    apply: {component: b}
  - id: deploy
    composite: {commands: [apply-a, apply-b], parallel: true, group: {kind: deploy}}
`})
	for i := 0; i < 20; i++ {
		dep := &fakeDeployer{}
		r := &Runner{Deployer: dep}
		rep, err := r.Deploy(context.Background(), d, p, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Warnings) != 2 {
			t.Fatalf("warnings = %v, want 2", rep.Warnings)
		}
	}
}

// TestTemplatedURIReadHonoursContext: a manifest uri with variables is read during the deploy;
// cancelling the deploy must stop the read instead of waiting for the HTTP timeout.
func TestTemplatedURIReadHonoursContext(t *testing.T) {
	blocked := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-blocked:
		}
	}))
	defer srv.Close()
	defer close(blocked)
	d, p := project(t, map[string]string{"devfile.yaml": `schemaVersion: 2.2.0
metadata: {name: slow}
variables: {file: m.yaml}
components:
  - name: m
    kubernetes: {uri: "` + srv.URL + `/{{file}}"}
commands:
  - id: apply-m
    apply: {component: m, group: {kind: deploy}}
`})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := (&Runner{Deployer: &fakeDeployer{}}).Deploy(ctx, d, p, Options{})
	if err == nil {
		t.Fatal("want an error")
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("Deploy returned after %s; the uri read ignored the cancelled context", el)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want it to wrap context.DeadlineExceeded", err)
	}
}

// TestRequestsNameComponents: every object handed to the deployer says which component (and
// file) it came from, so validation problems name what the user wrote.
func TestRequestsNameComponents(t *testing.T) {
	d, p := twoImageProject(t)
	b, dep := &fakeBuilder{}, &fakeDeployer{}
	r := &Runner{Choose: func(build.Request, []byte) (build.Builder, string, error) { return b, "", nil }, Deployer: dep}
	if _, err := r.Deploy(context.Background(), d, p, Options{ImageRegistry: "127.0.0.1:5000/me", Push: true}); err != nil {
		t.Fatal(err)
	}
	reqs := append(append([]deploy.Request{}, requestsOf(dep.validated)...), dep.applied...)
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	for _, req := range reqs {
		if len(req.Sources) != len(req.Objects) {
			t.Fatalf("%d sources for %d objects", len(req.Sources), len(req.Objects))
		}
		for i, o := range req.Objects {
			comp := map[string]string{"Deployment": "front-k8s", "Pod": "back-k8s"}[o.GetKind()]
			if !strings.Contains(req.Sources[i], comp) {
				t.Errorf("%s: source %q does not name component %q", o.GetKind(), req.Sources[i], comp)
			}
		}
	}
}

// TestBuildWithoutChooser: a Runner without Choose reports an error for a build instead of
// panicking.
func TestBuildWithoutChooser(t *testing.T) {
	d, _ := twoImageProject(t)
	_, err := (&Runner{}).Build(context.Background(), d, []string{"back"}, Options{})
	if err == nil {
		t.Fatal("want an error")
	}
}

// TestClientDryRunPreflight: --dry-run=client must not send server-side requests beyond
// discovery, the preflight included.
func TestClientDryRunPreflight(t *testing.T) {
	d, p := twoImageProject(t)
	b, dep := &fakeBuilder{}, &fakeDeployer{}
	r := &Runner{Choose: func(build.Request, []byte) (build.Builder, string, error) { return b, "", nil }, Deployer: dep}
	if _, err := r.Deploy(context.Background(), d, p, Options{ImageRegistry: "127.0.0.1:5000/me", Push: true, DryRun: deploy.DryRunClient}); err != nil {
		t.Fatal(err)
	}
	for _, req := range append(requestsOf(dep.validated), dep.applied...) {
		if req.DryRun != deploy.DryRunClient {
			t.Errorf("request with DryRun %q, want client", req.DryRun)
		}
	}
}

func TestPrebuiltImagesAreNotBuilt(t *testing.T) {
	d, p := twoImageProject(t)
	b, dep := &fakeBuilder{}, &fakeDeployer{}
	r := &Runner{Choose: func(build.Request, []byte) (build.Builder, string, error) { return b, "", nil }, Deployer: dep}
	pre := build.Result{Name: "front", Repository: "ci.example/shop-front", Tag: "abc", Digest: "sha256:" + strings.Repeat("b", 64), Builder: "native"}
	rep, err := r.Deploy(context.Background(), d, p, Options{ImageRegistry: "127.0.0.1:5000/me", Push: true, Prebuilt: map[string]build.Result{"front": pre}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range b.calls {
		if c.Name == "front" {
			t.Errorf("the prebuilt image was built again")
		}
	}
	var got []string
	for _, req := range dep.applied {
		got = append(got, deploy.ImagesOf(req.Objects)...)
	}
	if !slices.Contains(got, pre.Ref()) {
		t.Errorf("deployed images %v do not include the prebuilt %s", got, pre.Ref())
	}
	if len(rep.Images) != 2 {
		t.Errorf("report images = %+v, want the prebuilt and the built one", rep.Images)
	}

	// An entry for something that is not an image component is an input error.
	_, err = r.Deploy(context.Background(), d, p, Options{ImageRegistry: "127.0.0.1:5000/me", Push: true, Prebuilt: map[string]build.Result{"front-k8s": pre}})
	var ie *InputError
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), `--images names "front-k8s"`) {
		t.Errorf("err = %v, want an InputError naming front-k8s", err)
	}
}
