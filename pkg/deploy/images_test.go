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
		// "web:v2": an untagged key matches any tag; "web@sha256:…": the relative key "web" is
		// a selector whatever the digest; both deduplicated by ImagesOf.
		"quay.io/x/other:1",
		"127.0.0.1:5000/tools:def@sha256:2222", // initContainers (keys walk sorted): "tools:latest" matches key "tools"
		// "reg.example/tools:1.0": the tagged key "reg.example/tools:2.0" only matches its own
		// tag, but the relative key "tools" selects it by short name; deduplicated.
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("images after PinImages (-want +got):\n%s", diff)
	}
	if n != 5 {
		t.Errorf("PinImages replaced %d images, want 5", n)
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

// TestImageNameSelector is the "image names as selectors" table: devfile/library v2.4.0
// pkg/devfile/imageNameSelector.go (replaceImageNames: relative image names, those
// distribution/reference normalises to another string, match container images by their last
// path element "regardless of its tag, digest or registry"; absolute ones do not) and its
// imageNameSelector_test.go cases, which odo v3 relies on (odo's
// tests/examples/source/devfiles/nodejs/devfile-image-names-as-selectors.yaml).
func TestImageNameSelector(t *testing.T) {
	const digest = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
	for _, tc := range []struct {
		key, image string
		want       bool
	}{
		// A relative name matches whatever registry, path, tag or digest the image carries.
		{"myimage", "myimage", true},
		{"myimage", "myimage:1.2", true},
		{"myimage", "myimage@" + digest, true},
		{"myimage", "quay.io/x/myimage:1.2@" + digest, true},
		{"myimage", "localhost:5000/myimage", true},
		{"myimage", "docker.io/library/myimage:latest", true},
		{"org/myimage", "ghcr.io/other/myimage:v3", true}, // only the last path element counts
		{"myimage:1.0", "myimage:2.0", true},              // the key's own tag is ignored too
		{"myimage@" + digest, "quay.io/myimage", true},
		// Names that merely share a prefix or a path are left alone.
		{"myimage", "myimage-db", false},
		{"myimage", "quay.io/x/myimage2:1", false},
		{"myimage", "myimage/db", false},
		{"nodejs-devtools", "nodejs-devtools007", false},
		// Absolute names (registry host, or already canonical) are no selectors: exact rules only.
		{"quay.io/x/myimage", "ghcr.io/x/myimage", false},
		{"docker.io/library/myimage", "myimage-db", false},
		{"localhost/myimage", "quay.io/myimage", false},
		{"quay.io/x/myimage", "quay.io/x/myimage:v2", true}, // untagged key, any tag (rule 3)
		// An image that is no reference (a leftover variable, upper case) is left alone.
		{"myimage", "{{CONTAINER_IMAGE}}", false},
		{"myimage", "MyImage", false},
	} {
		t.Run(tc.key+"→"+tc.image, func(t *testing.T) {
			_, got := matchImage(tc.image, map[string]string{tc.key: "127.0.0.1:5000/built@" + digest})
			if got != tc.want {
				t.Errorf("key %q selects %q = %v, want %v", tc.key, tc.image, got, tc.want)
			}
		})
	}
}

// TestPinImagesSelectorPrefersExact checks that with several keys the lowest rule wins: an
// exact or tag match before a short-name selector, so "db" built beside "org/db" pins "db"
// to its own build.
func TestPinImagesSelectorPrefersExact(t *testing.T) {
	images := map[string]string{"db": "r/db@1", "org/db": "r/org-db@2", "quay.io/x/db": "r/quay-db@3"}
	for img, want := range map[string]string{
		"db":              "r/db@1",     // exact
		"org/db:v1":       "r/org-db@2", // untagged key, any tag beats the selectors
		"quay.io/x/db:v9": "r/quay-db@3",
		"ghcr.io/y/db":    "r/db@1", // selectors "db" and "org/db": the smallest key
	} {
		got, ok := matchImage(img, images)
		if !ok || got != want {
			t.Errorf("matchImage(%q) = %q, %v; want %q", img, got, ok, want)
		}
	}
}
