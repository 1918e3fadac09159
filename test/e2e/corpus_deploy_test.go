package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/devtool/devtool/pkg/cli"
	"github.com/devtool/devtool/pkg/devfile"
	"github.com/devtool/devtool/pkg/plan"
	"github.com/devtool/devtool/pkg/vars"
	"github.com/devtool/devtool/test/testenv"
)

// corpusDeployWant lists the corpus cases whose deploy must fail, by name suffix, with the
// error code and what the message must name. Everything else must deploy.
var corpusDeployWant = map[string]struct {
	code string
	want []string
}{
	// OpenShift Routes and ServiceBindings are not served by a plain kube-apiserver: the
	// preflight names the kind before anything is built or changed.
	"dotnet_final_devfile_openshift.mdx": {"InvalidManifest", []string{"unknown kind Route"}},
	"nodejs_final_devfile_openshift.mdx": {"InvalidManifest", []string{"unknown kind Route"}},
	"devfile-deploy-with-SB.yaml":        {"InvalidManifest", []string{"unknown kind ServiceBinding"}},
	// imageName is literally quay.io/unknown-account/myimage: pushing needs quay.io, which is
	// unreachable here; the cache lookup names the registry.
	"devfile-outerloop.yaml": {"BuildFailed", []string{"registry quay.io", "check that the registry is reachable"}},
	// buildContext: /project — a directory of the machine, not of the project: devtool refuses
	// to read (and push) it unless --allow-outside-project.
	"outerloop-dockerfile-build-inlined-deploy-devfile.yaml": {"InvalidInput", []string{`dockerfile.buildContext "/project"`, "outside the project directory", "--allow-outside-project"}},
}

// corpusExecWant are the cases with exec commands in their deploy command, which run as
// Kubernetes Jobs (odo v3's behaviour), by name suffix: the Jobs each must run.
var corpusExecWant = map[string][]string{
	"devfile-deploy-exec.yaml": {"nodejs-prj1-api-abhz-deploy-exec"},
}

// corpusMirrors are the public images the exec cases' container components name: the node
// pulls them from its own registry, where they are the busybox image (the commands are shell
// one-liners such as `echo Hello world`).
var corpusMirrors = []struct{ host, repo string }{
	{"registry.access.redhat.com", "ubi8/nodejs-14:latest"},
}

// externalImage matches image references on a registry host (a dotted name or localhost, with
// an optional port): the values the corpus' variables give for images to push.
var externalImage = regexp.MustCompile(`^(localhost|[a-z0-9-]+(\.[a-z0-9-]+)+)(:[0-9]+)?/`)

// TestDeployCorpus deploys every deployable real devfile of the corpus to the real API server:
// each image component gets a stand-in RUN-free Dockerfile on the loopback busybox image (the
// corpus has no application sources, and public base images cannot be pulled here), variables
// that name images on public registries are pointed at the loopback registry with --var (as
// odo's own tests do), and each case deploys into its own namespace (-n). The cases with exec
// commands deploy to the test node, where their Jobs run for real: the container images they
// name on public registries are the busybox image, served by the node's registry as a mirror
// of those registries (corpusMirrors).
func TestDeployCorpus(t *testing.T) {
	plain := setup(t)
	ctx := context.Background()
	deployed, pinned, execs := 0, 0, 0
	for i, c := range testenv.Corpus(t) {
		if c.Kind == "invalid" || c.RegistryParent != "" {
			continue // covered by pkg/cli's TestCorpus: rejected before any deploy
		}
		t.Run(c.Name, func(t *testing.T) {
			e := plain
			if _, ok := suffixMatch(corpusExecWant, c.Name); ok {
				var n *testenv.Node
				e, n = nodeSetup(t)
				for _, m := range corpusMirrors {
					if err := n.Mirror(m.host); err != nil {
						t.Fatal(err)
					}
					if err := n.CopyImage(ctx, n.Busybox, m.repo); err != nil {
						t.Fatal(err)
					}
				}
			}
			dir := testenv.CopyProject(t, c)
			testenv.WriteStandInManifests(t, c, dir)
			d, err := devfile.Load(ctx, dir, devfile.LoadOptions{})
			if err != nil {
				if strings.HasSuffix(c.Name, "variables_test-fixtures_all_devfile-good.yaml") {
					return // no schemaVersion: rejected by validate (pkg/cli TestCorpus)
				}
				t.Fatal(err)
			}
			p, err := plan.Compile(d, plan.Options{})
			if err != nil {
				t.Fatal(err)
			}
			args := []string{"deploy", "--devfile", dir, "--kubeconfig", e.kubeconfig, "--image-registry", e.registry + "/corpus", "-o", "json"}
			res := vars.New(vars.Layer{Source: "devfile", Values: d.Variables})
			for k, v := range d.Variables {
				if externalImage.MatchString(v) {
					name := v[strings.LastIndex(v, "/")+1:]
					args = append(args, "--var", fmt.Sprintf("%s=%s/corpus/%s", k, e.registry, strings.ToLower(name)))
				}
			}
			for _, comp := range d.Components {
				if comp.Image == nil || comp.Image.Dockerfile == nil {
					continue
				}
				writeStandInDockerfile(t, dir, res, comp.Image.Dockerfile, e.base)
			}
			ns := fmt.Sprintf("corpus-%d", i)
			nsObj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns}}}
			if _, err := e.client.Resource(namespaces).Create(ctx, nsObj, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			args = append(args, "-n", ns)

			rep, _, err := devtool(t, args...)
			wantJobs, _ := suffixMatch(corpusExecWant, c.Name)
			var gotJobs []string
			for _, x := range rep.Execs {
				gotJobs = append(gotJobs, x.Name)
			}
			if strings.Join(gotJobs, ",") != strings.Join(wantJobs, ",") {
				t.Errorf("Jobs run: %v, want %v", gotJobs, wantJobs)
			}
			code, _ := cli.Classify(err)
			if want, ok := suffixMatch(corpusDeployWant, c.Name); ok {
				if code != want.code {
					t.Fatalf("deploy: code %q (%v), want %q", code, err, want.code)
				}
				for _, w := range want.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error does not contain %q: %v", w, err)
					}
				}
				if len(rep.Objects) != 0 {
					t.Errorf("a refused deploy applied %d objects", len(rep.Objects))
				}
				return
			}
			if len(p.Steps) == 0 {
				if code != "InvalidInput" || !strings.Contains(err.Error(), "no command of group kind deploy") {
					t.Fatalf("deploy of a devfile with nothing to deploy: %s %v", code, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("deploy: %s: %v", code, err)
			}
			deployed++
			if len(rep.Execs) != len(wantJobs) {
				t.Errorf("report execs = %+v, want %v", rep.Execs, wantJobs)
			}
			for _, x := range rep.Execs {
				execs++
				if x.Outcome != "succeeded" || !x.Deleted || x.Namespace != ns {
					t.Errorf("exec %+v: want succeeded and deleted, in %s", x, ns)
				}
				if _, err := e.client.Resource(batchJobs).Namespace(ns).Get(ctx, x.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
					t.Errorf("Job %s/%s is still there after it succeeded (%v)", ns, x.Name, err)
				}
			}
			for _, im := range rep.Images {
				if !strings.HasPrefix(im.Repository, e.registry+"/") || !strings.HasPrefix(im.Digest, "sha256:") {
					t.Errorf("image %+v: want a digest in the loopback registry", im)
				}
			}
			for _, o := range rep.Objects {
				if o.Action != "created" {
					t.Errorf("%s %s/%s: %s, want created", o.Kind, o.Namespace, o.Name, o.Action)
				}
			}
			// Every container image that names a built image runs it by digest.
			built := func(img string) bool {
				for _, im := range rep.Images {
					if strings.HasPrefix(img, im.Repository+":") || img == im.Repository {
						return true
					}
				}
				return false
			}
			for _, o := range rep.Objects {
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
					if built(img) {
						if !strings.Contains(img, "@sha256:") {
							t.Errorf("Deployment %s runs %s, not pinned by digest", o.Name, img)
						}
						pinned++
					}
				}
			}
		})
	}
	t.Logf("%d corpus devfiles deployed, %d containers run a built image by digest, %d exec commands ran as Jobs", deployed, pinned, execs)
	if execs < 1 {
		t.Errorf("no exec command of the corpus ran as a Job")
	}
	if deployed < 20 || pinned < 15 {
		t.Errorf("only %d corpus devfiles deployed (%d pinned containers); the corpus has more than 20 deployable ones", deployed, pinned)
	}
}

func suffixMatch[T any](m map[string]T, name string) (T, bool) {
	for k, v := range m {
		if strings.HasSuffix(name, k) {
			return v, true
		}
	}
	var zero T
	return zero, false
}

// writeStandInDockerfile writes a RUN-free Dockerfile on base at the image component's
// Dockerfile location (replacing the real one: its base image cannot be pulled here) and makes
// sure the build context exists.
func writeStandInDockerfile(t *testing.T, dir string, res *vars.Resolver, df *devfile.Dockerfile, base string) {
	t.Helper()
	uri := res.Substitute(df.URI, "uri", nil)
	bc := res.Substitute(df.BuildContext, "buildContext", nil)
	for _, v := range []string{"${PROJECTS_ROOT}", "${PROJECT_SOURCE}"} {
		bc = strings.ReplaceAll(bc, v, dir)
	}
	if bc == "" {
		bc = dir
	}
	if !filepath.IsAbs(bc) {
		bc = filepath.Join(dir, bc)
	}
	if rel, err := filepath.Rel(dir, bc); err != nil || strings.HasPrefix(rel, "..") {
		return // outside the project: devtool refuses it (corpusDeployWant); touch nothing there
	}
	if err := os.MkdirAll(bc, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(bc, "Dockerfile")
	if uri != "" {
		path = filepath.Join(dir, uri)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	content := "FROM " + base + "\nCOPY . /app/\nWORKDIR /app\nCMD [\"sh\"]\n"
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
