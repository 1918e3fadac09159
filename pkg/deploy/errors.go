package deploy

import (
	"fmt"
	"strings"
)

// DecodeError is a manifest that cannot be used: unparsable YAML or an object without kind,
// apiVersion or metadata.name. Document is 1-based, counting the YAML documents of Source
// ("---" separated, empty ones included).
type DecodeError struct {
	Source   string
	Document int
	Msg      string
	Err      error // the YAML/JSON error, if any
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("%s: document %d: %s", e.Source, e.Document, e.Msg)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// ObjectProblem is one object that failed validation against the cluster.
type ObjectProblem struct {
	// Object names the object as "Kind apiVersion [namespace/]name", e.g.
	// "Deployment apps/v1 demo/web".
	Object string `json:"object"`
	// Source is where the object was written (see SourceAnnotation), if known.
	Source string `json:"source,omitempty"`
	// Message says what is wrong and, where there is one, the fix.
	Message string `json:"message"`
	// Err is the underlying error (a *ConflictError for field manager conflicts, an
	// *OwnershipError for an object devtool may not take over, an API status error for
	// rejected dry runs), if any. The problems of every object a request may not take over
	// share one *OwnershipError that lists them all.
	Err error `json:"-"`
}

func (p ObjectProblem) String() string {
	if p.Source != "" {
		return fmt.Sprintf("%s (%s): %s", p.Object, p.Source, p.Message)
	}
	return fmt.Sprintf("%s: %s", p.Object, p.Message)
}

// ValidationError lists every object of a request that the cluster would not accept, found
// by Validate before anything was changed. Problems are in request order. Unwrap returns the
// problems' underlying errors, so errors.As(err, &conflict) finds a *ConflictError and
// errors.As(err, &ownership) an *OwnershipError.
type ValidationError struct {
	Problems []ObjectProblem `json:"problems"`
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	if len(e.Problems) == 1 {
		b.WriteString("1 object failed validation against the cluster (nothing was changed):")
	} else {
		fmt.Fprintf(&b, "%d objects failed validation against the cluster (nothing was changed):", len(e.Problems))
	}
	for _, p := range e.Problems {
		b.WriteString("\n  - ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Unwrap returns the non-nil ObjectProblem.Err values.
func (e *ValidationError) Unwrap() []error {
	var errs []error
	for _, p := range e.Problems {
		if p.Err != nil {
			errs = append(errs, p.Err)
		}
	}
	return errs
}

// FieldConflict is one field another field manager owns with a different value.
type FieldConflict struct {
	// Manager is the other field manager, e.g. "kubectl-edit".
	Manager string `json:"manager"`
	// Field is the field path as the server reports it, e.g. ".spec.replicas".
	Field string `json:"field"`
}

// ConflictError is a server-side apply conflict (HTTP 409, KEP-555): fields of Object are
// owned by other field managers. Applying with Request.ForceConflicts (--force-conflicts)
// takes ownership of them.
type ConflictError struct {
	Object    string          `json:"object"`
	Source    string          `json:"source,omitempty"`
	Conflicts []FieldConflict `json:"conflicts"`
	Err       error           `json:"-"` // the API status error
}

func (e *ConflictError) Error() string {
	var b strings.Builder
	b.WriteString(e.Object)
	if e.Source != "" {
		fmt.Fprintf(&b, " (%s)", e.Source)
	}
	b.WriteString(": ")
	b.WriteString(e.conflictText())
	b.WriteString("; ")
	b.WriteString(e.fix())
	return b.String()
}

// conflictText lists the fields and their managers; a manager named "devtool-…" (see
// ProjectFieldManager) is said to be another devtool project.
func (e *ConflictError) conflictText() string {
	if len(e.Conflicts) == 0 {
		if e.Err != nil {
			return "server-side apply conflict: " + e.Err.Error()
		}
		return "server-side apply conflict"
	}
	parts := make([]string, 0, len(e.Conflicts))
	for _, c := range e.Conflicts {
		if isProjectManager(c.Manager) {
			parts = append(parts, fmt.Sprintf("%s (owned by field manager %q: another devtool project)", c.Field, c.Manager))
			continue
		}
		parts = append(parts, fmt.Sprintf("%s (owned by field manager %q)", c.Field, c.Manager))
	}
	return "fields owned by another field manager: " + strings.Join(parts, ", ")
}

// fix says how to resolve the conflict.
func (e *ConflictError) fix() string {
	for _, c := range e.Conflicts {
		if isProjectManager(c.Manager) {
			return "another devtool project deploys this object too: rename it in one of the projects, or rerun with --force-conflicts to take ownership of the fields"
		}
	}
	return "rerun with --force-conflicts to take ownership of them"
}

// isProjectManager reports whether a field manager is a devtool project's (ProjectFieldManager).
func isProjectManager(m string) bool { return strings.HasPrefix(m, projectManagerPrefix) }

func (e *ConflictError) Unwrap() error { return e.Err }

// ClusterError means the Kubernetes API server could not be reached or refused devtool's
// credentials, before anything was changed. Server is the URL from the kubeconfig.
type ClusterError struct {
	Server string
	Err    error
}

func (e *ClusterError) Error() string {
	if e.Server == "" {
		return fmt.Sprintf("no Kubernetes cluster configured: %v; point --kubeconfig (or $KUBECONFIG) at a kubeconfig and pick a context with --context", e.Err)
	}
	return fmt.Sprintf("cannot reach the Kubernetes API server at %s: %v; check --kubeconfig (or $KUBECONFIG) and --context", e.Server, e.Err)
}

func (e *ClusterError) Unwrap() error { return e.Err }

// Owner is who an object found in the cluster belongs to, as far as its metadata tells.
type Owner struct {
	// Managers are the field managers of its metadata.managedFields, each once, in their order
	// there: "kubectl-client-side-apply", "kubectl-edit", "helm", "devtool-<project>" (another
	// devtool project, see ProjectFieldManager), "devtool" (devtool before per-project field
	// managers).
	Managers []string `json:"managers,omitempty"`
	// PartOf is its applyset.kubernetes.io/part-of label: the ID of the ApplySet (another devtool
	// project's inventory, or kubectl apply --applyset's) it is a member of.
	PartOf string `json:"partOf,omitempty"`
	// ManagedBy and Name are its app.kubernetes.io/managed-by and app.kubernetes.io/name labels
	// (devtool sets them to "devtool" and the devfile's name; Helm to "Helm" and the chart's).
	ManagedBy string `json:"managedBy,omitempty"`
	Name      string `json:"name,omitempty"`
}

func (o Owner) String() string {
	var parts []string
	if len(o.Managers) > 0 {
		ms := make([]string, len(o.Managers))
		for i, m := range o.Managers {
			ms[i] = fmt.Sprintf("%q", m)
			if isProjectManager(m) {
				ms[i] += " (another devtool project)"
			}
		}
		word := "field manager "
		if len(ms) > 1 {
			word = "field managers "
		}
		parts = append(parts, word+strings.Join(ms, ", "))
	}
	if o.PartOf != "" {
		parts = append(parts, fmt.Sprintf("member of another inventory (label %s=%s)", LabelPartOf, o.PartOf))
	}
	var labels []string
	if o.ManagedBy != "" {
		labels = append(labels, LabelManagedBy+"="+o.ManagedBy)
	}
	if o.Name != "" {
		labels = append(labels, LabelName+"="+o.Name)
	}
	if len(labels) > 0 {
		parts = append(parts, "labels "+strings.Join(labels, ", "))
	}
	if len(parts) == 0 {
		return "no field managers or ownership labels"
	}
	return strings.Join(parts, "; ")
}

// ForeignObject is an object of a request that exists in the cluster and is someone else's.
type ForeignObject struct {
	// Object names it as ObjectProblem.Object does: "Kind apiVersion [namespace/]name".
	Object string `json:"object"`
	// Source is where the object was written, if known.
	Source string `json:"source,omitempty"`
	// Owner is who it belongs to now.
	Owner Owner `json:"owner"`
}

// OwnershipError refuses to take over objects that exist in the cluster and were not deployed
// by devtool for this project: they do not carry the applyset.kubernetes.io/part-of label of
// the request's ApplySet (made with kubectl, by Helm, by another devtool project or another
// ApplySet). Taking them over would make prune and undeploy delete them later. This is Helm's
// rule: Helm refuses to install a resource that exists without its release's ownership metadata
// (label app.kubernetes.io/managed-by=Helm, annotations meta.helm.sh/release-name and
// release-namespace) unless it is adopted. Request.Adopt (deploy --adopt) takes them over;
// renaming them in the manifests avoids them.
//
// Validate returns it inside its *ValidationError (one ObjectProblem per object, all sharing
// this error): errors.As finds it. Nothing was changed.
type OwnershipError struct {
	// ApplySet names the inventory the objects would have joined, "ConfigMap namespace/name".
	ApplySet string `json:"applySet"`
	// Objects are the refused objects, in request order.
	Objects []ForeignObject `json:"objects"`
}

func (e *OwnershipError) Error() string {
	var b strings.Builder
	if len(e.Objects) == 1 {
		b.WriteString("1 object exists in the cluster and was not deployed by devtool for this project")
	} else {
		fmt.Fprintf(&b, "%d objects exist in the cluster and were not deployed by devtool for this project", len(e.Objects))
	}
	fmt.Fprintf(&b, " (inventory %s):", e.ApplySet)
	for _, o := range e.Objects {
		b.WriteString("\n  - ")
		b.WriteString(o.Object)
		if o.Source != "" {
			fmt.Fprintf(&b, " (%s)", o.Source)
		}
		b.WriteString(": owned by ")
		b.WriteString(o.Owner.String())
	}
	b.WriteString("\n")
	b.WriteString(adoptFix)
	return b.String()
}

// adoptFix and adoptFixOne are the fix an ownership refusal suggests.
const (
	adoptFix    = "devtool does not take over objects it did not create: rerun with --adopt to take them over (they then belong to this project, and undeploy and --prune may delete them), or rename them in the manifests"
	adoptFixOne = "devtool does not take over objects it did not create: rerun with --adopt to take it over (it then belongs to this project, and undeploy and --prune may delete it), or rename it in the manifest"
)
