// Package deploy applies Kubernetes manifests to a cluster with server-side apply (one field
// manager per project, see ProjectFieldManager), after checking every object against the
// cluster (RESTMapper + server-side dry run, ownership) so that bad input changes nothing, and
// runs Jobs to completion (RunJob: the exec commands of a deploy). It knows nothing about
// devfiles: pkg/run hands it decoded objects.
//
// Ownership follows Helm's rules (see OwnershipError): a deploy does not take over an object it
// did not create unless told to (Request.Adopt), and prune and undeploy delete only what devtool
// applied for the same project, never a Namespace or CustomResourceDefinition that still holds
// objects of someone else.
//
// Speed (issue 12): a deploy dry-runs each object once (Validate; Apply reuses the result where
// nothing changed since, and skips the write of an object the dry run shows unchanged),
// applies in parallel waves that keep the order that matters (Apply), reads many objects with
// one list, does not throttle itself where the API server runs API Priority and Fairness, and
// maps kinds with one RESTMapper per Applier on the getter's discovery client (kubectl's
// on-disk discovery cache for genericclioptions.ConfigFlags).
package deploy

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// FieldManager is the server-side apply field manager (KEP-555) of requests that name none
// (Request.FieldManager empty), and the one every project shared before per-project managers
// (ProjectFieldManager): objects it manages still count as devtool's for prune and undeploy.
const FieldManager = "devtool"

// projectManagerPrefix starts every per-project field manager (ProjectFieldManager).
const projectManagerPrefix = FieldManager + "-"

// maxFieldManager is the API server's limit on a field manager's length
// (k8s.io/apiserver ValidateFieldManager).
const maxFieldManager = 128

// ProjectFieldManager returns the server-side apply field manager of a project (the devfile's
// name): "devtool-" + project when project is a lowercase DNS-label-like name ([a-z0-9-], not
// starting or ending with "-") that fits the API server's 128 characters; otherwise the project
// lowercased, with runs of other characters replaced by "-", shortened, and followed by "-" and
// 8 hex digits of sha256(project), so that different projects keep different managers. The same
// project always gets the same manager. Applying with it makes two projects that declare the
// same object conflict (a *ConflictError) instead of silently taking each other's fields.
func ProjectFieldManager(project string) string {
	return projectManagerPrefix + slug(project, maxFieldManager-len(projectManagerPrefix))
}

// slug is project when it is a clean lowercase name of at most room characters, else its
// cleaned, shortened form followed by "-" and 8 hex digits of sha256(project) (or only the
// digits when nothing is left).
func slug(project string, room int) string {
	clean := strings.Trim(nonLabelChars.ReplaceAllString(strings.ToLower(project), "-"), "-")
	if clean == project && clean != "" && len(clean) <= room {
		return project
	}
	sum := sha256.Sum256([]byte(project))
	suffix := hex.EncodeToString(sum[:4])
	if len(clean) > room-len(suffix)-1 {
		clean = strings.TrimRight(clean[:room-len(suffix)-1], "-")
	}
	if clean == "" {
		return suffix
	}
	return clean + "-" + suffix
}

// fieldManager is m, or FieldManager when m is empty.
func fieldManager(m string) string {
	if m == "" {
		return FieldManager
	}
	return m
}

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
	// (Namespaces, then CRDs, then the rest; see Apply).
	Objects []*unstructured.Unstructured
	// Sources optionally names where each object was written (a file, a devfile component),
	// index for index with Objects; ObjectProblem.Source and ConflictError.Source show it.
	Sources []string
	// Namespace is the default namespace for namespaced objects that set none (kubectl -n).
	Namespace string
	// ForceConflicts takes ownership of fields owned by other field managers.
	ForceConflicts bool
	// DryRun: none applies; server sends dry-run requests; client only validates locally
	// (RESTMapper) without server requests beyond discovery and the reads of the ownership
	// check (see Adopt), so that it reports the same refusals.
	DryRun DryRun
	// ApplySet, when set, makes the objects members of that ApplySet (devtool's inventory,
	// KEP-3659): Validate also checks its parent and who owns the objects that exist already
	// (see Adopt), Apply labels every object applyset.kubernetes.io/part-of=<ID>, and a
	// Transaction writes the parent.
	ApplySet *ApplySet
	// FieldManager is the server-side apply field manager of every request: dry runs, applies
	// and the ApplySet parent. pkg/run passes ProjectFieldManager(<devfile name>); empty means
	// FieldManager ("devtool").
	FieldManager string
	// Adopt takes over objects that exist in the cluster and were not deployed by devtool for
	// this ApplySet (they lack its part-of label): without it, Validate and Apply refuse them
	// with an *OwnershipError (Helm's rule). Adopting makes an object a member of the set, so
	// prune and undeploy may later delete it; it does not take over fields that other managers
	// own with other values (that is ForceConflicts). Only used when ApplySet is set.
	Adopt bool
	// Progress, when set, is called by Apply with each object's result as soon as that object
	// is applied (in the order they finish; from several goroutines, one call at a time per
	// object), so that progress shows objects as they happen, not when a step ends.
	Progress func(ObjectResult)
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
	// Kept: a member of the ApplySet that prune or undeploy would have deleted and left alone
	// (in a dry run too), because it is not devtool's for this project to delete: its
	// managedFields show neither the project's field manager nor the legacy "devtool", or it is
	// a Namespace or CustomResourceDefinition that still holds objects of someone else.
	// ObjectResult.Note says why.
	Kept Action = "kept"
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
	// Note says why an object was Kept: its field managers, or the first few objects of
	// someone else in a Namespace (or of a CustomResourceDefinition) that deleting it would
	// delete.
	Note string `json:"note,omitempty"`
}

// Result lists the applied objects in apply order.
type Result struct {
	Objects []ObjectResult `json:"objects"`
}
