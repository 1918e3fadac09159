package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/devtool/devtool/pkg/cli"
	"github.com/devtool/devtool/test/testenv"
)

// devtoolWithEnv runs devtool in process with the given environment and returns stdout and
// stderr.
func devtoolWithEnv(t *testing.T, env map[string]string, args ...string) (string, string, error) {
	t.Helper()
	// stderr is written concurrently by -v's logger and the progress sink (fine for an
	// *os.File, not for a bytes.Buffer): lock it.
	var out bytes.Buffer
	var errb lockedBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	err := cli.Main(ctx, args, cli.Streams{In: strings.NewReader(""), Out: &out, Err: &errb}, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	t.Logf("devtool %s\nstderr:\n%s", strings.Join(args, " "), errb.String())
	return out.String(), errb.String(), err
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestCreatePullSecret: deploy --create-pull-secret with the hello sample pushed to a registry
// requiring basic auth (credentials from the docker config DOCKER_CONFIG names) creates a
// kubernetes.io/dockerconfigjson Secret devtool-pull-hello in the workloads' namespace with
// those credentials, labelled and applied by devtool's field manager; the Deployment lists it
// in imagePullSecrets; a second deploy leaves it unchanged; neither the password nor the
// encoded credentials appear in stdout or stderr (-o json, --progress json, -v); render
// shows it redacted; undeploy deletes it. Without credentials the deploy stops before
// changing anything, naming the registry.
func TestCreatePullSecret(t *testing.T) {
	e := setup(t)
	const user, password = "puller", "pull-s3cret-42"
	reg := testenv.StartSecureRegistry(t, user, password, false)
	dir := sample(t, "hello")
	env := map[string]string{"DOCKER_CONFIG": testenv.WriteDockerConfig(t, reg.Host, user, password)}
	common := []string{"--devfile", dir, "--kubeconfig", e.kubeconfig, "--image-registry", reg.Host + "/demo",
		"--var", "BASE_IMAGE=" + e.base, "--var", "NAMESPACE=pull-e2e"}
	secretWords := []string{password, base64.StdEncoding.EncodeToString([]byte(user + ":" + password))}
	noSecret := func(what, s string) {
		t.Helper()
		for _, w := range secretWords {
			if strings.Contains(s, w) {
				t.Errorf("%s contains a credential (%q…)", what, w[:4])
			}
		}
	}

	deployArgs := append([]string{"deploy", "--create-pull-secret", "-o", "json", "--progress", "json", "-v"}, common...)
	out, errOut, err := devtoolWithEnv(t, env, deployArgs...)
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	noSecret("deploy stdout", out)
	noSecret("deploy stderr", errOut)
	if !strings.Contains(out, `"kind": "Secret"`) || !strings.Contains(out, `"name": "devtool-pull-hello"`) {
		t.Errorf("the DeployReport does not list the Secret:\n%s", out)
	}

	secret, err := e.get(t, secrets, "pull-e2e", "devtool-pull-hello")
	if err != nil {
		t.Fatalf("pull Secret: %v", err)
	}
	if typ, _, _ := unstructured.NestedString(secret.Object, "type"); typ != "kubernetes.io/dockerconfigjson" {
		t.Errorf("Secret type %q", typ)
	}
	if l := secret.GetLabels(); l["app.kubernetes.io/managed-by"] != "devtool" || l["app.kubernetes.io/name"] != "hello" || l["applyset.kubernetes.io/part-of"] == "" {
		t.Errorf("Secret labels %v: want devtool's and the inventory's", l)
	}
	enc, _, _ := unstructured.NestedString(secret.Object, "data", ".dockerconfigjson")
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Auths map[string]struct{ Username, Password, Auth string } `json:"auths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if a := doc.Auths[reg.Host]; a.Username != user || a.Password != password || a.Auth != secretWords[1] {
		t.Errorf("Secret credentials for %s: user %q, want %q (and the password and auth); registries %d", reg.Host, a.Username, user, len(doc.Auths))
	}
	dep, err := e.get(t, deployments, "pull-e2e", "hello")
	if err != nil {
		t.Fatal(err)
	}
	ips, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "imagePullSecrets")
	if len(ips) != 1 || ips[0].(map[string]any)["name"] != "devtool-pull-hello" {
		t.Errorf("Deployment imagePullSecrets = %v, want [devtool-pull-hello]", ips)
	}

	out, errOut, err = devtoolWithEnv(t, env, append([]string{"deploy", "--create-pull-secret", "-o", "json"}, common...)...)
	if err != nil {
		t.Fatalf("second deploy: %v", err)
	}
	if !strings.Contains(out, `"action": "unchanged"`) || strings.Contains(out, `"action": "configured"`) {
		t.Errorf("second deploy changed objects:\n%s", out)
	}
	noSecret("second deploy", out+errOut)

	out, errOut, err = devtoolWithEnv(t, env, "render", "--create-pull-secret", "--devfile", dir, "--image-registry", reg.Host+"/demo",
		"--var", "BASE_IMAGE="+e.base, "--var", "NAMESPACE=pull-e2e")
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	noSecret("render", out+errOut)
	if !strings.Contains(out, "devtool-pull-hello") || !strings.Contains(out, "REDACTED") {
		t.Errorf("render does not show the redacted Secret:\n%s", out)
	}

	// diff with the same credentials: nothing differs (the Secret and imagePullSecrets
	// included), and the Secret's values are masked.
	out, errOut, err = devtoolWithEnv(t, env, append([]string{"diff", "--create-pull-secret", "-o", "json"}, common...)...)
	if err != nil {
		t.Errorf("diff after deploy: %v (want no differences)\n%s", err, out)
	}
	noSecret("diff", out+errOut)
	// Another password: the Secret differs, masked.
	other := map[string]string{"DOCKER_CONFIG": testenv.WriteDockerConfig(t, reg.Host, user, "other-pass")}
	out, errOut, err = devtoolWithEnv(t, other, append([]string{"diff", "--create-pull-secret"}, common...)...)
	if err == nil || !strings.Contains(out, "devtool-pull-hello") || strings.Contains(out+errOut, "other-pass") {
		t.Errorf("diff with other credentials: err %v, want a difference in the masked Secret:\n%s", err, out)
	}
	noSecret("diff (other credentials)", out+errOut)

	if _, _, err := devtoolWithEnv(t, env, "undeploy", "--devfile", dir, "--kubeconfig", e.kubeconfig); err != nil {
		t.Fatalf("undeploy: %v", err)
	}
	if _, err := e.get(t, secrets, "pull-e2e", "devtool-pull-hello"); !apierrors.IsNotFound(err) {
		t.Errorf("after undeploy the Secret: %v, want not found", err)
	}

	// No credentials: refused before anything changes.
	noCreds := map[string]string{"DOCKER_CONFIG": t.TempDir()}
	args := []string{"deploy", "--create-pull-secret", "--devfile", dir, "--kubeconfig", e.kubeconfig, "--image-registry", reg.Host + "/demo",
		"--var", "BASE_IMAGE=" + e.base, "--var", "NAMESPACE=pull-e2e-none"}
	_, _, err = devtoolWithEnv(t, noCreds, args...)
	if err == nil || !strings.Contains(err.Error(), "no credentials for registry "+reg.Host) || !strings.Contains(err.Error(), "docker login "+reg.Host) {
		t.Fatalf("deploy without credentials: %v, want an error naming the registry and docker login", err)
	}
	if _, err := e.get(t, namespaces, "", "pull-e2e-none"); !apierrors.IsNotFound(err) {
		t.Errorf("the failed deploy created its namespace: %v", err)
	}
}
