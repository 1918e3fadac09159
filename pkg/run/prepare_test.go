package run

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/devtool/devtool/pkg/build"
)

// TestDeployPreparesOnce: a deploy reads each manifest uri once and renders each apply and
// exec step once (prepare), though the preflight, the transaction's begin and the apply all
// use the objects; the built image is pinned into the prepared objects afterwards.
func TestDeployPreparesOnce(t *testing.T) {
	var reads atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reads.Add(1)
		w.Write([]byte("apiVersion: v1\nkind: Pod\nmetadata: {name: back}\nspec: {containers: [{name: c, image: quay.example/team/back}]}\n"))
	}))
	defer srv.Close()
	d, p := project(t, map[string]string{
		"devfile.yaml": strings.ReplaceAll(`schemaVersion: 2.2.0
metadata: {name: shop}
variables: {BASE: "URL"}
components:
  - name: back
    image: {imageName: quay.example/team/back, dockerfile: {uri: Dockerfile, buildContext: .}}
  - name: back-k8s
    kubernetes: {uri: "{{BASE}}/pod.yaml"}
  - name: tools
    container: {image: quay.example/team/back}
commands:
  - id: build-back
    apply: {component: back}
  - id: deploy-back
    apply: {component: back-k8s}
  - id: migrate
    exec: {component: tools, commandLine: ./migrate}
  - id: deploy
    composite: {commands: [build-back, deploy-back, migrate], group: {kind: deploy, isDefault: true}}
`, "URL", srv.URL),
		"Dockerfile": "FROM scratch\n",
	})
	dep := &jobDeployer{fakeDeployer: &fakeDeployer{}}
	var pp *prepared
	a := NewDeploy(&Configuration{Builder: chooseBuilder{func(build.Request, []byte) (build.Builder, string, error) { return &fakeBuilder{}, "", nil }}}, dep)
	a.prepared = func(p *prepared) { pp = p }
	rep, err := a.Run(context.Background(), Project{Devfile: d}, p)
	if err != nil {
		t.Fatal(err)
	}
	if n := reads.Load(); n != 1 {
		t.Errorf("the manifest uri was read %d times, want 1", n)
	}
	for id, n := range pp.renders {
		if n != 1 {
			t.Errorf("step %s rendered %d times, want 1", id, n)
		}
	}
	if len(pp.renders) != 2 {
		t.Errorf("renders = %v, want the apply and the exec step", pp.renders)
	}
	// The pinned image reached the apply and the Job, the placeholder did not.
	want := "quay.example/team/back:t-back@sha256:" + strings.Repeat("a", 64)
	if got := dep.applied[0].Objects[0].Object["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)["image"]; got != want {
		t.Errorf("applied image = %v, want %s", got, want)
	}
	if len(rep.Execs) != 1 || rep.Execs[0].Image != want {
		t.Errorf("exec image = %+v, want %s", rep.Execs, want)
	}
}
