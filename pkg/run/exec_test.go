package run

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/devtool/devtool/pkg/build"
	"github.com/devtool/devtool/pkg/deploy"
	"github.com/devtool/devtool/pkg/plan"
)

// jobDeployer is a fakeDeployer that can also run Jobs (run.JobRunner): it records each Job
// (and the calls, as "exec"), reports progress once, and returns the result of run.
type jobDeployer struct {
	*fakeDeployer
	jobs []deploy.JobRequest
	// run decides the outcome of a Job (nil: success).
	run func(ctx context.Context, req deploy.JobRequest) error
}

func (d *jobDeployer) RunJob(ctx context.Context, req deploy.JobRequest) (deploy.JobResult, error) {
	d.mu.Lock()
	d.calls = append(d.calls, "exec")
	d.jobs = append(d.jobs, req)
	d.mu.Unlock()
	res := deploy.JobResult{Namespace: req.Namespace, Name: req.Job.GetName()}
	if res.Namespace == "" {
		res.Namespace = "default"
	}
	req.Progress(deploy.ObjectStatus{APIVersion: "batch/v1", Kind: "Job", Namespace: res.Namespace, Name: res.Name, Status: deploy.StatusInProgress, Message: "not started"})
	if d.run != nil {
		if err := d.run(ctx, req); err != nil {
			res.Outcome = deploy.JobFailed
			return res, err
		}
	}
	res.Outcome, res.Deleted = deploy.JobSucceeded, true
	return res, nil
}

// execProject builds the tools image, runs the migrate exec command in a container of that
// image (workingDir, env, resources, variables), then applies a ConfigMap.
const execProject = `schemaVersion: 2.2.0
metadata: {name: shop}
variables: {DB: postgres://db}
components:
  - name: tools
    image: {imageName: tools, dockerfile: {uri: Dockerfile, buildContext: .}}
  - name: runner
    container:
      image: tools
      memoryLimit: 512Mi
      cpuRequest: 100m
      env: [{name: DATABASE_URL, value: "{{DB}}"}]
  - name: config
    kubernetes:
      inlined: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: shop-config}
        data: {k: v}
commands:
  - id: build-tools
    apply: {component: tools}
  - id: migrate
    exec:
      component: runner
      commandLine: ./migrate.sh --to "{{VERSION}}"
      workingDir: /work
      env: [{name: MODE, value: 'say "hi"'}]
  - id: apply-config
    apply: {component: config}
  - id: deploy
    composite: {commands: [build-tools, migrate, apply-config], group: {kind: deploy, isDefault: true}}
`

func execChoose(b *fakeBuilder) ChooseBuilder {
	return func(build.Request, []byte) (build.Builder, string, error) { return b, "", nil }
}

// TestExecRunsAJobAfterItsBuild: the exec step's Job is checked in the preflight with the
// objects, runs after the build it depends on with the built image pinned by digest, and the
// apply after it waits for it; the report lists it.
func TestExecRunsAJobAfterItsBuild(t *testing.T) {
	d, p := project(t, map[string]string{"devfile.yaml": execProject, "Dockerfile": "FROM scratch\n"})
	b := &fakeBuilder{}
	dep := &jobDeployer{fakeDeployer: &fakeDeployer{}}
	sink := &recordSink{}
	r := &Runner{Choose: execChoose(b), Deployer: dep, Sink: sink}
	rep, err := r.Deploy(context.Background(), d, p, Options{ImageRegistry: "127.0.0.1:5000/me", Push: true, Namespace: "team", ExecTimeout: 3 * time.Minute,
		Vars: nil})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"validate", "exec", "begin", "apply", "finish"}, dep.calls); diff != "" {
		t.Errorf("deployer calls (-want +got): the apply must wait for the exec step\n%s", diff)
	}
	if len(b.calls) != 1 {
		t.Fatalf("builds = %d, want 1", len(b.calls))
	}
	built := "127.0.0.1:5000/me/shop-tools:t-tools@sha256:" + strings.Repeat("a", 64)
	if len(dep.jobs) != 1 {
		t.Fatalf("RunJob calls = %d, want 1", len(dep.jobs))
	}
	req := dep.jobs[0]
	if req.Timeout != 3*time.Minute || req.Namespace != "team" || req.Logs == nil || !strings.Contains(req.Source, `commands[id=migrate].exec (component "runner")`) {
		t.Errorf("JobRequest = %+v", req)
	}
	want := map[string]any{
		"apiVersion": "batch/v1", "kind": "Job",
		"metadata": map[string]any{"name": "shop-migrate", "labels": map[string]any{"app.kubernetes.io/managed-by": "devtool", "app.kubernetes.io/name": "shop"}},
		"spec": map[string]any{
			"backoffLimit": int64(1), "ttlSecondsAfterFinished": int64(60),
			"template": map[string]any{"spec": map[string]any{
				"restartPolicy": "Never",
				"containers": []any{map[string]any{
					// The container image names the image component: the Job runs the build
					// it waited for, by digest (the job ran after the build).
					"name": "runner", "image": built,
					"command": []any{"/bin/sh"},
					// odo's command line: cd <workingDir> && export <env> && <commandLine>;
					// {{VERSION}} is undefined and left as written (a warning).
					"args":      []any{"-c", `cd /work && export MODE="say \"hi\"" && ./migrate.sh --to "{{VERSION}}"`},
					"env":       []any{map[string]any{"name": "DATABASE_URL", "value": "postgres://db"}},
					"resources": map[string]any{"limits": map[string]any{"memory": "512Mi"}, "requests": map[string]any{"cpu": "100m"}},
				}},
			}},
		},
	}
	if diff := cmp.Diff(want, req.Job.Object); diff != "" {
		t.Errorf("Job (-want +got):\n%s", diff)
	}
	// The preflight checked the same Job, with the image not built yet.
	v := dep.validated[0]
	if len(v.Jobs) != 1 || len(v.Objects) != 1 || v.Jobs[0].GetName() != "shop-migrate" || len(v.JobSources) != 1 {
		t.Fatalf("preflight request: %d objects, %d jobs", len(v.Objects), len(v.Jobs))
	}
	if img := deploy.ImagesOf(v.Jobs); img[0] != "127.0.0.1:5000/me/shop-tools" {
		t.Errorf("preflight Job image = %v", img)
	}
	// The inventory does not include the Job.
	for _, o := range dep.begun[0].Objects {
		if o.GetKind() == "Job" {
			t.Errorf("the Job is in the inventory")
		}
	}
	wantExec := []ExecResult{{Command: "migrate", Component: "runner", Image: built, JobResult: deploy.JobResult{Namespace: "team", Name: "shop-migrate", Outcome: deploy.JobSucceeded, Deleted: true}}}
	if diff := cmp.Diff(wantExec, rep.Execs); diff != "" {
		t.Errorf("report execs (-want +got):\n%s", diff)
	}
	if len(rep.Objects) != 1 || rep.Objects[0].Kind != "ConfigMap" {
		t.Errorf("report objects = %+v, want the ConfigMap only", rep.Objects)
	}
	if !strings.Contains(strings.Join(rep.Warnings, "\n"), "commands[id=migrate].exec.commandLine") {
		t.Errorf("warnings = %v, want the undefined VERSION in commands[id=migrate].exec.commandLine", rep.Warnings)
	}
	if !strings.Contains(eventText(sink), `stepStarted running exec command "migrate" in a Kubernetes Job (container component "runner")`) {
		t.Errorf("no stepStarted event for the exec step in:\n%s", eventText(sink))
	}
	for _, w := range []string{
		"running Job team/shop-migrate with " + built,
		"waiting for Job team/shop-migrate: InProgress: not started",
		"Job team/shop-migrate succeeded in",
	} {
		if !hasEvent(sink, w) {
			t.Errorf("no event %q in:\n%s", w, eventText(sink))
		}
	}
}

// TestExecFailureStopsTheRest: a failed Job fails its step (naming the command) and nothing after
// it runs; the report keeps the failed exec.
func TestExecFailureStopsTheRest(t *testing.T) {
	d, p := project(t, map[string]string{"devfile.yaml": execProject, "Dockerfile": "FROM scratch\n"})
	jobErr := &deploy.JobError{Job: deploy.ObjectStatus{Kind: "Job", Namespace: "team", Name: "shop-migrate", Status: deploy.StatusFailed, Message: "BackoffLimitExceeded"}}
	dep := &jobDeployer{fakeDeployer: &fakeDeployer{}, run: func(context.Context, deploy.JobRequest) error { return jobErr }}
	rep, err := (&Runner{Choose: execChoose(&fakeBuilder{}), Deployer: dep}).Deploy(context.Background(), d, p, Options{ImageRegistry: "127.0.0.1:5000/me", Push: true, Namespace: "team"})
	var se *StepError
	if !errors.As(err, &se) || se.Step != "migrate" || se.Kind != plan.StepExec || se.Component != "runner" || !errors.Is(err, jobErr) {
		t.Fatalf("err = %v, want the exec StepError wrapping the JobError", err)
	}
	if !strings.Contains(err.Error(), `exec step "migrate"`) || !strings.Contains(err.Error(), "Job team/shop-migrate failed") {
		t.Errorf("message: %v", err)
	}
	if diff := cmp.Diff([]string{"validate", "exec"}, dep.calls); diff != "" {
		t.Errorf("deployer calls after the failure (-want +got):\n%s", diff)
	}
	if len(rep.Execs) != 1 || rep.Execs[0].Outcome != deploy.JobFailed {
		t.Errorf("report execs = %+v", rep.Execs)
	}
}

// blockingBuilder blocks every build until its context is cancelled (or 30 s pass) and records
// whether it was cancelled.
type blockingBuilder struct{ cancelled chan bool }

func (b *blockingBuilder) Name() string { return "blocking" }

func (b *blockingBuilder) Build(ctx context.Context, req build.Request, _ io.Writer) (build.Result, error) {
	select {
	case <-ctx.Done():
		b.cancelled <- true
		return build.Result{}, ctx.Err()
	case <-time.After(30 * time.Second):
		b.cancelled <- false
		return build.Result{}, errors.New("not cancelled")
	}
}

// TestParallelExecFailureCancelsSiblings: in a parallel composite, a failed exec step cancels
// the build running next to it, and the deploy fails with the exec step's error.
//
// Every goroutine of the run has ended when Deploy returns (goleak; odo's parallel runner
// leaked them).
func TestParallelExecFailureCancelsSiblings(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	d, p := project(t, map[string]string{"devfile.yaml": `schemaVersion: 2.2.0
metadata: {name: shop}
components:
  - name: img
    image: {imageName: quay.example/shop/img, dockerfile: {uri: Dockerfile, buildContext: .}}
  - name: runner
    container: {image: busybox}
commands:
  - id: build
    apply: {component: img}
  - id: seed
    exec: {component: runner, commandLine: exit 1}
  - id: deploy
    composite: {commands: [build, seed], parallel: true, group: {kind: deploy, isDefault: true}}
`, "Dockerfile": "FROM scratch\n"})
	jobErr := &deploy.JobError{Job: deploy.ObjectStatus{Kind: "Job", Namespace: "default", Name: "shop-seed", Status: deploy.StatusFailed, Message: "BackoffLimitExceeded"}}
	dep := &jobDeployer{fakeDeployer: &fakeDeployer{}, run: func(context.Context, deploy.JobRequest) error { return jobErr }}
	b := &blockingBuilder{cancelled: make(chan bool, 1)}
	_, err := (&Runner{Choose: func(build.Request, []byte) (build.Builder, string, error) { return b, "", nil }, Deployer: dep}).Deploy(context.Background(), d, p, Options{Push: true})
	var se *StepError
	if !errors.As(err, &se) || se.Step != "seed" || !errors.Is(err, jobErr) {
		t.Fatalf("err = %v, want the exec step's error", err)
	}
	if !<-b.cancelled {
		t.Errorf("the parallel build was not cancelled by the failed exec step")
	}
}

// TestExecDryRunAndExecOnly: an exec-only plan has no inventory; a dry run checks the Job in the
// preflight and runs nothing.
func TestExecDryRunAndExecOnly(t *testing.T) {
	d, p := project(t, map[string]string{"devfile.yaml": `schemaVersion: 2.2.0
metadata: {name: hello}
components:
  - name: runtime
    container: {image: "registry.example/node:20"}
commands:
  - id: say
    exec: {component: runtime, commandLine: echo Hello world}
  - id: deploy
    composite: {commands: [say], group: {kind: deploy, isDefault: true}}
`})
	for _, mode := range []deploy.DryRun{deploy.DryRunServer, deploy.DryRunNone} {
		dep := &jobDeployer{fakeDeployer: &fakeDeployer{}}
		rep, err := (&Runner{Deployer: dep}).Deploy(context.Background(), d, p, Options{DryRun: mode})
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		want := []string{"validate", "exec"}
		outcome := deploy.JobSucceeded
		if mode == deploy.DryRunServer {
			want, outcome = []string{"validate"}, deploy.JobValidated
		}
		if diff := cmp.Diff(want, dep.calls); diff != "" {
			t.Errorf("%s: deployer calls (-want +got):\n%s", mode, diff)
		}
		if v := dep.validated[0]; len(v.Objects) != 0 || len(v.Jobs) != 1 || v.ApplySet != nil || v.DryRun != deploy.DryRunServer {
			t.Errorf("%s: preflight %+v, want the Job only, no inventory", mode, v)
		}
		if rep.Inventory != nil || len(rep.Execs) != 1 || rep.Execs[0].Outcome != outcome || rep.Execs[0].Name != "hello-say" || rep.Execs[0].Namespace != "default" {
			t.Errorf("%s: report inventory %+v, execs %+v", mode, rep.Inventory, rep.Execs)
		}
	}
}

// TestRenderShowsJobs: render prints an exec step's Job where the step is in the plan.
func TestRenderShowsJobs(t *testing.T) {
	d, p := project(t, map[string]string{"devfile.yaml": execProject})
	rendered, _, err := (&Runner{}).Render(d, p, Options{ImageRegistry: "127.0.0.1:5000/me"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, rd := range rendered {
		for _, o := range rd.Objects {
			got = append(got, rd.Step+" "+o.GetKind()+" "+o.GetName()+" "+strings.Join(deploy.ImagesOf([]*unstructured.Unstructured{o}), ","))
		}
	}
	want := []string{"migrate Job shop-migrate 127.0.0.1:5000/me/shop-tools", "apply-config ConfigMap shop-config "}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rendered (-want +got):\n%s", diff)
	}
}

func TestJobName(t *testing.T) {
	for _, tc := range []struct{ project, command, want string }{
		{"shop", "migrate", "shop-migrate"},
		{"My_Project", "seed-db", "my-project-seed-db"},
		{strings.Repeat("a", 60), "migrate", strings.Repeat("a", 54) + "-"},
	} {
		got := jobName(tc.project, tc.command)
		if !strings.HasPrefix(got, tc.want) || len(got) > 63 {
			t.Errorf("jobName(%q, %q) = %q, want %q… (≤ 63)", tc.project, tc.command, got, tc.want)
		}
	}
	long := jobName(strings.Repeat("a", 60), "migrate")
	if len(long) != 63 || long == jobName(strings.Repeat("a", 60), "seed") {
		t.Errorf("long names: %q (%d); different commands must give different names", long, len(long))
	}
}

// TestDiffLeavesJobsOut: diff compares the manifests only; a note names each exec command.
func TestDiffLeavesJobsOut(t *testing.T) {
	d, p := project(t, map[string]string{"devfile.yaml": execProject})
	dif := &fakeDiffer{}
	rep, err := (&Runner{Deployer: dif}).Diff(context.Background(), d, p, Options{ImageRegistry: "127.0.0.1:5000/me"})
	if err != nil {
		t.Fatal(err)
	}
	if len(dif.diffReqs) != 1 || len(dif.diffReqs[0].Objects) != 1 || dif.diffReqs[0].Objects[0].GetKind() != "ConfigMap" {
		t.Errorf("diff requests = %+v, want the ConfigMap only", dif.diffReqs)
	}
	if !strings.Contains(strings.Join(rep.Notes, "\n"), `exec command "migrate" is not compared: deploy runs it in a new Job shop-migrate each time`) {
		t.Errorf("notes = %q", rep.Notes)
	}
}
