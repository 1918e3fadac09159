package deploy

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
)

// DefaultWaitTimeout is how long `deploy --wait` waits when no duration is given: 5 minutes,
// Helm's --wait --timeout default.
const DefaultWaitTimeout = 5 * time.Minute

// Defaults of WaitRequest.
const (
	defaultPollInterval     = time.Second
	defaultProgressInterval = 5 * time.Second
	// diagnoseTimeout bounds the requests that explain a failed wait (Pods, events), made after
	// the wait's own timeout has passed.
	diagnoseTimeout = 30 * time.Second
	// Limits of WaitError details, to keep the error readable.
	maxPodsShown   = 5
	maxEventsShown = 5
	// maxLogLines is how many of the last log lines of a failing container a WaitError shows
	// (kubectl logs --tail; odo shows a Pod's last lines on a failed start too).
	maxLogLines   = 5
	maxMessageLen = 240
)

// WaitRequest is one wait for applied objects to roll out (design.md §5, `deploy --wait`).
type WaitRequest struct {
	// Objects are the objects to wait for, usually Apply's results. Those whose Action is not
	// Created, Configured or Unchanged (pruned, deleted, or only validated in a dry run) are
	// skipped.
	Objects []ObjectResult
	// Timeout bounds the wait; 0 leaves it to ctx.
	Timeout time.Duration
	// Progress, when set, is called with the objects that are not Current yet (in request
	// order): after the first poll that finds any, then at most every ProgressInterval while
	// there are any. It is called from Wait's goroutine.
	Progress func(pending []ObjectStatus)
	// PollInterval is the time between two reads of the objects (default 1 s);
	// ProgressInterval the minimum time between two Progress calls (default 5 s).
	PollInterval, ProgressInterval time.Duration
}

// ObjectStatus is the rollout status of one object.
type ObjectStatus struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
	// Status is the kstatus status (see Status).
	Status Status `json:"status"`
	// Message says why, e.g. "Replicas: 0/1" (kstatus's messages).
	Message string `json:"message,omitempty"`
	// Details explain an object that is not Current, in a WaitError only: for workloads
	// (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, Pod) their Pods with phase and
	// container states, or why there are none, each followed by the last log lines of its
	// containers that crashed or exited with an error ("log <container>: <line>"); then the
	// last Warning events of the object, its ReplicaSets and its Pods.
	Details []string `json:"details,omitempty"`
}

// Object names the object as progress and errors show it: "Kind namespace/name" ("Kind name"
// when cluster-scoped).
func (s ObjectStatus) Object() string {
	if s.Namespace != "" {
		return s.Kind + " " + s.Namespace + "/" + s.Name
	}
	return s.Kind + " " + s.Name
}

// String is "Kind namespace/name: Status: message".
func (s ObjectStatus) String() string {
	if s.Message == "" {
		return s.Object() + ": " + string(s.Status)
	}
	return s.Object() + ": " + string(s.Status) + ": " + s.Message
}

// WaitError is a wait that ended before every object was Current: an object became Failed
// (TimedOut false), or the timeout passed (TimedOut true). Objects lists every object that was
// not Current at that point, in request order, with Details saying why.
type WaitError struct {
	// Timeout is the request's timeout (0: none).
	Timeout  time.Duration
	TimedOut bool
	// Total is the number of objects waited for.
	Total   int
	Objects []ObjectStatus
}

func (e *WaitError) Error() string {
	var b strings.Builder
	failed := 0
	for _, o := range e.Objects {
		if o.Status == StatusFailed {
			failed++
		}
	}
	switch {
	case e.TimedOut:
		fmt.Fprintf(&b, "timed out after %s waiting for %d of %d %s to roll out (kstatus Current):", e.Timeout, len(e.Objects), e.Total, plural(e.Total, "object", "objects"))
	default:
		fmt.Fprintf(&b, "%d of %d %s failed to roll out:", failed, e.Total, plural(e.Total, "object", "objects"))
	}
	for _, o := range e.Objects {
		b.WriteString("\n  - ")
		b.WriteString(o.String())
		for _, d := range o.Details {
			b.WriteString("\n      ")
			b.WriteString(d)
		}
	}
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// waitTarget is one object being waited for, with what the last poll found.
type waitTarget struct {
	st  ObjectStatus
	obj *unstructured.Unstructured // nil until read, or when not found
}

// Wait polls the objects of req (a GET each, every PollInterval) and computes their kstatus
// status (see Status; sigs.k8s.io/cli-utils pkg/kstatus) until all of them are Current at the
// same time, any of them is Failed, or req.Timeout passes. It returns the status of every
// object waited for, in request order, and:
//
//   - nil when all are Current;
//   - a *WaitError when one is Failed or the timeout passed, naming every object that is not
//     Current with its status, message and details (Pods and Warning events, read after the
//     wait under a fresh 30 s bound);
//   - ctx.Err() when ctx ends first; a *ClusterError when the cluster cannot be reached.
//
// An object that cannot be read (other than not found) is Unknown until a later read succeeds.
// A Deployment, StatefulSet, DaemonSet or ReplicaSet is Failed as soon as one of its Pods has
// a container stuck (CrashLoopBackOff, ImagePullBackOff, …, or exited with an error; see
// podsStuck), and when there are such workloads, all objects must be Current on two polls in a
// row (one PollInterval apart) before Wait returns nil.
func (a *Applier) Wait(ctx context.Context, req WaitRequest) ([]ObjectStatus, error) {
	var targets []*waitTarget
	for _, o := range req.Objects {
		switch o.Action {
		case Created, Configured, Unchanged:
			targets = append(targets, &waitTarget{st: ObjectStatus{APIVersion: o.APIVersion, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name, Status: StatusUnknown, Message: "not read yet"}})
		}
	}
	if len(targets) == 0 {
		return nil, nil
	}
	cl, err := a.clients(ctx)
	if err != nil {
		return nil, err
	}
	wctx, cancel := ctx, context.CancelFunc(func() {})
	if req.Timeout > 0 {
		wctx, cancel = context.WithTimeout(ctx, req.Timeout)
	}
	defer cancel()
	interval, every := req.PollInterval, req.ProgressInterval
	if interval <= 0 {
		interval = defaultPollInterval
	}
	if every <= 0 {
		every = defaultProgressInterval
	}
	statuses := func() []ObjectStatus {
		out := make([]ObjectStatus, len(targets))
		for i, t := range targets {
			out[i] = t.st
		}
		return out
	}
	var lastProgress time.Time
	start := time.Now()
	confirmed := false
	for wctx.Err() == nil {
		if err := a.poll(wctx, cl, targets); err != nil {
			break // wctx ended during the poll: the previous poll's statuses stand
		}
		var pending []ObjectStatus
		failed := false
		for _, t := range targets {
			if t.st.Status != StatusCurrent {
				pending = append(pending, t.st)
			}
			failed = failed || t.st.Status == StatusFailed
		}
		if len(pending) == 0 && (confirmed || !hasWorkload(targets)) {
			a.log.Debug("all objects are Current", "objects", len(targets), "took", time.Since(start))
			return statuses(), nil
		}
		// Workloads must stay Current for one more poll: a container that exits right after it
		// started makes its Deployment Available for a moment (no readiness probe), and the
		// next poll sees it crash (podsStuck).
		confirmed = len(pending) == 0
		if failed {
			return statuses(), a.waitError(ctx, cl, req, targets, false)
		}
		if req.Progress != nil && len(pending) > 0 && (lastProgress.IsZero() || time.Since(lastProgress) >= every) {
			req.Progress(pending)
			lastProgress = time.Now()
		}
		select {
		case <-wctx.Done():
		case <-time.After(interval):
		}
	}
	if ctx.Err() != nil {
		return statuses(), ctx.Err()
	}
	if confirmed {
		return statuses(), nil // all Current; the timeout hit the confirming poll
	}
	return statuses(), a.waitError(ctx, cl, req, targets, true)
}

// poll reads every target once (a few at a time) and computes its status. It returns an error
// only when ctx ended; then some targets may keep the previous poll's status.
func (a *Applier) poll(ctx context.Context, cl *clients, targets []*waitTarget) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	now := time.Now()
	for _, t := range targets {
		g.Go(func() error {
			ri, err := a.resourceFor(cl, t.st)
			if err != nil {
				t.obj, t.st.Status, t.st.Message = nil, StatusUnknown, err.Error()
				return nil
			}
			obj, err := ri.Get(gctx, t.st.Name, metav1.GetOptions{})
			switch {
			case gctx.Err() != nil:
				return gctx.Err()
			case apierrors.IsNotFound(err):
				t.obj, t.st.Status, t.st.Message = nil, StatusNotFound, "not in the cluster (deleted since it was applied?)"
				return nil
			case err != nil:
				t.st.Status, t.st.Message = StatusUnknown, "reading it: "+err.Error()
				return nil
			}
			t.obj = obj
			res, err := computeStatus(obj, now)
			if err != nil {
				t.st.Status, t.st.Message = StatusUnknown, "computing its status: "+err.Error()
				return nil
			}
			t.st.Status, t.st.Message = res.status, res.message
			if res.status == StatusInProgress || res.status == StatusCurrent {
				if msg := podsStuck(gctx, cl, obj); msg != "" {
					t.st.Status, t.st.Message = StatusFailed, msg
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// hasWorkload reports whether a target is a Deployment, StatefulSet, DaemonSet or ReplicaSet
// (whose Pods podsStuck checks).
func hasWorkload(targets []*waitTarget) bool {
	for _, t := range targets {
		gv, _ := schema.ParseGroupVersion(t.st.APIVersion)
		if gv.Group == "apps" && t.st.Kind != "ControllerRevision" {
			return true
		}
	}
	return false
}

// stuckReasons are the container waiting reasons that fail a workload's wait at once, as
// skaffold's status check does (pkg/skaffold/deploy/status: CrashLoopBackOff, ImagePullBackOff,
// ErrImageNeverPull, CreateContainerConfigError): the kubelet only retries them with back-off,
// nothing fixes them without a change. kstatus alone would report a Deployment whose Pods
// crash as InProgress until its progress deadline (10 min), or even Current when a crashing
// container was Ready for a moment. ErrImagePull is left out: it precedes ImagePullBackOff by
// seconds and can be transient.
var stuckReasons = map[string]bool{
	"CrashLoopBackOff": true, "ImagePullBackOff": true, "ErrImageNeverPull": true,
	"CreateContainerConfigError": true, "InvalidImageName": true,
}

// podsStuck lists the Pods of a Deployment, StatefulSet, DaemonSet or ReplicaSet (other kinds:
// ""), of its current revision only (currentRevision: the broken Pods of an earlier deploy do
// not fail the wait of the deploy that fixes them), and returns "Pod ns/name: container c:
// <reason>" for the first one whose container is
// waiting for one of stuckReasons or terminated with a non-zero exit code, or "" (also when the Pods cannot be listed: the next
// poll tries again and the timeout still applies).
func podsStuck(ctx context.Context, cl *clients, obj *unstructured.Unstructured) string {
	gk := obj.GroupVersionKind().GroupKind()
	if gk.Group != "apps" || (gk.Kind != "Deployment" && gk.Kind != "StatefulSet" && gk.Kind != "DaemonSet" && gk.Kind != "ReplicaSet") {
		return ""
	}
	sel, _, err := podSelector(obj)
	if err != nil || sel == nil || sel.Empty() {
		return ""
	}
	current, ok := currentRevision(ctx, cl, obj, sel)
	if !ok {
		return "" // the controller has not caught up with the applied spec: next poll
	}
	list, err := cl.dyn.Resource(gvrPods).Namespace(obj.GetNamespace()).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return ""
	}
	for i := range list.Items {
		p := &list.Items[i]
		if p.GetDeletionTimestamp() != nil {
			continue
		}
		if current.label != "" && p.GetLabels()[current.label] != current.value {
			continue // a Pod of an earlier revision, on its way out (a fix after a broken deploy)
		}
		for _, cs := range containerStatuses(p) {
			// A workload's Pods restart their containers: one that terminated with an
			// error is crashing, before the kubelet calls it CrashLoopBackOff.
			code, terminated, _ := int64Field(cs, "state", "terminated", "exitCode")
			if !stuckReasons[stringField(cs, "", "state", "waiting", "reason")] && !(terminated && code != 0) {
				continue
			}
			name, _ := cs["name"].(string)
			return fmt.Sprintf("Pod %s/%s: container %s: %s", p.GetNamespace(), p.GetName(), name, containerState(cs))
		}
	}
	return ""
}

// revisionLabel says which Pods belong to a workload's current revision: those whose label
// label has value value; label "" means every Pod.
type revisionLabel struct{ label, value string }

// currentRevision returns the label of the Pods of obj's current revision, so that podsStuck
// judges only those: a Deployment's newest ReplicaSet (the one whose
// deployment.kubernetes.io/revision annotation is the Deployment's; label pod-template-hash), a
// StatefulSet's status.updateRevision (label controller-revision-hash). ok is false while the
// controller has not observed obj's generation or the new ReplicaSet is not there yet. Other
// kinds: every Pod.
func currentRevision(ctx context.Context, cl *clients, obj *unstructured.Unstructured, sel labels.Selector) (revisionLabel, bool) {
	observed, _, _ := unstructured.NestedInt64(obj.Object, "status", "observedGeneration")
	switch obj.GetKind() {
	case "Deployment":
		if observed < obj.GetGeneration() {
			return revisionLabel{}, false
		}
		rev := obj.GetAnnotations()["deployment.kubernetes.io/revision"]
		if rev == "" {
			return revisionLabel{}, false
		}
		rss, err := (&diagnoser{cl: cl}).replicaSets(ctx, obj, sel)
		if err != nil {
			return revisionLabel{}, false
		}
		for _, rs := range rss {
			if rs.GetAnnotations()["deployment.kubernetes.io/revision"] == rev {
				if h := rs.GetLabels()["pod-template-hash"]; h != "" {
					return revisionLabel{"pod-template-hash", h}, true
				}
			}
		}
		return revisionLabel{}, false
	case "StatefulSet":
		if observed < obj.GetGeneration() {
			return revisionLabel{}, false
		}
		if rev, _, _ := unstructured.NestedString(obj.Object, "status", "updateRevision"); rev != "" {
			return revisionLabel{"controller-revision-hash", rev}, true
		}
	}
	return revisionLabel{}, true
}

// resourceFor returns the dynamic client for an object, resetting the RESTMapper when the kind
// is unknown (a CRD applied by another process) so that the next poll looks again.
func (a *Applier) resourceFor(cl *clients, o ObjectStatus) (dynamic.ResourceInterface, error) {
	gv, err := schema.ParseGroupVersion(o.APIVersion)
	if err != nil {
		return nil, fmt.Errorf("invalid apiVersion %q: %w", o.APIVersion, err)
	}
	m, err := cl.mapper.RESTMapping(schema.GroupKind{Group: gv.Group, Kind: o.Kind}, gv.Version)
	if err != nil {
		if meta.IsNoMatchError(err) {
			cl.mapper.Reset()
		}
		return nil, fmt.Errorf("looking up the API for kind %s in %s: %w", o.Kind, o.APIVersion, err)
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		return cl.dyn.Resource(m.Resource).Namespace(o.Namespace), nil
	}
	return cl.dyn.Resource(m.Resource), nil
}

// waitError builds the WaitError for the targets that are not Current, with their details,
// read under a fresh bound (the wait's own context may have just expired).
func (a *Applier) waitError(ctx context.Context, cl *clients, req WaitRequest, targets []*waitTarget, timedOut bool) *WaitError {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), diagnoseTimeout)
	defer cancel()
	e := &WaitError{Timeout: req.Timeout, TimedOut: timedOut, Total: len(targets)}
	d := &diagnoser{cl: cl, events: map[string][]*unstructured.Unstructured{}}
	for _, t := range targets {
		if t.st.Status == StatusCurrent {
			continue
		}
		st := t.st
		if t.obj != nil {
			st.Details = d.explain(dctx, t.obj)
		}
		e.Objects = append(e.Objects, st)
	}
	return e
}

var (
	gvrPods        = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	gvrEvents      = schema.GroupVersionResource{Version: "v1", Resource: "events"}
	gvrReplicaSets = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "replicasets"}
)

// diagnoser explains objects that are not Current. It reads Warning events once per namespace.
type diagnoser struct {
	cl     *clients
	events map[string][]*unstructured.Unstructured // namespace → Warning events
}

// explain returns the details of one object: for workloads its Pods (or why there are none),
// then its recent Warning events and those of its ReplicaSets and Pods. A read that fails adds
// a line saying so instead.
func (d *diagnoser) explain(ctx context.Context, obj *unstructured.Unstructured) []string {
	var out []string
	uids := map[types.UID]bool{obj.GetUID(): true}
	if sel, ok, err := podSelector(obj); err != nil {
		out = append(out, "cannot list its Pods: "+err.Error())
	} else if ok {
		out = append(out, d.explainPods(ctx, obj, sel, uids)...)
	}
	ns := obj.GetNamespace()
	if ns == "" {
		ns = metav1.NamespaceDefault // events about cluster-scoped objects
	}
	evs, err := d.warnings(ctx, ns)
	if err != nil {
		return append(out, "cannot list events: "+err.Error())
	}
	var mine []*unstructured.Unstructured
	for _, ev := range evs {
		uid, _, _ := unstructured.NestedString(ev.Object, "involvedObject", "uid")
		if uids[types.UID(uid)] {
			mine = append(mine, ev)
		}
	}
	if n := len(mine); n > maxEventsShown {
		mine = mine[n-maxEventsShown:]
	}
	for _, ev := range mine {
		out = append(out, eventLine(ev))
	}
	return out
}

// podSelector returns the selector of a workload's Pods: spec.selector of a Deployment,
// StatefulSet, DaemonSet, ReplicaSet or Job, or the Pod's own name for a Pod (ok is false for
// other kinds).
func podSelector(obj *unstructured.Unstructured) (sel labels.Selector, ok bool, err error) {
	gk := obj.GroupVersionKind().GroupKind()
	switch {
	case gk == schema.GroupKind{Kind: "Pod"}:
		return nil, true, nil
	case gk.Group == "apps" && (gk.Kind == "Deployment" || gk.Kind == "StatefulSet" || gk.Kind == "DaemonSet" || gk.Kind == "ReplicaSet"),
		gk == schema.GroupKind{Group: "batch", Kind: "Job"}:
	default:
		return nil, false, nil
	}
	raw, found, err := unstructured.NestedMap(obj.Object, "spec", "selector")
	if err != nil || !found {
		return nil, true, fmt.Errorf("no spec.selector (%v)", err)
	}
	var ls metav1.LabelSelector
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &ls); err != nil {
		return nil, true, err
	}
	sel, err = metav1.LabelSelectorAsSelector(&ls)
	return sel, true, err
}

// explainPods lists a workload's Pods (sel nil: obj is the Pod) and describes them, adding their
// UIDs (and a Deployment's ReplicaSets') to uids for the events.
func (d *diagnoser) explainPods(ctx context.Context, obj *unstructured.Unstructured, sel labels.Selector, uids map[types.UID]bool) []string {
	var pods []*unstructured.Unstructured
	if sel == nil {
		pods = []*unstructured.Unstructured{obj}
	} else {
		list, err := d.cl.dyn.Resource(gvrPods).Namespace(obj.GetNamespace()).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
		if err != nil {
			return []string{"cannot list its Pods: " + err.Error()}
		}
		for i := range list.Items {
			pods = append(pods, &list.Items[i])
		}
	}
	var out []string
	kind := obj.GetKind()
	if kind == "Deployment" {
		rss, err := d.replicaSets(ctx, obj, sel)
		if err != nil {
			out = append(out, "cannot list its ReplicaSets: "+err.Error())
		}
		for _, rs := range rss {
			uids[rs.GetUID()] = true
		}
		if err == nil && len(rss) == 0 && len(pods) == 0 {
			return append(out, "no Pods were created: the Deployment has no ReplicaSet; is a controller manager (kube-controller-manager) running in the cluster?")
		}
		if len(pods) == 0 && len(rss) > 0 {
			names := make([]string, len(rss))
			for i, rs := range rss {
				names[i] = rs.GetName()
			}
			return append(out, fmt.Sprintf("no Pods were created: its ReplicaSet %s has none (see the events below)", strings.Join(names, ", ")))
		}
	}
	if len(pods) == 0 {
		if kind == "DaemonSet" {
			if n, found, _ := int64Field(obj.Object, "status", "desiredNumberScheduled"); found && n == 0 {
				return append(out, "no Pods were created: no node matches the DaemonSet (desiredNumberScheduled is 0)")
			}
		}
		return append(out, fmt.Sprintf("no Pods were created: is a controller manager (kube-controller-manager) running in the cluster? (the %s controller creates them)", kind))
	}
	sort.Slice(pods, func(i, j int) bool { return pods[i].GetName() < pods[j].GetName() })
	pending, unscheduled, neverLooked := 0, 0, 0
	for i, p := range pods {
		uids[p.GetUID()] = true
		line, sched := podLine(p)
		if stringField(p.Object, "", "status", "phase") == "Pending" {
			pending++
			if sched != "True" {
				unscheduled++
			}
			if sched == "" {
				neverLooked++
			}
		}
		if i < maxPodsShown {
			out = append(out, line)
			out = append(out, d.failingLogs(ctx, p)...)
		}
	}
	if len(pods) > maxPodsShown {
		out = append(out, fmt.Sprintf("… and %d more Pods", len(pods)-maxPodsShown))
	}
	if unscheduled > 0 && unscheduled == len(pods) {
		hint := "Pods are Pending: no node can run them"
		if neverLooked == len(pods) {
			hint += " (no scheduler has placed them: is kube-scheduler running, and does the cluster have nodes?)"
		}
		out = append(out, hint)
	}
	return out
}

// failingLogs returns the last maxLogLines lines of the log of each container of Pod p that
// crashed or exited with an error: the previous instance's log (kubectl logs --previous) when
// the container is waiting to restart after a crash, else the current one. Each line is
// "log <container>: <text>", clipped; a log that cannot be read gives one line saying so.
// Containers that never ran (ImagePullBackOff) have no log and give nothing.
func (d *diagnoser) failingLogs(ctx context.Context, p *unstructured.Unstructured) []string {
	var out []string
	for _, cs := range containerStatuses(p) {
		name, _ := cs["name"].(string)
		_, waiting, _ := unstructured.NestedMap(cs, "state", "waiting")
		_, crashedBefore, _ := unstructured.NestedMap(cs, "lastState", "terminated")
		code, terminated, _ := int64Field(cs, "state", "terminated", "exitCode")
		previous := waiting && crashedBefore
		if !previous && !(terminated && code != 0) {
			continue
		}
		req := d.cl.disco.RESTClient().Get().AbsPath("/api/v1/namespaces", p.GetNamespace(), "pods", p.GetName(), "log").
			Param("container", name).Param("tailLines", fmt.Sprint(maxLogLines))
		if previous {
			req = req.Param("previous", "true")
		}
		raw, err := req.Do(ctx).Raw()
		if err != nil {
			out = append(out, fmt.Sprintf("log %s: cannot read it: %s", name, clip(err.Error())))
			continue
		}
		lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
		if len(lines) == 1 && lines[0] == "" {
			out = append(out, fmt.Sprintf("log %s: (empty)", name))
			continue
		}
		if n := len(lines); n > maxLogLines {
			lines = lines[n-maxLogLines:]
		}
		for _, l := range lines {
			out = append(out, "log "+name+": "+clip(l))
		}
	}
	return out
}

// containerStatuses are Pod p's container statuses, init containers first (status.
// initContainerStatuses, then status.containerStatuses); malformed entries are skipped.
func containerStatuses(p *unstructured.Unstructured) []map[string]any {
	var out []map[string]any
	for _, field := range []string{"initContainerStatuses", "containerStatuses"} {
		css, _, _ := unstructured.NestedSlice(p.Object, "status", field)
		for _, item := range css {
			if cs, ok := item.(map[string]any); ok {
				out = append(out, cs)
			}
		}
	}
	return out
}

// replicaSets returns the ReplicaSets a Deployment owns.
func (d *diagnoser) replicaSets(ctx context.Context, dep *unstructured.Unstructured, sel labels.Selector) ([]*unstructured.Unstructured, error) {
	list, err := d.cl.dyn.Resource(gvrReplicaSets).Namespace(dep.GetNamespace()).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, err
	}
	var out []*unstructured.Unstructured
	for i := range list.Items {
		for _, ref := range list.Items[i].GetOwnerReferences() {
			if ref.UID == dep.GetUID() {
				out = append(out, &list.Items[i])
				break
			}
		}
	}
	return out, nil
}

// podLine describes a Pod in one line: phase, scheduling, readiness, and the state of every
// container that is waiting or terminated with an error, e.g.
// "Pod demo/web-1: Pending; container web: ImagePullBackOff: Back-off pulling image "x"".
// scheduled is the status of its PodScheduled condition ("" when absent).
func podLine(p *unstructured.Unstructured) (line string, scheduled string) {
	obj := p.Object
	phase := stringField(obj, "Unknown", "status", "phase")
	parts := []string{phase}
	conds := conditionsOf(obj)
	if c, ok := findCondition(conds, "PodScheduled"); ok {
		scheduled = c.status
		if c.status == "False" {
			parts = append(parts, "not scheduled: "+clip(reasonMessage(c.reason, c.message)))
		}
	} else if phase == "Pending" {
		parts = append(parts, "not scheduled")
	}
	if phase == "Running" {
		if c, ok := findCondition(conds, "Ready"); !ok || c.status != "True" {
			parts = append(parts, "not ready")
		}
	}
	if why := reasonMessage(stringField(obj, "", "status", "reason"), stringField(obj, "", "status", "message")); why != "" {
		parts = append(parts, clip(why))
	}
	for _, cs := range containerStatuses(p) {
		if s := containerState(cs); s != "" {
			name, _ := cs["name"].(string)
			parts = append(parts, "container "+name+": "+s)
		}
	}
	return fmt.Sprintf("Pod %s/%s: %s", p.GetNamespace(), p.GetName(), strings.Join(parts, "; ")), scheduled
}

// containerState describes a container that is waiting (with the last exit code when it has
// crashed before) or terminated with a non-zero exit code; "" otherwise.
func containerState(cs map[string]any) string {
	if w, ok, _ := unstructured.NestedMap(cs, "state", "waiting"); ok {
		s := clip(reasonMessage(stringField(w, "", "reason"), stringField(w, "", "message")))
		if s == "" {
			s = "waiting"
		}
		if code, found, _ := int64Field(cs, "lastState", "terminated", "exitCode"); found {
			s += fmt.Sprintf(" (last exit code %d)", code)
		}
		return s
	}
	if t, ok, _ := unstructured.NestedMap(cs, "state", "terminated"); ok {
		code, _, _ := int64Field(t, "exitCode")
		if code == 0 {
			return ""
		}
		s := fmt.Sprintf("terminated with exit code %d", code)
		if why := reasonMessage(stringField(t, "", "reason"), stringField(t, "", "message")); why != "" {
			s += ": " + clip(why)
		}
		return s
	}
	return ""
}

// warnings returns the Warning events of a namespace (core/v1), oldest first.
func (d *diagnoser) warnings(ctx context.Context, ns string) ([]*unstructured.Unstructured, error) {
	if evs, ok := d.events[ns]; ok {
		return evs, nil
	}
	list, err := d.cl.dyn.Resource(gvrEvents).Namespace(ns).List(ctx, metav1.ListOptions{FieldSelector: "type=Warning"})
	if err != nil {
		return nil, err
	}
	evs := make([]*unstructured.Unstructured, len(list.Items))
	for i := range list.Items {
		evs[i] = &list.Items[i]
	}
	sort.SliceStable(evs, func(i, j int) bool { return eventTime(evs[i]).Before(eventTime(evs[j])) })
	d.events[ns] = evs
	return evs, nil
}

// eventTime is when an event last happened: lastTimestamp, series.lastObservedTime, eventTime,
// or its creation.
func eventTime(ev *unstructured.Unstructured) time.Time {
	for _, path := range [][]string{{"lastTimestamp"}, {"series", "lastObservedTime"}, {"eventTime"}} {
		if s := stringField(ev.Object, "", path...); s != "" {
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
				return t
			}
		}
	}
	return ev.GetCreationTimestamp().Time
}

// eventLine is "event Warning <reason> on <Kind ns/name> (<count>×): <message>".
func eventLine(ev *unstructured.Unstructured) string {
	obj := ev.Object
	kind := stringField(obj, "", "involvedObject", "kind")
	name := stringField(obj, "", "involvedObject", "name")
	if ns := stringField(obj, "", "involvedObject", "namespace"); ns != "" {
		name = ns + "/" + name
	}
	s := fmt.Sprintf("event Warning %s on %s %s", stringField(obj, "", "reason"), kind, name)
	if n := intField(obj, 0, "count"); n > 1 {
		s += fmt.Sprintf(" (%d×)", n)
	}
	if msg := stringField(obj, "", "message"); msg != "" {
		s += ": " + clip(msg)
	}
	return s
}

// clip shortens s to maxMessageLen characters (on one line).
func clip(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > maxMessageLen {
		return string(r[:maxMessageLen-1]) + "…"
	}
	return s
}
