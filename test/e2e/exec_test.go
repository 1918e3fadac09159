package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/devtool/devtool/pkg/cli"
	"github.com/devtool/devtool/pkg/run"
)

// execDevfile builds the tools image, runs the migrate exec command in a container of that image
// (a Kubernetes Job, as odo v3 runs exec commands of a deploy), then applies a ConfigMap.
const execDevfile = `schemaVersion: 2.2.0
metadata: {name: execdemo}
variables:
  BASE: placeholder
  MEM: 128Mi
components:
  - name: tools
    image: {imageName: tools, dockerfile: {uri: Dockerfile, args: ["BASE={{BASE}}"]}}
  - name: runner
    container:
      image: tools
      memoryLimit: "{{MEM}}"
      env: [{name: TARGET, value: "{{COMPONENT_NAME}}"}]
  - name: config
    kubernetes:
      inlined: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: execdemo-config}
        data: {migrated: "yes"}
commands:
  - id: build-tools
    apply: {component: tools}
  - id: migrate
    exec: {component: runner, commandLine: ./migrate.sh, workingDir: /app}
  - id: apply-config
    apply: {component: config}
  - id: deploy
    composite: {commands: [build-tools, migrate, apply-config], group: {kind: deploy, isDefault: true}}
`

// watchJob watches, in a goroutine, for the migrate Job other than skip (the node's Job
// controller and kubelet run it) and notes whether the ConfigMap (applied after the exec step)
// exists at that point. The returned function waits for it and returns the Job as applied.
func watchJob(t *testing.T, e *env, ns string, skip types.UID) func() (job *unstructured.Unstructured, configMapBefore bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	type result struct {
		job      *unstructured.Unstructured
		cmBefore bool
		err      error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		for {
			j, err := e.client.Resource(batchJobs).Namespace(ns).Get(ctx, "execdemo-migrate", metav1.GetOptions{})
			if err == nil && j.GetUID() != skip && j.GetDeletionTimestamp() == nil {
				r.job = j
				break
			}
			if ctx.Err() != nil {
				r.err = ctx.Err()
				done <- r
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		_, err := e.client.Resource(configmaps).Namespace(ns).Get(ctx, "execdemo-config", metav1.GetOptions{})
		r.cmBefore = err == nil
		done <- r
	}()
	return func() (*unstructured.Unstructured, bool) {
		t.Helper()
		r := <-done
		cancel()
		if r.err != nil {
			t.Fatalf("watching for the Job: %v", r.err)
		}
		return r.job, r.cmBefore
	}
}

// TestDeployExec: an exec command of the deploy command runs as a Kubernetes Job after the build
// it depends on, with the built image pinned by digest; the apply after it waits for it; the
// Job is deleted after success and runs again on the next deploy; a failed Job fails the deploy
// with exit 4 (ExecFailed) naming the command and the Job, and nothing after it runs; the next
// deploy replaces the failed Job; a bad exec fails the preflight before anything is built. The
// Jobs run for real on the test node (built image pulled by containerd), and their output
// reaches devtool's progress.
func TestDeployExec(t *testing.T) {
	e, _ := nodeSetup(t)
	const ns = "exec-e2e"
	nsObj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns}}}
	if _, err := e.client.Resource(namespaces).Create(context.Background(), nsObj, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dir := writeProject(t, map[string]string{
		"Dockerfile":   "ARG BASE\nFROM ${BASE}\nCOPY migrate.sh /app/migrate.sh\n",
		"migrate.sh":   "#!/bin/sh\necho migrated\n",
		"devfile.yaml": execDevfile,
	})
	if err := os.Chmod(filepath.Join(dir, "migrate.sh"), 0o755); err != nil { // the Job runs ./migrate.sh
		t.Fatal(err)
	}
	args := []string{"deploy", "--devfile", dir, "--kubeconfig", e.kubeconfig, "--image-registry", e.registry + "/exec",
		"--var", "BASE=" + e.base, "-n", ns, "-o", "json"}

	wait := watchJob(t, e, ns, "")
	rep, stderr, err := devtool(t, args...)
	job, cmBefore := wait()
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	if len(rep.Images) != 1 || rep.Images[0].Digest == "" {
		t.Fatalf("images = %+v, want the tools image built", rep.Images)
	}
	built := rep.Images[0].Ref()
	if cmBefore {
		t.Errorf("the ConfigMap was applied before the exec step's Job finished")
	}
	cs, _, _ := unstructured.NestedSlice(job.Object, "spec", "template", "spec", "containers")
	if len(cs) != 1 {
		t.Fatalf("Job containers = %v", cs)
	}
	c := cs[0].(map[string]any)
	if c["image"] != built || !strings.Contains(built, "@sha256:") {
		t.Errorf("Job image = %v, want the built image by digest %s", c["image"], built)
	}
	if args, _ := c["args"].([]any); len(args) != 2 || args[1] != "cd /app && ./migrate.sh" {
		t.Errorf("Job args = %v", c["args"])
	}
	if env, _ := c["env"].([]any); len(env) != 1 || env[0].(map[string]any)["value"] != "execdemo" {
		t.Errorf("Job env = %v", c["env"])
	}
	if lim, _, _ := unstructured.NestedString(c, "resources", "limits", "memory"); lim != "128Mi" {
		t.Errorf("Job memory limit = %q", lim)
	}
	if l := job.GetLabels(); l["app.kubernetes.io/managed-by"] != "devtool" || l["app.kubernetes.io/name"] != "execdemo" || l["applyset.kubernetes.io/part-of"] != "" {
		t.Errorf("Job labels = %v: want devtool's project labels, not an inventory member", l)
	}
	if len(rep.Execs) != 1 {
		t.Fatalf("report execs = %+v", rep.Execs)
	}
	x := rep.Execs[0]
	if x.Command != "migrate" || x.Component != "runner" || x.Image != built || x.Namespace != ns || x.Name != "execdemo-migrate" || x.Outcome != "succeeded" || !x.Deleted || x.Replaced {
		t.Errorf("report exec = %+v", x)
	}
	if len(rep.Objects) != 1 || rep.Objects[0].Kind != "ConfigMap" || rep.Objects[0].Action != "created" {
		t.Errorf("report objects = %+v, want the ConfigMap created (the Job is not an applied object)", rep.Objects)
	}
	if _, err := e.get(t, batchJobs, ns, "execdemo-migrate"); !apierrors.IsNotFound(err) {
		t.Errorf("the Job is still there after it succeeded (%v)", err)
	}
	for _, w := range []string{"checking 1 objects and 1 exec Job against the cluster", `running exec command "migrate" in a Kubernetes Job`, "Job exec-e2e/execdemo-migrate succeeded in", "deleted it"} {
		if !strings.Contains(stderr, w) {
			t.Errorf("progress does not contain %q:\n%s", w, stderr)
		}
	}
	parent, err := e.get(t, configmaps, ns, "devtool-applyset-execdemo")
	if err != nil {
		t.Fatal(err)
	}
	if gk := parent.GetAnnotations()["applyset.kubernetes.io/contains-group-kinds"]; gk != "ConfigMap" {
		t.Errorf("inventory kinds = %q, want ConfigMap only", gk)
	}

	// Nothing changed: the build is cached and the ConfigMap unchanged, but the command runs
	// again, in a new Job.
	wait = watchJob(t, e, ns, job.GetUID())
	rep, _, err = devtool(t, args...)
	job2, _ := wait()
	if err != nil {
		t.Fatalf("second deploy: %v", err)
	}
	if !rep.Images[0].Cached || len(rep.Execs) != 1 || rep.Execs[0].Outcome != "succeeded" || rep.Objects[0].Action != "unchanged" {
		t.Errorf("second deploy: images %+v, execs %+v, objects %+v", rep.Images, rep.Execs, rep.Objects)
	}
	if job2.GetUID() == job.GetUID() {
		t.Errorf("the second deploy did not run a new Job")
	}

	// A failed Job (the script now exits 1; backoffLimit 1: two Pods fail): exit 4, ExecFailed,
	// naming the command and the Job, with the Pods' states and the script's output; the apply
	// after it does not run (the ConfigMap is deleted first to see that); the failed Job stays.
	if err := e.client.Resource(configmaps).Namespace(ns).Delete(context.Background(), "execdemo-config", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "migrate.sh"), []byte("#!/bin/sh\necho migration-failed-here\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	wait = watchJob(t, e, ns, job2.GetUID())
	doc, err := errorDocument(t, args...)
	failed, _ := wait()
	if code, exit := cli.Classify(err); code != "ExecFailed" || exit != cli.ExitDeploy {
		t.Errorf("Classify = %s/%d (%v), want ExecFailed/%d", code, exit, err, cli.ExitDeploy)
	}
	for _, w := range []string{`exec step "migrate"`, "Job exec-e2e/execdemo-migrate failed", "BackoffLimitExceeded", "terminated with exit code 1"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not contain %q:\n%v", w, err)
		}
	}
	if doc["code"] != "ExecFailed" || doc["exitCode"] != float64(cli.ExitDeploy) {
		t.Errorf("Error document code %v exitCode %v", doc["code"], doc["exitCode"])
	}
	if probs, _ := doc["problems"].([]any); len(probs) != 1 || probs[0].(map[string]any)["name"] != "execdemo-migrate" {
		t.Errorf("Error document problems = %v, want the Job", doc["problems"])
	}
	report, _ := doc["report"].(map[string]any)
	if execs, _ := report["execs"].([]any); len(execs) != 1 || execs[0].(map[string]any)["outcome"] != "failed" {
		t.Errorf("Error document report execs = %v", report["execs"])
	}
	if _, err := e.get(t, configmaps, ns, "execdemo-config"); !apierrors.IsNotFound(err) {
		t.Errorf("the apply after the failed exec step ran (%v)", err)
	}
	if kept, err := e.get(t, batchJobs, ns, "execdemo-migrate"); err != nil || kept.GetUID() != failed.GetUID() {
		t.Errorf("the failed Job was not kept for inspection (%v)", err)
	}

	// The next deploy replaces the failed Job (its template is immutable) and succeeds.
	if err := os.WriteFile(filepath.Join(dir, "migrate.sh"), []byte("#!/bin/sh\necho migrated\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	wait = watchJob(t, e, ns, failed.GetUID())
	var r *run.Report
	r, _, err = devtool(t, args...)
	wait()
	if err != nil {
		t.Fatalf("deploy after the failure: %v", err)
	}
	if len(r.Execs) != 1 || !r.Execs[0].Replaced || r.Execs[0].Outcome != "succeeded" {
		t.Errorf("execs = %+v, want the failed Job replaced", r.Execs)
	}

	// A bad exec (an invalid memory limit) fails the preflight: nothing is built or run.
	doc, err = errorDocument(t, append(args, "--var", "MEM=lots", "--tag", "never-built")...)
	if code, exit := cli.Classify(err); code != "InvalidManifest" || exit != cli.ExitDeploy {
		t.Errorf("Classify = %s/%d (%v), want InvalidManifest/%d", code, exit, err, cli.ExitDeploy)
	}
	if !strings.Contains(err.Error(), "Job batch/v1 exec-e2e/execdemo-migrate") || !strings.Contains(err.Error(), `commands[id=migrate].exec (component "runner")`) {
		t.Errorf("error does not name the Job and the command:\n%v", err)
	}
	report, _ = doc["report"].(map[string]any)
	if imgs, _ := report["images"].([]any); len(imgs) != 0 {
		t.Errorf("a failed preflight built %v", imgs)
	}
}
