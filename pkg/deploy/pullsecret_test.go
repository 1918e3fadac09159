package deploy

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

func TestAddImagePullSecret(t *testing.T) {
	objs, err := Decode(`apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      containers: [{name: c, image: x}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: cj}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          imagePullSecrets: [{name: other}]
          containers: [{name: c, image: x}]
---
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  imagePullSecrets: [{name: pull}]
  containers: [{name: c, image: x}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cm}
`, "test")
	if err != nil {
		t.Fatal(err)
	}
	changed := AddImagePullSecret(objs, "pull")
	var names []string
	for _, o := range changed {
		names = append(names, o.GetName())
	}
	if d := cmp.Diff([]string{"d", "cj"}, names); d != "" {
		t.Errorf("changed (-want +got):\n%s", d)
	}
	want := map[string][]any{
		"d":  {map[string]any{"name": "pull"}},
		"cj": {map[string]any{"name": "other"}, map[string]any{"name": "pull"}},
		"p":  {map[string]any{"name": "pull"}},
	}
	for _, o := range objs {
		specs := PodSpecs(o)
		if o.GetKind() == "ConfigMap" {
			if len(specs) != 0 {
				t.Errorf("ConfigMap has pod specs")
			}
			continue
		}
		if d := cmp.Diff(want[o.GetName()], specs[0]["imagePullSecrets"]); d != "" {
			t.Errorf("%s imagePullSecrets (-want +got):\n%s", o.GetName(), d)
		}
	}
}

func TestPullSecretRedacted(t *testing.T) {
	s := PullSecret("devtool-pull-x", "ns", []byte(`{"auths":{"r":{"auth":"c2VjcmV0"}}}`), map[string]string{"a": "b"})
	r := Redacted(s)
	b, _ := yaml.Marshal(r.Object)
	want := "apiVersion: v1\ndata:\n  .dockerconfigjson: REDACTED\nkind: Secret\nmetadata:\n  labels:\n    a: b\n  name: devtool-pull-x\n  namespace: ns\ntype: kubernetes.io/dockerconfigjson\n"
	if d := cmp.Diff(want, string(b)); d != "" {
		t.Errorf("redacted (-want +got):\n%s", d)
	}
	if v, _, _ := unstructured.NestedString(s.Object, "data", ".dockerconfigjson"); v == "REDACTED" {
		t.Error("Redacted changed the original")
	}
}
