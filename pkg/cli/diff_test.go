package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/devtool/devtool/test/testenv"
)

// TestDiffExitCodes: "differences found" is exit 1 but not an error (no Error document), and
// a diff that cannot reach the cluster is exit 4 with one, like deploy's preflight.
func TestDiffExitCodes(t *testing.T) {
	if code, exit := Classify(fmt.Errorf("diff: %w", ErrDifferences)); code != "Differences" || exit != 1 {
		t.Errorf("Classify(ErrDifferences) = %s/%d, want Differences/1", code, exit)
	}

	kc := testenv.UnreachableKubeconfig(t, "https://127.0.0.1:1")
	stdout, _, err := runCLI(t, context.Background(), "diff", "--devfile", sampleDir("hello"), "--kubeconfig", kc, "-o", "json")
	if code, exit := Classify(err); code != "ClusterCheckFailed" || exit != ExitDeploy {
		t.Errorf("diff with an unreachable cluster: %s/%d (%v)", code, exit, err)
	}
	var doc ErrorDocument
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil || doc.Kind != "Error" || doc.Code != "ClusterCheckFailed" || !strings.Contains(doc.Message, "127.0.0.1:1") {
		t.Errorf("want one Error document naming the server; got (%v):\n%s", err, stdout)
	}
	_, _, err = runCLI(t, context.Background(), "diff", "--devfile", sampleDir("hello"), "--kubeconfig", kc, "--images", "/nonexistent/build.json")
	if code, exit := Classify(err); code != "InvalidInput" || exit != ExitInvalid {
		t.Errorf("diff --images with a missing file: %s/%d (%v)", code, exit, err)
	}
}
