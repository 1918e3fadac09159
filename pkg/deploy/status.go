package deploy

import (
	"fmt"
	"math"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Status is how far an object has rolled out, in kstatus's vocabulary
// (sigs.k8s.io/cli-utils pkg/kstatus/status, the semantics of `kubectl apply --wait`-style
// tools, Helm 4's --wait and Flux): Current means the cluster has caught up with the object.
type Status string

// Statuses (kstatus).
const (
	// StatusCurrent: the object is rolled out (a Deployment's replicas are updated and
	// available, a CRD is established, a ConfigMap simply exists).
	StatusCurrent Status = "Current"
	// StatusInProgress: controllers are still working on it.
	StatusInProgress Status = "InProgress"
	// StatusFailed: it will not get there without a change (a Deployment past its progress
	// deadline, a failed Job or Pod, a crash-looping or unschedulable Pod).
	StatusFailed Status = "Failed"
	// StatusTerminating: it is being deleted (metadata.deletionTimestamp is set).
	StatusTerminating Status = "Terminating"
	// StatusNotFound: it is not in the cluster (deleted since it was applied).
	StatusNotFound Status = "NotFound"
	// StatusUnknown: its status could not be read or computed (the message says why).
	StatusUnknown Status = "Unknown"
)

// scheduleWindow is how long a Pod may stay unschedulable before it is Failed (kstatus
// ScheduleWindow).
const scheduleWindow = 15 * time.Second

// statusResult is a computed status and the message explaining it.
type statusResult struct {
	status  Status
	message string
}

// computeStatus is kstatus's status.Compute (sigs.k8s.io/cli-utils v0.37.2,
// pkg/kstatus/status), reimplemented here because adding cli-utils would upgrade
// k8s.io/apiextensions-apiserver and sigs.k8s.io/controller-runtime under devfile/library (see
// docs/decisions.md). In order:
//
//  1. metadata.deletionTimestamp set → Terminating;
//  2. status.observedGeneration present and ≠ metadata.generation → InProgress;
//  3. condition Reconciling=True → InProgress, Stalled=True → Failed;
//  4. the built-in kinds' rules (Deployment, StatefulSet, DaemonSet, ReplicaSet, Pod, Job,
//     PersistentVolumeClaim, Service, PodDisruptionBudget, CustomResourceDefinition; ConfigMap,
//     Secret and CronJob are always Current);
//  5. any other kind with a Ready condition: True → Current, else InProgress;
//  6. anything else is Current.
//
// One deliberate difference: a Pod in phase Failed is Failed, where kstatus calls it Current
// ("completed, but not successfully"): a deploy whose Pod failed has not rolled out (Helm 4
// treats Pods the same way when it waits for hooks).
//
// now is the current time (for the Pod schedule window). The error is a malformed status.
func computeStatus(u *unstructured.Unstructured, now time.Time) (statusResult, error) {
	obj := u.Object
	if ts, _, _ := unstructured.NestedString(obj, "metadata", "deletionTimestamp"); ts != "" {
		return statusResult{StatusTerminating, "Resource scheduled for deletion"}, nil
	}
	gen, hasGen, err := int64Field(obj, "metadata", "generation")
	if err != nil {
		return statusResult{}, err
	}
	if hasGen {
		observed, found, err := int64Field(obj, "status", "observedGeneration")
		if err != nil {
			return statusResult{}, err
		}
		if found && observed != gen {
			return statusResult{StatusInProgress, fmt.Sprintf("%s generation is %d, but latest observed generation is %d", u.GetKind(), gen, observed)}, nil
		}
	}
	conds := conditionsOf(obj)
	for _, c := range conds {
		if c.typ == "Reconciling" && c.status == "True" {
			return statusResult{StatusInProgress, c.message}, nil
		}
		if c.typ == "Stalled" && c.status == "True" {
			return statusResult{StatusFailed, c.message}, nil
		}
	}
	gk := u.GroupVersionKind().GroupKind()
	key := gk.Kind
	if gk.Group != "" {
		key = gk.Group + "/" + gk.Kind
	}
	switch key {
	case "ConfigMap", "Secret", "batch/CronJob":
		return statusResult{StatusCurrent, "Resource is always ready"}, nil
	case "Service":
		return serviceStatus(obj), nil
	case "Pod":
		return podStatus(u, conds, now), nil
	case "PersistentVolumeClaim":
		if phase := stringField(obj, "unknown", "status", "phase"); phase != "Bound" {
			return statusResult{StatusInProgress, "PVC is not Bound. phase: " + phase}, nil
		}
		return statusResult{StatusCurrent, "PVC is Bound"}, nil
	case "apps/StatefulSet":
		return statefulSetStatus(obj), nil
	case "apps/DaemonSet", "extensions/DaemonSet":
		return daemonSetStatus(u), nil
	case "apps/Deployment", "extensions/Deployment":
		return deploymentStatus(obj, conds), nil
	case "apps/ReplicaSet", "extensions/ReplicaSet":
		return replicaSetStatus(obj, conds), nil
	case "policy/PodDisruptionBudget":
		return statusResult{StatusCurrent, "AllowedDisruptions has been computed."}, nil
	case "batch/Job":
		return jobStatus(obj, conds), nil
	case "apiextensions.k8s.io/CustomResourceDefinition":
		return crdStatus(conds), nil
	}
	for _, c := range conds {
		if c.typ != "Ready" {
			continue
		}
		switch c.status {
		case "True":
			return statusResult{StatusCurrent, "Resource is Ready"}, nil
		case "False", "Unknown":
			return statusResult{StatusInProgress, c.message}, nil
		}
	}
	return statusResult{StatusCurrent, "Resource is current"}, nil
}

// condition is one entry of status.conditions.
type condition struct {
	typ, status, reason, message string
}

func conditionsOf(obj map[string]any) []condition {
	list, _, _ := unstructured.NestedSlice(obj, "status", "conditions")
	out := make([]condition, 0, len(list))
	for _, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			continue
		}
		c := condition{}
		c.typ, _ = m["type"].(string)
		c.status, _ = m["status"].(string)
		c.reason, _ = m["reason"].(string)
		c.message, _ = m["message"].(string)
		out = append(out, c)
	}
	return out
}

func findCondition(conds []condition, typ string) (condition, bool) {
	for _, c := range conds {
		if c.typ == typ {
			return c, true
		}
	}
	return condition{}, false
}

// int64Field returns the integer at path, whether it is there, and an error when it is not a
// number. API responses hold int64; manifests decoded from YAML hold float64.
func int64Field(obj map[string]any, path ...string) (int64, bool, error) {
	v, found, err := unstructured.NestedFieldNoCopy(obj, path...)
	if !found || err != nil {
		return 0, false, nil
	}
	switch n := v.(type) {
	case int64:
		return n, true, nil
	case int:
		return int64(n), true, nil
	case int32:
		return int64(n), true, nil
	case float64:
		return int64(n), true, nil
	}
	return 0, false, fmt.Errorf("%s: %v is a %T, not a number", strings.Join(path, "."), v, v)
}

// intField is kstatus's GetIntField: the integer at path, or def when absent or not a number.
func intField(obj map[string]any, def int, path ...string) int {
	v, found, err := unstructured.NestedFieldNoCopy(obj, path...)
	if !found || err != nil {
		return def
	}
	switch n := v.(type) {
	case int:
		return n
	case int32:
		return int(n)
	case int64:
		return int(n)
	case float64:
		return int(n)
	}
	return def
}

func stringField(obj map[string]any, def string, path ...string) string {
	v, found, err := unstructured.NestedFieldNoCopy(obj, path...)
	if !found || err != nil {
		return def
	}
	if s, ok := v.(string); ok {
		return s
	}
	return def
}

func inProgress(format string, args ...any) statusResult {
	return statusResult{StatusInProgress, fmt.Sprintf(format, args...)}
}

func serviceStatus(obj map[string]any) statusResult {
	if stringField(obj, "ClusterIP", "spec", "type") == "LoadBalancer" && stringField(obj, "", "spec", "clusterIP") == "" {
		return inProgress("ClusterIP not set. Service type: LoadBalancer")
	}
	return statusResult{StatusCurrent, "Service is ready"}
}

func deploymentStatus(obj map[string]any, conds []condition) statusResult {
	// Without progressDeadlineSeconds the controller never sets Progressing; MaxInt32 is the
	// controller's "no deadline".
	progressing := intField(obj, math.MaxInt32, "spec", "progressDeadlineSeconds") == math.MaxInt32
	available := false
	for _, c := range conds {
		switch c.typ {
		case "Progressing":
			if c.reason == "ProgressDeadlineExceeded" {
				msg := "Progress deadline exceeded"
				if c.message != "" {
					msg += ": " + c.message
				}
				return statusResult{StatusFailed, msg}
			}
			if c.status == "True" && c.reason == "NewReplicaSetAvailable" {
				progressing = true
			}
		case "Available":
			if c.status == "True" {
				available = true
			}
		}
	}
	spec := intField(obj, 1, "spec", "replicas")
	replicas := intField(obj, 0, "status", "replicas")
	updated := intField(obj, 0, "status", "updatedReplicas")
	ready := intField(obj, 0, "status", "readyReplicas")
	avail := intField(obj, 0, "status", "availableReplicas")
	switch {
	case spec > replicas:
		return inProgress("Replicas: %d/%d", replicas, spec)
	case spec > updated:
		return inProgress("Updated: %d/%d", updated, spec)
	case replicas > spec:
		return inProgress("Pending termination: %d", replicas-spec)
	case updated > avail:
		return inProgress("Available: %d/%d", avail, updated)
	case spec > ready:
		return inProgress("Ready: %d/%d", ready, spec)
	case !progressing:
		return inProgress("ReplicaSet not Available")
	case !available:
		return inProgress("Deployment not Available")
	}
	return statusResult{StatusCurrent, fmt.Sprintf("Deployment is available. Replicas: %d", replicas)}
}

func replicaSetStatus(obj map[string]any, conds []condition) statusResult {
	if c, ok := findCondition(conds, "ReplicaFailure"); ok && c.status == "True" {
		return inProgress("Replica Failure condition. Check Pods")
	}
	spec := intField(obj, 1, "spec", "replicas")
	replicas := intField(obj, 0, "status", "replicas")
	ready := intField(obj, 0, "status", "readyReplicas")
	avail := intField(obj, 0, "status", "availableReplicas")
	labelled := intField(obj, 0, "status", "fullyLabeledReplicas")
	switch {
	case spec > labelled:
		return inProgress("Labelled: %d/%d", labelled, spec)
	case spec > avail:
		return inProgress("Available: %d/%d", avail, spec)
	case spec > ready:
		return inProgress("Ready: %d/%d", ready, spec)
	case replicas > spec:
		return inProgress("Pending termination: %d", replicas-spec)
	}
	return statusResult{StatusCurrent, fmt.Sprintf("ReplicaSet is available. Replicas: %d", replicas)}
}

func statefulSetStatus(obj map[string]any) statusResult {
	if stringField(obj, "", "spec", "updateStrategy", "type") == "OnDelete" {
		return statusResult{StatusCurrent, "StatefulSet is using the ondelete update strategy"}
	}
	spec := intField(obj, 1, "spec", "replicas")
	ready := intField(obj, 0, "status", "readyReplicas")
	current := intField(obj, 0, "status", "currentReplicas")
	updated := intField(obj, 0, "status", "updatedReplicas")
	replicas := intField(obj, 0, "status", "replicas")
	partition := intField(obj, -1, "spec", "updateStrategy", "rollingUpdate", "partition")
	switch {
	case spec > replicas:
		return inProgress("Replicas: %d/%d", replicas, spec)
	case spec > ready:
		return inProgress("Ready: %d/%d", ready, spec)
	case replicas > spec:
		return inProgress("Pending termination: %d", replicas-spec)
	}
	if partition != -1 {
		if updated < spec-partition {
			return inProgress("updated: %d/%d", updated, spec-partition)
		}
		return statusResult{StatusCurrent, fmt.Sprintf("Partition rollout complete. updated: %d", updated)}
	}
	if spec > current {
		return inProgress("current: %d/%d", current, spec)
	}
	if stringField(obj, "", "status", "currentRevision") != stringField(obj, "", "status", "updateRevision") {
		return inProgress("Waiting for updated revision to match current")
	}
	return statusResult{StatusCurrent, fmt.Sprintf("All replicas scheduled as expected. Replicas: %d", replicas)}
}

func daemonSetStatus(u *unstructured.Unstructured) statusResult {
	obj := u.Object
	// The DaemonSet controller always sets both; until it has, it has not acted.
	if _, found, _ := int64Field(obj, "metadata", "generation"); !found {
		return inProgress("%s metadata.generation not found", u.GetKind())
	}
	if _, found, _ := int64Field(obj, "status", "observedGeneration"); !found {
		return inProgress("%s status.observedGeneration not found", u.GetKind())
	}
	desired := intField(obj, -1, "status", "desiredNumberScheduled")
	current := intField(obj, 0, "status", "currentNumberScheduled")
	updated := intField(obj, 0, "status", "updatedNumberScheduled")
	avail := intField(obj, 0, "status", "numberAvailable")
	ready := intField(obj, 0, "status", "numberReady")
	switch {
	case desired == -1:
		return inProgress("Missing .status.desiredNumberScheduled")
	case desired > current:
		return inProgress("Current: %d/%d", current, desired)
	case desired > updated:
		return inProgress("Updated: %d/%d", updated, desired)
	case desired > avail:
		return inProgress("Available: %d/%d", avail, desired)
	case desired > ready:
		return inProgress("Ready: %d/%d", ready, desired)
	}
	return statusResult{StatusCurrent, fmt.Sprintf("All replicas scheduled as expected. Replicas: %d", desired)}
}

func podStatus(u *unstructured.Unstructured, conds []condition, now time.Time) statusResult {
	obj := u.Object
	switch phase := stringField(obj, "", "status", "phase"); phase {
	case "Succeeded":
		return statusResult{StatusCurrent, "Pod has completed successfully"}
	case "Failed":
		// kstatus: Current ("completed, but not successfully"); see computeStatus.
		msg := "Pod has failed"
		if r := stringField(obj, "", "status", "reason"); r != "" {
			msg += ": " + r
		}
		return statusResult{StatusFailed, msg}
	case "Running":
		if c, ok := findCondition(conds, "Ready"); ok && c.status == "True" {
			return statusResult{StatusCurrent, "Pod is Ready"}
		}
		if names := crashLooping(obj); len(names) > 0 {
			return statusResult{StatusFailed, "Containers in CrashLoop state: " + strings.Join(names, ",")}
		}
		return inProgress("Pod is running but is not Ready")
	case "Pending":
		if c, ok := findCondition(conds, "PodScheduled"); ok && c.status == "False" && c.reason == "Unschedulable" {
			if now.Add(-scheduleWindow).Before(u.GetCreationTimestamp().Time) {
				return inProgress("Pod has not been scheduled")
			}
			return statusResult{StatusFailed, "Pod could not be scheduled"}
		}
		return inProgress("Pod is in the Pending phase")
	case "":
		return inProgress("Pod phase not available")
	default:
		return statusResult{StatusUnknown, "unknown phase " + phase}
	}
}

// crashLooping names the containers waiting in CrashLoopBackOff.
func crashLooping(obj map[string]any) []string {
	var names []string
	css, _, _ := unstructured.NestedSlice(obj, "status", "containerStatuses")
	for _, item := range css {
		cs, ok := item.(map[string]any)
		if !ok {
			continue
		}
		if stringField(cs, "", "state", "waiting", "reason") == "CrashLoopBackOff" {
			name, _ := cs["name"].(string)
			names = append(names, name)
		}
	}
	return names
}

// jobStatus: InProgress until the Job started, then Current while it runs and after it
// completed; Failed when its Failed condition is True (kstatus does not wait for completion).
func jobStatus(obj map[string]any, conds []condition) statusResult {
	parallelism := intField(obj, 1, "spec", "parallelism")
	completions := intField(obj, parallelism, "spec", "completions")
	succeeded := intField(obj, 0, "status", "succeeded")
	active := intField(obj, 0, "status", "active")
	failed := intField(obj, 0, "status", "failed")
	for _, c := range conds {
		switch {
		case c.typ == "Complete" && c.status == "True":
			return statusResult{StatusCurrent, fmt.Sprintf("Job Completed. succeeded: %d/%d", succeeded, completions)}
		case c.typ == "Failed" && c.status == "True":
			msg := fmt.Sprintf("Job Failed. failed: %d/%d", failed, completions)
			if why := reasonMessage(c.reason, c.message); why != "" {
				msg += " (" + why + ")"
			}
			return statusResult{StatusFailed, msg}
		}
	}
	if stringField(obj, "", "status", "startTime") == "" {
		return inProgress("Job not started")
	}
	return statusResult{StatusCurrent, fmt.Sprintf("Job in progress. success:%d, active: %d, failed: %d", succeeded, active, failed)}
}

// reasonMessage joins a condition's or container state's reason and message: "Reason: message",
// either alone when the other is empty.
func reasonMessage(reason, message string) string {
	switch {
	case reason == "":
		return message
	case message == "":
		return reason
	}
	return reason + ": " + message
}

func crdStatus(conds []condition) statusResult {
	for _, c := range conds {
		if c.typ == "NamesAccepted" && c.status == "False" {
			return statusResult{StatusFailed, c.message}
		}
		if c.typ == "Established" {
			if c.status == "False" && c.reason != "Installing" {
				return statusResult{StatusFailed, c.message}
			}
			if c.status == "True" {
				return statusResult{StatusCurrent, "CRD is established"}
			}
		}
	}
	return inProgress("Install in progress")
}
