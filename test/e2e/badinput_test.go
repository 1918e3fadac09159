package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/devtool/devtool/pkg/cli"
)

// clusterState is a fingerprint of what a deploy could change: every object (with its
// resourceVersion) of the kinds devtool's test devfiles use, cluster-wide.
func (e *env) clusterState(t *testing.T) string {
	t.Helper()
	var lines []string
	for _, gvr := range []schema.GroupVersionResource{namespaces, configmaps, deployments, batchJobs,
		{Version: "v1", Resource: "services"}, {Version: "v1", Resource: "secrets"}} {
		list, err := e.client.Resource(gvr).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range list.Items {
			lines = append(lines, fmt.Sprintf("%s %s/%s %s", gvr.Resource, o.GetNamespace(), o.GetName(), o.GetResourceVersion()))
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// catalog is the registry's repository list.
func (e *env) catalog(t *testing.T) string {
	t.Helper()
	resp, err := http.Get("http://" + e.registry + "/v2/_catalog")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var c struct {
		Repositories []string `json:"repositories"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("catalog: %v: %s", err, b)
	}
	sort.Strings(c.Repositories)
	return strings.Join(c.Repositories, ",")
}

// TestBadInputChangesNothing: each kind of bad input gets a clear error — its exit code, a
// message naming what the user wrote — and neither the API server's objects nor the
// registry's catalog change (design.md: bad input loses nothing).
func TestBadInputChangesNothing(t *testing.T) {
	e := setup(t)
	const good = `schemaVersion: 2.2.0
metadata: {name: bad}
components:
  - name: img
    image: {imageName: IMAGE, dockerfile: {uri: Dockerfile, buildContext: CONTEXT}}
  - name: k8s
    kubernetes:
      inlined: |
        MANIFEST
commands:
  - id: build
    apply: {component: img}
  - id: apply
    apply: {component: k8s}
  - id: deploy
    composite: {commands: [build, apply], group: {kind: deploy, isDefault: true}}
`
	const cm = "apiVersion: v1\n        kind: ConfigMap\n        metadata: {name: bad-cm, namespace: default}\n        data: {k: \"{{VALUE}}\"}"
	// NewReplacer uses the first matching pair: put overrides first.
	with := func(over ...string) string {
		r := strings.NewReplacer(append(over, "IMAGE", "app", "CONTEXT", ".", "MANIFEST", cm)...)
		return r.Replace(good)
	}
	cases := []struct {
		name    string
		devfile string
		files   map[string]string
		args    []string
		exit    int
		want    []string
	}{
		{name: "malformed YAML", devfile: "schemaVersion: 2.2.0\nmetadata: {name: bad\ncomponents: [\n", exit: cli.ExitInvalid, want: []string{"devfile.yaml"}},
		{name: "wrong schemaVersion", devfile: strings.Replace(with(), "2.2.0", "9.9.9", 1), exit: cli.ExitInvalid, want: []string{"9.9.9"}},
		{name: "duplicate component names", devfile: strings.Replace(with(), "  - name: k8s", "  - name: img", 1), exit: cli.ExitInvalid, want: []string{"img"}},
		{name: "composite cycle", devfile: strings.Replace(with(), "commands: [build, apply], group", "commands: [build, deploy], group", 1), exit: cli.ExitInvalid, want: []string{"deploy", "cycle"}},
		{name: "undefined variable with --strict", devfile: with(), args: []string{"--strict"}, exit: cli.ExitInvalid, want: []string{"VALUE"}},
		{name: "missing Dockerfile", devfile: with(), files: map[string]string{"Dockerfile": ""}, exit: cli.ExitInvalid, want: []string{"Dockerfile", "dockerfile.uri"}},
		{name: "build context outside the project", devfile: with("CONTEXT", "../../../../../../etc"), exit: cli.ExitInvalid, want: []string{"dockerfile.buildContext", "outside the project directory"}},
		{name: "invalid image reference", devfile: with("IMAGE", "quay.io/UPPER/Case"), exit: cli.ExitInvalid, want: []string{"quay.io/UPPER/Case", "not a valid image repository", `"UPPER"`}},
		{name: "unknown kind", devfile: with("MANIFEST", "apiVersion: example.com/v1\n        kind: Gadget\n        metadata: {name: g}"), exit: cli.ExitDeploy, want: []string{"Gadget"}},
		{name: "missing namespace", devfile: with("MANIFEST", strings.Replace(cm, "namespace: default", "namespace: nowhere-ns", 1)), exit: cli.ExitDeploy, want: []string{"nowhere-ns"}},
		{name: "variable value with a line break", devfile: with(), args: []string{"--var", "VALUE=x\n---\nkind: Secret"}, exit: cli.ExitInvalid, want: []string{"VALUE", "line break"}},
		{name: "registry unreachable", devfile: with(), args: []string{"--image-registry", "127.0.0.1:1/x"}, exit: cli.ExitBuild, want: []string{"127.0.0.1:1", "reachable"}},
		{name: "unknown --builder", devfile: with(), args: []string{"--builder", "kaniko2"}, exit: cli.ExitInvalid, want: []string{"--builder", "kaniko2"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{"devfile.yaml": tc.devfile, "Dockerfile": "FROM " + e.base + "\n"}
			for k, v := range tc.files {
				files[k] = v
			}
			dir := writeProject(t, files)
			if tc.files != nil && tc.files["Dockerfile"] == "" {
				removeFile(t, dir, "Dockerfile")
			}
			beforeCluster, beforeRegistry := e.clusterState(t), e.catalog(t)
			args := append([]string{"deploy", "--devfile", dir, "--kubeconfig", e.kubeconfig, "--image-registry", e.registry + "/bad", "-o", "json"}, tc.args...)
			_, _, err := devtool(t, args...)
			if err == nil {
				t.Fatal("deploy succeeded")
			}
			code, exit := cli.Classify(err)
			if exit != tc.exit {
				t.Errorf("exit %d (%s), want %d: %v", exit, code, tc.exit, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not name %q: %v", w, err)
				}
			}
			if after := e.clusterState(t); after != beforeCluster {
				t.Errorf("the cluster changed:\nbefore:\n%s\nafter:\n%s", beforeCluster, after)
			}
			if after := e.catalog(t); after != beforeRegistry {
				t.Errorf("the registry changed: %q → %q", beforeRegistry, after)
			}
		})
	}
}

func removeFile(t *testing.T, dir, name string) {
	t.Helper()
	if err := os.Remove(filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}
