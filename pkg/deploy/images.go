package deploy

import (
	"slices"
	"strings"

	"github.com/distribution/reference"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// SetLabels merges labels into metadata.labels of every object (existing keys are
// overwritten). Pod templates and selectors are deliberately left alone: changing them would
// change a Deployment's selector, which is immutable, and restart pods.
func SetLabels(objs []*unstructured.Unstructured, labels map[string]string) {
	if len(labels) == 0 {
		return
	}
	for _, o := range objs {
		l := o.GetLabels()
		if l == nil {
			l = make(map[string]string, len(labels))
		}
		for k, v := range labels {
			l[k] = v
		}
		o.SetLabels(l)
	}
}

// PinImages replaces container images with the references of the images devtool built.
// images maps an image name as written in the devfile (image component's imageName, or the
// repository devtool qualified it to) to the reference to deploy (usually a digest
// reference). Every "image" of every element of a containers, initContainers or
// ephemeralContainers list, at any depth, is replaced when it matches a key, by the first
// rule that applies, among several keys the lexically smallest:
//
//  1. an exact match ("web" matches "web", "reg/web:v1" matches "reg/web:v1");
//  2. equal once a trailing ":latest" is dropped on both sides ("web" matches "web:latest");
//  3. a key without a tag matches the same name with any tag ("reg/web" matches "reg/web:v2");
//  4. a relative key — one that github.com/distribution/reference normalises to something
//     else, such as "web", "org/web:1" or "web@sha256:…" (not "quay.io/web" or
//     "docker.io/library/web") — is a selector: it matches every image whose last path
//     element is the key's, whatever registry, path, tag or digest the image carries
//     ("web" matches "quay.io/x/web:1.2@sha256:…", not "web-db" nor "web/db").
//
// Rules 2 and 3 skip digest references. Rule 4 is devfile/library v2.4.0
// pkg/devfile/imageNameSelector.go (replaceImageNames, hasMatch, getImageSimpleName), which
// odo v3 uses for "image names as selectors"; unlike the library, an image that does not parse
// as a reference (a leftover "{{VAR}}", upper case) is left alone instead of failing the
// load. An image that already equals one of the references in images is left alone, so
// pinning twice changes nothing. It returns how many image values were replaced.
func PinImages(objs []*unstructured.Unstructured, images map[string]string) int {
	if len(images) == 0 {
		return 0
	}
	pinned := make(map[string]bool, len(images))
	for _, v := range images {
		pinned[v] = true
	}
	n := 0
	for _, o := range objs {
		n += pinIn(o.Object, images, pinned)
	}
	return n
}

func pinIn(v any, images map[string]string, pinned map[string]bool) int {
	n := 0
	switch t := v.(type) {
	case map[string]any:
		for k, child := range t {
			if isContainerList(k) {
				if list, ok := child.([]any); ok {
					for _, c := range list {
						cm, ok := c.(map[string]any)
						if !ok {
							continue
						}
						if img, ok := cm["image"].(string); ok && !pinned[img] {
							if to, ok := matchImage(img, images); ok && to != img {
								cm["image"] = to
								n++
							}
						}
					}
				}
			}
			n += pinIn(child, images, pinned)
		}
	case []any:
		for _, child := range t {
			n += pinIn(child, images, pinned)
		}
	}
	return n
}

// isContainerList reports whether k names a list of containers (core/v1 PodSpec) — found at
// any depth: Pods, workload pod templates (Deployment, StatefulSet, Job, CronJob's
// jobTemplate, …) and custom resources that embed a PodSpec.
func isContainerList(k string) bool {
	switch k {
	case "containers", "initContainers", "ephemeralContainers":
		return true
	}
	return false
}

// matchImage applies PinImages' rules to one image value.
func matchImage(img string, images map[string]string) (string, bool) {
	if to, ok := images[img]; ok {
		return to, true
	}
	digest := strings.Contains(img, "@")
	imgNorm := strings.TrimSuffix(img, ":latest")
	imgName, _ := splitTag(img)
	imgShort, imgParses := shortName(img)
	// Deterministic despite map iteration: the lowest rule, then the lexically smallest key.
	const none = 5
	best, bestRank := "", none
	for k := range images {
		rank := none
		switch {
		case !digest && !strings.Contains(k, "@") && strings.TrimSuffix(k, ":latest") == imgNorm:
			rank = 2
		case !digest && !strings.Contains(k, "@") && !hasTag(k) && k == imgName:
			rank = 3
		case imgParses && isSelector(k, imgShort):
			rank = 4
		}
		if rank < bestRank || (rank == bestRank && rank < none && k < best) {
			best, bestRank = k, rank
		}
	}
	if bestRank == none {
		return "", false
	}
	return images[best], true
}

// isSelector reports whether key is a relative image name whose last path element is short
// (devfile/library parseImageReference: relative when the normalised form differs).
func isSelector(key, short string) bool {
	ref, err := reference.ParseNormalizedNamed(key)
	if err != nil || ref.String() == key {
		return false
	}
	return lastElem(reference.Path(ref)) == short
}

// shortName is the last path element of ref's repository ("quay.io/x/web:1@sha256:…" →
// "web"); ok is false when ref does not parse as an image reference.
func shortName(ref string) (string, bool) {
	r, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", false
	}
	return lastElem(reference.Path(r)), true
}

func lastElem(path string) string {
	return path[strings.LastIndex(path, "/")+1:]
}

// splitTag splits "reg:5000/a/b:tag" into ("reg:5000/a/b", "tag"); the tag is "" if absent.
func splitTag(ref string) (name, tag string) {
	slash := strings.LastIndex(ref, "/")
	colon := strings.LastIndex(ref, ":")
	if colon > slash {
		return ref[:colon], ref[colon+1:]
	}
	return ref, ""
}

func hasTag(ref string) bool {
	_, tag := splitTag(ref)
	return tag != ""
}

// ImagesOf lists the container images (containers, initContainers, ephemeralContainers at
// any depth) of objs, each once, in order of first appearance.
func ImagesOf(objs []*unstructured.Unstructured) []string {
	var out []string
	seen := map[string]bool{}
	for _, o := range objs {
		collectImages(o.Object, seen, &out)
	}
	return out
}

func collectImages(v any, seen map[string]bool, out *[]string) {
	switch t := v.(type) {
	case map[string]any:
		// Sorted keys are not needed for the images' own order (a list), but map iteration
		// order would make the order between sibling keys random; visit the container lists
		// first, in a fixed order, then the rest sorted.
		for _, k := range []string{"containers", "initContainers", "ephemeralContainers"} {
			if list, ok := t[k].([]any); ok {
				for _, c := range list {
					if cm, ok := c.(map[string]any); ok {
						if img, ok := cm["image"].(string); ok && img != "" && !seen[img] {
							seen[img] = true
							*out = append(*out, img)
						}
					}
				}
			}
		}
		for _, k := range sortedKeys(t) {
			collectImages(t[k], seen, out)
		}
	case []any:
		for _, child := range t {
			collectImages(child, seen, out)
		}
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
