package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/devtool/devtool/pkg/cli"
	"github.com/devtool/devtool/pkg/run"
)

// devtoolStreams runs devtool and returns stdout and stderr.
func devtoolStreams(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	err = cli.Main(ctx, args, cli.Streams{In: strings.NewReader(""), Out: &out, Err: &errb}, func(string) (string, bool) { return "", false })
	t.Logf("devtool %s\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), out.String(), errb.String())
	return out.String(), errb.String(), err
}

// TestDiff is `devtool diff` end to end (design.md §2, kubectl diff's exit codes): after a
// deploy, diff with the deploy's images finds no differences (exit 0); a changed ConfigMap in
// the devfile is a difference (exit 1, not an error) shown as a unified diff, or in a
// DiffReport with -o json; without --images the Deployment's image differs (it is not built);
// a Service removed from the devfile is shown as deleted with --prune only. The cluster does
// not change.
func TestDiff(t *testing.T) {
	e := setup(t)
	dir := sample(t, "hello")
	devfilePath := filepath.Join(dir, "devfile.yaml")
	// The inventory in the sample's own namespace, apart from other tests' deploys of hello.
	common := []string{"--devfile", dir, "--kubeconfig", e.kubeconfig, "-n", "diff-e2e", "--image-registry", e.registry + "/demo",
		"--var", "BASE_IMAGE=" + e.base, "--var", "NAMESPACE=diff-e2e"}

	out, _, err := devtoolStreams(t, append([]string{"deploy", "-o", "json"}, common...)...)
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	report := filepath.Join(t.TempDir(), "deploy.json")
	if err := os.WriteFile(report, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	withImages := append([]string{"diff", "--images", report}, common...)
	cm, err := e.get(t, configmaps, "diff-e2e", "hello-config")
	if err != nil {
		t.Fatal(err)
	}

	// Nothing changed: exit 0, nothing on stdout.
	stdout, stderr, err := devtoolStreams(t, withImages...)
	if code, exit := cli.Classify(err); err != nil || exit != 0 {
		t.Fatalf("diff right after deploy: %s/%d %v", code, exit, err)
	}
	if stdout != "" || !strings.Contains(stderr, "no differences (4 unchanged)") {
		t.Errorf("diff right after deploy: stdout %q; stderr lacks \"no differences\"", stdout)
	}
	// Without --images too: diff computes the input-digest tag and finds it in the registry,
	// so the Deployment compares with exactly the image deploy pinned.
	stdout, stderr, err = devtoolStreams(t, append([]string{"diff"}, common...)...)
	if code, exit := cli.Classify(err); err != nil || exit != 0 || stdout != "" {
		t.Fatalf("diff without --images right after deploy: %s/%d %v\nstdout:\n%s\nstderr:\n%s", code, exit, err, stdout, stderr)
	}

	// A changed ConfigMap: exit 1 with the changed line, and no Error document.
	b, err := os.ReadFile(devfilePath)
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(b), "GREETING: Hello from a devfile", "GREETING: Hello from diff", 1)
	if changed == string(b) {
		t.Fatal("the sample's ConfigMap is not as this test expects")
	}
	if err := os.WriteFile(devfilePath, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err = devtoolStreams(t, withImages...)
	if code, exit := cli.Classify(err); code != "Differences" || exit != 1 {
		t.Fatalf("diff after a change: %s/%d %v, want exit 1", code, exit, err)
	}
	wantHunk := `diff -u -N LIVE/v1.ConfigMap.diff-e2e.hello-config MERGED/v1.ConfigMap.diff-e2e.hello-config
--- LIVE/v1.ConfigMap.diff-e2e.hello-config
+++ MERGED/v1.ConfigMap.diff-e2e.hello-config
@@ -1,6 +1,6 @@
 apiVersion: v1
 data:
-  GREETING: Hello from a devfile
+  GREETING: Hello from diff
 kind: ConfigMap
 metadata:
   labels:
`
	if diff := cmp.Diff(wantHunk, stdout); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	if !strings.Contains(stderr, "differences: 1 changed (3 unchanged)") || strings.Contains(stderr, "error") {
		t.Errorf("stderr does not summarise the differences, or reports an error:\n%s", stderr)
	}

	// -o json: one DiffReport.
	stdout, _, err = devtoolStreams(t, append(withImages, "-o", "json")...)
	if _, exit := cli.Classify(err); exit != 1 {
		t.Fatalf("diff -o json after a change: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(stdout))
	var rep run.DiffReport
	if err := dec.Decode(&rep); err != nil || dec.More() {
		t.Fatalf("stdout is not one JSON document (%v):\n%s", err, stdout)
	}
	if rep.APIVersion != run.APIVersion || rep.Kind != "DiffReport" || !rep.Differences || rep.Inventory == nil || rep.Inventory.Namespace != "diff-e2e" {
		t.Errorf("report = %+v", rep)
	}
	type drow struct{ Kind, Name, Action string }
	var rows []drow
	for _, o := range rep.Objects {
		rows = append(rows, drow{o.Kind, o.Name, string(o.Action)})
		if o.Kind == "ConfigMap" && !strings.Contains(o.Diff, "\n+  GREETING: Hello from diff\n") {
			t.Errorf("ConfigMap diff in the report:\n%s", o.Diff)
		}
	}
	want := []drow{{"Namespace", "diff-e2e", "unchanged"}, {"ConfigMap", "hello-config", "changed"}, {"Deployment", "hello", "unchanged"}, {"Service", "hello", "unchanged"}}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("report objects (-want +got):\n%s", diff)
	}

	// A changed build input: without --images, diff shows the new input-digest tag deploy would
	// build and push (the registry does not have it yet).
	if err := os.WriteFile(filepath.Join(dir, "www", "index.html"), []byte("<h1>changed</h1>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err = devtoolStreams(t, append([]string{"diff"}, common...)...)
	if _, exit := cli.Classify(err); exit != 1 {
		t.Fatalf("diff without --images after a source change: %v", err)
	}
	newImage := regexp.MustCompile(`\n\+        image: ` + regexp.QuoteMeta(e.registry+"/demo/hello-hello:") + `[0-9a-f]{16}\n`)
	if !newImage.MatchString(stdout) || !strings.Contains(stderr, `image component "hello-image" would be built`) {
		t.Errorf("diff without --images after a source change does not show the new tag, or says nothing about it:\n%s\n%s", stdout, stderr)
	}

	// A Service removed from the devfile: deleted with --prune only.
	i := strings.Index(changed, "        ---\n        apiVersion: v1\n        kind: Service")
	if i < 0 {
		t.Fatal("the sample's Service is not as this test expects")
	}
	withoutSvc := changed[:i] + changed[strings.Index(changed, "commands:"):]
	if err := os.WriteFile(devfilePath, []byte(withoutSvc), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, _, _ = devtoolStreams(t, withImages...)
	if strings.Contains(stdout, "Service") {
		t.Errorf("the removed Service is in the diff without --prune:\n%s", stdout)
	}
	stdout, stderr, err = devtoolStreams(t, append(withImages, "--prune")...)
	if _, exit := cli.Classify(err); exit != 1 {
		t.Fatalf("diff --prune: %v", err)
	}
	if !strings.Contains(stdout, "diff -u -N LIVE/v1.Service.diff-e2e.hello MERGED/v1.Service.diff-e2e.hello\n") || !strings.Contains(stdout, "\n-kind: Service\n") ||
		!strings.Contains(stderr, "Service diff-e2e/hello pruned") {
		t.Errorf("diff --prune does not show the Service deleted")
	}

	// Nothing changed in the cluster.
	cm2, err := e.get(t, configmaps, "diff-e2e", "hello-config")
	if err != nil {
		t.Fatal(err)
	}
	if got, _, _ := unstructured.NestedString(cm2.Object, "data", "GREETING"); got != "Hello from a devfile" || cm2.GetResourceVersion() != cm.GetResourceVersion() {
		t.Errorf("the ConfigMap changed: GREETING %q, resourceVersion %s → %s", got, cm.GetResourceVersion(), cm2.GetResourceVersion())
	}
	if _, err := e.get(t, services, "diff-e2e", "hello"); err != nil {
		t.Errorf("the Service is gone: %v", err)
	}
}
