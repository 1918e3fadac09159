package helm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/registry"
	"helm.sh/helm/v4/pkg/repo/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/devtool/devtool/pkg/deploy"
	"github.com/devtool/devtool/test/testenv"
)

// One real kube-apiserver + etcd for the package (test/testenv), started on first use.
var server *testenv.APIServer

func TestMain(m *testing.M) {
	code := m.Run()
	if server != nil {
		_ = server.Stop()
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
	dir, err := os.MkdirTemp("", "devtool-helm-apiserver-")
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

type env struct {
	client *Client
	dyn    dynamic.Interface
	getter genericclioptions.RESTClientGetter
}

// newEnv returns a Client on the package's API server and a namespace of its own.
func newEnv(t *testing.T) (*env, string) {
	t.Helper()
	s := apiServer(t)
	f := genericclioptions.NewConfigFlags(true)
	f.KubeConfig = &s.Kubeconfig
	cache := filepath.Join(t.TempDir(), "cache")
	f.CacheDir = &cache
	c, err := New(f)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", s.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{client: c, dyn: dynamic.NewForConfigOrDie(cfg), getter: f}
	ns := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if len(ns) > 50 {
		ns = ns[:50]
	}
	ns = strings.Trim(ns, "-")
	_, err = e.dyn.Resource(gvrNamespaces).Create(context.Background(), &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns},
	}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	return e, ns
}

var (
	gvrNamespaces  = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	gvrConfigMaps  = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	gvrSecrets     = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	gvrDeployments = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
)

// Templates of the test chart: a ConfigMap holding .Values.message and a Deployment running
// .Values.image, named after the release.
const (
	configMapTemplate = `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-config
  labels:
    app.kubernetes.io/name: {{ .Chart.Name }}
data:
  message: {{ .Values.message | quote }}
`
	deploymentTemplate = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels: {app: {{ .Release.Name }}}
  template:
    metadata:
      labels: {app: {{ .Release.Name }}}
    spec:
      containers:
      - name: web
        image: {{ .Values.image }}
`
	defaultValues = "message: hello\nreplicas: 1\nimage: web:latest\n"
)

// writeChart writes a chart directory dir/name with Chart.yaml, values.yaml and templates.
func writeChart(t *testing.T, dir, name, version string, files map[string]string) string {
	t.Helper()
	cd := filepath.Join(dir, name)
	all := map[string]string{
		"Chart.yaml":                fmt.Sprintf("apiVersion: v2\nname: %s\nversion: %s\nappVersion: \"1.0\"\n", name, version),
		"values.yaml":               defaultValues,
		"templates/configmap.yaml":  configMapTemplate,
		"templates/deployment.yaml": deploymentTemplate,
	}
	for n, c := range files {
		if c == "" {
			delete(all, n)
			continue
		}
		all[n] = c
	}
	for n, c := range all {
		p := filepath.Join(cd, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return cd
}

// packageChart packages the chart directory into outDir and returns the .tgz path.
func packageChart(t *testing.T, chartDir, outDir string) string {
	t.Helper()
	ch, err := loader.LoadDir(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	p, err := chartutil.Save(ch, outDir)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// chartRepo serves a chart repository on loopback: index.yaml and the packaged charts of dir.
func chartRepo(t *testing.T, charts ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, c := range charts {
		packageChart(t, c, dir)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	idx, err := repo.IndexDirectory(dir, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if err := idx.WriteFile(filepath.Join(dir, "index.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	return srv.URL
}

// pushChart pushes the packaged chart to oci://host/charts/<name>:<version> with Helm's
// registry client, and returns the oci:// reference without the tag.
func pushChart(t *testing.T, host, tgz string) string {
	t.Helper()
	data, err := os.ReadFile(tgz)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := loader.LoadArchive(strings.NewReader(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := registry.NewClient(registry.ClientOptPlainHTTP(), registry.ClientOptWriter(io.Discard), registry.ClientOptCredentialsFile(filepath.Join(t.TempDir(), "config.json")))
	if err != nil {
		t.Fatal(err)
	}
	ref := fmt.Sprintf("%s/charts/%s:%s", host, ch.Metadata.Name, ch.Metadata.Version)
	if _, err := rc.Push(data, ref); err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
	return "oci://" + host + "/charts/" + ch.Metadata.Name
}

var projectLabels = map[string]string{"devtool.dev/inventory": "applyset-test-v1", "devtool.dev/project": "test"}

func upgradeReq(ch *Chart, ns string, values map[string]any) UpgradeRequest {
	return UpgradeRequest{Chart: ch, Release: ReleaseRef{Name: "web", Namespace: ns}, Values: values,
		PostRender:    PostRenderer{Labels: map[string]string{"devtool.dev/project": "test"}, Images: map[string]string{"web": "127.0.0.1:5000/web:t@sha256:" + strings.Repeat("a", 64)}},
		ReleaseLabels: projectLabels}
}

func load(t *testing.T, src Source) *Chart {
	t.Helper()
	ch, err := NewLoader().Load(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func (e *env) get(t *testing.T, gvr schema.GroupVersionResource, ns, name string) *unstructured.Unstructured {
	t.Helper()
	o, err := e.dyn.Resource(gvr).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// releaseSecrets are the names of the Helm release records in ns.
func (e *env) releaseSecrets(t *testing.T, ns string) []string {
	t.Helper()
	l, err := e.dyn.Resource(gvrSecrets).Namespace(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "owner=helm"})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range l.Items {
		out = append(out, s.GetName())
	}
	return out
}

func actions(objs []deploy.ObjectResult) map[string]deploy.Action {
	out := map[string]deploy.Action{}
	for _, o := range objs {
		out[o.Kind+"/"+o.Name] = o.Action
	}
	return out
}

// TestReleaseLifecycle: install, upgrade with changed values (revision 2, the ConfigMap
// changed, the Deployment running the pinned image and carrying Helm's ownership metadata and
// devtool's label), the same upgrade again changes nothing (revision stays 2), diff shows no
// difference, list finds the release by its labels, uninstall leaves no release record and
// no object.
func TestReleaseLifecycle(t *testing.T) {
	e, ns := newEnv(t)
	ctx := context.Background()
	ch := load(t, Source{Chart: writeChart(t, t.TempDir(), "hello", "0.1.0", nil)})

	req := upgradeReq(ch, ns, map[string]any{"message": "one"})
	rel, err := e.client.UpgradeRelease(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if rel.Action != Installed || rel.Revision != 1 || rel.Status != "deployed" || rel.Chart != "hello-0.1.0" {
		t.Fatalf("install: %+v", rel)
	}
	if diff := cmp.Diff(map[string]deploy.Action{"ConfigMap/web-config": deploy.Created, "Deployment/web": deploy.Created}, actions(rel.Objects)); diff != "" {
		t.Errorf("install objects (-want +got):\n%s", diff)
	}
	dep := e.get(t, gvrDeployments, ns, "web")
	if dep == nil {
		t.Fatal("no Deployment")
	}
	containers, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
	image := containers[0].(map[string]any)["image"].(string)
	if want := req.PostRender.Images["web"]; image != want {
		t.Errorf("image = %q, want the pinned %q", image, want)
	}
	if l := dep.GetLabels(); l["devtool.dev/project"] != "test" || l[LabelManagedBy] != ManagedByHelm {
		t.Errorf("labels = %v, want devtool.dev/project=test and managed-by=Helm", l)
	}
	if a := dep.GetAnnotations(); a[AnnotationReleaseName] != "web" || a[AnnotationReleaseNamespace] != ns {
		t.Errorf("annotations = %v, want the release's", a)
	}

	req.Values = map[string]any{"message": "two"}
	rel, err = e.client.UpgradeRelease(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if rel.Action != Upgraded || rel.Revision != 2 {
		t.Fatalf("upgrade: %+v", rel)
	}
	if diff := cmp.Diff(map[string]deploy.Action{"ConfigMap/web-config": deploy.Configured, "Deployment/web": deploy.Unchanged}, actions(rel.Objects)); diff != "" {
		t.Errorf("upgrade objects (-want +got):\n%s", diff)
	}
	if msg, _, _ := unstructured.NestedString(e.get(t, gvrConfigMaps, ns, "web-config").Object, "data", "message"); msg != "two" {
		t.Errorf("message = %q after the upgrade", msg)
	}

	rel, err = e.client.UpgradeRelease(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if rel.Action != Unchanged || rel.Revision != 2 {
		t.Fatalf("second upgrade with nothing changed: %+v, want unchanged at revision 2", rel)
	}
	// Dry runs change nothing: the server one runs Helm's dry run, the client one renders.
	for _, mode := range []deploy.DryRun{deploy.DryRunServer, deploy.DryRunClient} {
		dry := req
		dry.Values, dry.DryRun = map[string]any{"message": "dry"}, mode
		rel, err = e.client.UpgradeRelease(ctx, dry)
		if err != nil {
			t.Fatal(err)
		}
		if rel.Action != Validated || rel.Revision != 2 || len(rel.Objects) != 2 || rel.Objects[0].Action != deploy.Validated {
			t.Errorf("--dry-run=%s: %+v", mode, rel)
		}
	}
	if msg, _, _ := unstructured.NestedString(e.get(t, gvrConfigMaps, ns, "web-config").Object, "data", "message"); msg != "two" || len(e.releaseSecrets(t, ns)) != 2 {
		t.Errorf("a dry run changed the release (message %q, records %v)", msg, e.releaseSecrets(t, ns))
	}

	rendered, err := ch.Render(ctx, RenderRequest{Name: "web", Namespace: ns, Values: req.Values, PostRender: req.PostRender})
	if err != nil {
		t.Fatal(err)
	}
	diffs, err := e.client.DiffRelease(ctx, DiffRequest{CheckRequest{Release: req.Release, Rendered: rendered, ReleaseLabels: projectLabels}})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diffs {
		if d.Action != deploy.Unchanged {
			t.Errorf("diff after the upgrade: %s %s %s\n%s", d.Kind, d.Name, d.Action, d.Diff)
		}
	}
	if len(diffs) != 2 {
		t.Errorf("diff compared %d objects, want 2", len(diffs))
	}
	rendered2, err := ch.Render(ctx, RenderRequest{Name: "web", Namespace: ns, Values: map[string]any{"message": "three"}, PostRender: req.PostRender})
	if err != nil {
		t.Fatal(err)
	}
	diffs, err = e.client.DiffRelease(ctx, DiffRequest{CheckRequest{Release: req.Release, Rendered: rendered2, ReleaseLabels: projectLabels}})
	if err != nil {
		t.Fatal(err)
	}
	if got := actions(objectResults(diffs)); got["ConfigMap/web-config"] != deploy.Changed || !strings.Contains(diffs[0].Diff+diffs[1].Diff, "+  message: three") {
		t.Errorf("diff with a changed value: %v\n%s%s", got, diffs[0].Diff, diffs[1].Diff)
	}

	list, err := e.client.ListReleases(ctx, ListRequest{Labels: projectLabels})
	if err != nil {
		t.Fatal(err)
	}
	var found *Release
	for i := range list {
		if list[i].ReleaseRef == req.Release {
			found = &list[i]
		}
	}
	if found == nil || found.Revision != 2 || found.Status != "deployed" {
		t.Fatalf("ListReleases = %+v, want %s at revision 2", list, req.Release)
	}

	rel, err = e.client.UninstallRelease(ctx, UninstallRequest{Release: req.Release, ReleaseLabels: projectLabels})
	if err != nil {
		t.Fatal(err)
	}
	if rel.Action != Uninstalled || len(rel.Objects) != 2 {
		t.Errorf("uninstall: %+v", rel)
	}
	if s := e.releaseSecrets(t, ns); len(s) != 0 {
		t.Errorf("release records left: %v", s)
	}
	if e.get(t, gvrDeployments, ns, "web") != nil || e.get(t, gvrConfigMaps, ns, "web-config") != nil {
		t.Error("objects left after the uninstall")
	}
}

func objectResults(diffs []deploy.ObjectDiff) []deploy.ObjectResult {
	var out []deploy.ObjectResult
	for _, d := range diffs {
		out = append(out, deploy.ObjectResult{Kind: d.Kind, Name: d.Name, Action: d.Action})
	}
	return out
}

// TestChartSources: a chart directory, a packaged .tgz, an oci:// reference (loopback
// registry), a chart repository (loopback index.yaml, version constraint), and a chart
// directory whose dependency is only in its Chart.lock (fetched from the repository, nothing
// written into the chart) all load and install.
func TestChartSources(t *testing.T) {
	e, ns := newEnv(t)
	ctx := context.Background()
	charts := t.TempDir()
	hello := writeChart(t, charts, "hello", "0.1.0", nil)
	hello2 := writeChart(t, t.TempDir(), "hello", "0.2.0", nil)
	tgz := packageChart(t, hello, t.TempDir())
	host := testenv.StartRegistry(t)
	ociRef := pushChart(t, host, tgz)
	pushChart(t, host, packageChart(t, hello2, t.TempDir()))
	repoURL := chartRepo(t, hello, hello2)
	parent := writeChart(t, charts, "parent", "1.0.0", map[string]string{
		"Chart.yaml":                "apiVersion: v2\nname: parent\nversion: 1.0.0\ndependencies:\n- name: hello\n  version: \"~0.1\"\n  repository: " + repoURL + "\n",
		"Chart.lock":                "dependencies:\n- name: hello\n  repository: " + repoURL + "\n  version: 0.1.0\ndigest: sha256:0000\ngenerated: \"2026-01-01T00:00:00Z\"\n",
		"templates/configmap.yaml":  "",
		"templates/deployment.yaml": "",
		"templates/parent.yaml":     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: parent}\ndata: {child: {{ .Values.hello.message | quote }}}\n",
		"values.yaml":               "hello:\n  message: from-parent\n",
	})
	for _, tc := range []struct {
		name        string
		src         Source
		wantVersion string
		wantObjects []string
	}{
		{"dir", Source{Chart: hello}, "0.1.0", []string{"ConfigMap/dir-config", "Deployment/dir"}},
		{"tgz", Source{Chart: tgz}, "0.1.0", []string{"ConfigMap/tgz-config", "Deployment/tgz"}},
		{"oci", Source{Chart: ociRef, Version: "0.1.0"}, "0.1.0", []string{"ConfigMap/oci-config", "Deployment/oci"}},
		{"oci-latest", Source{Chart: ociRef}, "0.2.0", []string{"ConfigMap/oci-latest-config", "Deployment/oci-latest"}},
		{"repo", Source{Chart: "hello", Repo: repoURL, Version: "^0.1"}, "0.1.0", []string{"ConfigMap/repo-config", "Deployment/repo"}},
		{"lock", Source{Chart: parent, Root: charts}, "1.0.0", []string{"ConfigMap/lock-config", "ConfigMap/parent", "Deployment/lock"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := load(t, tc.src)
			if ch.Version != tc.wantVersion {
				t.Errorf("version = %s, want %s", ch.Version, tc.wantVersion)
			}
			req := upgradeReq(ch, ns, nil)
			req.Release.Name = tc.name
			rel, err := e.client.UpgradeRelease(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range rel.Objects {
				got = append(got, o.Kind+"/"+o.Name)
				if o.Action != deploy.Created {
					t.Errorf("%s/%s %s, want created", o.Kind, o.Name, o.Action)
				}
			}
			if diff := cmp.Diff(tc.wantObjects, got); diff != "" {
				t.Errorf("objects (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(parent, "charts")); !os.IsNotExist(err) {
		t.Errorf("the Chart.lock dependency was written into the chart directory (%v)", err)
	}
	if cm := e.get(t, gvrConfigMaps, ns, "parent"); cm == nil || cm.Object["data"].(map[string]any)["child"] != "from-parent" {
		t.Errorf("parent ConfigMap = %v", cm)
	}
}

// TestLoadErrors: what a chart source can get wrong is a *ChartError naming the chart.
func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	hello := writeChart(t, dir, "hello", "0.1.0", nil)
	noLock := writeChart(t, dir, "nolock", "1.0.0", map[string]string{"Chart.yaml": "apiVersion: v2\nname: nolock\nversion: 1.0.0\ndependencies:\n- {name: hello, version: 0.1.0, repository: \"https://charts.example\"}\n"})
	repoURL := chartRepo(t, hello)
	outside := writeChart(t, t.TempDir(), "outside", "0.1.0", nil)
	for _, tc := range []struct {
		name string
		src  Source
		want string
	}{
		{"missing", Source{Chart: filepath.Join(dir, "nope")}, "does not exist"},
		{"not a chart", Source{Chart: dir}, "not a chart directory"},
		{"version", Source{Chart: hello, Version: "2.0.0"}, "the devfile asks for 2.0.0"},
		{"no lock", Source{Chart: noLock}, "helm dependency update"},
		{"repo chart", Source{Chart: "nope", Repo: repoURL}, `has no chart "nope"`},
		{"repo version", Source{Chart: "hello", Repo: repoURL, Version: "9.9.9"}, "has no version 9.9.9"},
		{"outside", Source{Chart: outside, Root: dir}, "outside the project directory"},
		{"http", Source{Chart: "hello", Repo: "http://charts.example.com"}, "plain http is allowed only for loopback"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewLoader().Load(context.Background(), tc.src)
			var ce *ChartError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want a *ChartError containing %q", err, tc.want)
			}
		})
	}
}

// TestBadChartsChangeNothing: a template that fails does not render; a rendered object the
// API server refuses fails the check, which names it; an object that exists without the
// release's ownership metadata is refused (an *deploy.OwnershipError) unless adopted; and
// nothing was created by any of them.
func TestBadChartsChangeNothing(t *testing.T) {
	e, ns := newEnv(t)
	ctx := context.Background()
	failing := load(t, Source{Chart: writeChart(t, t.TempDir(), "failing", "0.1.0", map[string]string{"templates/bad.yaml": "{{ fail \"this chart refuses\" }}"})})
	_, err := failing.Render(ctx, RenderRequest{Name: "bad", Namespace: ns})
	var re *RenderError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "this chart refuses") {
		t.Fatalf("render of a failing template: %v, want a *RenderError", err)
	}

	invalid := load(t, Source{Chart: writeChart(t, t.TempDir(), "invalid", "0.1.0", map[string]string{"templates/bad.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bad}\ndata: {a: 1}\nbogus: field\n"})})
	r, err := invalid.Render(ctx, RenderRequest{Name: "invalid", Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	err = e.client.CheckRelease(ctx, CheckRequest{Release: ReleaseRef{Name: "invalid", Namespace: ns}, Rendered: r, ReleaseLabels: projectLabels})
	var ve *deploy.ValidationError
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), "ConfigMap v1 "+ns+"/bad") {
		t.Fatalf("check of an invalid object: %v, want a *deploy.ValidationError naming it", err)
	}

	// An object made by someone else (kubectl) that the chart also renders.
	_, err = e.dyn.Resource(gvrConfigMaps).Namespace(ns).Create(ctx, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "taken-config"}, "data": map[string]any{"message": "mine"},
	}}, metav1.CreateOptions{FieldManager: "kubectl-create"})
	if err != nil {
		t.Fatal(err)
	}
	hello := load(t, Source{Chart: writeChart(t, t.TempDir(), "hello", "0.1.0", nil)})
	r, err = hello.Render(ctx, RenderRequest{Name: "taken", Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	cr := CheckRequest{Release: ReleaseRef{Name: "taken", Namespace: ns}, Rendered: r, ReleaseLabels: projectLabels}
	err = e.client.CheckRelease(ctx, cr)
	var oe *deploy.OwnershipError
	if !errors.As(err, &oe) || len(oe.Objects) != 1 || !strings.Contains(oe.Objects[0].Owner.String(), "kubectl-create") {
		t.Fatalf("check over a foreign object: %v, want a *deploy.OwnershipError naming its manager", err)
	}
	// Adopting does not take fields another manager set to another value: that is
	// ForceConflicts.
	cr.Adopt = true
	var ce *deploy.ConflictError
	if err := e.client.CheckRelease(ctx, cr); !errors.As(err, &ce) || !strings.Contains(err.Error(), "taken-config (chart hello-0.1.0: hello/templates/configmap.yaml): fields owned by another field manager: .data.message") {
		t.Fatalf("check with Adopt: %v, want a conflict on .data.message", err)
	}
	cr.ForceConflicts = true
	if err := e.client.CheckRelease(ctx, cr); err != nil {
		t.Fatalf("check with Adopt and ForceConflicts: %v", err)
	}
	if s := e.releaseSecrets(t, ns); len(s) != 0 {
		t.Errorf("release records created: %v", s)
	}
	if e.get(t, gvrConfigMaps, ns, "bad") != nil || e.get(t, gvrDeployments, ns, "taken") != nil {
		t.Error("a check created objects")
	}
	// The namespace must exist.
	err = e.client.CheckRelease(ctx, CheckRequest{Release: ReleaseRef{Name: "taken", Namespace: "no-such-ns"}, Rendered: r, ReleaseLabels: projectLabels})
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), `namespace "no-such-ns" does not exist`) {
		t.Fatalf("check in a missing namespace: %v", err)
	}
}

// TestReleaseOwnership: a release that exists without this project's labels (installed by
// the helm command, another tool or project) is refused by the check and the upgrade, and
// taken over with Adopt (which adds the labels); uninstall leaves it alone without the labels.
func TestReleaseOwnership(t *testing.T) {
	e, ns := newEnv(t)
	ctx := context.Background()
	ch := load(t, Source{Chart: writeChart(t, t.TempDir(), "hello", "0.1.0", nil)})
	theirs := upgradeReq(ch, ns, nil)
	theirs.ReleaseLabels = nil // as `helm install` makes it
	if _, err := e.client.UpgradeRelease(ctx, theirs); err != nil {
		t.Fatal(err)
	}
	req := upgradeReq(ch, ns, nil)
	r, err := ch.Render(ctx, RenderRequest{Name: "web", Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	var oe *OwnershipError
	if err := e.client.CheckRelease(ctx, CheckRequest{Release: req.Release, Rendered: r, ReleaseLabels: projectLabels}); !errors.As(err, &oe) {
		t.Fatalf("check: %v, want an *OwnershipError", err)
	}
	if _, err := e.client.UpgradeRelease(ctx, req); !errors.As(err, &oe) || !strings.Contains(err.Error(), "--adopt") {
		t.Fatalf("upgrade: %v, want an *OwnershipError suggesting --adopt", err)
	}
	rel, err := e.client.UninstallRelease(ctx, UninstallRequest{Release: req.Release, ReleaseLabels: projectLabels})
	if err != nil || rel.Action != Kept {
		t.Fatalf("uninstall of someone else's release: %+v, %v; want kept", rel, err)
	}
	req.Adopt = true
	rel, err = e.client.UpgradeRelease(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if rel.Action != Upgraded || rel.Revision != 2 {
		t.Fatalf("adopting upgrade: %+v", rel)
	}
	req.Adopt = false
	if rel, err = e.client.UpgradeRelease(ctx, req); err != nil || rel.Action != Unchanged {
		t.Fatalf("after adoption the release is the project's: %+v, %v", rel, err)
	}
}

// TestRenderHooksAndCRDs: render returns the chart's crds/ apart (not post-rendered), the
// release's objects with Helm's ownership metadata and the post-renderer's label and pins,
// and the hooks (test hooks left out), pinned as well.
func TestRenderHooksAndCRDs(t *testing.T) {
	ch := load(t, Source{Chart: writeChart(t, t.TempDir(), "hooks", "0.1.0", map[string]string{
		"crds/widget.yaml":    "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.devtool.dev}\nspec:\n  group: example.devtool.dev\n  names: {kind: Widget, plural: widgets}\n  scope: Namespaced\n  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}]\n",
		"templates/hook.yaml": "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\n  annotations: {helm.sh/hook: pre-install}\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: m, image: web}]\n",
		"templates/test.yaml": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: test\n  annotations: {helm.sh/hook: test}\nspec: {containers: [{name: t, image: web}]}\n",
	})})
	pin := "127.0.0.1:5000/web:t@sha256:" + strings.Repeat("b", 64)
	r, err := ch.Render(context.Background(), RenderRequest{Name: "h", Namespace: "demo", PostRender: PostRenderer{Images: map[string]string{"web": pin}, Labels: map[string]string{"devtool.dev/project": "p"}}})
	if err != nil {
		t.Fatal(err)
	}
	names := func(objs []*unstructured.Unstructured) []string {
		var out []string
		for _, o := range objs {
			out = append(out, o.GetKind()+"/"+o.GetName())
		}
		return out
	}
	if diff := cmp.Diff([]string{"CustomResourceDefinition/widgets.example.devtool.dev"}, names(r.CRDs)); diff != "" {
		t.Errorf("CRDs (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"ConfigMap/h-config", "Deployment/h"}, names(r.Objects)); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"Job/migrate"}, names(r.Hooks)); diff != "" {
		t.Errorf("hooks (-want +got):\n%s", diff)
	}
	for _, o := range append(append([]*unstructured.Unstructured{}, r.Objects...), r.Hooks...) {
		if o.GetLabels()["devtool.dev/project"] != "p" {
			t.Errorf("%s/%s labels = %v", o.GetKind(), o.GetName(), o.GetLabels())
		}
	}
	if r.Objects[0].GetLabels()[LabelManagedBy] != ManagedByHelm || r.Objects[0].GetAnnotations()[AnnotationReleaseNamespace] != "demo" {
		t.Errorf("objects lack Helm's ownership metadata: %v %v", r.Objects[0].GetLabels(), r.Objects[0].GetAnnotations())
	}
	if !strings.Contains(fmt.Sprint(r.Hooks[0].Object), pin) || !strings.Contains(fmt.Sprint(r.Objects[1].Object), pin) {
		t.Error("images not pinned in the hook and the Deployment")
	}
	if _, ok := r.CRDs[0].GetLabels()["devtool.dev/project"]; ok {
		t.Error("the crds/ file was post-rendered (Helm does not)")
	}
}
