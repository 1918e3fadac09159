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
	// Err is the underlying error (a *ConflictError for field manager conflicts, an API
	// status error for rejected dry runs), if any.
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
// problems' underlying errors, so errors.As(err, &conflict) finds a *ConflictError.
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
	b.WriteString("; rerun with --force-conflicts to take ownership of them")
	return b.String()
}

func (e *ConflictError) conflictText() string {
	if len(e.Conflicts) == 0 {
		if e.Err != nil {
			return "server-side apply conflict: " + e.Err.Error()
		}
		return "server-side apply conflict"
	}
	parts := make([]string, 0, len(e.Conflicts))
	for _, c := range e.Conflicts {
		parts = append(parts, fmt.Sprintf("%s (owned by field manager %q)", c.Field, c.Manager))
	}
	return "fields owned by another field manager: " + strings.Join(parts, ", ")
}

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
