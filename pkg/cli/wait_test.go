package cli

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/devtool/devtool/pkg/deploy"
	"github.com/devtool/devtool/pkg/plan"
	"github.com/devtool/devtool/pkg/run"
)

func TestClassifyWait(t *testing.T) {
	dep := deploy.ObjectStatus{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "ns", Name: "web", Status: deploy.StatusInProgress}
	failed := deploy.ObjectStatus{APIVersion: "batch/v1", Kind: "Job", Namespace: "ns", Name: "migrate", Status: deploy.StatusFailed}
	tests := []struct {
		name string
		err  error
		code string
	}{
		{"timeout", &deploy.WaitError{Timeout: time.Minute, TimedOut: true, Total: 2, Objects: []deploy.ObjectStatus{dep}}, "RolloutTimeout"},
		{"failed", &deploy.WaitError{Timeout: time.Minute, Total: 2, Objects: []deploy.ObjectStatus{failed, dep}}, "RolloutFailed"},
		{"wrapped", &reportedError{err: fmt.Errorf("deploy: %w", &deploy.WaitError{Total: 1, Objects: []deploy.ObjectStatus{failed}})}, "RolloutFailed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code, exit := Classify(tt.err); code != tt.code || exit != ExitDeploy {
				t.Errorf("Classify = %s/%d, want %s/%d", code, exit, tt.code, ExitDeploy)
			}
			doc := errorDocument(tt.err)
			if objs, ok := doc.Problems.([]deploy.ObjectStatus); !ok || len(objs) == 0 {
				t.Errorf("Error document problems = %#v, want the objects that did not roll out", doc.Problems)
			}
		})
	}
}

// TestWaitFlag: --wait takes a positive duration; the check comes before the devfile is read.
func TestWaitFlag(t *testing.T) {
	for _, arg := range []string{"--wait=0s", "--wait=-1m"} {
		_, _, err := runCLI(t, context.Background(), "deploy", arg, "--devfile", "does-not-exist.yaml")
		if code, exit := Classify(err); code != "Usage" || exit != ExitInvalid || !strings.Contains(fmt.Sprint(err), "a bare --wait waits 5m0s") {
			t.Errorf("deploy %s: %s/%d %v, want a usage error", arg, code, exit, err)
		}
	}
	// Not a duration: cobra's flag parsing rejects it (classified like every malformed flag
	// value, see Classify).
	_, _, err := runCLI(t, context.Background(), "deploy", "--wait=soon", "--devfile", "does-not-exist.yaml")
	if err == nil || !strings.Contains(err.Error(), `"--wait"`) {
		t.Errorf("deploy --wait=soon: %v, want an error naming --wait", err)
	}
}

// TestExecErrors: a failed exec command's Job is ExecFailed (exit 4) with the Job as the Error
// document's problem; other exec step errors are DeployFailed; --exec-timeout must be positive.
func TestExecErrors(t *testing.T) {
	job := deploy.ObjectStatus{APIVersion: "batch/v1", Kind: "Job", Namespace: "ns", Name: "shop-migrate", Status: deploy.StatusFailed, Message: "BackoffLimitExceeded"}
	err := &reportedError{err: &run.StepError{Step: "migrate", Kind: plan.StepExec, Component: "runner", Err: &deploy.JobError{Job: job}}}
	if code, exit := Classify(err); code != "ExecFailed" || exit != ExitDeploy {
		t.Errorf("Classify = %s/%d, want ExecFailed/%d", code, exit, ExitDeploy)
	}
	doc := errorDocument(err)
	if objs, ok := doc.Problems.([]deploy.ObjectStatus); !ok || len(objs) != 1 || objs[0].Name != "shop-migrate" {
		t.Errorf("Error document problems = %#v, want the Job", doc.Problems)
	}
	other := &run.StepError{Step: "migrate", Kind: plan.StepExec, Component: "runner", Err: fmt.Errorf("Job ns/shop-migrate was deleted while devtool waited for it to complete")}
	if code, exit := Classify(other); code != "DeployFailed" || exit != ExitDeploy {
		t.Errorf("Classify = %s/%d, want DeployFailed/%d", code, exit, ExitDeploy)
	}
	for _, arg := range []string{"--exec-timeout=0s", "--exec-timeout=-1m"} {
		_, _, err := runCLI(t, context.Background(), "deploy", arg, "--devfile", "does-not-exist.yaml")
		if code, exit := Classify(err); code != "Usage" || exit != ExitInvalid || !strings.Contains(fmt.Sprint(err), "--exec-timeout") {
			t.Errorf("deploy %s: %s/%d %v, want a usage error", arg, code, exit, err)
		}
	}
}
