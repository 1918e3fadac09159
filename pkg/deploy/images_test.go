package deploy

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestPinImages(t *testing.T) {
	const manifest = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      initContainers:
      - {name: init, image: "tools:latest"}
      containers:
      - {name: web, image: web}
      - {name: side, image: "web:v2"}
      - {name: pinned, image: "web@sha256:0000000000000000000000000000000000000000000000000000000000000000"}
      - {name: other, image: "quay.io/x/other:1"}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: job}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers:
          - {name: c, image: "reg.example/tools:1.0"}
`
	objs, err := Decode(manifest, "test")
	if err != nil {
		t.Fatal(err)
	}
	images := map[string]string{
		"web":                   "127.0.0.1:5000/web:abc@sha256:1111",
		"tools":                 "127.0.0.1:5000/tools:def@sha256:2222",
		"reg.example/tools:2.0": "never",
	}
	n := PinImages(objs, images)
	got := ImagesOf(objs)
	want := []string{
		"127.0.0.1:5000/web:abc@sha256:1111", // exact
		// "web:v2": an untagged key matches any tag; deduplicated by ImagesOf.
		"web@sha256:0000000000000000000000000000000000000000000000000000000000000000", // digests only match exactly
		"quay.io/x/other:1",
		"127.0.0.1:5000/tools:def@sha256:2222", // initContainers (keys walk sorted): "tools:latest" matches key "tools"
		"reg.example/tools:1.0",                // a tagged key only matches its own tag
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("images after PinImages (-want +got):\n%s", diff)
	}
	if n != 3 {
		t.Errorf("PinImages replaced %d images, want 3", n)
	}
}

func TestSetLabelsLeavesSelectorsAlone(t *testing.T) {
	objs, err := Decode(`apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web, app.kubernetes.io/name: old}}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
`, "test")
	if err != nil {
		t.Fatal(err)
	}
	SetLabels(objs, map[string]string{"app.kubernetes.io/managed-by": "devtool", "app.kubernetes.io/name": "hello"})
	want := map[string]string{"app": "web", "app.kubernetes.io/managed-by": "devtool", "app.kubernetes.io/name": "hello"}
	if diff := cmp.Diff(want, objs[0].GetLabels()); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	sel, _, _ := unstructuredString(objs[0].Object, "spec", "selector", "matchLabels")
	if diff := cmp.Diff(map[string]string{"app": "web"}, sel); diff != "" {
		t.Errorf("selector changed (-want +got):\n%s", diff)
	}
	tmpl, _, _ := unstructuredString(objs[0].Object, "spec", "template", "metadata", "labels")
	if diff := cmp.Diff(map[string]string{"app": "web"}, tmpl); diff != "" {
		t.Errorf("pod template labels changed (-want +got):\n%s", diff)
	}
}

func unstructuredString(obj map[string]any, fields ...string) (map[string]string, bool, error) {
	return unstructured.NestedStringMap(obj, fields...)
}
