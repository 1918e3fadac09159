package deploy

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// object decodes one manifest as Decode does (integers are int64, as in API responses).
func object(t *testing.T, text string) *unstructured.Unstructured {
	t.Helper()
	return decode(t, text)[0]
}

// TestComputeStatus checks the kstatus rules (sigs.k8s.io/cli-utils v0.37.2
// pkg/kstatus/status, status_compute_test.go has the same cases) and devtool's one difference
// (a Failed Pod is Failed).
func TestComputeStatus(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name, obj string
		want      statusResult
	}{
		{"configmap", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}", statusResult{StatusCurrent, "Resource is always ready"}},
		{"terminating", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, deletionTimestamp: '2026-01-01T00:00:00Z'}", statusResult{StatusTerminating, "Resource scheduled for deletion"}},
		{"generation not observed", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x, generation: 2}\nstatus: {observedGeneration: 1}", statusResult{StatusInProgress, "Deployment generation is 2, but latest observed generation is 1"}},
		{"stalled condition", "apiVersion: example.dev/v1\nkind: Thing\nmetadata: {name: x}\nstatus: {conditions: [{type: Stalled, status: 'True', message: stuck}]}", statusResult{StatusFailed, "stuck"}},
		{"reconciling condition", "apiVersion: example.dev/v1\nkind: Thing\nmetadata: {name: x}\nstatus: {conditions: [{type: Reconciling, status: 'True', message: busy}]}", statusResult{StatusInProgress, "busy"}},
		{"ready false", "apiVersion: example.dev/v1\nkind: Thing\nmetadata: {name: x}\nstatus: {conditions: [{type: Ready, status: 'False', message: waiting for db}]}", statusResult{StatusInProgress, "waiting for db"}},
		{"ready true", "apiVersion: example.dev/v1\nkind: Thing\nmetadata: {name: x}\nstatus: {conditions: [{type: Ready, status: 'True'}]}", statusResult{StatusCurrent, "Resource is Ready"}},
		{"custom resource without status", "apiVersion: example.dev/v1\nkind: Thing\nmetadata: {name: x}", statusResult{StatusCurrent, "Resource is current"}},
		{"deployment new", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x, generation: 1}\nspec: {replicas: 1, progressDeadlineSeconds: 600}", statusResult{StatusInProgress, "Replicas: 0/1"}},
		{"deployment unavailable", `apiVersion: apps/v1
kind: Deployment
metadata: {name: x, generation: 1}
spec: {replicas: 2, progressDeadlineSeconds: 600}
status: {observedGeneration: 1, replicas: 2, updatedReplicas: 2, readyReplicas: 1, availableReplicas: 1}`, statusResult{StatusInProgress, "Available: 1/2"}},
		{"deployment deadline", `apiVersion: apps/v1
kind: Deployment
metadata: {name: x, generation: 1}
spec: {replicas: 1, progressDeadlineSeconds: 600}
status:
  observedGeneration: 1
  replicas: 1
  conditions: [{type: Progressing, status: 'False', reason: ProgressDeadlineExceeded, message: 'ReplicaSet "x-1" has timed out progressing.'}]`, statusResult{StatusFailed, `Progress deadline exceeded: ReplicaSet "x-1" has timed out progressing.`}},
		{"deployment available", `apiVersion: apps/v1
kind: Deployment
metadata: {name: x, generation: 3}
spec: {replicas: 2, progressDeadlineSeconds: 600}
status:
  observedGeneration: 3
  replicas: 2
  updatedReplicas: 2
  readyReplicas: 2
  availableReplicas: 2
  conditions:
  - {type: Progressing, status: 'True', reason: NewReplicaSetAvailable}
  - {type: Available, status: 'True'}`, statusResult{StatusCurrent, "Deployment is available. Replicas: 2"}},
		{"statefulset", "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: x}\nspec: {replicas: 3}\nstatus: {replicas: 3, readyReplicas: 1}", statusResult{StatusInProgress, "Ready: 1/3"}},
		{"daemonset unobserved", "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: x, generation: 1}", statusResult{StatusInProgress, "DaemonSet status.observedGeneration not found"}},
		{"replicaset", "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: x}\nspec: {replicas: 1}\nstatus: {replicas: 1, fullyLabeledReplicas: 1, readyReplicas: 1, availableReplicas: 1}", statusResult{StatusCurrent, "ReplicaSet is available. Replicas: 1"}},
		{"job not started", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: x}", statusResult{StatusInProgress, "Job not started"}},
		{"job running", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: x}\nstatus: {startTime: '2026-01-01T00:00:00Z', active: 1}", statusResult{StatusCurrent, "Job in progress. success:0, active: 1, failed: 0"}},
		{"job failed", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: x}\nstatus: {failed: 2, conditions: [{type: Failed, status: 'True', reason: BackoffLimitExceeded}]}", statusResult{StatusFailed, "Job Failed. failed: 2/1 (BackoffLimitExceeded)"}},
		{"pod failed", "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nstatus: {phase: Failed, reason: Evicted}", statusResult{StatusFailed, "Pod has failed: Evicted"}},
		{"pod crashloop", "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nstatus: {phase: Running, containerStatuses: [{name: a, state: {waiting: {reason: CrashLoopBackOff}}}]}", statusResult{StatusFailed, "Containers in CrashLoop state: a"}},
		{"pod ready", "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nstatus: {phase: Running, conditions: [{type: Ready, status: 'True'}]}", statusResult{StatusCurrent, "Pod is Ready"}},
		{"pod unschedulable, young", "apiVersion: v1\nkind: Pod\nmetadata: {name: x, creationTimestamp: '2026-01-02T03:04:00Z'}\nstatus: {phase: Pending, conditions: [{type: PodScheduled, status: 'False', reason: Unschedulable}]}", statusResult{StatusInProgress, "Pod has not been scheduled"}},
		{"pod unschedulable, old", "apiVersion: v1\nkind: Pod\nmetadata: {name: x, creationTimestamp: '2026-01-02T03:00:00Z'}\nstatus: {phase: Pending, conditions: [{type: PodScheduled, status: 'False', reason: Unschedulable}]}", statusResult{StatusFailed, "Pod could not be scheduled"}},
		{"pvc pending", "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: x}\nstatus: {phase: Pending}", statusResult{StatusInProgress, "PVC is not Bound. phase: Pending"}},
		{"service lb without ip", "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {type: LoadBalancer}", statusResult{StatusInProgress, "ClusterIP not set. Service type: LoadBalancer"}},
		{"crd installing", "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: x}", statusResult{StatusInProgress, "Install in progress"}},
		{"crd names rejected", "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: x}\nstatus: {conditions: [{type: NamesAccepted, status: 'False', message: taken}]}", statusResult{StatusFailed, "taken"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := computeStatus(object(t, tt.obj), now)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(statusResult{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestPodLine(t *testing.T) {
	tests := []struct {
		name, pod string
		want      string
		scheduled string
	}{
		{"unscheduled", "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: ns}\nstatus: {phase: Pending}", "Pod ns/p: Pending; not scheduled", ""},
		{"unschedulable", `apiVersion: v1
kind: Pod
metadata: {name: p, namespace: ns}
status:
  phase: Pending
  conditions: [{type: PodScheduled, status: 'False', reason: Unschedulable, message: "0/3 nodes are available: 3 Insufficient cpu."}]`,
			"Pod ns/p: Pending; not scheduled: Unschedulable: 0/3 nodes are available: 3 Insufficient cpu.", "False"},
		{"crashloop", `apiVersion: v1
kind: Pod
metadata: {name: p, namespace: ns}
status:
  phase: Running
  conditions: [{type: PodScheduled, status: 'True'}, {type: Ready, status: 'False'}]
  initContainerStatuses: [{name: init, state: {terminated: {exitCode: 0}}}]
  containerStatuses:
  - name: app
    state: {waiting: {reason: CrashLoopBackOff, message: "back-off 5m0s restarting failed container"}}
    lastState: {terminated: {exitCode: 137, reason: OOMKilled}}
  - name: sidecar
    state: {running: {}}`,
			"Pod ns/p: Running; not ready; container app: CrashLoopBackOff: back-off 5m0s restarting failed container (last exit code 137)", "True"},
		{"evicted", "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: ns}\nstatus: {phase: Failed, reason: Evicted, message: \"The node was low on resource: memory.\"}",
			"Pod ns/p: Failed; Evicted: The node was low on resource: memory.", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, sched := podLine(object(t, tt.pod))
			if got != tt.want || sched != tt.scheduled {
				t.Errorf("podLine = %q, %q\nwant       %q, %q", got, sched, tt.want, tt.scheduled)
			}
		})
	}
}

func TestEventLine(t *testing.T) {
	ev := object(t, `apiVersion: v1
kind: Event
metadata: {name: e, namespace: ns}
involvedObject: {kind: ReplicaSet, namespace: ns, name: web-5d8f}
type: Warning
reason: FailedCreate
count: 7
message: |
  pods "web-5d8f-" is forbidden:   exceeded quota: compute
`)
	want := `event Warning FailedCreate on ReplicaSet ns/web-5d8f (7×): pods "web-5d8f-" is forbidden: exceeded quota: compute`
	if got := eventLine(ev); got != want {
		t.Errorf("eventLine = %q\nwant        %q", got, want)
	}
	long := make([]rune, 500)
	for i := range long {
		long[i] = 'x'
	}
	if got := []rune(clip(string(long))); len(got) != maxMessageLen || got[len(got)-1] != '…' {
		t.Errorf("clip of 500 characters: %d characters ending %q", len(got), got[len(got)-1])
	}
}

func TestWaitErrorMessage(t *testing.T) {
	dep := ObjectStatus{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "demo", Name: "hello", Status: StatusInProgress, Message: "Replicas: 0/1",
		Details: []string{"no Pods were created: the Deployment has no ReplicaSet; is a controller manager (kube-controller-manager) running in the cluster?"}}
	job := ObjectStatus{APIVersion: "batch/v1", Kind: "Job", Namespace: "demo", Name: "migrate", Status: StatusFailed, Message: "Job Failed. failed: 1/1"}
	crd := ObjectStatus{APIVersion: "apiextensions.k8s.io/v1", Kind: "CustomResourceDefinition", Name: "things.example.dev", Status: StatusUnknown}
	tests := []struct {
		name string
		err  *WaitError
		want string
	}{
		{"timeout", &WaitError{Timeout: 3 * time.Second, TimedOut: true, Total: 4, Objects: []ObjectStatus{dep, crd}},
			`timed out after 3s waiting for 2 of 4 objects to roll out (kstatus Current):
  - Deployment demo/hello: InProgress: Replicas: 0/1
      no Pods were created: the Deployment has no ReplicaSet; is a controller manager (kube-controller-manager) running in the cluster?
  - CustomResourceDefinition things.example.dev: Unknown`},
		{"failed", &WaitError{Timeout: 5 * time.Minute, Total: 1, Objects: []ObjectStatus{job}},
			`1 of 1 object failed to roll out:
  - Job demo/migrate: Failed: Job Failed. failed: 1/1`},
		{"failed among pending", &WaitError{Timeout: 5 * time.Minute, Total: 3, Objects: []ObjectStatus{dep, job}},
			`1 of 3 objects failed to roll out:
  - Deployment demo/hello: InProgress: Replicas: 0/1
      no Pods were created: the Deployment has no ReplicaSet; is a controller manager (kube-controller-manager) running in the cluster?
  - Job demo/migrate: Failed: Job Failed. failed: 1/1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.err.Error()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
