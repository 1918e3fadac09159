package deploy

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/distribution/reference"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Fuzz targets for the "image name as selector" rule (PinImages, matchImage).

// docSplitTag splits an image reference into name and tag the way PinImages' doc describes
// references: the tag follows the last ':' that is not followed by a '/' (so "reg:5000/a" has
// no tag). Written independently of splitTag, as the oracle's half.
func docSplitTag(ref string) (name, tag string, tagged bool) {
	i := strings.LastIndexByte(ref, ':')
	if i < 0 || strings.Contains(ref[i:], "/") {
		return ref, "", false
	}
	return ref[:i], ref[i+1:], true
}

// docMatch is PinImages' documented rule, as an oracle: exact match; otherwise (neither side a
// digest reference) a key equal to img once a trailing ":latest" is dropped on both sides;
// otherwise (neither a digest) an untagged key equal to img's name; otherwise a relative key
// (devfile/library's selector) with img's short name. Among several keys for one rule, the
// lexically smallest.
func docMatch(img string, images map[string]string) (string, bool) {
	if v, ok := images[img]; ok {
		return v, true
	}
	var latest, untagged, selectors []string
	name, _, _ := docSplitTag(img)
	for k := range images {
		if !strings.Contains(img, "@") && !strings.Contains(k, "@") {
			if strings.TrimSuffix(k, ":latest") == strings.TrimSuffix(img, ":latest") {
				latest = append(latest, k)
			}
			if _, tag, _ := docSplitTag(k); tag == "" && k == name {
				untagged = append(untagged, k)
			}
		}
		if docSelects(k, img) {
			selectors = append(selectors, k)
		}
	}
	for _, ks := range [][]string{latest, untagged, selectors} {
		if len(ks) > 0 {
			return images[slices.Min(ks)], true
		}
	}
	return "", false
}

// docSelects is devfile/library v2.4.0's hasMatch for a relative image component name key
// (pkg/devfile/imageNameSelector.go), except that an image that does not parse matches nothing.
func docSelects(key, img string) bool {
	k, err := reference.ParseNormalizedNamed(key)
	if err != nil || k.String() == key {
		return false // absolute names are no selectors
	}
	i, err := reference.ParseNormalizedNamed(img)
	if err != nil {
		return false
	}
	base := func(n reference.Named) string {
		parts := strings.Split(reference.Path(n), "/")
		return parts[len(parts)-1]
	}
	return base(k) == base(i)
}

// FuzzMatchImage checks matchImage against the documented rule with up to three keys (each
// mapped to a value naming it), and that the answer does not depend on map iteration order.
func FuzzMatchImage(f *testing.F) {
	for _, s := range [][4]string{
		{"web", "web", "tools", "reg.example/tools:2.0"},
		{"web:v2", "web", "web:v2", ""},
		{"web:latest", "web", "", ""},
		{"web", "web:latest", "", ""},
		{"web:latest", "web", "web:latest", "web:v1"},
		{"web@sha256:0000000000000000000000000000000000000000000000000000000000000000", "web", "", ""},
		{"quay.io/x/other:1", "other", "quay.io/x/other", ""},
		{"reg.example/tools:1.0", "reg.example/tools:2.0", "reg.example/tools", ""},
		{"localhost:5000/web", "localhost", "localhost:5000/web:latest", ""},
		{"localhost:5000", "localhost", "", ""},
		{"tools:latest", "tools", "", ""},
		{"", "", ":latest", ""},
		{":latest", "", "", ""},
		{":", "", "0", ""},
		{"web:", "web", "", ""},
		{"quay.io/me/web:v1", "web", "me/web", ""},
		{"{{CONTAINER_IMAGE}}", "{{CONTAINER_IMAGE}}", "", ""},
		{"quay.io/x/web:1.2@sha256:0000000000000000000000000000000000000000000000000000000000000000", "web", "", ""},
		{"ghcr.io/u/web-db:1", "web", "org/web", "quay.io/web"},
		{"docker.io/library/web", "org/web:v1", "docker.io/library/web:v2", ""},
		{"Web", "web", "", ""},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	f.Fuzz(func(t *testing.T, img, k1, k2, k3 string) {
		images := map[string]string{}
		for _, k := range []string{k1, k2, k3} {
			images[k] = "to:" + k
		}
		got, ok := matchImage(img, images)
		for range 3 { // map iteration order differs between calls
			if g, o := matchImage(img, images); g != got || o != ok {
				t.Fatalf("matchImage(%q, %q) = %q, %v, then %q, %v", img, images, got, ok, g, o)
			}
		}
		want, wantOK := docMatch(img, images)
		if got != want || ok != wantOK {
			t.Fatalf("matchImage(%q, %q) = %q, %v; the documented rule gives %q, %v", img, images, got, ok, want, wantOK)
		}
	})
}

// imageChange is one container image PinImages changed.
type imageChange struct{ path, from, to string }

// diffImages compares before and after (the same objects before and after PinImages) and
// returns the container images that differ; any other difference is an error.
func diffImages(before, after any, path string, inContainer bool) ([]imageChange, error) {
	switch b := before.(type) {
	case map[string]any:
		a, ok := after.(map[string]any)
		if !ok || len(a) != len(b) {
			return nil, fmt.Errorf("%s: changed shape", path)
		}
		var out []imageChange
		for k, bv := range b {
			av, ok := a[k]
			if !ok {
				return nil, fmt.Errorf("%s.%s: removed", path, k)
			}
			if bs, ok := bv.(string); ok && inContainer && k == "image" {
				as, ok := av.(string)
				if !ok {
					return nil, fmt.Errorf("%s.image: no longer a string", path)
				}
				if as != bs {
					out = append(out, imageChange{path + ".image", bs, as})
				}
				continue
			}
			_, isList := bv.([]any)
			c, err := diffImages(bv, av, path+"."+k, isList && isContainerList(k))
			if err != nil {
				return nil, err
			}
			out = append(out, c...)
		}
		return out, nil
	case []any:
		a, ok := after.([]any)
		if !ok || len(a) != len(b) {
			return nil, fmt.Errorf("%s: changed shape", path)
		}
		var out []imageChange
		for i := range b {
			c, err := diffImages(b[i], a[i], fmt.Sprintf("%s[%d]", path, i), inContainer)
			if err != nil {
				return nil, err
			}
			out = append(out, c...)
		}
		return out, nil
	default:
		if !reflect.DeepEqual(before, after) {
			return nil, fmt.Errorf("%s: %v changed to %v", path, before, after)
		}
		return nil, nil
	}
}

// FuzzPinImages pins the images of fuzzed manifests. PinImages must not panic; it may change
// only the image of containers, initContainers and ephemeralContainers elements, each to what
// matchImage gives, and returns how many it changed; pinning again changes nothing, since an
// image equal to a pinned reference is left alone.
func FuzzPinImages(f *testing.F) {
	const deployment = `apiVersion: apps/v1
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
	f.Add(deployment, "web", "tools")
	f.Add(deployment, "reg.example/tools:1.0", "web:v2")
	f.Add("apiVersion: v1\nkind: List\nmetadata: {name: l}\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: p}\n  spec:\n    containers: [{name: a, image: app}]\n    ephemeralContainers: [{name: d, image: app:debug}]\n", "app", "app:debug")
	f.Add("apiVersion: x/v1\nkind: Custom\nmetadata: {name: c}\nspec:\n  containers: [{image: app, containers: [{image: app}]}, \"app\", {image: 1}]\n", "app", "")
	paths, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "corpus", "dev", "*", "*.yaml"))
	more, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "corpus", "dev", "*", "kubernetes", "*.yaml"))
	for _, p := range append(paths, more...) {
		if filepath.Base(p) == "devfile.yaml" {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b), "{{CONTAINER_IMAGE}}", "my-image")
	}
	f.Fuzz(func(t *testing.T, manifest, k1, k2 string) {
		if len(manifest) > 64<<10 {
			t.Skip()
		}
		objs, err := Decode(manifest, "fuzz")
		if err != nil {
			return
		}
		images := map[string]string{
			k1: "127.0.0.1:5000/one:abc@sha256:1111",
			k2: "127.0.0.1:5000/two:def@sha256:2222",
		}
		before := make([]*unstructured.Unstructured, len(objs))
		for i, o := range objs {
			before[i] = o.DeepCopy()
		}
		n := PinImages(objs, images)
		var changes []imageChange
		for i := range objs {
			c, err := diffImages(before[i].Object, objs[i].Object, fmt.Sprintf("object %d", i), false)
			if err != nil {
				t.Fatalf("PinImages changed more than container images: %v", err)
			}
			changes = append(changes, c...)
		}
		if n != len(changes) {
			t.Fatalf("PinImages returned %d, changed %d images: %v", n, len(changes), changes)
		}
		for _, c := range changes {
			if to, ok := matchImage(c.from, images); !ok || to != c.to {
				t.Fatalf("%s: %q pinned to %q; matchImage gives %q, %v", c.path, c.from, c.to, to, ok)
			}
		}
		if again := PinImages(objs, images); again != 0 {
			t.Fatalf("pinning again changed %d images", again)
		}
	})
}
