package deploy

import (
	"crypto/sha256"
	"encoding/json"
	"sync"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// knownObjects is what Validate's server-side dry runs returned, so that Apply need not ask
// again: a deploy's preflight dry-runs every object, and its apply steps then apply the same
// objects, most of them unchanged (pkg/run pins built images into a step's objects after the
// preflight, so only the objects that name a built image differ).
//
// An entry is reused only for an object whose content (as applied: namespace, labels), field
// manager and force are exactly those of the dry run, and whose live object has the
// resourceVersion the dry run saw (or still does not exist): the server computed the result
// from exactly those inputs. Anything else is dry-run again. What the reuse does not see is
// a change of cluster policy between the preflight and the apply (a new quota, admission
// policy or webhook): the apply itself then fails, as any apply does when the cluster changes
// under it.
type knownObjects struct {
	mu sync.Mutex
	m  map[knownKey]knownEntry
}

// knownKey is an object as applied: where, by whom, and whether forcing conflicts.
type knownKey struct {
	gvr       schema.GroupVersionResource
	namespace string
	name      string
	manager   string
	force     bool
}

// knownEntry is one dry run: the object's content digest, the resourceVersion of the live
// object it ran against ("" when it did not exist) and what the server returned.
type knownEntry struct {
	sum    [sha256.Size]byte
	liveRV string
	merged *unstructured.Unstructured
}

func keyOf(it *item, force bool) knownKey {
	return knownKey{gvr: it.mapping.Resource, namespace: it.obj.GetNamespace(), name: it.obj.GetName(), manager: it.manager, force: force}
}

// contentSum is the SHA-256 of o's JSON (encoding/json sorts map keys, so equal content has
// equal digests). ok is false when o cannot be encoded (never for decoded manifests).
func contentSum(o *unstructured.Unstructured) (sum [sha256.Size]byte, ok bool) {
	b, err := json.Marshal(o.Object)
	if err != nil {
		return sum, false
	}
	return sha256.Sum256(b), true
}

func liveRV(it *item) string {
	if it.live == nil {
		return ""
	}
	return it.live.GetResourceVersion()
}

// remember records it's dry-run result (it.merged, against it.live).
func (k *knownObjects) remember(it *item, force bool) {
	if it.merged == nil || !it.liveRead || it.job || it.parent {
		return
	}
	sum, ok := contentSum(it.obj)
	if !ok {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil {
		k.m = map[knownKey]knownEntry{}
	}
	k.m[keyOf(it, force)] = knownEntry{sum: sum, liveRV: liveRV(it), merged: it.merged}
}

// lookup returns the remembered dry-run result for it, if its content, manager, force and
// live resourceVersion (it.live, read just now) are those of the dry run; nil otherwise.
func (k *knownObjects) lookup(it *item, force bool) *unstructured.Unstructured {
	if !it.liveRead || it.job || it.parent {
		return nil
	}
	k.mu.Lock()
	e, ok := k.m[keyOf(it, force)]
	k.mu.Unlock()
	if !ok || e.liveRV != liveRV(it) {
		return nil
	}
	if sum, ok := contentSum(it.obj); !ok || sum != e.sum {
		return nil
	}
	return e.merged
}

// forget drops the entry of it: the object is about to change.
func (k *knownObjects) forget(it *item, force bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.m, keyOf(it, force))
}

// unchanged reports whether applying it would change nothing: the dry-run result is the live
// object as it is, resourceVersion and managedFields included (a no-op apply neither writes
// nor touches managedFields, so any difference means the server would write).
func unchanged(it *item) bool {
	return it.liveRead && it.live != nil && it.merged != nil && equality.Semantic.DeepEqual(it.merged.Object, it.live.Object)
}
