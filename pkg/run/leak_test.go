package run

import (
	"context"
	"errors"
	"testing"

	"go.uber.org/goleak"

	"github.com/devtool/devtool/pkg/build"
	"github.com/devtool/devtool/pkg/deploy"
)

// TestParallelFailureLeavesNoGoroutine: in a parallel composite whose first branch fails, the
// other branch is cancelled and every goroutine of the run has ended when Deploy returns
// (odo's parallel runner leaked them).
func TestParallelFailureLeavesNoGoroutine(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	d, p := project(t, map[string]string{"devfile.yaml": `schemaVersion: 2.2.0
metadata: {name: shop}
components:
  - name: img
    image: {imageName: quay.example/shop/img, dockerfile: {uri: Dockerfile, buildContext: .}}
  - name: runner
    container: {image: busybox}
commands:
  - id: build
    apply: {component: img}
  - id: seed
    exec: {component: runner, commandLine: exit 1}
  - id: deploy
    composite: {commands: [seed, build], parallel: true, group: {kind: deploy, isDefault: true}}
`, "Dockerfile": "FROM scratch\n"})
	jobErr := &deploy.JobError{Job: deploy.ObjectStatus{Kind: "Job", Namespace: "default", Name: "shop-seed", Status: deploy.StatusFailed}}
	dep := &jobDeployer{fakeDeployer: &fakeDeployer{}, run: func(context.Context, deploy.JobRequest) error { return jobErr }}
	b := &blockingBuilder{cancelled: make(chan bool, 1)}
	_, err := (&Runner{Choose: func(build.Request, []byte) (build.Builder, string, error) { return b, "", nil }, Deployer: dep}).Deploy(context.Background(), d, p, Options{Push: true})
	if !errors.Is(err, jobErr) {
		t.Fatalf("err = %v, want the exec step's failure", err)
	}
	if !<-b.cancelled {
		t.Error("the build next to the failed exec step was not cancelled")
	}
}
