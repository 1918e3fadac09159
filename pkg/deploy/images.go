package deploy

import (
	"slices"
	"strings"

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
// images maps an image name as written in the devfile (image component's imageName) to the
// reference to deploy (usually a digest reference). Every "image" of every element of a
// containers, initContainers or ephemeralContainers list, at any depth, is replaced when it
// matches a key. This is odo's "image name as selector" rule:
//
//   - an exact match ("web" matches "web", "reg/web:v1" matches "reg/web:v1");
//   - a trailing ":latest" is ignored on both sides ("web" matches "web:latest" and
//     "web:latest" matches "web");
//   - a key without a tag matches the same name with any tag ("web" matches "web:v2"); a key
//     with a tag other than latest only matches that tag.
//
// Digest references ("web@sha256:…") only match exactly. Exact matches win over the other
// rules. It returns how many image values were replaced.
func PinImages(objs []*unstructured.Unstructured, images map[string]string) int {
	if len(images) == 0 {
		return 0
	}
	n := 0
	for _, o := range objs {
		n += pinIn(o.Object, images)
	}
	return n
}

func pinIn(v any, images map[string]string) int {
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
						if img, ok := cm["image"].(string); ok {
							if to, ok := matchImage(img, images); ok && to != img {
								cm["image"] = to
								n++
							}
						}
					}
				}
			}
			n += pinIn(child, images)
		}
	case []any:
		for _, child := range t {
			n += pinIn(child, images)
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

// matchImage applies PinImages' rule to one image value.
func matchImage(img string, images map[string]string) (string, bool) {
	if to, ok := images[img]; ok {
		return to, true
	}
	if strings.Contains(img, "@") {
		return "", false
	}
	imgNorm := strings.TrimSuffix(img, ":latest")
	imgName, _ := splitTag(img)
	// Deterministic despite map iteration: prefer a key that matches after ":latest"
	// normalisation, then the untagged-key rule; among several, the lexically smallest key.
	best, bestRank := "", 3
	for k := range images {
		if strings.Contains(k, "@") {
			continue
		}
		rank := 3
		switch {
		case strings.TrimSuffix(k, ":latest") == imgNorm:
			rank = 1
		case !hasTag(k) && k == imgName:
			rank = 2
		}
		if rank < bestRank || (rank == bestRank && rank < 3 && k < best) {
			best, bestRank = k, rank
		}
	}
	if bestRank == 3 {
		return "", false
	}
	return images[best], true
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
