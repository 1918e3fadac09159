// Package deploy applies Kubernetes manifests to a cluster with server-side apply (field manager
// "devtool"), after checking every object against the cluster (RESTMapper + server-side dry
// run) so that bad input changes nothing, and runs Jobs to completion (RunJob: the exec commands
// of a deploy). It knows nothing about devfiles: pkg/run hands it decoded objects.
package deploy

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// FieldManager is the server-side apply field manager devtool applies with (KEP-555).
const FieldManager = "devtool"

// DryRun selects how much of an apply happens, after kubectl's --dry-run.
type DryRun string

// DryRun values.
const (
	DryRunNone   DryRun = "none"
	DryRunClient DryRun = "client"
	DryRunServer DryRun = "server"
)

// Request is one apply of a set of objects.
type Request struct {
	// Objects are the decoded manifests, in the order written. Apply orders them itself
	// (Namespaces, then CRDs, then the rest).
	Objects []*unstructured.Unstructured
	// Sources optionally names where each object was written (a file, a devfile component),
	// index for index with Objects; ObjectProblem.Source and ConflictError.Source show it.
	Sources []string
	// Namespace is the default namespace for namespaced objects that set none (kubectl -n).
	Namespace string
	// ForceConflicts takes ownership of fields owned by other field managers.
	ForceConflicts bool
	// DryRun: none applies; server sends dry-run requests; client only validates locally
	// (RESTMapper) without server requests beyond discovery.
	DryRun DryRun
	// ApplySet, when set, makes the objects members of that ApplySet (devtool's inventory,
	// KEP-3659): Validate also checks its parent, Apply labels every object
	// applyset.kubernetes.io/part-of=<ID>, and a Transaction writes the parent.
	ApplySet *ApplySet
}

// Action is what an apply did to one object.
type Action string

// Actions.
const (
	Created    Action = "created"
	Configured Action = "configured"
	Unchanged  Action = "unchanged"
	Validated  Action = "validated" // dry runs

	// Pruned: deleted by `deploy --prune`, a member of the ApplySet that this deploy did not
	// apply (Transaction commit).
	Pruned Action = "pruned"
	// Deleted: deleted by undeploy (Undeploy).
	Deleted Action = "deleted"
	// WouldPrune and WouldDelete are Pruned and Deleted in a dry run: the object is listed, and
	// with DryRunServer the delete was sent as a dry run, but nothing was deleted.
	WouldPrune  Action = "would-prune"
	WouldDelete Action = "would-delete"
)

// ObjectResult is one applied object.
type ObjectResult struct {
	APIVersion      string `json:"apiVersion"`
	Kind            string `json:"kind"`
	Namespace       string `json:"namespace,omitempty"`
	Name            string `json:"name"`
	Action          Action `json:"action"`
	ResourceVersion string `json:"resourceVersion,omitempty"`
	// Status and StatusMessage are the object's rollout status (kstatus, see Status) when the
	// deploy waited for it (deploy --wait); empty otherwise.
	Status        Status `json:"status,omitempty"`
	StatusMessage string `json:"statusMessage,omitempty"`
}

// Result lists the applied objects in apply order.
type Result struct {
	Objects []ObjectResult `json:"objects"`
}
