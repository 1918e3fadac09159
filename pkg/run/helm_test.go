package run

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/devtool/devtool/pkg/build"
	"github.com/devtool/devtool/pkg/deploy"
	"github.com/devtool/devtool/pkg/deploy/helm"
	"github.com/devtool/devtool/pkg/devfile"
	"github.com/devtool/devtool/pkg/plan"
)

// helmCluster is a fakeDeployer with Helm releases: it records the checks, upgrades and
// uninstalls, and lists the releases it was given.
type helmCluster struct {
	*fakeDeployer
	hmu        sync.Mutex
	order      *[]string // shared with the builder: what happened, in order
	checks     []helm.CheckRequest
	upgrades   []helm.UpgradeRequest
	uninstalls []helm.UninstallRequest
	checkErr   error
	existing   []helm.Release
}

func (c *helmCluster) note(s string) {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	if c.order != nil {
		*c.order = append(*c.order, s)
	}
}

func (c *helmCluster) CheckRelease(ctx context.Context, req helm.CheckRequest) error {
	c.note("check " + req.Release.String())
	c.hmu.Lock()
	defer c.hmu.Unlock()
	c.checks = append(c.checks, req)
	return c.checkErr
}

func (c *helmCluster) UpgradeRelease(ctx context.Context, req helm.UpgradeRequest) (helm.Release, error) {
	c.note("upgrade " + req.Release.String())
	c.hmu.Lock()
	defer c.hmu.Unlock()
	c.upgrades = append(c.upgrades, req)
	return helm.Release{ReleaseRef: req.Release, Chart: req.Chart.String(), Revision: 1, Status: "deployed", Action: helm.Installed,
		Objects: []deploy.ObjectResult{{APIVersion: "apps/v1", Kind: "Deployment", Namespace: req.Release.Namespace, Name: "web", Action: deploy.Created}}}, nil
}

func (c *helmCluster) ListReleases(ctx context.Context, req helm.ListRequest) ([]helm.Release, error) {
	c.note("list")
	return c.existing, nil
}

func (c *helmCluster) UninstallRelease(ctx context.Context, req helm.UninstallRequest) (helm.Release, error) {
	c.note("uninstall " + req.Release.String())
	c.hmu.Lock()
	defer c.hmu.Unlock()
	c.uninstalls = append(c.uninstalls, req)
	return helm.Release{ReleaseRef: req.Release, Action: helm.Uninstalled, Objects: []deploy.ObjectResult{{APIVersion: "v1", Kind: "ConfigMap", Namespace: req.Release.Namespace, Name: "old", Action: deploy.Deleted}}}, nil
}

const chartDeployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: main, image: {{ .Values.image | quote }}}
      - {name: sidecar, image: app}
`

// helmProject is an image component "app" and a Helm component "web" whose chart runs
// .Values.image (the devfile passes {{CONTAINER_IMAGE}}) and, in a sidecar, "app" (pinned by
// the image-name-as-selector rule); values come from a values file and the devfile.
func helmProject(t *testing.T, helmBlock string) (*devfile.Devfile, *plan.Plan) {
	t.Helper()
	if helmBlock == "" {
		helmBlock = `helm:
      chart: ./chart
      namespace: "{{NS}}"
      valuesFiles: [dev-values.yaml]
      values: {image: "{{CONTAINER_IMAGE}}", greeting: "hi {{WHO}}"}`
	}
	return project(t, map[string]string{
		"devfile.yaml": `schemaVersion: 2.2.0
metadata: {name: shop}
variables: {NS: shop-ns, WHO: you}
components:
  - name: app
    image: {imageName: app, dockerfile: {uri: Dockerfile, buildContext: .}}
  - name: web
    ` + helmBlock + `
commands:
  - id: build
    apply: {component: app}
  - id: chart
    apply: {component: web}
  - id: deploy
    composite: {commands: [build, chart], group: {kind: deploy, isDefault: true}}
`,
		"Dockerfile":                      "FROM scratch\n",
		"dev-values.yaml":                 "replicas: 2\ngreeting: from file\n",
		"chart/Chart.yaml":                "apiVersion: v2\nname: web\nversion: 0.1.0\n",
		"chart/values.yaml":               "image: nginx\n",
		"chart/templates/deployment.yaml": chartDeployment,
		"chart/templates/fail.yaml":       "{{ if .Values.fail }}{{ fail \"asked to fail\" }}{{ end }}\n",
		"chart/templates/config.yaml":     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {greeting: {{ .Values.greeting | quote }}, replicas: {{ .Values.replicas | quote }}}\n",
	})
}

func containerImages(t *testing.T, objs []*unstructured.Unstructured) []string {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() != "Deployment" {
			continue
		}
		cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
		var out []string
		for _, c := range cs {
			out = append(out, c.(map[string]any)["image"].(string))
		}
		return out
	}
	t.Fatal("no Deployment")
	return nil
}

// TestDeployHelm: the helm step is prepared (rendered) once; the preflight checks the release
// with its objects before anything is built, images shown unpinned; the upgrade gets the
// user's values (values file, then the devfile's, variables substituted) with
// {{CONTAINER_IMAGE}} pinned to the built image, the selector pin for "app", the project
// label for objects and the inventory labels for the release; the report lists the release
// and its objects, which are not handed to the inventory's commit.
func TestDeployHelm(t *testing.T) {
	d, p := helmProject(t, "")
	var order []string
	b := &fakeBuilder{}
	dep := &helmCluster{fakeDeployer: &fakeDeployer{}, order: &order}
	var pp *prepared
	a := NewDeploy(&Configuration{Builder: noteBuilder{b, dep}}, dep)
	a.Namespace = "team"
	a.prepared = func(x *prepared) { pp = x }
	rep, err := a.Run(context.Background(), Project{Devfile: d, ImageRegistry: "127.0.0.1:5000/me"}, p)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"check shop-ns/web", "build app", "upgrade shop-ns/web"}, order); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
	if pp.renders["chart"] != 1 {
		t.Errorf("the chart was rendered %d times, want once", pp.renders["chart"])
	}
	built := rep.Images[0].Ref()
	check := dep.checks[0]
	if diff := cmp.Diff([]string{"127.0.0.1:5000/me/shop-app", "127.0.0.1:5000/me/shop-app"}, containerImages(t, check.Rendered.Objects)); diff != "" {
		t.Errorf("checked images (-want +got):\n%s", diff)
	}
	up := dep.upgrades[0]
	set := applySetFor(d, "team", "")
	if diff := cmp.Diff(map[string]string{LabelInventory: set.ID(), LabelProject: "shop"}, up.ReleaseLabels); diff != "" {
		t.Errorf("release labels (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]any{"image": built, "greeting": "hi you", "replicas": float64(2)}, up.Values); diff != "" {
		t.Errorf("values (-want +got):\n%s", diff)
	}
	if up.PostRender.Images["app"] != built || up.PostRender.Labels[LabelProject] != "shop" {
		t.Errorf("post-renderer = %+v, want app pinned to %s", up.PostRender, built)
	}
	if len(rep.Releases) != 1 || rep.Releases[0].Component != "web" || rep.Releases[0].Action != helm.Installed {
		t.Errorf("report releases = %+v", rep.Releases)
	}
	if len(rep.Objects) != 1 || rep.Objects[0].Kind != "Deployment" {
		t.Errorf("report objects = %+v, want the release's", rep.Objects)
	}
	if len(dep.finished) != 0 {
		t.Errorf("the inventory was committed with %v: a deploy without manifests has none", dep.finished)
	}
}

// noteBuilder notes each build in the helmCluster's order.
type noteBuilder struct {
	*fakeBuilder
	c *helmCluster
}

func (n noteBuilder) Build(ctx context.Context, req build.Request, log io.Writer) (build.Result, error) {
	n.c.note("build " + req.Name)
	return n.fakeBuilder.Build(ctx, req, log)
}

// TestDeployHelmCheckFails: a release the cluster refuses stops the deploy before anything is
// built or upgraded.
func TestDeployHelmCheckFails(t *testing.T) {
	d, p := helmProject(t, "")
	b := &fakeBuilder{}
	dep := &helmCluster{fakeDeployer: &fakeDeployer{}, checkErr: &deploy.ValidationError{Problems: []deploy.ObjectProblem{{Object: "Service v1 shop-ns/web", Message: "port out of range"}}}}
	_, err := NewDeploy(&Configuration{Builder: b}, dep).Run(context.Background(), Project{Devfile: d, ImageRegistry: "127.0.0.1:5000/me"}, p)
	var pe *PreflightError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), `component "web"`) {
		t.Fatalf("error = %v, want a *PreflightError naming the component", err)
	}
	if len(b.calls) != 0 || len(dep.upgrades) != 0 {
		t.Errorf("built %d images and upgraded %d releases after a failed check", len(b.calls), len(dep.upgrades))
	}
}

// TestHelmSpellingsRenderTheSame: the two spellings give the same plan kinds and the same
// rendered objects.
func TestHelmSpellingsRenderTheSame(t *testing.T) {
	d1, p1 := helmProject(t, "")
	d2, p2 := helmProject(t, `custom:
      componentClass: helm
      embeddedResource:
        chart: ./chart
        namespace: "{{NS}}"
        valuesFiles: [dev-values.yaml]
        values: {image: "{{CONTAINER_IMAGE}}", greeting: "hi {{WHO}}"}`)
	if diff := cmp.Diff(p1, p2); diff != "" {
		t.Errorf("plans differ (-helm +custom):\n%s", diff)
	}
	r1, _, err := NewRender(&Configuration{}).Run(context.Background(), Project{Devfile: d1}, p1)
	if err != nil {
		t.Fatal(err)
	}
	r2, _, err := NewRender(&Configuration{}).Run(context.Background(), Project{Devfile: d2}, p2)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r1, r2); diff != "" {
		t.Errorf("renders differ (-helm +custom):\n%s", diff)
	}
	if len(r1) != 1 || len(r1[0].Objects) != 2 || r1[0].Step != "chart" {
		t.Fatalf("render = %+v, want the chart's two objects", r1)
	}
	if got := containerImages(t, r1[0].Objects); !cmp.Equal(got, []string{"app", "app"}) {
		t.Errorf("rendered images = %v, want the image as written (no registry)", got)
	}
}

// TestHelmInputsConfined: the chart and values files are read from the project only (unless
// --allow-outside-project); a chart that does not render names the component.
func TestHelmInputsConfined(t *testing.T) {
	for _, tc := range []struct {
		name, block, want string
	}{
		{"values file outside", "helm: {chart: ./chart, valuesFiles: [../../etc/values.yaml]}", "valuesFiles[0]"},
		{"chart outside", "helm: {chart: ../chart}", "chart"},
		{"missing chart", "helm: {chart: ./nochart}", "does not exist"},
		{"template fails", "helm: {chart: ./chart, values: {fail: true}}", `component "web": rendering chart web-0.1.0: `},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, p := helmProject(t, tc.block)
			_, _, err := NewRender(&Configuration{}).Run(context.Background(), Project{Devfile: d}, p)
			var ie *InputError
			if !errors.As(err, &ie) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want an *InputError containing %q", err, tc.want)
			}
			if strings.Contains(tc.name, "outside") {
				var oe *OutsideProjectError
				if !errors.As(err, &oe) {
					t.Errorf("error = %v, want an *OutsideProjectError", err)
				}
			}
		})
	}
}

// TestPruneAndUndeployReleases: deploy --prune uninstalls the project's releases (found by
// its labels) that no helm step installs, before the inventory commit; undeploy uninstalls
// them all before deleting the inventory's members.
func TestPruneAndUndeployReleases(t *testing.T) {
	d, p := helmProject(t, "")
	var order []string
	stale := helm.Release{ReleaseRef: helm.ReleaseRef{Name: "old", Namespace: "shop-ns"}}
	current := helm.Release{ReleaseRef: helm.ReleaseRef{Name: "web", Namespace: "shop-ns"}}
	dep := &helmCluster{fakeDeployer: &fakeDeployer{}, order: &order, existing: []helm.Release{current, stale}}
	a := NewDeploy(&Configuration{Builder: &fakeBuilder{}}, dep)
	a.Prune = true
	rep, err := a.Run(context.Background(), Project{Devfile: d, ImageRegistry: "127.0.0.1:5000/me"}, p)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"check shop-ns/web", "upgrade shop-ns/web", "list", "uninstall shop-ns/old"}, order); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
	if len(rep.Releases) != 2 || rep.Releases[1].Action != helm.Uninstalled || rep.Releases[1].Name != "old" {
		t.Errorf("releases = %+v", rep.Releases)
	}
	if got := dep.uninstalls[0].ReleaseLabels[LabelInventory]; got != applySetFor(d, "", "").ID() {
		t.Errorf("uninstall labels = %v", dep.uninstalls[0].ReleaseLabels)
	}

	order = nil
	dep.existing = []helm.Release{current}
	urep, err := NewUndeploy(&Configuration{}, dep).Run(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"list", "uninstall shop-ns/web"}, order); diff != "" {
		t.Errorf("undeploy order (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"undeploy"}, dep.calls[len(dep.calls)-1:]); diff != "" {
		t.Errorf("the inventory was not undeployed after the releases: %v", dep.calls)
	}
	if len(urep.Releases) != 1 || urep.Message != "" || fmt.Sprint(urep.Objects[0].Action) != "deleted" {
		t.Errorf("undeploy report = %+v", urep)
	}
}
