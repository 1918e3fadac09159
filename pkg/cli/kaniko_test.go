package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKanikoFlags: bad kaniko flags are usage errors (exit 2) before anything runs, and
// --builder kaniko without a readable kubeconfig fails the build naming the kubeconfig.
func TestKanikoFlags(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"Dockerfile":   "FROM 127.0.0.1:1/base\nRUN true\n",
		"devfile.yaml": "schemaVersion: 2.2.0\nmetadata: {name: k}\ncomponents:\n  - name: img\n    image: {imageName: 127.0.0.1:1/app, dockerfile: {uri: Dockerfile}}\n",
	}
	for p, body := range files {
		if err := os.WriteFile(filepath.Join(dir, p), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--kaniko-execution", "sidecar"}, ExitInvalid, `--kaniko-execution "sidecar": must be auto, pod or routine`},
		{[]string{"--max-parallel-builds", "-1"}, ExitInvalid, "--max-parallel-builds -1: must be at least 1"},
		{[]string{"--kaniko-execution=pod", "--kubeconfig", filepath.Join(dir, "missing")}, ExitBuild, "--builder kaniko runs build Pods in the cluster and needs a kubeconfig"},
	} {
		_, stderr, err := runCLI(t, ctx, append([]string{"build", "--builder", "kaniko", "--devfile", dir}, tc.args...)...)
		_, code := Classify(err)
		if err == nil || code != tc.code || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: exit %d, error %v; want exit %d and %q\n%s", tc.args, code, err, tc.code, tc.want, stderr)
		}
	}
}
