package deploy

import (
	"context"
	"errors"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Preflight is what Validate checks before a deploy changes anything: the objects every apply
// step will apply (Request), and the batch/v1 Jobs the exec steps will run with RunJob. The
// Jobs are never members of the ApplySet. JobSources names where each Job was written, as
// Request.Sources does for objects.
type Preflight struct {
	Request
	Jobs       []*unstructured.Unstructured
	JobSources []string
}

// DiffRequest is one diff (Applier.Diff): the objects a deploy would apply and whether to show
// what its prune would delete.
type DiffRequest struct {
	Request
	// Prune also lists the members of Request.ApplySet the objects no longer hold, as deploy
	// --prune would delete them.
	Prune bool
}

// UndeployRequest is one undeploy (Applier.Undeploy).
type UndeployRequest struct {
	// ApplySet is the inventory whose members are deleted.
	ApplySet ApplySet
	// DryRun: none deletes; server sends the deletes as dry runs; client sends nothing.
	DryRun DryRun
	// FieldManager is the project's field manager (ProjectFieldManager, as the deploys'
	// Request.FieldManager): only members whose managedFields show it, or the legacy
	// FieldManager, are deleted. Empty means FieldManager.
	FieldManager string
}

// Transaction is one deploy's changes to its inventory (KEP-3659 ApplySet), in the order
// kubectl's ApplySet does them: the parent is written once, before the first Apply of the
// transaction (listing the group-kinds and namespaces of every object of Begin, across the
// deploy's steps), and Commit prunes and narrows it after every Apply succeeded. The state of
// one deploy lives here, not in the Applier; Apply may be called concurrently.
type Transaction struct {
	// begin holds every object the deploy will apply, its namespace, dry-run mode, force,
	// ApplySet (required), field manager (the parent's, every Apply's, and the one Commit's
	// prune deletes for) and Adopt (every Apply's).
	begin Request

	once     sync.Once
	beginErr error

	mu sync.Mutex
	// createdNS are Namespaces the begin created (to hold the parent) that no Apply has
	// reported yet: Apply reports them Created, not Unchanged.
	createdNS map[string]bool
}

// NewTransaction returns the transaction of a deploy that will apply begin.Objects as members
// of begin.ApplySet (required), with begin.FieldManager (which then overrides each Apply's) and,
// when begin.Adopt, adopting in every Apply. It does not contact the cluster.
func NewTransaction(begin Request) (*Transaction, error) {
	if begin.ApplySet == nil {
		return nil, errors.New("deploy.NewTransaction: Request.ApplySet is nil")
	}
	return &Transaction{begin: begin}, nil
}

// BeginRequest is the Request the transaction was made with: every object of the deploy.
func (t *Transaction) BeginRequest() Request { return t.begin }

// ApplySet is the inventory the transaction writes.
func (t *Transaction) ApplySet() ApplySet { return *t.begin.ApplySet }

// takeCreatedNamespace reports whether the begin of t created Namespace name and forgets it.
func (t *Transaction) takeCreatedNamespace(name string) bool {
	if t == nil {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	ok := t.createdNS[name]
	delete(t.createdNS, name)
	return ok
}

func (t *Transaction) markCreatedNamespace(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.createdNS == nil {
		t.createdNS = map[string]bool{}
	}
	t.createdNS[name] = true
}

// ensureBegun writes the parent once (every later caller gets the same error).
func (a *Applier) ensureBegun(ctx context.Context, t *Transaction) error {
	t.once.Do(func() { t.beginErr = a.beginApplySet(ctx, t) })
	return t.beginErr
}
