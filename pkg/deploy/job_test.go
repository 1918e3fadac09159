package deploy

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/devtool/devtool/test/testenv"
)

// node is the package's real test node (kubelet + containerd, Job controller), started on
// first use: RunJob's runs to completion or failure happen there. Tests that need no Pod to
// run (timeout without a controller, validation) use the plain API server.
var node testenv.NodeForMain

// nodeApplier is newApplier on the package's test node.
func nodeApplier(t *testing.T) (*Applier, dynamic.Interface, *testenv.Node) {
	t.Helper()
	n := node.Get(t)
	a, err := New(getter(t, n.Kubeconfig))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", n.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	return a, dynamic.NewForConfigOrDie(cfg), n
}

// nodeJob is execJob running the node's busybox image.
func nodeJob(t *testing.T, n *testenv.Node, ns, name, command string) *unstructured.Unstructured {
	t.Helper()
	job := execJob(t, ns, name, command)
	cs, _, _ := unstructured.NestedSlice(job.Object, "spec", "template", "spec", "containers")
	cs[0].(map[string]any)["image"] = n.Busybox
	if err := unstructured.SetNestedSlice(job.Object, cs, "spec", "template", "spec", "containers"); err != nil {
		t.Fatal(err)
	}
	return job
}

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

// watchAsync polls, in a goroutine, for the Job ns/name with a UID other than skip (the
// node's Job controller runs it); the returned function waits for it and returns the Job as
// applied.
func watchAsync(t *testing.T, dyn dynamic.Interface, ns, name string, skip types.UID) func() *unstructured.Unstructured {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	var job *unstructured.Unstructured
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			got, err := dyn.Resource(gvrJobs).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
			if err == nil && got.GetUID() != skip && got.GetDeletionTimestamp() == nil {
				job = got
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return func() *unstructured.Unstructured {
		t.Helper()
		<-done
		cancel()
		if job == nil {
			t.Fatalf("Job %s/%s never appeared", ns, name)
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
// runs on the test node, RunJob returns once its Complete condition is True with the command's
// output written to Logs once, and deletes it.
func TestRunJobComplete(t *testing.T) {
	a, dyn, n := nodeApplier(t)
	createNamespace(t, dyn, "job-complete")
	wait := watchAsync(t, dyn, "job-complete", "shop-migrate", "")
	var mu sync.Mutex
	var progress []ObjectStatus
	var logs lockedBuffer
	res, err := a.RunJob(context.Background(), JobRequest{
		Job: nodeJob(t, n, "", "shop-migrate", "echo migrated"), Namespace: "job-complete", Timeout: 2 * time.Minute, Logs: &logs,
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
		if mf.Subresource == "status" {
			continue // the Job controller's
		}
		if mf.Manager != FieldManager || mf.Operation != metav1.ManagedFieldsOperationApply {
			t.Errorf("managed fields entry %s/%s: want only server-side apply by devtool", mf.Manager, mf.Operation)
		}
	}
	args, _, _ := unstructured.NestedSlice(applied.Object, "spec", "template", "spec", "containers")
	if got := args[0].(map[string]any)["args"]; len(got.([]any)) != 2 || got.([]any)[1] != "echo migrated" {
		t.Errorf("container args = %v", got)
	}
	if got := logs.String(); got != "migrated\n" {
		t.Errorf("Logs = %q, want the command's output once", got)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, p := range progress {
		if p.Object() != "Job job-complete/shop-migrate" || p.Status != StatusInProgress {
			t.Errorf("progress %v: want the Job, InProgress", p)
		}
	}
}

// TestRunJobFailedThenRerun: a Job that fails on the node (backoffLimit 1: two Pods exit 1)
// is a *JobError naming the Job and the reason, with its Pods (exit code) in the details and
// their output in Logs; the failed Job is kept. The next run deletes it first (a Job's
// template is immutable) and runs a new one.
func TestRunJobFailedThenRerun(t *testing.T) {
	a, dyn, n := nodeApplier(t)
	const ns = "job-rerun"
	createNamespace(t, dyn, ns)
	wait := watchAsync(t, dyn, ns, "shop-seed", "")
	var logs lockedBuffer
	res, err := a.RunJob(context.Background(), JobRequest{Job: nodeJob(t, n, ns, "shop-seed", "echo seeding-failed; exit 1"), Namespace: "default", Timeout: 2 * time.Minute, PollInterval: 50 * time.Millisecond, Logs: &logs})
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
	for _, w := range []string{"Pod job-rerun/shop-seed-", "Failed; container runtime: terminated with exit code 1"} {
		if !strings.Contains(details, w) {
			t.Errorf("details do not contain %q:\n%s", w, details)
		}
	}
	if got := logs.String(); strings.Count(got, "seeding-failed") != 2 {
		t.Errorf("Logs = %q, want the output of both failed Pods", got)
	}
	if jobGone(t, dyn, ns, "shop-seed") {
		t.Fatalf("the failed Job was deleted; it must stay for inspection")
	}
	t.Logf("JobError:\n%v", err)

	// Rerun: the failed Job is replaced by a new one (another UID), which completes.
	wait = watchAsync(t, dyn, ns, "shop-seed", first.GetUID())
	res, err = a.RunJob(context.Background(), JobRequest{Job: nodeJob(t, n, ns, "shop-seed", "exit 0"), Timeout: 2 * time.Minute, PollInterval: 50 * time.Millisecond})
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
	wait = watchAsync(t, dyn, ns, "shop-seed", second.GetUID())
	res, err = a.RunJob(context.Background(), JobRequest{Job: nodeJob(t, n, ns, "shop-seed", "exit 0"), Timeout: 2 * time.Minute, PollInterval: 50 * time.Millisecond})
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

// lockedBuffer is a bytes.Buffer safe for RunJob's log writers and the test reading it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
