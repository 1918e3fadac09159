package deploy

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/devtool/devtool/test/testenv"
)

// The API server of these tests runs no Job controller and no kubelet: testenv.FinishJob plays
// them, writing the Job's status (and its Pod) as they would.

// execJob is a Job as pkg/run renders an exec command's.
func execJob(t *testing.T, ns, name, command string) *unstructured.Unstructured {
	t.Helper()
	job := decode(t, `apiVersion: batch/v1
kind: Job
metadata: {name: `+name+`}
spec:
  backoffLimit: 1
  ttlSecondsAfterFinished: 60
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: runtime
        image: "127.0.0.1:5000/tools@sha256:`+strings.Repeat("b", 64)+`"
        command: [/bin/sh]
        args: [-c, "`+command+`"]
`)[0]
	if ns != "" {
		job.SetNamespace(ns)
	}
	SetLabels([]*unstructured.Unstructured{job}, map[string]string{LabelManagedBy: "devtool", LabelName: "jobs-project"})
	return job
}

func createNamespace(t *testing.T, dyn dynamic.Interface, ns string) {
	t.Helper()
	obj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns}}}
	if _, err := dyn.Resource(gvrNS).Create(context.Background(), obj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// finishAsync runs testenv.FinishJob in a goroutine; the returned function waits for it and
// returns the Job as applied.
func finishAsync(t *testing.T, dyn dynamic.Interface, f testenv.JobFinish) func() *unstructured.Unstructured {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	var job *unstructured.Unstructured
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		job, err = testenv.FinishJob(ctx, dyn, f)
	}()
	return func() *unstructured.Unstructured {
		t.Helper()
		<-done
		cancel()
		if err != nil {
			t.Fatalf("playing the Job controller: %v", err)
		}
		return job
	}
}

func jobGone(t *testing.T, dyn dynamic.Interface, ns, name string) bool {
	t.Helper()
	got, err := dyn.Resource(gvrJobs).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return true
	}
	if err != nil {
		t.Fatal(err)
	}
	return got.GetDeletionTimestamp() != nil
}

// TestRunJobComplete: the Job is server-side applied by devtool (not as an ApplySet member),
// RunJob returns once its Complete condition is True, and deletes it.
func TestRunJobComplete(t *testing.T) {
	a, dyn := newApplier(t)
	createNamespace(t, dyn, "job-complete")
	wait := finishAsync(t, dyn, testenv.JobFinish{Namespace: "job-complete", Name: "shop-migrate", Succeed: true, Pod: true})
	var mu sync.Mutex
	var progress []ObjectStatus
	res, err := a.RunJob(context.Background(), JobRequest{
		Job: execJob(t, "", "shop-migrate", "echo migrated"), Namespace: "job-complete", Timeout: 2 * time.Minute,
		PollInterval: 50 * time.Millisecond,
		Progress: func(s ObjectStatus) {
			mu.Lock()
			defer mu.Unlock()
			progress = append(progress, s)
		},
	})
	applied := wait()
	if err != nil {
		t.Fatalf("RunJob: %v", err)
	}
	want := JobResult{Namespace: "job-complete", Name: "shop-migrate", Outcome: JobSucceeded, Deleted: true}
	if res != want {
		t.Errorf("result = %+v, want %+v", res, want)
	}
	if !jobGone(t, dyn, "job-complete", "shop-migrate") {
		t.Errorf("the Job is still there after it succeeded")
	}
	if l := applied.GetLabels(); l[LabelPartOf] != "" || l[LabelManagedBy] != "devtool" {
		t.Errorf("Job labels = %v: want devtool's, and no ApplySet membership", l)
	}
	for _, mf := range applied.GetManagedFields() {
		if mf.Manager != FieldManager || mf.Operation != metav1.ManagedFieldsOperationApply {
			t.Errorf("managed fields entry %s/%s: want only server-side apply by devtool", mf.Manager, mf.Operation)
		}
	}
	args, _, _ := unstructured.NestedSlice(applied.Object, "spec", "template", "spec", "containers")
	if got := args[0].(map[string]any)["args"]; len(got.([]any)) != 2 || got.([]any)[1] != "echo migrated" {
		t.Errorf("container args = %v", got)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, p := range progress {
		if p.Object() != "Job job-complete/shop-migrate" || p.Status != StatusInProgress {
			t.Errorf("progress %v: want the Job, InProgress", p)
		}
	}
}

// TestRunJobFailedThenRerun: a Job whose Failed condition becomes True is a *JobError naming the
// Job and the reason, with its Pod (exit code) and the logs that cannot be read (no kubelet) in
// the details; the failed Job is kept. The next run deletes it first (a Job's template is
// immutable) and runs a new one.
func TestRunJobFailedThenRerun(t *testing.T) {
	a, dyn := newApplier(t)
	const ns = "job-rerun"
	createNamespace(t, dyn, ns)
	wait := finishAsync(t, dyn, testenv.JobFinish{Namespace: ns, Name: "shop-seed", Succeed: false, Pod: true})
	res, err := a.RunJob(context.Background(), JobRequest{Job: execJob(t, ns, "shop-seed", "exit 1"), Namespace: "default", Timeout: 2 * time.Minute, PollInterval: 50 * time.Millisecond})
	first := wait()
	var je *JobError
	if !errors.As(err, &je) {
		t.Fatalf("err = %v, want a *JobError", err)
	}
	if je.TimedOut || res.Outcome != JobFailed || res.Deleted {
		t.Errorf("result %+v, timed out %v: want failed, not deleted", res, je.TimedOut)
	}
	for _, w := range []string{"Job job-rerun/shop-seed failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not contain %q:\n%v", w, err)
		}
	}
	details := strings.Join(je.Job.Details, "\n")
	for _, w := range []string{"Pod job-rerun/shop-seed-", "Failed; container runtime: terminated with exit code 1", "logs of Pod job-rerun/shop-seed-", ": unavailable: "} {
		if !strings.Contains(details, w) {
			t.Errorf("details do not contain %q:\n%s", w, details)
		}
	}
	if jobGone(t, dyn, ns, "shop-seed") {
		t.Fatalf("the failed Job was deleted; it must stay for inspection")
	}
	t.Logf("JobError:\n%v", err)

	// Rerun: the failed Job is replaced by a new one (another UID), which completes.
	wait = finishAsync(t, dyn, testenv.JobFinish{Namespace: ns, Name: "shop-seed", Skip: first.GetUID(), Succeed: true})
	res, err = a.RunJob(context.Background(), JobRequest{Job: execJob(t, ns, "shop-seed", "exit 0"), Timeout: 2 * time.Minute, PollInterval: 50 * time.Millisecond})
	second := wait()
	if err != nil {
		t.Fatalf("rerun: %v", err)
	}
	if !res.Replaced || res.Outcome != JobSucceeded || !res.Deleted {
		t.Errorf("rerun result = %+v, want replaced, succeeded, deleted", res)
	}
	if second.GetUID() == first.GetUID() {
		t.Errorf("the rerun did not create a new Job")
	}
	cs, _, _ := unstructured.NestedSlice(second.Object, "spec", "template", "spec", "containers")
	if args := cs[0].(map[string]any)["args"].([]any); args[1] != "exit 0" {
		t.Errorf("the rerun's Job runs %v, want the new command", args)
	}

	// Nothing left: a third run replaces nothing.
	wait = finishAsync(t, dyn, testenv.JobFinish{Namespace: ns, Name: "shop-seed", Skip: second.GetUID(), Succeed: true})
	res, err = a.RunJob(context.Background(), JobRequest{Job: execJob(t, ns, "shop-seed", "exit 0"), Timeout: 2 * time.Minute, PollInterval: 50 * time.Millisecond})
	wait()
	if err != nil || res.Replaced {
		t.Errorf("third run: %+v, %v; want success without replacing", res, err)
	}
}

// TestRunJobTimeout: a Job that never finishes (no controller) is a *JobError with TimedOut
// after the timeout, explaining that no Pods were created; the Job is deleted.
func TestRunJobTimeout(t *testing.T) {
	a, dyn := newApplier(t)
	createNamespace(t, dyn, "job-timeout")
	res, err := a.RunJob(context.Background(), JobRequest{Job: execJob(t, "job-timeout", "shop-slow", "sleep 1000"), Timeout: time.Second, PollInterval: 50 * time.Millisecond})
	var je *JobError
	if !errors.As(err, &je) || !je.TimedOut {
		t.Fatalf("err = %v, want a timed-out *JobError", err)
	}
	if !strings.Contains(err.Error(), "timed out after 1s waiting for Job job-timeout/shop-slow to complete") ||
		!strings.Contains(err.Error(), "no Pods were created") || !strings.Contains(err.Error(), "deleted the Job: the deploy gave up on it") {
		t.Errorf("error: %v", err)
	}
	if !res.Deleted || !jobGone(t, dyn, "job-timeout", "shop-slow") {
		t.Errorf("result %+v: the Job that timed out must be deleted", res)
	}
}

// TestRunJobCancelled: cancelling the context stops the wait and deletes the Job.
func TestRunJobCancelled(t *testing.T) {
	a, dyn := newApplier(t)
	createNamespace(t, dyn, "job-cancel")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			if _, err := dyn.Resource(gvrJobs).Namespace("job-cancel").Get(ctx, "shop-cancel", metav1.GetOptions{}); err == nil {
				cancel()
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	res, err := a.RunJob(ctx, JobRequest{Job: execJob(t, "job-cancel", "shop-cancel", "sleep 1000"), Timeout: 2 * time.Minute, PollInterval: 50 * time.Millisecond})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if !res.Deleted || !jobGone(t, dyn, "job-cancel", "shop-cancel") {
		t.Errorf("result %+v: a cancelled run must delete its Job", res)
	}
}

// TestJobOfAnotherOwner: a Job of the same name without devtool's project labels is never
// deleted: Validate reports it before anything changes, and RunJob refuses.
func TestJobOfAnotherOwner(t *testing.T) {
	a, dyn := newApplier(t)
	createNamespace(t, dyn, "job-foreign")
	foreign := execJob(t, "job-foreign", "shop-report", "echo theirs")
	foreign.SetLabels(map[string]string{LabelManagedBy: "helm"})
	created, err := dyn.Resource(gvrJobs).Namespace("job-foreign").Create(context.Background(), foreign, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	job := execJob(t, "job-foreign", "shop-report", "echo ours")
	err = a.Validate(context.Background(), Preflight{Jobs: []*unstructured.Unstructured{job}, JobSources: []string{`command "report"`}})
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != 1 {
		t.Fatalf("Validate: %v, want one problem", err)
	}
	if p := ve.Problems[0]; p.Source != `command "report"` || !strings.Contains(p.Message, "was not created by devtool for this project") {
		t.Errorf("problem = %+v", p)
	}
	_, err = a.RunJob(context.Background(), JobRequest{Job: job, Timeout: time.Minute})
	if err == nil || !strings.Contains(err.Error(), "was not created by devtool for this project") {
		t.Errorf("RunJob: %v, want a refusal", err)
	}
	got, err := dyn.Resource(gvrJobs).Namespace("job-foreign").Get(context.Background(), "shop-report", metav1.GetOptions{})
	if err != nil || got.GetUID() != created.GetUID() {
		t.Errorf("the other owner's Job was changed or deleted (%v)", err)
	}
}

// TestValidateJobs: the preflight dry-runs Jobs (a bad one is a problem naming its source), also
// when a Job of the same name from an earlier run exists with another (immutable) template, and
// keeps them out of the ApplySet.
func TestValidateJobs(t *testing.T) {
	a, dyn := newApplier(t)
	createNamespace(t, dyn, "job-validate")
	// An earlier run's Job, with another command: applying the new one over it would fail
	// (spec.template is immutable), so the dry run must not do that.
	earlier := execJob(t, "job-validate", "shop-migrate", "echo old")
	if _, err := dyn.Resource(gvrJobs).Namespace("job-validate").Create(context.Background(), earlier, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	set := ApplySet{Name: ApplySetName("jobs-project"), Namespace: "job-validate", Tooling: DefaultTooling}
	cm := decode(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {k: v}\n")
	good := execJob(t, "", "shop-migrate", "echo new")
	if err := a.Validate(context.Background(), Preflight{Request: Request{Objects: cm, Namespace: "job-validate", ApplySet: &set}, Jobs: []*unstructured.Unstructured{good}}); err != nil {
		t.Fatalf("Validate: %v", err)
	}

	bad := execJob(t, "", "shop-bad", "true")
	if err := unstructured.SetNestedField(bad.Object, "Always", "spec", "template", "spec", "restartPolicy"); err != nil {
		t.Fatal(err)
	}
	err := a.Validate(context.Background(), Preflight{Request: Request{Objects: cm, Namespace: "job-validate"}, Jobs: []*unstructured.Unstructured{good, bad}, JobSources: []string{`command "migrate"`, `command "bad"`}})
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != 1 {
		t.Fatalf("Validate: %v, want one problem", err)
	}
	p := ve.Problems[0]
	if p.Object != "Job batch/v1 job-validate/shop-bad" || p.Source != `command "bad"` || !strings.Contains(p.Message, "restartPolicy") || !strings.Contains(p.Message, "shop-bad") {
		t.Errorf("problem = %+v", p)
	}
	// Nothing was created by the dry runs.
	list, err := dyn.Resource(gvrJobs).Namespace("job-validate").List(context.Background(), metav1.ListOptions{})
	if err != nil || len(list.Items) != 1 {
		t.Errorf("Jobs after Validate: %d (%v), want only the earlier run's", len(list.Items), err)
	}
}
