package deploy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/rest"
)

// requestLog counts the requests an Applier sends, by kind: "dry-run" (a PATCH with
// dryRun=All), "apply" (any other PATCH), "get", "list" and "other".
type requestLog struct {
	mu     sync.Mutex
	counts map[string]int
}

func (l *requestLog) take() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.counts
	l.counts = map[string]int{}
	return c
}

type countingTransport struct {
	log  *requestLog
	next http.RoundTripper
}

func (t countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	kind := "other"
	switch {
	case r.Method == http.MethodPatch && r.URL.Query().Get("dryRun") != "":
		kind = "dry-run"
	case r.Method == http.MethodPatch:
		kind = "apply"
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/version"):
		kind = "version"
	case r.Method == http.MethodGet && r.URL.Query().Has("limit"):
		kind = "list"
	case r.Method == http.MethodGet:
		kind = "get"
	}
	t.log.mu.Lock()
	if t.log.counts == nil {
		t.log.counts = map[string]int{}
	}
	t.log.counts[kind]++
	t.log.mu.Unlock()
	return t.next.RoundTrip(r)
}

// countingApplier is newApplier with every request of the Applier counted.
func countingApplier(t *testing.T, opts ...Option) (*Applier, *requestLog) {
	t.Helper()
	s := apiServer(t)
	f := getter(t, s.Kubeconfig).(*genericclioptions.ConfigFlags)
	log := &requestLog{}
	f.WrapConfigFn = func(c *rest.Config) *rest.Config {
		c.Wrap(func(rt http.RoundTripper) http.RoundTripper { return countingTransport{log, rt} })
		return c
	}
	a, err := New(f, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return a, log
}

// configMaps returns n ConfigMaps "<prefix>-<i>" in ns, labelled as pkg/run labels objects.
func configMaps(t *testing.T, ns, prefix string, n int, value string) []*unstructured.Unstructured {
	t.Helper()
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s-%d, namespace: %s}\ndata: {k: %q}\n", prefix, i, ns, value)
	}
	objs := decode(t, b.String())
	SetLabels(objs, map[string]string{"app.kubernetes.io/managed-by": "devtool"})
	return objs
}

func actions(res []ObjectResult) map[Action]int {
	out := map[Action]int{}
	for _, o := range res {
		out[o.Action]++
	}
	return out
}

// TestApplyReusesPreflight: a deploy dry-runs each object once (in the preflight); Apply sends
// no dry run for objects the preflight saw unchanged, and no write for objects whose dry run
// equals the live object; objects are read with lists, not one GET each.
func TestApplyReusesPreflight(t *testing.T) {
	a, reqs := countingApplier(t)
	_, dyn := newApplier(t)
	ctx := context.Background()
	createNamespace(t, dyn, "reuse-preflight")
	p := newProj("reuse-preflight", "reuse-preflight")
	const n = 12

	run := func(objs []*unstructured.Unstructured) (validate, apply map[string]int, res []ObjectResult) {
		t.Helper()
		set := p.set
		req := Request{Objects: objs, ApplySet: &set, FieldManager: p.manager}
		pre := req
		pre.DryRun = DryRunServer
		reqs.take()
		if err := a.Validate(ctx, Preflight{Request: pre}); err != nil {
			t.Fatal(err)
		}
		validate = reqs.take()
		tx, err := NewTransaction(req)
		if err != nil {
			t.Fatal(err)
		}
		r, err := a.Apply(ctx, tx, Request{Objects: objs})
		if err != nil {
			t.Fatal(err)
		}
		apply = reqs.take()
		return validate, apply, r.Objects
	}

	// Cold: one dry run per object (and one for the parent) in the preflight, none in Apply.
	v, ap, res := run(configMaps(t, "reuse-preflight", "cm", n, "1"))
	if v["dry-run"] != n+1 || ap["dry-run"] != 0 {
		t.Errorf("cold deploy: %d dry runs in the preflight (want %d), %d in Apply (want 0)", v["dry-run"], n+1, ap["dry-run"])
	}
	if ap["get"] >= n || ap["list"] == 0 {
		t.Errorf("cold deploy: Apply sent %v, want the objects listed instead of read one by one", ap)
	}
	if diff := cmp.Diff(map[Action]int{Created: n}, actions(res)); diff != "" {
		t.Errorf("cold deploy actions (-want +got):\n%s", diff)
	}

	// Nothing changed: no dry run and no write in Apply (only the parent is written, by the
	// transaction).
	v, ap, res = run(configMaps(t, "reuse-preflight", "cm", n, "1"))
	if v["dry-run"] != n+1 || ap["dry-run"] != 0 || ap["apply"] != 1 {
		t.Errorf("no-op deploy: preflight %v, Apply %v; want %d dry runs in the preflight, none in Apply and one apply (the parent)", v, ap, n+1)
	}
	if diff := cmp.Diff(map[Action]int{Unchanged: n}, actions(res)); diff != "" {
		t.Errorf("no-op deploy actions (-want +got):\n%s", diff)
	}

	// One object differs in Apply from the preflight (pkg/run pins built images after the
	// preflight): that one is dry-run again and applied.
	objs := configMaps(t, "reuse-preflight", "cm", n, "1")
	set := p.set
	if err := a.Validate(ctx, Preflight{Request: Request{Objects: objs, ApplySet: &set, FieldManager: p.manager, DryRun: DryRunServer}}); err != nil {
		t.Fatal(err)
	}
	changed := configMaps(t, "reuse-preflight", "cm", n, "1")
	changed[3].Object["data"] = map[string]any{"k": "2"}
	tx, err := NewTransaction(Request{Objects: changed, ApplySet: &set, FieldManager: p.manager})
	if err != nil {
		t.Fatal(err)
	}
	reqs.take()
	r, err := a.Apply(ctx, tx, Request{Objects: changed})
	if err != nil {
		t.Fatal(err)
	}
	ap = reqs.take()
	if ap["dry-run"] != 1 || ap["apply"] != 2 {
		t.Errorf("Apply with one changed object: %v, want 1 dry run and 2 applies (the parent, the object)", ap)
	}
	if diff := cmp.Diff(map[Action]int{Unchanged: n - 1, Configured: 1}, actions(r.Objects)); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}

	// The live object changes between the preflight and Apply: its dry run is not reused, and
	// a field someone else took meanwhile is a conflict again, not silently overwritten.
	objs = configMaps(t, "reuse-preflight", "cm", n, "1")
	if err := a.Validate(ctx, Preflight{Request: Request{Objects: objs, ApplySet: &set, FieldManager: p.manager, DryRun: DryRunServer}}); err != nil {
		t.Fatal(err)
	}
	theirs := decode(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm-5, namespace: reuse-preflight}\ndata: {k: theirs}\n")[0]
	if _, err := dyn.Resource(gvrConfigMaps).Namespace("reuse-preflight").Apply(ctx, "cm-5", theirs, metav1.ApplyOptions{FieldManager: "kubectl-edit", Force: true}); err != nil {
		t.Fatal(err)
	}
	tx, err = NewTransaction(Request{Objects: objs, ApplySet: &set, FieldManager: p.manager})
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.Apply(ctx, tx, Request{Objects: objs})
	var ce *ConflictError
	if !errors.As(err, &ce) || !strings.Contains(ce.Object, "cm-5") {
		t.Fatalf("Apply after someone else changed cm-5 = %v, want a conflict on it", err)
	}
}

// TestListedReadsKeepOwnership: objects read with lists (many of one kind in one namespace)
// are checked for ownership like objects read one by one: one made by someone else among them
// is refused, the others are not, and a diff after the deploy shows nothing.
func TestListedReadsKeepOwnership(t *testing.T) {
	a, _ := newApplier(t)
	_, dyn := newApplier(t)
	ctx := context.Background()
	createNamespace(t, dyn, "listed-ownership")
	p := newProj("listed-ownership", "listed-ownership")
	objs := configMaps(t, "listed-ownership", "cm", 2*listThreshold, "1")
	byHand(t, dyn, gvrConfigMaps, configMap("listed-ownership", "cm-7", nil, map[string]any{"k": "1"}), "kubectl", true)

	_, _, err := p.deploy(a, objs, deployOpts{})
	oe := ownershipErr(t, err)
	var refused []string
	for _, o := range oe.Objects {
		refused = append(refused, o.Object)
	}
	if diff := cmp.Diff([]string{"ConfigMap v1 listed-ownership/cm-7"}, refused); diff != "" {
		t.Fatalf("refused objects (-want +got):\n%s", diff)
	}
	applied, _, err := p.deploy(a, objs, deployOpts{adopt: true})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[Action]int{Created: 2*listThreshold - 1, Configured: 1}, actions(applied)); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
	set := p.set
	diffs, err := a.Diff(ctx, DiffRequest{Request: Request{Objects: objs, ApplySet: &set, FieldManager: p.manager}})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diffs {
		if d.Action != Unchanged {
			t.Errorf("diff after the deploy: %s %s is %s:\n%s", d.Kind, d.Name, d.Action, d.Diff)
		}
	}
}

// TestDuplicateObjectLastWins: an object written twice is applied twice, in order, even though
// objects are applied in parallel: the last copy wins, as with a sequential apply.
func TestDuplicateObjectLastWins(t *testing.T) {
	a, dyn := newApplier(t)
	ctx := context.Background()
	objs := configMaps(t, "default", "dup", 1, "first")
	objs = append(objs, configMaps(t, "default", "dup", 1, "second")...)
	objs = append(objs, configMaps(t, "default", "dup-other", listThreshold, "x")...)
	for range 2 {
		if _, err := a.Apply(ctx, nil, Request{Objects: objs}); err != nil {
			t.Fatal(err)
		}
		cm := getCM(t, dyn, "default", "dup-0")
		if got, _, _ := unstructured.NestedString(cm.Object, "data", "k"); got != "second" {
			t.Errorf("data.k = %q, want the last copy's %q", got, "second")
		}
	}
}

func TestApplyWaves(t *testing.T) {
	mk := func(group, kind, name string) *item {
		return &item{
			obj:     &unstructured.Unstructured{Object: map[string]any{"apiVersion": schema.GroupVersion{Group: group, Version: "v1"}.String(), "kind": kind, "metadata": map[string]any{"name": name}}},
			mapping: &meta.RESTMapping{Resource: schema.GroupVersionResource{Group: group, Version: "v1", Resource: strings.ToLower(kind) + "s"}, GroupVersionKind: schema.GroupVersionKind{Group: group, Version: "v1", Kind: kind}},
		}
	}
	items := []*item{
		mk("apps", "Deployment", "web"),
		mk("admissionregistration.k8s.io", "ValidatingWebhookConfiguration", "hook"),
		mk("", "ConfigMap", "cfg"),
		mk("example.dev", "Gadget", "g"),
		mk("rbac.authorization.k8s.io", "RoleBinding", "rb"),
		mk("rbac.authorization.k8s.io", "Role", "r"),
		mk("", "ServiceAccount", "sa"),
		mk("apiextensions.k8s.io", "CustomResourceDefinition", "gadgets.example.dev"),
		mk("", "Namespace", "ns"),
		mk("", "ConfigMap", "cfg"),
	}
	var got [][]string
	for _, w := range applyWaves(items) {
		var names []string
		for _, it := range w {
			names = append(names, it.obj.GetKind()+"/"+it.obj.GetName())
		}
		got = append(got, names)
	}
	want := [][]string{
		{"Namespace/ns"},
		{"CustomResourceDefinition/gadgets.example.dev"},
		{"Role/r", "ServiceAccount/sa"},
		{"Deployment/web", "ConfigMap/cfg", "Gadget/g", "RoleBinding/rb"},
		{"ConfigMap/cfg"}, // the second copy, after the first
		{"ValidatingWebhookConfiguration/hook"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("waves (-want +got):\n%s", diff)
	}
}

// TestProbeAPF: a server that sends API Priority and Fairness's headers is not throttled
// client-side; one that does not gets kubectl's limit.
func TestProbeAPF(t *testing.T) {
	for _, apf := range []bool{true, false} {
		t.Run(fmt.Sprint(apf), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if apf {
					w.Header().Set(headerFlowSchema, "8f1ba4b5-0000-0000-0000-000000000000")
				}
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprint(w, `{"major":"1","minor":"33","gitVersion":"v1.33.0"}`)
			}))
			defer srv.Close()
			cfg := &rest.Config{Host: srv.URL}
			hc, err := rest.HTTPClientFor(cfg)
			if err != nil {
				t.Fatal(err)
			}
			got, err := probeAPF(context.Background(), cfg, hc)
			if err != nil || got != apf {
				t.Errorf("probeAPF = %v, %v; want %v", got, err, apf)
			}
		})
	}
	t.Run("error", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}`)
		}))
		defer srv.Close()
		cfg := &rest.Config{Host: srv.URL}
		hc, err := rest.HTTPClientFor(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := probeAPF(context.Background(), cfg, hc); !apierrors.IsUnauthorized(err) {
			t.Errorf("probeAPF error = %v, want client-go's Unauthorized", err)
		}
	})
	t.Run("testenv", func(t *testing.T) {
		a, _ := newApplier(t)
		cl, err := a.clients(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !cl.apf {
			t.Error("the test API server runs API Priority and Fairness, but the Applier throttles")
		}
	})
}

// TestApplyProgress: Request.Progress sees every object's result as it is applied (all of
// them, the same results Apply returns), so per-object progress does not wait for the step.
func TestApplyProgress(t *testing.T) {
	a, _ := newApplier(t)
	objs := configMaps(t, "default", "progress", 5, "v")
	var mu sync.Mutex
	var seen []ObjectResult
	res, err := a.Apply(context.Background(), nil, Request{Objects: objs, Namespace: "default", Progress: func(o ObjectResult) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, o)
	}})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(seen, func(i, j int) bool { return seen[i].Name < seen[j].Name })
	if diff := cmp.Diff(res.Objects, seen); diff != "" {
		t.Errorf("progress calls differ from the result (-result +progress):\n%s", diff)
	}
}
