package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/devtool/devtool/pkg/cli"
	"github.com/devtool/devtool/pkg/devfile"
	"github.com/devtool/devtool/pkg/remote"
	"github.com/devtool/devtool/pkg/run"
	"github.com/devtool/devtool/pkg/vars"
	"github.com/devtool/devtool/test/testenv"
)

// TestDeployRegistryParents deploys every corpus case whose parent lives in a devfile registry
// against the loopback devfile registry (--registry-url, a mirror of registry.devfile.io) and
// the real API server, with stand-in Dockerfiles as TestDeployCorpus writes them: the merged
// devfile builds its images into the loopback OCI registry and applies its manifests (the
// parent's, read from the stack in the cache, where the project has none), each pinned by
// digest. Then, with the devfile registry stopped, the same deploy runs --offline from the
// cache and changes nothing.
func TestDeployRegistryParents(t *testing.T) {
	e := setup(t)
	reg := testenv.StartDevfileRegistry(t, testenv.CorpusStacks(t))
	cache := t.TempDir()
	env := map[string]string{"DEVTOOL_CACHE_DIR": cache}
	getenv := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	ctx := context.Background()
	type deployed struct {
		dir, ns string
		args    []string
	}
	var done []deployed
	n := 0
	for i, c := range testenv.Corpus(t) {
		if c.RegistryParent == "" {
			continue
		}
		n++
		dir := testenv.CopyProject(t, c) // outlives the subtest: the offline runs below reuse it
		t.Run(c.Name, func(t *testing.T) {
			d, err := devfile.Load(ctx, dir, devfile.LoadOptions{Remote: remote.New(remote.Options{CacheDir: cache}), RegistryURL: reg.URL})
			if err != nil {
				t.Fatal(err)
			}
			res := vars.New(vars.Layer{Source: "devfile", Values: d.Variables})
			for _, comp := range d.Components {
				if comp.Image != nil && comp.Image.Dockerfile != nil && comp.Image.Dockerfile.Fetched == "" {
					writeStandInDockerfile(t, dir, res, comp.Image.Dockerfile, e.base)
				}
			}
			ns := fmt.Sprintf("regparent-%d", i)
			nsObj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns}}}
			if _, err := e.client.Resource(namespaces).Create(ctx, nsObj, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			args := []string{"deploy", "--devfile", dir, "--kubeconfig", e.kubeconfig, "--image-registry", e.registry + "/regparent", "-n", ns, "-o", "json", "--registry-url", reg.URL}
			for k, v := range d.Variables {
				if externalImage.MatchString(v) {
					args = append(args, "--var", fmt.Sprintf("%s=%s/regparent/%s", k, e.registry, strings.ToLower(v[strings.LastIndex(v, "/")+1:])))
				}
			}
			rep, stderr, err := deployWithEnv(t, getenv, args)
			if err != nil {
				code, _ := cli.Classify(err)
				t.Fatalf("deploy: %s: %v\nstderr: %s", code, err, stderr)
			}
			if len(rep.Objects) == 0 || len(rep.Images) == 0 {
				t.Fatalf("deploy applied %d objects and built %d images; want both", len(rep.Objects), len(rep.Images))
			}
			for _, o := range rep.Objects {
				if o.Action != "created" {
					t.Errorf("%s %s: %s, want created", o.Kind, o.Name, o.Action)
				}
				if o.Kind != "Deployment" {
					continue
				}
				dep, err := e.get(t, deployments, o.Namespace, o.Name)
				if err != nil {
					t.Fatal(err)
				}
				cs, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
				for _, cn := range cs {
					img, _ := cn.(map[string]any)["image"].(string)
					for _, im := range rep.Images {
						if strings.HasPrefix(img, im.Repository+":") && !strings.Contains(img, "@sha256:") {
							t.Errorf("Deployment %s runs %s, not pinned by digest", o.Name, img)
						}
					}
				}
			}
			var kinds []string
			for _, o := range rep.Objects {
				kinds = append(kinds, o.Kind+"/"+o.Name)
			}
			t.Logf("deployed %v with %d images", kinds, len(rep.Images))
			done = append(done, deployed{dir, ns, args})
		})
	}
	if n < 5 {
		t.Fatalf("%d corpus cases with registry parents, want ≥ 5", n)
	}
	reg.Stop()
	for _, dp := range done {
		t.Run("offline/"+dp.ns, func(t *testing.T) {
			start := time.Now()
			_, _, err := deployWithEnv(t, getenv, dp.args)
			if err == nil || !strings.Contains(err.Error(), "devfile registry "+reg.URL) {
				t.Errorf("registry stopped: %v; want an error naming it", err)
			}
			if d := time.Since(start); d > 30*time.Second {
				t.Errorf("registry stopped: failed after %s", d)
			}
			rep, stderr, err := deployWithEnv(t, getenv, append(dp.args, "--offline"))
			if err != nil {
				t.Fatalf("deploy --offline: %v\nstderr: %s", err, stderr)
			}
			for _, o := range rep.Objects {
				if o.Action != "unchanged" {
					t.Errorf("--offline redeploy: %s %s %s, want unchanged", o.Kind, o.Name, o.Action)
				}
			}
		})
	}
}

func deployWithEnv(t *testing.T, getenv func(string) (string, bool), args []string) (*run.Report, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	err := cli.Main(ctx, args, cli.Streams{In: strings.NewReader(""), Out: &out, Err: &errb}, getenv)
	var rep run.Report
	if out.Len() > 0 {
		_ = json.Unmarshal(out.Bytes(), &rep)
	}
	return &rep, errb.String(), err
}
