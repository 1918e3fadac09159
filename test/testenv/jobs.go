package testenv

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
)

var (
	gvrJobs = schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}
	gvrPods = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
)

// JobFinish says which Job FinishJob finishes and how.
type JobFinish struct {
	Namespace, Name string
	// Skip ignores a Job of that UID (an earlier run's, still there): FinishJob waits for
	// another one.
	Skip types.UID
	// Succeed: the Job completes; otherwise it fails (backoff limit exceeded).
	Succeed bool
	// Pod also creates the Job's Pod (from its template, with its labels, on node
	// "testenv-node", which does not exist: its logs cannot be read), in phase Succeeded or
	// Failed with its container terminated (exit code 0 or 1), as the Job controller, the
	// scheduler and the kubelet would.
	Pod bool
}

// FinishJob plays the Job controller (and the kubelet), which the test API server does not run:
// it polls until the Job f names exists, then writes its status through the status subresource
// the way the controller does when the Job finished — for success startTime, completionTime,
// succeeded 1 and the conditions SuccessCriteriaMet then Complete; for failure startTime,
// failed 2 and FailureTarget then Failed (reason BackoffLimitExceeded). A 1.33 API server
// rejects Complete without SuccessCriteriaMet and completionTime, and Failed without
// FailureTarget. It returns the Job as it was before the status was written (its spec is what
// the test's subject applied).
func FinishJob(ctx context.Context, dc dynamic.Interface, f JobFinish) (*unstructured.Unstructured, error) {
	ri := dc.Resource(gvrJobs).Namespace(f.Namespace)
	var job *unstructured.Unstructured
	for job == nil {
		got, err := ri.Get(ctx, f.Name, metav1.GetOptions{})
		switch {
		case err == nil && got.GetUID() != f.Skip && got.GetDeletionTimestamp() == nil:
			job = got
			continue
		case err != nil && !apierrors.IsNotFound(err):
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for Job %s/%s: %w", f.Namespace, f.Name, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return finish(ctx, dc, job, f)
}

// finish writes job's final status (and creates its Pod) as f says; see FinishJob.
func finish(ctx context.Context, dc dynamic.Interface, job *unstructured.Unstructured, f JobFinish) (*unstructured.Unstructured, error) {
	before := job.DeepCopy()
	job = job.DeepCopy()
	if f.Pod {
		if err := createJobPod(ctx, dc, job, f.Succeed); err != nil {
			return before, err
		}
	}
	now := time.Now().UTC().Format(time.RFC3339)
	cond := func(typ, reason, msg string) map[string]any {
		return map[string]any{"type": typ, "status": "True", "lastTransitionTime": now, "lastProbeTime": now, "reason": reason, "message": msg}
	}
	if f.Succeed {
		const msg = "Reached expected number of succeeded pods"
		job.Object["status"] = map[string]any{
			"startTime": now, "completionTime": now, "succeeded": int64(1),
			"conditions": []any{cond("SuccessCriteriaMet", "CompletionsReached", msg), cond("Complete", "CompletionsReached", msg)},
		}
	} else {
		const msg = "Job has reached the specified backoff limit"
		job.Object["status"] = map[string]any{
			"startTime": now, "failed": int64(2),
			"conditions": []any{cond("FailureTarget", "BackoffLimitExceeded", msg), cond("Failed", "BackoffLimitExceeded", msg)},
		}
	}
	if _, err := dc.Resource(gvrJobs).Namespace(job.GetNamespace()).UpdateStatus(ctx, job, metav1.UpdateOptions{}); err != nil {
		return before, fmt.Errorf("writing the status of Job %s/%s: %w", job.GetNamespace(), job.GetName(), err)
	}
	return before, nil
}

// FinishJobs plays the Job controller for every Job that appears in namespace ns until ctx is
// done: each one that has not finished is finished as FinishJob does (f's Namespace, Name and
// Skip are ignored). It returns the Jobs it finished, as they were before, or the first error.
func FinishJobs(ctx context.Context, dc dynamic.Interface, ns string, f JobFinish) ([]*unstructured.Unstructured, error) {
	var done []*unstructured.Unstructured
	seen := map[types.UID]bool{}
	for {
		list, err := dc.Resource(gvrJobs).Namespace(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			if ctx.Err() != nil {
				return done, nil
			}
			return done, err
		}
		for i := range list.Items {
			job := &list.Items[i]
			if seen[job.GetUID()] || job.GetDeletionTimestamp() != nil || finished(job) {
				continue
			}
			seen[job.GetUID()] = true
			before, err := finish(ctx, dc, job, f)
			if err != nil {
				if ctx.Err() != nil {
					return done, nil
				}
				return done, err
			}
			done = append(done, before)
		}
		select {
		case <-ctx.Done():
			return done, nil
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// createJobPod creates the Pod of job from its template and writes its final status.
func createJobPod(ctx context.Context, dc dynamic.Interface, job *unstructured.Unstructured, succeed bool) error {
	tmpl, _, _ := unstructured.NestedMap(job.Object, "spec", "template")
	labels, _, _ := unstructured.NestedStringMap(tmpl, "metadata", "labels")
	spec, _, _ := unstructured.NestedMap(tmpl, "spec")
	// As if the scheduler had placed it on a node, which does not exist: reading its logs
	// fails (a Pod on no node has empty logs instead).
	spec["nodeName"] = "testenv-node"
	pod := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Pod", "spec": spec}}
	pod.SetGenerateName(job.GetName() + "-")
	pod.SetNamespace(job.GetNamespace())
	pod.SetLabels(labels)
	ctrl := true
	pod.SetOwnerReferences([]metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: job.GetName(), UID: job.GetUID(), Controller: &ctrl}})
	ri := dc.Resource(gvrPods).Namespace(job.GetNamespace())
	got, err := ri.Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("creating the Pod of Job %s: %w", job.GetName(), err)
	}
	now := time.Now().UTC().Format(time.RFC3339)
	phase, code, reason := "Succeeded", int64(0), "Completed"
	if !succeed {
		phase, code, reason = "Failed", 1, "Error"
	}
	var statuses []any
	cs, _, _ := unstructured.NestedSlice(spec, "containers")
	for _, c := range cs {
		name, _ := c.(map[string]any)["name"].(string)
		image, _ := c.(map[string]any)["image"].(string)
		statuses = append(statuses, map[string]any{
			"name": name, "image": image, "imageID": "", "ready": false, "restartCount": int64(0),
			"state": map[string]any{"terminated": map[string]any{"exitCode": code, "reason": reason, "startedAt": now, "finishedAt": now}},
		})
	}
	got.Object["status"] = map[string]any{
		"phase":             phase,
		"conditions":        []any{map[string]any{"type": "PodScheduled", "status": "True", "lastTransitionTime": now}},
		"containerStatuses": statuses,
	}
	if _, err := ri.UpdateStatus(ctx, got, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("writing the status of the Pod of Job %s: %w", job.GetName(), err)
	}
	return nil
}

// finished reports whether a Job has its Complete or Failed condition.
func finished(job *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(job.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if (m["type"] == "Complete" || m["type"] == "Failed") && m["status"] == "True" {
			return true
		}
	}
	return false
}
