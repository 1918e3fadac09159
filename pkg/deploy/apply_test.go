package deploy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/devtool/devtool/test/testenv"
)

// One real kube-apiserver + etcd for the package (test/testenv), started on first use.
var server *testenv.APIServer

func TestMain(m *testing.M) {
	code := m.Run()
	if server != nil {
		_ = server.Stop()
	}
	if err := node.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping the test node:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

func apiServer(t *testing.T) *testenv.APIServer {
	t.Helper()
	if server != nil {
		return server
	}
	if ok, msg := testenv.Available(); !ok {
		if testenv.Required() {
			t.Fatalf("%s=1 but the test API server is missing: %s", testenv.EnvRequire, msg)
		}
		t.Skipf("test API server not available: %s", msg)
	}
	dir, err := os.MkdirTemp("", "devtool-deploy-apiserver-")
	if err != nil {
		t.Fatal(err)
	}
	s, err := testenv.StartAPIServer(context.Background(), dir, 90*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	server = s
	return s
}

// getter returns kubectl-style connection flags for kubeconfig, with a private discovery cache.
func getter(t *testing.T, kubeconfig string) genericclioptions.RESTClientGetter {
	f := genericclioptions.NewConfigFlags(true)
	f.KubeConfig = &kubeconfig
	cache := filepath.Join(t.TempDir(), "cache")
	f.CacheDir = &cache
	return f
}

func newApplier(t *testing.T) (*Applier, dynamic.Interface) {
	t.Helper()
	s := apiServer(t)
	a, err := New(getter(t, s.Kubeconfig))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", s.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.WarningHandler = rest.NoWarnings{} // tests write deprecated kinds (v1 Endpoints) on purpose
	return a, dynamic.NewForConfigOrDie(cfg)
}

func decode(t *testing.T, text string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := Decode(text, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

var (
	gvrConfigMaps   = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	gvrServices     = schema.GroupVersionResource{Version: "v1", Resource: "services"}
	gvrClusterRoles = schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"}
	gvrGadgets      = schema.GroupVersionResource{Group: "example.devtool.dev", Version: "v1", Resource: "gadgets"}
)

const multiObject = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: deploy-multi}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "127.0.0.1:5000/web:1"}]
---
apiVersion: example.devtool.dev/v1
kind: Gadget
metadata: {name: g1, namespace: deploy-multi}
spec: {size: 3}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: deploy-multi-reader, namespace: ignored-for-cluster-scoped}
rules: [{apiGroups: [""], resources: [configmaps], verbs: [get]}]
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gadgets.example.devtool.dev}
spec:
  group: example.devtool.dev
  scope: Namespaced
  names: {plural: gadgets, singular: gadget, kind: Gadget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, properties: {size: {type: integer}}}
---
apiVersion: v1
kind: Namespace
metadata: {name: deploy-multi}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: defaults-to-dash-n}
data: {k: v}
`

// TestApplyMultiObject applies a CRD, a custom resource of it, a Namespace, a cluster-scoped
// object and namespaced objects (one without a namespace) written in an order that cannot be
// applied as is, to the real API server; a second apply changes nothing.
func TestApplyMultiObject(t *testing.T) {
	a, dyn := newApplier(t)
	ctx := context.Background()
	// Labelled as pkg/run labels every object: an apply that owns no field at all (only a name)
	// leaves no managedFields, and the API server then records a "before-first-apply" manager
	// on the next apply, which changes the resourceVersion once.
	objects := func(text string) []*unstructured.Unstructured {
		objs := decode(t, text)
		SetLabels(objs, map[string]string{"app.kubernetes.io/managed-by": "devtool"})
		return objs
	}
	req := Request{Objects: objects(multiObject), Namespace: "default"}

	res, err := a.Apply(ctx, nil, req)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Kind, Namespace, Name string
		Action                Action
	}
	var got []row
	for _, o := range res.Objects {
		got = append(got, row{o.Kind, o.Namespace, o.Name, o.Action})
		if o.ResourceVersion == "" {
			t.Errorf("%s %s: empty resourceVersion", o.Kind, o.Name)
		}
	}
	want := []row{
		{"Namespace", "", "deploy-multi", Created},
		{"CustomResourceDefinition", "", "gadgets.example.devtool.dev", Created},
		{"Deployment", "deploy-multi", "web", Created},
		{"Gadget", "deploy-multi", "g1", Created},
		{"ClusterRole", "", "deploy-multi-reader", Created},
		{"ConfigMap", "default", "defaults-to-dash-n", Created},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("apply results (-want +got):\n%s", diff)
	}

	g, err := dyn.Resource(gvrGadgets).Namespace("deploy-multi").Get(ctx, "g1", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("custom resource not in the cluster: %v", err)
	}
	if size, _, _ := unstructured.NestedInt64(g.Object, "spec", "size"); size != 3 {
		t.Errorf("Gadget spec.size = %d, want 3", size)
	}
	cm, err := dyn.Resource(gvrConfigMaps).Namespace("default").Get(ctx, "defaults-to-dash-n", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var managers []string
	for _, mf := range cm.GetManagedFields() {
		managers = append(managers, mf.Manager+"/"+string(mf.Operation))
	}
	if diff := cmp.Diff([]string{"devtool/Apply"}, managers); diff != "" {
		t.Errorf("field managers (-want +got):\n%s", diff)
	}
	if _, err := dyn.Resource(gvrClusterRoles).Get(ctx, "deploy-multi-reader", metav1.GetOptions{}); err != nil {
		t.Errorf("cluster-scoped object not applied: %v", err)
	}

	// Second apply: the same objects, nothing changes. resourceVersions are read from the
	// cluster first: the CRD's status (Established) changes after the first apply.
	gvrs := map[string]schema.GroupVersionResource{
		"Namespace": {Version: "v1", Resource: "namespaces"}, "CustomResourceDefinition": gvrCRD,
		"Deployment": {Group: "apps", Version: "v1", Resource: "deployments"}, "Gadget": gvrGadgets,
		"ClusterRole": gvrClusterRoles, "ConfigMap": gvrConfigMaps,
	}
	rvs := map[string]string{}
	for _, o := range res.Objects {
		cur, err := dyn.Resource(gvrs[o.Kind]).Namespace(o.Namespace).Get(ctx, o.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rvs[o.Kind] = cur.GetResourceVersion()
	}
	res2, err := a.Apply(ctx, nil, Request{Objects: objects(multiObject), Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range res2.Objects {
		if o.Action != Unchanged || o.ResourceVersion != rvs[o.Kind] {
			t.Errorf("second apply of %s %s: action %s rv %s, want unchanged rv %s", o.Kind, o.Name, o.Action, o.ResourceVersion, rvs[o.Kind])
		}
	}

	// A change is "configured".
	changed := strings.Replace(multiObject, "size: 3", "size: 4", 1)
	res3, err := a.Apply(ctx, nil, Request{Objects: objects(changed), Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range res3.Objects {
		want := Unchanged
		if o.Kind == "Gadget" {
			want = Configured
		}
		if o.Action != want {
			t.Errorf("third apply of %s %s: %s, want %s", o.Kind, o.Name, o.Action, want)
		}
	}
}

// TestInvalidObjectChangesNothing: one object the API server rejects among valid ones →
// *ValidationError naming it, and nothing is created.
func TestInvalidObjectChangesNothing(t *testing.T) {
	a, dyn := newApplier(t)
	ctx := context.Background()
	objs := decode(t, `apiVersion: v1
kind: ConfigMap
metadata: {name: invalid-batch-cm, namespace: default}
data: {k: v}
---
apiVersion: v1
kind: Service
metadata: {name: invalid-batch-svc, namespace: default}
spec:
  selector: {app: x}
  ports: [{port: 99999}]
---
apiVersion: example.devtool.dev/v1
kind: Nonexistent
metadata: {name: n1, namespace: default}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: in-missing-ns, namespace: no-such-namespace}
`)
	_, err := a.Apply(ctx, nil, Request{Objects: objs, Sources: []string{"c1", "c2", "c3", "c4"}})
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Apply error = %v (%T), want *ValidationError", err, err)
	}
	var got []string
	for _, p := range ve.Problems {
		got = append(got, p.Object+" ("+p.Source+")")
	}
	want := []string{
		"Service v1 default/invalid-batch-svc (c2)",
		"Nonexistent example.devtool.dev/v1 default/n1 (c3)",
		"ConfigMap v1 no-such-namespace/in-missing-ns (c4)",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problems (-want +got):\n%s\nerror: %v", diff, err)
	}
	for _, frag := range []string{"99999", "unknown kind Nonexistent", `namespace "no-such-namespace" does not exist`} {
		if !strings.Contains(err.Error(), frag) {
			t.Errorf("error does not mention %q:\n%v", frag, err)
		}
	}
	if _, err := dyn.Resource(gvrConfigMaps).Namespace("default").Get(ctx, "invalid-batch-cm", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the valid ConfigMap was created (or lookup failed: %v); a batch with an invalid object must change nothing", err)
	}
	if _, err := dyn.Resource(gvrServices).Namespace("default").Get(ctx, "invalid-batch-svc", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the invalid Service exists: %v", err)
	}
}

// TestConflictWithAnotherManager: a field owned by another field manager is a conflict that
// names the manager; --force-conflicts takes it over.
func TestConflictWithAnotherManager(t *testing.T) {
	a, dyn := newApplier(t)
	ctx := context.Background()
	theirs := decode(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: contested, namespace: default}\ndata: {color: blue}\n")[0]
	if _, err := dyn.Resource(gvrConfigMaps).Namespace("default").Apply(ctx, "contested", theirs, metav1.ApplyOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	ours := func() Request {
		return Request{Objects: decode(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: contested, namespace: default}\ndata: {color: red}\n")}
	}
	_, err := a.Apply(ctx, nil, ours())
	var ce *ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("Apply error = %v, want a *ConflictError inside", err)
	}
	if diff := cmp.Diff([]FieldConflict{{Field: ".data.color", Manager: "kubectl-edit"}}, ce.Conflicts); diff != "" {
		t.Errorf("conflicts (-want +got):\n%s", diff)
	}
	if !strings.Contains(err.Error(), "--force-conflicts") {
		t.Errorf("error does not say how to resolve it: %v", err)
	}
	req := ours()
	req.ForceConflicts = true
	if _, err := a.Apply(ctx, nil, req); err != nil {
		t.Fatalf("with ForceConflicts: %v", err)
	}
	cm, err := dyn.Resource(gvrConfigMaps).Namespace("default").Get(ctx, "contested", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c, _, _ := unstructured.NestedString(cm.Object, "data", "color"); c != "red" {
		t.Errorf("data.color = %q after a forced apply, want red", c)
	}
}

// TestDryRunServerChangesNothing: DryRunServer validates and reports Validated only.
func TestDryRunServerChangesNothing(t *testing.T) {
	a, dyn := newApplier(t)
	ctx := context.Background()
	res, err := a.Apply(ctx, nil, Request{DryRun: DryRunServer, Objects: decode(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: dry, namespace: default}\n")})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Objects) != 1 || res.Objects[0].Action != Validated {
		t.Errorf("results = %+v, want one Validated", res.Objects)
	}
	if _, err := dyn.Resource(gvrConfigMaps).Namespace("default").Get(ctx, "dry", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("dry run created the object (or lookup failed: %v)", err)
	}
}

// TestUnreachableCluster: a kubeconfig pointing at a closed port gives a *ClusterError that
// names the server.
func TestUnreachableCluster(t *testing.T) {
	kc := testenv.UnreachableKubeconfig(t, "https://127.0.0.1:1")
	a, err := New(getter(t, kc))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = a.Validate(ctx, Preflight{Request: Request{Objects: decode(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")}})
	var ce *ClusterError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "https://127.0.0.1:1") {
		t.Fatalf("error = %v (%T), want a *ClusterError naming https://127.0.0.1:1", err, err)
	}
}

// TestNoKubeconfig: with nothing configured, the error says so instead of reporting a refused
// connection to client-go's localhost:8080 fallback.
func TestNoKubeconfig(t *testing.T) {
	t.Setenv("KUBECONFIG", "")
	t.Setenv("HOME", t.TempDir())
	a, err := New(genericclioptions.NewConfigFlags(true))
	if err != nil {
		t.Fatal(err)
	}
	err = a.Validate(context.Background(), Preflight{Request: Request{Objects: decode(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")}})
	var ce *ClusterError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "no cluster is configured") {
		t.Fatalf("error = %v (%T), want a *ClusterError saying no cluster is configured", err, err)
	}
}

// TestValidateInNamespaceOfTheRequest: objects in a namespace the request creates cannot be
// dry-run there; objects of the same name that already live in the namespace used instead
// (other field managers, immutable fields) must not make them fail.
func TestValidateInNamespaceOfTheRequest(t *testing.T) {
	a, dyn := newApplier(t)
	ctx := context.Background()
	theirs := decode(t, `apiVersion: v1
kind: ConfigMap
metadata: {name: ns-fallback-cm, namespace: default}
data: {color: blue}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ns-fallback-web, namespace: default}
spec:
  selector: {matchLabels: {app: other}}
  template:
    metadata: {labels: {app: other}}
    spec: {containers: [{name: c, image: "127.0.0.1:5000/other:1"}]}
`)
	gvrs := []schema.GroupVersionResource{gvrConfigMaps, {Group: "apps", Version: "v1", Resource: "deployments"}}
	for i, o := range theirs {
		if _, err := dyn.Resource(gvrs[i]).Namespace("default").Apply(ctx, o.GetName(), o, metav1.ApplyOptions{FieldManager: "someone-else"}); err != nil {
			t.Fatal(err)
		}
	}
	req := Request{Namespace: "default", Objects: decode(t, `apiVersion: v1
kind: Namespace
metadata: {name: deploy-fallback}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: ns-fallback-cm, namespace: deploy-fallback}
data: {color: red}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ns-fallback-web, namespace: deploy-fallback}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: "127.0.0.1:5000/web:1"}]}
`)}
	if err := a.Validate(ctx, Preflight{Request: req}); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	// An invalid object in the new namespace is still caught.
	bad := decode(t, "apiVersion: v1\nkind: Service\nmetadata: {name: ns-fallback-svc, namespace: deploy-fallback}\nspec: {ports: [{port: 99999}]}\n")
	var ve *ValidationError
	if err := a.Validate(ctx, Preflight{Request: Request{Objects: append(req.Objects, bad...)}}); !errors.As(err, &ve) || len(ve.Problems) != 1 || !strings.Contains(ve.Problems[0].Object, "deploy-fallback/ns-fallback-svc") || !strings.Contains(err.Error(), "99999") || !strings.Contains(err.Error(), `Service "ns-fallback-svc" is invalid`) {
		t.Errorf("Validate with an invalid Service = %v, want one problem naming deploy-fallback/ns-fallback-svc", err)
	}
	if _, err := a.Apply(ctx, nil, req); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	cm, err := dyn.Resource(gvrConfigMaps).Namespace("deploy-fallback").Get(ctx, "ns-fallback-cm", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c, _, _ := unstructured.NestedString(cm.Object, "data", "color"); c != "red" {
		t.Errorf("data.color = %q", c)
	}
	if cm, err := dyn.Resource(gvrConfigMaps).Namespace("default").Get(ctx, "ns-fallback-cm", metav1.GetOptions{}); err != nil || cm.Object["data"].(map[string]any)["color"] != "blue" {
		t.Errorf("the ConfigMap in default changed (or: %v)", err)
	}
}

func TestStandInName(t *testing.T) {
	long := strings.Repeat("a", 100)
	for _, name := range []string{"web", strings.Repeat("b", 57), strings.Repeat("c", 63), "abc-" + strings.Repeat("d", 53) + "-e", long} {
		got := StandInName(name)
		if got == name || (len(name) <= 63 && len(got) > 63) || (len(name) > 63 && len(got) != len(name)) {
			t.Errorf("StandInName(%q) = %q", name, got)
		}
		if strings.Contains(got, "--") || strings.HasPrefix(got, "-") {
			t.Errorf("StandInName(%q) = %q: not a DNS label", name, got)
		}
	}
}
