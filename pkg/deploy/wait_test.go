package deploy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// The API server of these tests runs no controllers and has no nodes: Deployments never get
// ReplicaSets or Pods, and a status is whatever the test writes through the status
// subresource.

var (
	gvrPodsT = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	gvrJobs  = schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}
	gvrEvs   = schema.GroupVersionResource{Version: "v1", Resource: "events"}
)

func applyForWait(t *testing.T, a *Applier, text string) []ObjectResult {
	t.Helper()
	objs := decode(t, text)
	SetLabels(objs, map[string]string{"app.kubernetes.io/managed-by": "devtool"})
	res, err := a.Apply(context.Background(), nil, Request{Objects: objs, Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	return res.Objects
}

// create creates the object text describes (no controller acts on it in the API server
// without a node) and returns it as an ObjectResult to wait for.
func create(t *testing.T, dyn dynamic.Interface, gvr schema.GroupVersionResource, text string) ObjectResult {
	t.Helper()
	obj := decode(t, text)[0]
	got, err := dyn.Resource(gvr).Namespace(obj.GetNamespace()).Create(context.Background(), obj, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ObjectResult{APIVersion: got.GetAPIVersion(), Kind: got.GetKind(), Namespace: got.GetNamespace(), Name: got.GetName(), Action: Created}
}

// warningEvent records a Warning event about obj, as the kubelet or a controller would.
func warningEvent(t *testing.T, dyn dynamic.Interface, obj *unstructured.Unstructured, name, reason, message string) {
	t.Helper()
	now := time.Now().UTC().Format(time.RFC3339)
	ev := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Event",
		"metadata": map[string]any{"name": name, "namespace": obj.GetNamespace()},
		"involvedObject": map[string]any{
			"apiVersion": obj.GetAPIVersion(), "kind": obj.GetKind(), "namespace": obj.GetNamespace(),
			"name": obj.GetName(), "uid": string(obj.GetUID()),
		},
		"type": "Warning", "reason": reason, "message": message, "count": int64(4),
		"firstTimestamp": now, "lastTimestamp": now,
		"source": map[string]any{"component": "kubelet"},
	}}
	if _, err := dyn.Resource(gvrEvs).Namespace(obj.GetNamespace()).Create(context.Background(), ev, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func waitErr(t *testing.T, err error) *WaitError {
	t.Helper()
	var we *WaitError
	if !errors.As(err, &we) {
		t.Fatalf("Wait: %v (%T), want a *WaitError", err, err)
	}
	t.Logf("WaitError:\n%v", we)
	return we
}

func statusOf(t *testing.T, we *WaitError, kind, name string) ObjectStatus {
	t.Helper()
	for _, o := range we.Objects {
		if o.Kind == kind && o.Name == name {
			return o
		}
	}
	t.Fatalf("WaitError does not name %s %s:\n%v", kind, name, we)
	return ObjectStatus{}
}

func wantDetail(t *testing.T, st ObjectStatus, parts ...string) {
	t.Helper()
	all := strings.Join(st.Details, "\n")
	for _, p := range parts {
		if !strings.Contains(all, p) {
			t.Errorf("details of %s do not mention %q:\n%s", st.Object(), p, all)
		}
	}
}

// TestWaitCurrent: objects without controllers to wait for (Namespace, ConfigMap, Service, a
// CRD and a custom resource of it) are Current as soon as they exist and the CRD is
// established; Wait returns nil and their statuses.
func TestWaitCurrent(t *testing.T) {
	a, _ := newApplier(t)
	applied := applyForWait(t, a, `apiVersion: v1
kind: Namespace
metadata: {name: wait-ok}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg, namespace: wait-ok}
data: {k: v}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: wait-ok}
spec:
  selector: {app: web}
  ports: [{port: 80}]
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: sprockets.example.devtool.dev}
spec:
  group: example.devtool.dev
  scope: Namespaced
  names: {plural: sprockets, singular: sprocket, kind: Sprocket}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
---
apiVersion: example.devtool.dev/v1
kind: Sprocket
metadata: {name: s1, namespace: wait-ok}
spec: {teeth: 12}
`)
	// A pruned object is not waited for.
	applied = append(applied, ObjectResult{APIVersion: "v1", Kind: "ConfigMap", Namespace: "wait-ok", Name: "gone", Action: Pruned})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	got, err := a.Wait(ctx, WaitRequest{Objects: applied, Timeout: time.Minute})
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	var rows []string
	for _, s := range got {
		rows = append(rows, s.Object()+" "+string(s.Status))
	}
	want := []string{
		"Namespace wait-ok Current",
		"CustomResourceDefinition sprockets.example.devtool.dev Current",
		"ConfigMap wait-ok/cfg Current",
		"Service wait-ok/web Current",
		"Sprocket wait-ok/s1 Current",
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
}

// TestWaitDeploymentWithoutPods: no controller manager runs, so the Deployment never gets a
// ReplicaSet: the wait times out with a WaitError naming it, InProgress, and saying why.
func TestWaitDeploymentWithoutPods(t *testing.T) {
	a, _ := newApplier(t)
	applied := applyForWait(t, a, `apiVersion: v1
kind: Namespace
metadata: {name: wait-nopods}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg, namespace: wait-nopods}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: wait-nopods}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "127.0.0.1:5000/web:1"}]
`)
	var mu sync.Mutex
	var progress [][]ObjectStatus
	got, err := a.Wait(context.Background(), WaitRequest{Objects: applied, Timeout: 3 * time.Second, Progress: func(p []ObjectStatus) {
		mu.Lock()
		defer mu.Unlock()
		progress = append(progress, p)
	}})
	we := waitErr(t, err)
	if !we.TimedOut || we.Timeout != 3*time.Second || we.Total != 3 {
		t.Errorf("WaitError TimedOut=%v Timeout=%s Total=%d, want a timeout after 3s of 3 objects", we.TimedOut, we.Timeout, we.Total)
	}
	if len(we.Objects) != 1 {
		t.Errorf("WaitError objects = %v, want only the Deployment", we.Objects)
	}
	dep := statusOf(t, we, "Deployment", "web")
	if dep.Status != StatusInProgress || dep.Message != "Replicas: 0/2" {
		t.Errorf("Deployment status %s %q, want InProgress \"Replicas: 0/2\"", dep.Status, dep.Message)
	}
	wantDetail(t, dep, "no Pods were created", "no ReplicaSet", "controller manager")
	msg := err.Error()
	for _, p := range []string{"timed out after 3s", "1 of 3 objects", "Deployment wait-nopods/web: InProgress: Replicas: 0/2", "no Pods were created"} {
		if !strings.Contains(msg, p) {
			t.Errorf("error does not contain %q:\n%s", p, msg)
		}
	}
	if len(got) != 3 || got[0].Status != StatusCurrent || got[2].Status != StatusInProgress {
		t.Errorf("statuses = %v, want Namespace and ConfigMap Current, Deployment InProgress", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(progress) == 0 || len(progress[0]) != 1 || progress[0][0].Object() != "Deployment wait-nopods/web" {
		t.Errorf("progress = %v, want the Deployment reported as pending", progress)
	}
}

// TestWaitFailedJob: on the package's real node, a Job whose only Pod exits 3 with
// backoffLimit 0 is marked Failed by the Job controller; waiting for it then fails at once
// (not at the timeout) with the reason and the Pod's exit code.
func TestWaitFailedJob(t *testing.T) {
	a, _, n := nodeApplier(t)
	name := "migrate-" + fmt.Sprint(time.Now().UnixNano()%1000000)
	applied := applyForWait(t, a, fmt.Sprintf(`apiVersion: batch/v1
kind: Job
metadata: {name: %s, namespace: default}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 1
      containers: [{name: migrate, image: %q, command: ["sh", "-c", "exit 3"]}]
`, name, n.Busybox))
	// A started Job is Current (kstatus): wait until the Job controller has marked it Failed,
	// then the wait must report the failure rather than the earlier start.
	deadline := time.Now().Add(time.Minute)
	for {
		job, err := n.Client.BatchV1().Jobs("default").Get(context.Background(), name, metav1.GetOptions{})
		if err == nil && slices.ContainsFunc(job.Status.Conditions, func(c batchv1.JobCondition) bool { return c.Type == batchv1.JobFailed && c.Status == "True" }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Job controller did not mark Job %s Failed within a minute (%v)", name, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	_, err := a.Wait(context.Background(), WaitRequest{Objects: applied, Timeout: 2 * time.Minute})
	we := waitErr(t, err)
	if we.TimedOut {
		t.Errorf("the wait timed out; a Failed Job must end it")
	}
	st := statusOf(t, we, "Job", name)
	if st.Status != StatusFailed || !strings.Contains(st.Message, "BackoffLimitExceeded") {
		t.Errorf("Job status %s %q, want Failed with the reason", st.Status, st.Message)
	}
	wantDetail(t, st, "container migrate: terminated with exit code 3")
	if !strings.Contains(err.Error(), "1 of 1 object failed to roll out") {
		t.Errorf("error: %v", err)
	}
}

// TestWaitFailedPod: on the package's real node, a Pod whose container exits 3 (restartPolicy
// Never) reaches phase Failed, which ends the wait (see computeStatus), with the container's
// exit code in the details.
func TestWaitFailedPod(t *testing.T) {
	a, _, n := nodeApplier(t)
	name := "oneshot-" + fmt.Sprint(time.Now().UnixNano()%1000000)
	applied := applyForWait(t, a, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s, namespace: default}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers: [{name: main, image: %q, command: ["sh", "-c", "exit 3"]}]
`, name, n.Busybox))
	_, err := a.Wait(context.Background(), WaitRequest{Objects: applied, Timeout: 2 * time.Minute})
	we := waitErr(t, err)
	if we.TimedOut {
		t.Errorf("the wait timed out; a Failed Pod must end it")
	}
	st := statusOf(t, we, "Pod", name)
	if st.Status != StatusFailed {
		t.Errorf("Pod status %s %q, want Failed", st.Status, st.Message)
	}
	wantDetail(t, st, "Pod default/"+name+": Failed", "container main: terminated with exit code 3: Error")
}

// TestWaitImagePullBackOff: on the package's real node, a Deployment whose image does not
// exist fails the wait as soon as the kubelet reports ImagePullBackOff (not at the timeout),
// naming the Pod, the container's reason and the kubelet's Warning events; a bare Pod on the
// API server without a node (a second cluster) stays InProgress, explained as not scheduled.
func TestWaitImagePullBackOff(t *testing.T) {
	a, _, n := nodeApplier(t)
	ns := "wait-pull-" + fmt.Sprint(time.Now().UnixNano()%1000000)
	image := n.Registry + "/nothing/here:1"
	applied := applyForWait(t, a, fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata: {name: %[1]s}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: %[1]s}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{name: api, image: %[2]q}]
`, ns, image))
	start := time.Now()
	_, err := a.Wait(context.Background(), WaitRequest{Objects: applied, Timeout: 2 * time.Minute})
	we := waitErr(t, err)
	t.Logf("wait failed after %s", time.Since(start).Round(10*time.Millisecond))
	if we.TimedOut {
		t.Errorf("want a failure, not a timeout (the Pod is stuck in ImagePullBackOff)")
	}
	dep := statusOf(t, we, "Deployment", "api")
	if dep.Status != StatusFailed || !strings.HasPrefix(dep.Message, "Pod "+ns+"/api-") || !strings.Contains(dep.Message, "container api: ImagePullBackOff: Back-off pulling image \""+image+"\"") {
		t.Errorf("Deployment status %s %q, want Failed naming the Pod and its reason", dep.Status, dep.Message)
	}
	wantDetail(t, dep, "Pod "+ns+"/api-", "container api: ImagePullBackOff", "event Warning Failed on Pod "+ns+"/api-")
	if strings.Contains(strings.Join(dep.Details, "\n"), "no Pods") {
		t.Errorf("details say there are no Pods:\n%s", strings.Join(dep.Details, "\n"))
	}

	nodeless, dyn := newApplier(t)
	bare := create(t, dyn, gvrPodsT, `apiVersion: v1
kind: Pod
metadata: {name: lonely, namespace: default}
spec:
  containers: [{name: main, image: "registry.invalid/lonely:1"}]
`)
	_, err = nodeless.Wait(context.Background(), WaitRequest{Objects: []ObjectResult{bare}, Timeout: 2 * time.Second})
	lonely := statusOf(t, waitErr(t, err), "Pod", "lonely")
	if lonely.Status != StatusInProgress {
		t.Errorf("bare Pod status %s, want InProgress", lonely.Status)
	}
	wantDetail(t, lonely, "Pod default/lonely: Pending; not scheduled", "Pods are Pending: no node can run them")
}

// TestWaitCancelled: cancelling ctx ends the wait with ctx's error, not a WaitError.
func TestWaitCancelled(t *testing.T) {
	a, _ := newApplier(t)
	applied := applyForWait(t, a, `apiVersion: apps/v1
kind: Deployment
metadata: {name: wait-cancel, namespace: default}
spec:
  selector: {matchLabels: {app: wait-cancel}}
  template:
    metadata: {labels: {app: wait-cancel}}
    spec:
      containers: [{name: c, image: "127.0.0.1:5000/c:1"}]
`)
	ctx, cancel := context.WithCancel(context.Background())
	_, err := a.Wait(ctx, WaitRequest{Objects: applied, Timeout: time.Minute, Progress: func([]ObjectStatus) { cancel() }})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Wait after cancel: %v, want context.Canceled", err)
	}
}
