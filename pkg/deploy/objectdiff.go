package deploy

import "k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

// DiffObject fills d's Live, Merged, Diff and Action from live (the object in the cluster,
// nil when it does not exist) and merged (the object as a deploy would leave it, nil when the
// deploy deletes it), masked and compared exactly as Applier.Diff compares manifests (see
// there), so that objects deployed by other means — the objects of Helm releases — diff the
// same way. d's APIVersion, Kind, Namespace and Name must be set; keepStatus keeps status
// (the rendered object sets it).
func DiffObject(d *ObjectDiff, live, merged *unstructured.Unstructured, keepStatus bool) {
	fillDiff(d, live, merged, keepStatus)
}
