package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/devtool/devtool/pkg/cli"
	"github.com/devtool/devtool/pkg/deploy"
	"github.com/devtool/devtool/pkg/run"
)

// errorDocument runs devtool, which must fail, and returns its -o json Error document.
func errorDocument(t *testing.T, args ...string) (map[string]any, error) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	err := cli.Main(ctx, args, cli.Streams{In: strings.NewReader(""), Out: &out, Err: &errb}, func(string) (string, bool) { return "", false })
	t.Logf("devtool %s\nstderr:\n%s", strings.Join(args, " "), errb.String())
	if err == nil {
		t.Fatalf("devtool %s succeeded", strings.Join(args, " "))
	}
	var doc map[string]any
	if jerr := json.Unmarshal(out.Bytes(), &doc); jerr != nil {
		t.Fatalf("stdout is not a JSON document: %v\n%s", jerr, out.String())
	}
	return doc, err
}

// TestDeployWait: `deploy --wait` (design.md §5) against the real API server, which runs no
// controllers: the multi sample (no workloads) rolls out; the hello sample's Deployment never
// gets Pods, so --wait=3s fails with RolloutTimeout (exit 4) naming it and saying why; a dry run
// does not wait.
func TestDeployWait(t *testing.T) {
	e := setup(t)

	t.Run("multi rolls out", func(t *testing.T) {
		dir := sample(t, "multi")
		// A bare --wait (5m) followed by another flag.
		rep, stderr, err := devtool(t, "deploy", "--wait", "--devfile", dir, "--kubeconfig", e.kubeconfig, "-o", "json")
		if err != nil {
			t.Fatalf("deploy --wait: %v", err)
		}
		if len(rep.Objects) != 5 {
			t.Errorf("objects = %+v, want 5", rep.Objects)
		}
		for _, o := range rep.Objects {
			if o.Status != deploy.StatusCurrent {
				t.Errorf("%s %s: status %q, want Current", o.Kind, o.Name, o.Status)
			}
		}
		if !strings.Contains(stderr, "waiting up to 5m0s for 5 objects to roll out") || !strings.Contains(stderr, "all 5 objects rolled out") {
			t.Errorf("progress does not say what was waited for:\n%s", stderr)
		}
	})

	hello := func(t *testing.T, ns string, extra ...string) []string {
		return append([]string{"deploy", "--devfile", sample(t, "hello"), "--kubeconfig", e.kubeconfig, "--image-registry", e.registry + "/demo",
			"--var", "BASE_IMAGE=" + e.base, "--var", "NAMESPACE=" + ns, "-o", "json"}, extra...)
	}

	t.Run("hello times out", func(t *testing.T) {
		doc, err := errorDocument(t, hello(t, "wait-e2e", "--wait=3s")...)
		if code, exit := cli.Classify(err); code != "RolloutTimeout" || exit != cli.ExitDeploy {
			t.Errorf("Classify = %s/%d, want RolloutTimeout/%d", code, exit, cli.ExitDeploy)
		}
		msg := err.Error()
		for _, want := range []string{"timed out after 3s", "Deployment wait-e2e/hello: InProgress", "no Pods were created", "controller manager"} {
			if !strings.Contains(msg, want) {
				t.Errorf("error does not contain %q:\n%s", want, msg)
			}
		}
		if doc["code"] != "RolloutTimeout" || doc["exitCode"] != float64(cli.ExitDeploy) {
			t.Errorf("Error document code %v exitCode %v", doc["code"], doc["exitCode"])
		}
		// problems: the objects that did not roll out; report: everything applied, with statuses.
		b, _ := json.Marshal(doc["problems"])
		var problems []deploy.ObjectStatus
		if err := json.Unmarshal(b, &problems); err != nil || len(problems) != 1 || problems[0].Object() != "Deployment wait-e2e/hello" || problems[0].Status != deploy.StatusInProgress || len(problems[0].Details) == 0 {
			t.Errorf("problems = %s (%v), want the Deployment, InProgress, with details", b, err)
		}
		b, _ = json.Marshal(doc["report"])
		var rep run.Report
		if err := json.Unmarshal(b, &rep); err != nil {
			t.Fatal(err)
		}
		statuses := map[string]deploy.Status{}
		for _, o := range rep.Objects {
			statuses[o.Kind] = o.Status
			if o.Action != deploy.Created {
				t.Errorf("%s %s: %s, want created (the apply succeeded)", o.Kind, o.Name, o.Action)
			}
		}
		want := map[string]deploy.Status{"Namespace": deploy.StatusCurrent, "ConfigMap": deploy.StatusCurrent, "Deployment": deploy.StatusInProgress, "Service": deploy.StatusCurrent}
		for k, s := range want {
			if statuses[k] != s {
				t.Errorf("report: %s status %q, want %q (all: %v)", k, statuses[k], s, statuses)
			}
		}
		if _, err := e.get(t, deployments, "wait-e2e", "hello"); err != nil {
			t.Errorf("the Deployment was not applied: %v", err)
		}
	})

	t.Run("dry run does not wait", func(t *testing.T) {
		rep, stderr, err := devtool(t, hello(t, "wait-dry-e2e", "--wait=2s", "--dry-run=server")...)
		if err != nil {
			t.Fatalf("deploy --dry-run=server --wait: %v", err)
		}
		if !strings.Contains(stderr, "not waiting: --dry-run=server applied nothing") {
			t.Errorf("progress does not say why it did not wait:\n%s", stderr)
		}
		for _, o := range rep.Objects {
			if o.Action != deploy.Validated || o.Status != "" {
				t.Errorf("%s %s: %s %q, want validated without a status", o.Kind, o.Name, o.Action, o.Status)
			}
		}
	})

	t.Run("zero is a usage error", func(t *testing.T) {
		_, _, err := devtool(t, "deploy", "--wait=0s", "--devfile", sample(t, "multi"), "--kubeconfig", e.kubeconfig)
		if code, exit := cli.Classify(err); code != "Usage" || exit != cli.ExitInvalid {
			t.Errorf("deploy --wait=0s: %s/%d (%v), want Usage/%d", code, exit, err, cli.ExitInvalid)
		}
	})
}
