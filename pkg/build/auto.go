package build

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
)

// Explainer is an optional ability of a Builder: say which backend will build req and why,
// before building (devtool prints it with the build step, e.g. "native: in-process, the
// Dockerfile needs no RUN"). Auto has it, and Cached forwards it to the builder it wraps.
type Explainer interface {
	// Explain returns a one-line reason, "<backend>: <why>". It errors when no backend can
	// build req (e.g. the Dockerfile has RUN and no container engine is installed) or the
	// Dockerfile cannot be read; errors name Request.Name.
	Explain(ctx context.Context, req Request) (why string, err error)
}

// Explain returns b's explanation for req when b is an Explainer, else "--builder <name>":
// a builder that does not choose was chosen by the user.
func Explain(ctx context.Context, b Builder, req Request) (string, error) {
	if e, ok := b.(Explainer); ok {
		return e.Explain(ctx, req)
	}
	return "--builder " + b.Name(), nil
}

// Candidate is one builder Auto may pick.
type Candidate struct {
	Builder Builder
	// Accepts reports whether Builder can build this Dockerfile (its content), and why (or
	// why not); native.Supports fits. nil: accepts everything.
	Accepts func(dockerfile []byte) (ok bool, why string)
	// Available reports whether Builder can run on this machine (an engine's program on PATH,
	// a docker daemon that answers; engine.Available fits). nil: always. Auto asks at most
	// once per candidate, and only when an earlier candidate did not take the request.
	Available func(ctx context.Context) bool
	// SinglePlatform marks a builder that builds one platform per image (docker without
	// buildx): Auto passes it over for a request with several Platforms.
	SinglePlatform bool
}

// autoName is Auto's Name.
const autoName = "auto"

// Auto returns the Builder named "auto" that picks a backend per request (seed 002's
// GetBackend; a wrapping builder in ko's style): it reads req.Dockerfile and takes the first
// candidate, in the order given, that accepts the Dockerfile and is available. Build writes
// one line saying which and why to log ("auto chose native: …"), then delegates;
// Result.Builder is the chosen builder's Name. Auto is an Explainer, with reasons such as
//
//	native: in-process, the Dockerfile needs no RUN   (the chosen candidate's own why)
//	podman: line 3: RUN needs a container engine        (why the earlier candidates declined)
//	docker: line 3: RUN needs a container engine; podman is not available
//	                                                     (and which ones were passed over)
//
// Auto is Configured: its Config combines the candidates' Names and Configs, in order, so that
// Cached(Auto(…)) tags images by "auto" and those settings — not by whichever engine happens
// to be installed (installing podman does not change the tag).
//
// Availability is checked lazily and remembered for the life of the returned Builder (a check
// cut short by ctx is not remembered). Errors: the Dockerfile cannot be read, or no
// candidate accepts it and is available — the message names the Dockerfile, why the
// candidates that declined did, and the ones that are not installed.
func Auto(cands ...Candidate) Builder {
	return &auto{cands: append([]Candidate(nil), cands...), probes: make([]probe, len(cands))}
}

type auto struct {
	cands  []Candidate
	probes []probe // probes[i] remembers cands[i].Available
}

// probe remembers one candidate's availability.
type probe struct {
	mu   sync.Mutex
	done bool
	ok   bool
}

func (a *auto) Name() string { return autoName }

// Config implements Configured.
func (a *auto) Config() string {
	type entry struct {
		Builder string `json:"builder"`
		Config  string `json:"config,omitempty"`
	}
	entries := make([]entry, len(a.cands))
	for i, c := range a.cands {
		entries[i].Builder = c.Builder.Name()
		if cf, ok := c.Builder.(Configured); ok {
			entries[i].Config = cf.Config()
		}
	}
	b, _ := json.Marshal(entries) // strings only: cannot fail
	return string(b)
}

// Explain implements Explainer.
func (a *auto) Explain(ctx context.Context, req Request) (string, error) {
	_, why, err := a.choose(ctx, req)
	return why, err
}

func (a *auto) Build(ctx context.Context, req Request, log io.Writer) (Result, error) {
	if log == nil {
		log = io.Discard
	}
	b, why, err := a.choose(ctx, req)
	if err != nil {
		return Result{}, err
	}
	fmt.Fprintf(log, "auto chose %s\n", why)
	res, err := b.Build(ctx, req, log)
	if err != nil {
		return res, err
	}
	res.Builder = b.Name()
	return res, nil
}

// choose returns the candidate that builds req and the reason, "<name>: <why>".
func (a *auto) choose(ctx context.Context, req Request) (Builder, string, error) {
	fail := func(err error) (Builder, string, error) {
		if req.Name != "" {
			err = fmt.Errorf("image %q: %w", req.Name, err)
		}
		return nil, "", err
	}
	df, err := os.ReadFile(req.Dockerfile)
	if err != nil {
		return fail(fmt.Errorf("reading the Dockerfile: %w", err))
	}
	var (
		declined []string // the names of the candidates that do not accept df
		reasons  []string // and why
		missing  []string // the names of the candidates that accept it but are not available
	)
	for i, c := range a.cands {
		why := ""
		if c.SinglePlatform && len(req.Platforms) > 1 {
			declined, reasons = append(declined, c.Builder.Name()), append(reasons, c.Builder.Name()+" builds one platform per image; --platform asks for "+strings.Join(req.Platforms, ","))
			continue
		}
		if c.Accepts != nil {
			var ok bool
			if ok, why = c.Accepts(df); !ok {
				declined, reasons = append(declined, c.Builder.Name()), append(reasons, why)
				continue
			}
		}
		if !a.available(ctx, i) {
			if err := ctx.Err(); err != nil {
				return fail(err)
			}
			missing = append(missing, c.Builder.Name())
			continue
		}
		if why == "" {
			why = declinedWhy(declined, reasons)
		}
		if why == "" {
			why = "the first available builder"
		}
		if len(missing) > 0 {
			why += "; " + notAvailable(missing) // the ones passed over, e.g. docker without a daemon
		}
		return c.Builder, c.Builder.Name() + ": " + why, nil
	}
	switch {
	case len(a.cands) == 0:
		return fail(fmt.Errorf("--builder %s has no builders to choose from", autoName))
	case len(missing) > 0 && len(declined) > 0:
		// The wording of pkg/cli's chooser before Auto, which users and docs know.
		return fail(fmt.Errorf("the Dockerfile %s needs a container engine (%s) and %s; %s, or remove RUN instructions so the %s builder applies",
			req.Dockerfile, declinedWhy(declined, reasons), notAvailable(missing), installWhich(missing), orList(declined)))
	case len(missing) > 0:
		return fail(fmt.Errorf("no builder for the Dockerfile %s: %s; %s", req.Dockerfile, notAvailable(missing), installWhich(missing)))
	default:
		return fail(fmt.Errorf("no builder of --builder %s can build the Dockerfile %s: %s", autoName, req.Dockerfile, declinedWhy(declined, reasons)))
	}
}

// available reports whether candidate i is available, asking it once.
func (a *auto) available(ctx context.Context, i int) bool {
	c := a.cands[i]
	if c.Available == nil {
		return true
	}
	p := &a.probes[i]
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return p.ok
	}
	ok := c.Available(ctx)
	if ctx.Err() == nil {
		p.done, p.ok = true, ok
	}
	return ok
}

// declinedWhy is why the declining candidates declined: the reason alone for one, else
// "name: reason; name: reason".
func declinedWhy(names, reasons []string) string {
	if len(names) == 1 {
		return reasons[0]
	}
	parts := make([]string, len(names))
	for i := range names {
		parts[i] = names[i] + ": " + reasons[i]
	}
	return strings.Join(parts, "; ")
}

// notAvailable reads "podman is not available" or "none of podman, docker or buildah is
// available" (Candidate.Available said no: for engines, not on PATH, or no docker daemon
// answering).
func notAvailable(names []string) string {
	if len(names) == 1 {
		return names[0] + " is not available"
	}
	return "none of " + orList(names) + " is available"
}

func installWhich(names []string) string {
	s := "install or start one"
	if len(names) == 1 {
		s = "install or start it"
	}
	for _, n := range names {
		if n == "kaniko" {
			// kaniko is not installed: it runs in the cluster of the kubeconfig.
			s += " (kaniko runs as a Pod in the cluster of --kubeconfig, which must let you create and attach to Pods)"
		}
	}
	return s
}

// orList reads "a", "a or b", "a, b or c".
func orList(names []string) string {
	if len(names) <= 1 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}
