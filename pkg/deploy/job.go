package deploy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
)

// DefaultJobTimeout is how long RunJob waits for a Job to finish when JobRequest.Timeout is not
// set, and the default of `deploy --exec-timeout`: 10 minutes (skaffold's status-check
// deadline; odo waits without a bound).
const DefaultJobTimeout = 10 * time.Minute

// Labels that tell which project a Job belongs to: RunJob deletes an existing Job of the same
// name only when it carries the same values as the Job it runs (devtool's project labels).
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelName      = "app.kubernetes.io/name"
)

const (
	// jobLogTail is how many lines of each Pod's log RunJob shows (odo shows 100).
	jobLogTail = 100
	// jobDeleteTimeout bounds the delete of a Job after it finished, timed out or was
	// cancelled, and the wait for an earlier run's Job to be gone.
	jobDeleteTimeout = 30 * time.Second
)

// JobOutcome is how a run of a Job ended.
type JobOutcome string

// Job outcomes.
const (
	JobSucceeded JobOutcome = "succeeded" // condition Complete=True
	JobFailed    JobOutcome = "failed"    // condition Failed=True, or the timeout passed
	JobValidated JobOutcome = "validated" // a dry run: checked by Validate, not run
)

// JobRequest is one run of a Job to completion: an exec command of a deploy, which odo v3 runs
// in a Kubernetes Job from the command's container component.
type JobRequest struct {
	// Job is the batch/v1 Job to run, as rendered (its namespace may be empty).
	Job *unstructured.Unstructured
	// Source names where the Job comes from (shown in problems), e.g. `command "migrate"`.
	Source string
	// Namespace is the default namespace when the Job sets none (kubectl -n).
	Namespace string
	// DryRun other than DryRunNone runs nothing (Validate has checked the Job): the result's
	// Outcome is JobValidated.
	DryRun DryRun
	// Timeout bounds the wait for the Job to finish (0: DefaultJobTimeout).
	Timeout time.Duration
	// FieldManager is the server-side apply field manager the Job is applied with
	// (ProjectFieldManager of the project, as Request.FieldManager); empty means FieldManager.
	FieldManager string
	// Progress, when set, is called with the Job's status while it has not finished: after the
	// first poll, then at most every ProgressInterval (default 5 s).
	Progress func(ObjectStatus)
	// Logs, when set, receives the output of the Job's Pods: followed while they run (kubectl
	// logs -f; odo streams an exec Job's output too), and, for a Pod whose log could not be
	// followed, the last 100 lines once the Job finished (oldest Pod first), before RunJob
	// deletes it. Writes come from one goroutine at a time.
	Logs io.Writer
	// PollInterval is the time between two reads of the Job (default 1 s).
	PollInterval, ProgressInterval time.Duration
}

// JobResult is what RunJob did.
type JobResult struct {
	Namespace string     `json:"namespace"`
	Name      string     `json:"name"`
	Outcome   JobOutcome `json:"outcome"`
	// Replaced: a Job of the same name, left by an earlier deploy, was deleted first.
	Replaced bool `json:"replaced,omitempty"`
	// Deleted: the Job was deleted after it finished (after success; a failed Job is kept for
	// inspection until its ttlSecondsAfterFinished passes or the next deploy replaces it).
	Deleted bool `json:"deleted,omitempty"`
	// Note says what went wrong after the outcome was known (the Job could not be deleted).
	Note string `json:"note,omitempty"`
}

// Object is "Job namespace/name".
func (r JobResult) Object() string { return "Job " + r.Namespace + "/" + r.Name }

// JobError is a Job that did not complete: its Failed condition became True (TimedOut false),
// or the timeout passed first (TimedOut true; RunJob then deleted it). Job is its last status,
// with Details saying why: its Pods, their Warning events and the Job's, and logs that could
// not be read.
type JobError struct {
	Job      ObjectStatus
	TimedOut bool
	Timeout  time.Duration
}

func (e *JobError) Error() string {
	var b strings.Builder
	if e.TimedOut {
		fmt.Fprintf(&b, "timed out after %s waiting for %s to complete: %s", e.Timeout, e.Job.Object(), e.Job.Message)
	} else {
		fmt.Fprintf(&b, "%s failed: %s", e.Job.Object(), e.Job.Message)
	}
	for _, d := range e.Job.Details {
		b.WriteString("\n      ")
		b.WriteString(d)
	}
	return b.String()
}

// RunJob runs req.Job to completion, odo v3's way of running an exec command in a deploy:
//
//  1. a Job of the same name (an earlier run: a Job's pod template is immutable) is deleted
//     first, with propagationPolicy Background, after checking that it belongs to the same
//     project (the app.kubernetes.io/managed-by and app.kubernetes.io/name labels of req.Job);
//     a Job of another owner is an error and is left alone;
//  2. the Job is server-side applied (field manager req.FieldManager) — it is not an ApplySet
//     member;
//  3. it is read every PollInterval until its Complete or Failed condition is True, or
//     req.Timeout passes;
//  4. the logs of its Pods go to req.Logs;
//  5. after success the Job is deleted (Background: the garbage collector removes its Pods), as
//     odo does; a failed Job is kept, so that `kubectl describe`/`logs` can look at it, until
//     its ttlSecondsAfterFinished passes or the next run replaces it; a Job that timed out or
//     whose wait was cancelled is deleted (its Pods stop).
//
// Errors: *ValidationError (the Job cannot be mapped), *ClusterError, *JobError (failed or timed
// out), ctx.Err() (cancelled: the Job is deleted under a fresh bound), or an error naming the
// Job. The result is filled as far as the run got.
func (a *Applier) RunJob(ctx context.Context, req JobRequest) (JobResult, error) {
	if req.Job == nil {
		return JobResult{}, errors.New("deploy.RunJob: JobRequest.Job is nil")
	}
	res := JobResult{Namespace: req.Job.GetNamespace(), Name: req.Job.GetName()}
	if res.Namespace == "" {
		res.Namespace = req.Namespace
	}
	if res.Namespace == "" {
		res.Namespace = metav1.NamespaceDefault
	}
	if req.DryRun == DryRunServer || req.DryRun == DryRunClient {
		res.Outcome = JobValidated
		return res, nil
	}
	cl, err := a.clients(ctx)
	if err != nil {
		return res, err
	}
	items, problems, _, err := a.mapItems(ctx, cl, Preflight{Request: Request{Namespace: req.Namespace, FieldManager: req.FieldManager}, Jobs: []*unstructured.Unstructured{req.Job}, JobSources: []string{req.Source}})
	if err != nil {
		return res, err
	}
	if problems[0] != nil {
		return res, &ValidationError{Problems: []ObjectProblem{*problems[0]}}
	}
	it := items[0]
	res.Namespace = it.obj.GetNamespace()
	ri := cl.dyn.Resource(it.mapping.Resource).Namespace(res.Namespace)

	if res.Replaced, err = a.replaceJob(ctx, cl, it, ri); err != nil {
		return res, err
	}
	var applied ObjectResult
	if _, err := a.applyObject(ctx, cl, nil, it, it.obj, true, false, &applied); err != nil {
		if ctx.Err() != nil {
			// The apply may have reached the server: do not leave the command running.
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), jobDeleteTimeout)
			defer cancel()
			_ = deleteJob(dctx, ri, nil, it.obj.GetName())
			return res, ctx.Err()
		}
		return res, err
	}
	a.log.Debug("applied the Job", "object", it.display, "action", applied.Action, "resourceVersion", applied.ResourceVersion)
	var follow *logFollower
	if req.Logs != nil {
		follow = a.followJobLogs(ctx, cl, ri, it.obj, req.Logs)
	}
	job, st, err := a.awaitJob(ctx, ri, req, it)
	if follow != nil {
		req.Logs = follow.stop()
	}
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = DefaultJobTimeout
	}
	// Everything after the wait runs under a fresh bound: the wait's context may be done.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), jobDeleteTimeout)
	defer cancel()
	var (
		timedOut *jobTimeout
		failed   *jobFailed
	)
	switch {
	case err == nil:
		a.jobLogs(dctx, cl, job, req.Logs, follow.followed())
		res.Outcome = JobSucceeded
		if derr := deleteJob(dctx, ri, job, it.obj.GetName()); derr != nil {
			res.Note = fmt.Sprintf("could not delete it (%v); its ttlSecondsAfterFinished removes it", derr)
		} else {
			res.Deleted = true
		}
		return res, nil
	case errors.As(err, &failed), errors.As(err, &timedOut):
		res.Outcome = JobFailed
		st.Details = nil
		if job != nil {
			d := &diagnoser{cl: cl, events: map[string][]*unstructured.Unstructured{}}
			st.Details = d.explain(dctx, job)
		}
		st.Details = append(st.Details, a.jobLogs(dctx, cl, job, req.Logs, follow.followed())...)
		je := &JobError{Job: st, Timeout: timeout, TimedOut: timedOut != nil}
		if je.TimedOut {
			// Still running (or never started): stop it, as the deploy has given up on it.
			if derr := deleteJob(dctx, ri, job, it.obj.GetName()); derr != nil {
				je.Job.Details = append(je.Job.Details, "could not delete the Job: "+derr.Error())
			} else {
				res.Deleted = true
				je.Job.Details = append(je.Job.Details, "deleted the Job: the deploy gave up on it")
			}
		}
		return res, je
	case ctx.Err() != nil:
		// Cancelled (Ctrl-C, or a parallel step failed): stop the command.
		if derr := deleteJob(dctx, ri, job, it.obj.GetName()); derr == nil {
			res.Deleted = true
		}
		return res, ctx.Err()
	}
	return res, err // the Job disappeared
}

// jobFailed is awaitJob's error when the Job's Failed condition is True.
type jobFailed struct{ msg string }

func (e *jobFailed) Error() string { return e.msg }

// jobTimeout is awaitJob's error when the timeout passed.
type jobTimeout struct{}

func (*jobTimeout) Error() string { return "timed out" }

// awaitJob polls the Job until its Complete or Failed condition is True. It returns the last Job
// read (nil if none) and its last status, with err nil (completed), *jobFailed (Failed: st says
// why), *jobTimeout, ctx.Err(), or an error saying the Job disappeared.
func (a *Applier) awaitJob(ctx context.Context, ri dynamic.ResourceInterface, req JobRequest, it *item) (*unstructured.Unstructured, ObjectStatus, error) {
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = DefaultJobTimeout
	}
	interval, every := req.PollInterval, req.ProgressInterval
	if interval <= 0 {
		interval = defaultPollInterval
	}
	if every <= 0 {
		every = defaultProgressInterval
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	st := ObjectStatus{APIVersion: it.obj.GetAPIVersion(), Kind: it.obj.GetKind(), Namespace: it.obj.GetNamespace(), Name: it.obj.GetName(), Status: StatusUnknown, Message: "not read yet"}
	var job *unstructured.Unstructured
	var uid types.UID
	var lastProgress time.Time
	for {
		got, err := ri.Get(wctx, st.Name, metav1.GetOptions{})
		switch {
		case wctx.Err() != nil:
			if ctx.Err() != nil {
				return job, st, ctx.Err()
			}
			return job, st, &jobTimeout{}
		case apierrors.IsNotFound(err) || (err == nil && uid != "" && got.GetUID() != uid):
			return job, st, fmt.Errorf("%s was deleted while devtool waited for it to complete", st.Object())
		case err != nil:
			st.Status, st.Message = StatusUnknown, "reading it: "+err.Error()
		default:
			job, uid = got, got.GetUID()
			done, failed, msg := jobState(got)
			st.Message = msg
			switch {
			case done:
				st.Status = StatusCurrent
				return job, st, nil
			case failed:
				st.Status = StatusFailed
				return job, st, &jobFailed{msg}
			case got.GetDeletionTimestamp() != nil:
				return job, st, fmt.Errorf("%s was deleted while devtool waited for it to complete", st.Object())
			}
			st.Status = StatusInProgress
		}
		if req.Progress != nil && (lastProgress.IsZero() || time.Since(lastProgress) >= every) {
			req.Progress(st)
			lastProgress = time.Now()
		}
		select {
		case <-wctx.Done():
		case <-time.After(interval):
		}
	}
}

// jobState reads a Job's terminal conditions (batch/v1: Complete and Failed are set once, when
// the Job has finished) and describes it.
func jobState(job *unstructured.Unstructured) (done, failed bool, msg string) {
	obj := job.Object
	succeeded := intField(obj, 0, "status", "succeeded")
	active := intField(obj, 0, "status", "active")
	nfailed := intField(obj, 0, "status", "failed")
	for _, c := range conditionsOf(obj) {
		if c.status != "True" {
			continue
		}
		switch c.typ {
		case "Complete":
			return true, false, fmt.Sprintf("Complete (succeeded: %d)", succeeded)
		case "Failed":
			why := reasonMessage(c.reason, c.message)
			if why == "" {
				why = "Failed"
			}
			return false, true, fmt.Sprintf("%s (failed Pods: %d)", why, nfailed)
		}
	}
	if stringField(obj, "", "status", "startTime") == "" {
		return false, false, "not started"
	}
	return false, false, fmt.Sprintf("running: %d active, %d succeeded, %d failed Pods", active, succeeded, nfailed)
}

// replaceJob deletes the Job of it's name left by an earlier run, if there is one and it
// belongs to the same project, and waits until it is gone. It reports whether there was one.
func (a *Applier) replaceJob(ctx context.Context, cl *clients, it *item, ri dynamic.ResourceInterface) (bool, error) {
	cur, err := ri.Get(ctx, it.obj.GetName(), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("reading %s: %w", it.display, err)
	}
	if msg := jobOwnerProblem(cur, it.obj); msg != "" {
		return false, fmt.Errorf("%s %s", it.display, msg)
	}
	dctx, cancel := context.WithTimeout(ctx, jobDeleteTimeout)
	defer cancel()
	if err := deleteJob(dctx, ri, cur, cur.GetName()); err != nil {
		return false, fmt.Errorf("deleting the earlier run's %s: %w", it.display, err)
	}
	a.log.Debug("deleted the Job of an earlier run", "object", it.display, "uid", cur.GetUID())
	for {
		got, err := ri.Get(dctx, cur.GetName(), metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err), err == nil && got.GetUID() != cur.GetUID():
			return true, nil
		case dctx.Err() != nil:
			if ctx.Err() != nil {
				return true, ctx.Err()
			}
			return true, fmt.Errorf("the earlier run's %s is still being deleted after %s (finalizers %v)", it.display, jobDeleteTimeout, cur.GetFinalizers())
		}
		select {
		case <-dctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// checkJobOwner reads the Job of it's name, when its namespace exists: a Job of another owner
// gives a message (see jobOwnerProblem).
func (a *Applier) checkJobOwner(ctx context.Context, cl *clients, it *item) (string, error) {
	cur, err := cl.dyn.Resource(it.mapping.Resource).Namespace(it.obj.GetNamespace()).Get(ctx, it.obj.GetName(), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return "", nil
	case err != nil:
		return "", err
	}
	return jobOwnerProblem(cur, it.obj), nil
}

// jobOwnerProblem says why the existing Job cur may not be deleted to run job: it lacks job's
// managed-by or name label values. "" when it may.
func jobOwnerProblem(cur, job *unstructured.Unstructured) string {
	want, have := job.GetLabels(), cur.GetLabels()
	for _, k := range []string{LabelManagedBy, LabelName} {
		if want[k] == "" || have[k] != want[k] {
			return fmt.Sprintf("exists and was not created by devtool for this project (label %s=%q, want %q): devtool deletes and re-creates the Job of an exec command on every deploy, and leaves other Jobs alone; delete or rename that Job", k, have[k], want[k])
		}
	}
	return ""
}

// deleteJob deletes a Job with propagationPolicy Background (its Pods are deleted by the
// garbage collector), with a UID precondition when the Job was read; already gone is success.
func deleteJob(ctx context.Context, ri dynamic.ResourceInterface, job *unstructured.Unstructured, name string) error {
	bg := metav1.DeletePropagationBackground
	opts := metav1.DeleteOptions{PropagationPolicy: &bg}
	if job != nil {
		uid := job.GetUID()
		opts.Preconditions = &metav1.Preconditions{UID: &uid}
	}
	err := ri.Delete(ctx, name, opts)
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil // gone, or replaced by someone else's Job of that name: not ours to delete
	}
	return err
}

// jobLogs writes the last jobLogTail lines of the log of each of the Job's Pods (its first
// container, oldest Pod first) to w, each Pod's under a "--- Pod ns/name" line when there are
// several. It returns a line per Pod whose log could not be read (on a cluster without nodes
// there are none to read), for a JobError's details. Pods in skip (their log was followed
// while they ran) are left out.
func (a *Applier) jobLogs(ctx context.Context, cl *clients, job *unstructured.Unstructured, w io.Writer, skip map[types.UID]bool) []string {
	if job == nil {
		return nil
	}
	sel, _, err := podSelector(job)
	if err != nil || sel == nil {
		return nil
	}
	list, err := cl.dyn.Resource(gvrPods).Namespace(job.GetNamespace()).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return []string{"cannot list its Pods for their logs: " + err.Error()}
	}
	pods := list.Items
	sort.SliceStable(pods, func(i, j int) bool {
		return pods[i].GetCreationTimestamp().Time.Before(pods[j].GetCreationTimestamp().Time)
	})
	container := ""
	if cs, _, _ := unstructured.NestedSlice(job.Object, "spec", "template", "spec", "containers"); len(cs) > 0 {
		if m, ok := cs[0].(map[string]any); ok {
			container, _ = m["name"].(string)
		}
	}
	var problems []string
	for _, p := range pods {
		if skip[p.GetUID()] {
			continue
		}
		// The discovery client's REST client has no group version: fine for a raw GET of the
		// log subresource, which is text, not an object (the dynamic client would decode it).
		raw, err := cl.disco.RESTClient().Get().AbsPath("/api/v1/namespaces", p.GetNamespace(), "pods", p.GetName(), "log").
			Param("container", container).Param("tailLines", strconv.Itoa(jobLogTail)).Do(ctx).Raw()
		if err != nil {
			var status apierrors.APIStatus
			msg := err.Error()
			if errors.As(err, &status) {
				msg = status.Status().Message
			}
			problems = append(problems, fmt.Sprintf("logs of Pod %s/%s: unavailable: %s", p.GetNamespace(), p.GetName(), clip(msg)))
			continue
		}
		if w == nil {
			continue
		}
		if len(pods) > 1 {
			fmt.Fprintf(w, "--- Pod %s/%s\n", p.GetNamespace(), p.GetName())
		}
		s := bufio.NewScanner(bytes.NewReader(raw))
		s.Buffer(make([]byte, 0, 64*1024), 1024*1024)
		for s.Scan() {
			fmt.Fprintln(w, s.Text())
		}
	}
	return problems
}

// followPoll is how often a logFollower looks for new Pods of its Job; followDrain bounds the
// wait for followed logs to end once the Job finished.
const (
	followPoll  = 250 * time.Millisecond
	followDrain = 5 * time.Second
)

// logFollower follows the logs of a Job's Pods while the Job runs (GET pods/log?follow=true
// of the first container, as kubectl logs -f), writing whole lines to w, each Pod's under a
// "--- Pod ns/name" line when there are several.
type logFollower struct {
	// cancelPoll ends the search for Pods, cancelStreams the followed logs.
	cancelPoll, cancelStreams context.CancelFunc
	poll                      chan struct{} // closed when the polling goroutine has returned
	wg                        sync.WaitGroup
	mu                        sync.Mutex
	w                         io.Writer
	pods                      map[types.UID]bool // followed to the end of their log
	multi                     bool
}

// followJobLogs starts following the logs of the Pods of the Job named job.GetName() (the
// one with the first UID read; Pods found by their controller-uid owner reference) until stop.
func (a *Applier) followJobLogs(ctx context.Context, cl *clients, ri dynamic.ResourceInterface, job *unstructured.Unstructured, w io.Writer) *logFollower {
	sctx, cancelStreams := context.WithCancel(ctx)
	fctx, cancelPoll := context.WithCancel(sctx)
	f := &logFollower{cancelPoll: cancelPoll, cancelStreams: cancelStreams, poll: make(chan struct{}), w: w, pods: map[types.UID]bool{}}
	container := ""
	if cs, _, _ := unstructured.NestedSlice(job.Object, "spec", "template", "spec", "containers"); len(cs) > 0 {
		if m, ok := cs[0].(map[string]any); ok {
			container, _ = m["name"].(string)
		}
	}
	started := map[types.UID]bool{}
	go func() {
		defer close(f.poll)
		var sel labels.Selector
		for fctx.Err() == nil {
			if sel == nil {
				// The server fills in spec.selector (the Job's controller-uid).
				if j, err := ri.Get(fctx, job.GetName(), metav1.GetOptions{}); err == nil {
					sel, _, _ = podSelector(j)
				}
			}
			if sel != nil {
				list, err := cl.dyn.Resource(gvrPods).Namespace(job.GetNamespace()).List(fctx, metav1.ListOptions{LabelSelector: sel.String()})
				if err == nil {
					for i := range list.Items {
						p := &list.Items[i]
						if started[p.GetUID()] || !containerStarted(p, container) {
							continue
						}
						started[p.GetUID()] = true
						f.mu.Lock()
						f.multi = f.multi || len(started) > 1
						f.mu.Unlock()
						f.wg.Add(1)
						go f.follow(sctx, cl, p.GetNamespace(), p.GetName(), p.GetUID(), container)
					}
				}
			}
			select {
			case <-fctx.Done():
			case <-time.After(followPoll):
			}
		}
	}()
	return f
}

// containerStarted reports whether Pod p's container name is running or has terminated (its
// log can be read).
func containerStarted(p *unstructured.Unstructured, name string) bool {
	css, _, _ := unstructured.NestedSlice(p.Object, "status", "containerStatuses")
	for _, item := range css {
		cs, ok := item.(map[string]any)
		if !ok || cs["name"] != name {
			continue
		}
		_, running, _ := unstructured.NestedMap(cs, "state", "running")
		_, terminated, _ := unstructured.NestedMap(cs, "state", "terminated")
		return running || terminated
	}
	return false
}

// follow copies one Pod's log to the writer until it ends (the container exited) or ctx ends;
// a log read to its end marks the Pod as followed.
func (f *logFollower) follow(ctx context.Context, cl *clients, ns, name string, uid types.UID, container string) {
	defer f.wg.Done()
	rc, err := cl.disco.RESTClient().Get().AbsPath("/api/v1/namespaces", ns, "pods", name, "log").
		Param("container", container).Param("follow", "true").Stream(ctx)
	if err != nil {
		return // jobLogs reads it after the Job finished
	}
	defer rc.Close()
	s := bufio.NewScanner(rc)
	s.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	first := true
	for s.Scan() {
		f.mu.Lock()
		if first && f.multi {
			fmt.Fprintf(f.w, "--- Pod %s/%s\n", ns, name)
		}
		first = false
		fmt.Fprintln(f.w, s.Text())
		f.mu.Unlock()
	}
	if s.Err() == nil && ctx.Err() == nil {
		f.mu.Lock()
		f.pods[uid] = true
		f.mu.Unlock()
	}
}

// stop ends the polling, waits up to followDrain for the followed logs to end, and returns
// the writer for what remains to be written (nil: w was nil) — after stop, nothing else writes.
func (f *logFollower) stop() io.Writer {
	f.cancelPoll()
	<-f.poll // no follower starts after this
	done := make(chan struct{})
	go func() { f.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(followDrain):
		f.cancelStreams()
		<-done
	}
	f.cancelStreams()
	return f.w
}

// followed returns the Pods whose log was followed to its end (nil-safe).
func (f *logFollower) followed() map[types.UID]bool {
	if f == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[types.UID]bool, len(f.pods))
	for k, v := range f.pods {
		out[k] = v
	}
	return out
}
