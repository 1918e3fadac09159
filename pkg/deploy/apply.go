package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// Option configures an Applier (see New).
type Option func(*Applier)

// WithLogger makes the Applier log what it does (debug level: each request; info: nothing).
// The default discards everything.
func WithLogger(l *slog.Logger) Option {
	return func(a *Applier) {
		if l != nil {
			a.log = l
		}
	}
}

// Applier validates and server-side-applies objects to the cluster a RESTClientGetter
// (kubeconfig flags: --kubeconfig, --context, …) points at. It is safe for concurrent use.
// The cluster clients are created on first use, so New succeeds without a reachable cluster.
//
// One Applier serves one run (a CLI invocation): its clients, its RESTMapper (on the getter's
// discovery client, kubectl's on-disk discovery cache for ConfigFlags) and what Validate learned
// about each object (see Apply) live as long as it does.
type Applier struct {
	getter genericclioptions.RESTClientGetter
	log    *slog.Logger
	// crdTimeout bounds how long Apply waits for a CustomResourceDefinition to become
	// Established before applying the rest (1 minute).
	crdTimeout time.Duration
	// concurrency bounds the requests for objects sent at once (reads, dry runs, applies).
	concurrency int

	mu sync.Mutex
	cl *clients // nil until first successful use

	// known is what Validate's dry runs returned, for Apply to reuse (see known.go).
	known knownObjects
}

// DefaultConcurrency is how many object requests (reads, dry runs, applies) an Applier sends
// at once unless WithConcurrency says otherwise.
const DefaultConcurrency = 16

// WithConcurrency bounds how many object requests (reads, dry runs, applies) the Applier sends
// at once; n < 1 means 1. The default is DefaultConcurrency. Order still holds across kinds
// (see Apply); within one group of kinds objects are applied in parallel.
func WithConcurrency(n int) Option {
	return func(a *Applier) {
		a.concurrency = max(n, 1)
	}
}

// Client-side rate limit for API servers without API Priority and Fairness: kubectl's (50 QPS,
// burst 300). client-go's default (5 QPS, burst 10) throttles a deploy of a few dozen objects.
const (
	noAPFQPS   = 50
	noAPFBurst = 300
)

// headerFlowSchema is set on every response of an API server that runs API Priority and
// Fairness (KEP-1040, k8s.io/apiserver filters.WithPriorityAndFairness): the server queues and
// sheds load itself, so a client-side limiter only adds latency.
const headerFlowSchema = "X-Kubernetes-PF-FlowSchema-UID"

// clients are the per-cluster clients, created once.
type clients struct {
	server string
	dyn    dynamic.Interface
	md     metadata.Interface // for listing ApplySet members (metadata only)
	// scan lists everything in a Namespace before it is deleted (metadata only); API warnings
	// (v1 Endpoints is deprecated, …) go to the debug log: the user did not ask for those kinds.
	scan   metadata.Interface
	disco  discovery.DiscoveryInterface // uncached, for /version
	mapper meta.ResettableRESTMapper    // deferred discovery, reset after CRDs are applied
	// apf: the server runs API Priority and Fairness, so the clients do not throttle.
	apf bool
}

// New returns an Applier for the cluster getter describes (usually
// genericclioptions.NewConfigFlags, bound to the command's flags). It does not contact the
// cluster; the first Validate or Apply does.
func New(getter genericclioptions.RESTClientGetter, opts ...Option) (*Applier, error) {
	if getter == nil {
		return nil, errors.New("deploy.New: nil RESTClientGetter")
	}
	a := &Applier{getter: getter, log: slog.New(slog.NewTextHandler(io.Discard, nil)), crdTimeout: time.Minute, concurrency: DefaultConcurrency}
	for _, o := range opts {
		o(a)
	}
	return a, nil
}

// clients returns the cluster clients, creating them on first use, after checking that the
// API server answers GET /version. Errors are *ClusterError.
func (a *Applier) clients(ctx context.Context) (*clients, error) {
	a.mu.Lock()
	cl := a.cl
	a.mu.Unlock()
	if cl == nil {
		// The first GET /version is the reachability check of this call too.
		var err error
		if cl, err = a.newClients(ctx); err != nil {
			return nil, err
		}
		a.mu.Lock()
		if a.cl == nil {
			a.cl = cl
		}
		cl = a.cl
		a.mu.Unlock()
		return cl, nil
	}
	// Every call checks reachability: a deploy runs minutes after a preflight and the error
	// for a dead cluster must say so, not "unknown kind".
	if _, err := cl.disco.RESTClient().Get().AbsPath("/version").Do(ctx).Raw(); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &ClusterError{Server: cl.server, Err: err}
	}
	return cl, nil
}

// newClients creates the clients on one HTTP client (one connection pool, HTTP/2 streams for
// parallel requests). GET /version tells whether the server runs API Priority and Fairness:
// then nothing is throttled client-side (a negative QPS disables client-go's limiter), else
// kubectl's limit applies. A QPS or rate limiter the getter's rest.Config sets is kept.
func (a *Applier) newClients(ctx context.Context) (*clients, error) {
	cfg, err := a.getter.ToRESTConfig()
	if err != nil {
		return nil, &ClusterError{Err: err}
	}
	if noKubeconfig(a.getter, cfg) {
		return nil, &ClusterError{Server: cfg.Host, Err: errors.New("no cluster is configured: no kubeconfig at $KUBECONFIG or ~/.kube/config and no --server, so client-go fell back to its default")}
	}
	cfg = rest.CopyConfig(cfg)
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, &ClusterError{Server: cfg.Host, Err: err}
	}
	apf, err := probeAPF(ctx, cfg, httpClient)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &ClusterError{Server: cfg.Host, Err: err}
	}
	if cfg.QPS == 0 && cfg.RateLimiter == nil {
		if apf {
			cfg.QPS = -1
		} else {
			cfg.QPS, cfg.Burst = noAPFQPS, noAPFBurst
		}
	}
	a.log.Debug("cluster clients", "server", cfg.Host, "priorityAndFairness", apf, "qps", cfg.QPS, "burst", cfg.Burst)
	dyn, err := dynamic.NewForConfigAndClient(cfg, httpClient)
	if err != nil {
		return nil, &ClusterError{Server: cfg.Host, Err: err}
	}
	md, err := metadata.NewForConfigAndClient(cfg, httpClient)
	if err != nil {
		return nil, &ClusterError{Server: cfg.Host, Err: err}
	}
	scanCfg := rest.CopyConfig(cfg)
	scanCfg.WarningHandler = debugWarnings{a.log}
	scan, err := metadata.NewForConfigAndClient(scanCfg, httpClient)
	if err != nil {
		return nil, &ClusterError{Server: cfg.Host, Err: err}
	}
	disco, err := discovery.NewDiscoveryClientForConfigAndClient(cfg, httpClient)
	if err != nil {
		return nil, &ClusterError{Server: cfg.Host, Err: err}
	}
	cached, err := a.getter.ToDiscoveryClient()
	if err != nil {
		return nil, &ClusterError{Server: cfg.Host, Err: err}
	}
	return &clients{server: cfg.Host, dyn: dyn, md: md, scan: scan, disco: disco, mapper: restmapper.NewDeferredDiscoveryRESTMapper(cached), apf: apf}, nil
}

// probeAPF sends GET /version and reports whether the response carries API Priority and
// Fairness's flow schema header. Errors: the transport's (unreachable server), or for any status
// but 200 the API error of the same request through client-go (its message is the one users
// know).
func probeAPF(ctx context.Context, cfg *rest.Config, httpClient *http.Client) (bool, error) {
	// A discovery client only for its REST client (URL and error decoding); its rate limiter is
	// not used for one request.
	dc, err := discovery.NewDiscoveryClientForConfigAndClient(cfg, httpClient)
	if err != nil {
		return false, err
	}
	rc := dc.RESTClient()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rc.Get().AbsPath("/version").URL().String(), nil)
	if err != nil {
		return false, err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return false, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return resp.Header.Get(headerFlowSchema) != "", nil
	}
	// The same request through client-go, for its API error (Unauthorized, …); should it
	// succeed now, the server is treated as one without Priority and Fairness.
	_, err = rc.Get().AbsPath("/version").Do(ctx).Raw()
	return false, err
}

// debugWarnings logs API server warnings at debug level (rest.WarningHandler).
type debugWarnings struct{ log *slog.Logger }

func (w debugWarnings) HandleWarningHeader(code int, agent, text string) {
	if code == 299 && text != "" {
		w.log.Debug("API server warning", "warning", text)
	}
}

// noKubeconfig reports whether cfg is client-go's fallback for "nothing configured"
// (http://localhost:8080, what kubectl then reports as a refused connection).
func noKubeconfig(getter genericclioptions.RESTClientGetter, cfg *rest.Config) bool {
	if cfg.Host != "http://localhost:8080" && cfg.Host != "localhost:8080" {
		return false
	}
	raw, err := getter.ToRawKubeConfigLoader().RawConfig()
	return err == nil && len(raw.Clusters) == 0
}

// item is one object of a request, prepared for validation and apply.
type item struct {
	index   int
	obj     *unstructured.Unstructured // deep copy with the effective namespace set
	source  string
	display string // "Kind apiVersion [ns/]name"
	mapping *meta.RESTMapping
	// pendingCRD: the kind is served by a CRD of the same request that the cluster does not
	// have yet; mapped from the CRD object, so the object cannot be dry-run.
	pendingCRD bool
	// parent: the ApplySet parent (inventory ConfigMap), checked by Validate, never applied by
	// Apply.
	parent bool
	// job: a Job of Request.Jobs, checked by Validate, run by RunJob, never applied by Apply
	// nor listed in the ApplySet.
	job bool
	// merged is what the server-side dry run of obj as written returned in validate (what an
	// apply would store): nil when obj was not dry-run, or only under a stand-in name or
	// namespace (objects in namespaces the request creates, Jobs). Diff compares it with the
	// live object.
	merged *unstructured.Unstructured
	// manager is the field manager obj is applied with (Request.FieldManager or FieldManager).
	manager string
	// live is obj as validate read it from the cluster (nil: it does not exist) when liveRead;
	// liveRead is false when it was not read (a job, the parent, an object whose namespace or
	// CRD the request creates, or one devtool may not read).
	live     *unstructured.Unstructured
	liveRead bool
}

// crdInfo is what Validate needs from a CustomResourceDefinition of the request.
type crdInfo struct {
	name       string
	plural     string
	namespaced bool
	served     map[string]bool // version name → served
}

var (
	gkNamespace = schema.GroupKind{Kind: "Namespace"}
	gkCRD       = schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}
	gkJob       = schema.GroupKind{Group: "batch", Kind: "Job"}
	gvrNS       = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	gvrCRD      = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
)

// Validate checks every object of req against the cluster and changes nothing. For each
// object, in order:
//
//  1. kind, apiVersion and metadata.name are set;
//  2. the RESTMapper knows the kind (else: unknown kind, probably a missing CRD). A custom
//     resource whose CustomResourceDefinition is in the same request and not yet in the
//     cluster is mapped from that CRD (group, served versions, scope);
//  3. namespace scoping: a namespaced object without metadata.namespace gets req.Namespace
//     ("default" if empty, as kubectl); a cluster-scoped object gets none (one written in
//     the manifest is dropped, as the API server would);
//  4. the object's namespace exists, or a Namespace object of the request creates it;
//  5. ownership, when req.ApplySet is set and req.Adopt is not: an object that exists in the
//     cluster must carry the ApplySet's label applyset.kubernetes.io/part-of=<ID> (devtool
//     deployed it for this project). Anything else — made with kubectl, by Helm, by another
//     devtool project or for another ApplySet — is refused, as Helm refuses to adopt
//     resources without its release's ownership metadata: its problem's Err is an
//     *OwnershipError that lists every such object with its current owner (Owner) and says to
//     rerun with --adopt or rename it. Objects that do not exist yet are fine;
//  6. a server-side dry-run apply (dryRun=All, field manager req.FieldManager, or FieldManager
//     when empty; Force = req.ForceConflicts) is accepted: schema, defaulting, admission and
//     field-manager conflicts (a *ConflictError, which says when the other manager is another
//     devtool project). Fields of an object of the ApplySet that only the legacy FieldManager
//     owns are not a conflict: Apply moves them to the project's manager first.
//
// The Jobs of req.Jobs (exec commands, see RunJob) get steps 1–4 and 6 too, with two differences: a
// Job of the same name that exists and does not carry the request Job's
// app.kubernetes.io/managed-by and app.kubernetes.io/name labels is a problem (RunJob would
// have to delete it), and the dry run creates the Job under a name derived from its own (as
// below for new namespaces), because a Job left by an earlier run may exist and a Job's pod
// template is immutable: RunJob deletes that one first.
//
// When req.ApplySet is set, every object is checked as it will be applied, with the ApplySet
// member label (an object that sets that label to another value is a problem), and the
// ApplySet parent is checked like an object (steps 4 and 6, source "devtool inventory"):
// unless req.DryRun is DryRunClient, an existing parent must belong to devtool (see
// ParentError), and no object of the request may have the parent's name.
//
// With req.DryRun == DryRunClient only steps 1–3 and 5 run (discovery requests, and GETs of the
// objects for step 5, as kubectl apply --dry-run=client reads them too), so a client dry run
// reports the same ownership refusals. Step 6 has two
// documented limitations: a custom resource of a CRD created by the same request is not
// dry-run (the API does not exist yet; only steps 1–3 check it), and an object in a
// namespace the same request creates is dry-run in req.Namespace if that exists, else in
// "default" (a dry run cannot create the namespace first), under a name derived from its own
// (so that an unrelated object of the same name there, with its own field managers and
// immutable fields, does not fail it). Namespace-specific admission (quotas, policies) is
// therefore not checked for it, and a dry run that stand-in namespace forbids is skipped.
//
// Objects are read with lists where many share a resource and namespace (see readLive), and
// dry-run WithConcurrency at a time. The dry-run results are kept for the Applier's later
// Applies of the same objects (see Apply and knownObjects), so that a deploy dry-runs each
// object once.
//
// All problems are collected and returned together as one *ValidationError (problems in
// request order, at most one per object; errors.As finds a *ConflictError or an
// *OwnershipError among them). An unreachable cluster or bad credentials give a
// *ClusterError; a cancelled ctx gives ctx.Err().
func (a *Applier) Validate(ctx context.Context, req Preflight) error {
	_, _, err := a.validate(ctx, req, validateOpts{checkParent: true, remember: true})
	return err
}

// validateOpts: checkParent checks the ApplySet parent like an object (Validate, Diff);
// remember keeps the dry-run results for Apply (Validate); reuse takes them instead of dry-running
// again where they still hold (Apply, see knownObjects).
type validateOpts struct {
	checkParent, remember, reuse bool
}

func (a *Applier) validate(ctx context.Context, pf Preflight, opts validateOpts) (*clients, []*item, error) {
	req := pf.Request
	checkParent := opts.checkParent
	cl, err := a.clients(ctx)
	if err != nil {
		return nil, nil, err
	}
	items, objProblems, createdNS, err := a.mapItems(ctx, cl, pf)
	if err != nil {
		return nil, nil, err
	}
	// problems[i] are the problems of items[i]; at most one per object.
	problems := objProblems
	problem := func(it *item, msg string, err error) {
		problems[it.index] = &ObjectProblem{Object: it.display, Source: it.source, Message: msg, Err: err}
	}
	if checkParent && req.ApplySet != nil {
		// The inventory's parent is checked like the objects (KEP-3659: it is written before
		// them): its namespace exists or is created by the request, an existing one belongs to
		// devtool, and a server-side dry run accepts it.
		set := *req.ApplySet
		parent := &item{index: len(items), source: "devtool inventory (ApplySet parent)", mapping: parentMapping, parent: true, manager: fieldManager(req.FieldManager)}
		want := inventoryOf(items)
		parent.obj = set.parentObject(want)
		parent.display = display(parent.obj)
		items = append(items, parent)
		problems = append(problems, nil)
		if req.DryRun != DryRunClient {
			cur, _, err := readParent(ctx, cl, set)
			var pe *ParentError
			switch {
			case errors.As(err, &pe):
				problem(parent, pe.Reason+"; "+pe.fix(), err)
			case err != nil:
				if ctx.Err() != nil {
					return nil, nil, ctx.Err()
				}
				return nil, nil, err
			default:
				parent.obj = set.parentObject(cur.union(want))
			}
		}
		for _, it := range items[:len(items)-1] {
			if problems[it.index] == nil && it.obj.GroupVersionKind().GroupKind() == parentGK && it.obj.GetNamespace() == parent.obj.GetNamespace() && it.obj.GetName() == parent.obj.GetName() {
				problem(it, "has the name of devtool's inventory ConfigMap for this project (the ApplySet parent); rename it", nil)
			}
		}
	}
	bad := make([]bool, len(items))
	for i := range items {
		bad[i] = problems[i] != nil
	}
	// exists: which namespaces exist (needed even for the ones the request creates: a dry run
	// in them works only if they already exist). Not known in client mode.
	exists := map[string]bool{}
	fallback := metav1.NamespaceDefault
	if req.DryRun != DryRunClient {
		for i, it := range items {
			if bad[i] || it.mapping.Scope.Name() != meta.RESTScopeNameNamespace {
				continue
			}
			ns := it.obj.GetNamespace()
			if _, done := exists[ns]; done {
				continue
			}
			ok, err := namespaceExists(ctx, cl, ns)
			if err != nil {
				if ctx.Err() != nil {
					return nil, nil, ctx.Err()
				}
				return nil, nil, fmt.Errorf("checking namespace %q: %w", ns, err)
			}
			exists[ns] = ok
		}
		for i, it := range items {
			if bad[i] || it.mapping.Scope.Name() != meta.RESTScopeNameNamespace {
				continue
			}
			if ns := it.obj.GetNamespace(); !exists[ns] && !createdNS[ns] {
				problem(it, fmt.Sprintf("namespace %q does not exist: create it (for example with a Namespace object in the manifests) or deploy to another namespace with -n", ns), nil)
				bad[i] = true
			}
		}

		// Where objects in namespaces this request creates are dry-run: req.Namespace when it
		// exists (the user's own namespace, where they are most likely allowed to write),
		// else "default".
		for i, it := range items {
			if bad[i] || it.pendingCRD || it.mapping.Scope.Name() != meta.RESTScopeNameNamespace || exists[it.obj.GetNamespace()] {
				continue
			}
			if req.Namespace != "" {
				ok, known := exists[req.Namespace]
				if !known {
					var err error
					if ok, err = namespaceExists(ctx, cl, req.Namespace); err != nil {
						if ctx.Err() != nil {
							return nil, nil, ctx.Err()
						}
						return nil, nil, fmt.Errorf("checking namespace %q: %w", req.Namespace, err)
					}
				}
				if ok {
					fallback = req.Namespace
				}
			}
			break
		}
	}

	// The live objects: who owns them (below), and Diff's LIVE side. Reads only, so client
	// mode reads them too (kubectl apply --dry-run=client reads them as well).
	var memberID string
	if req.ApplySet != nil {
		memberID = req.ApplySet.ID()
	}
	readProblems, err := a.readLive(ctx, cl, items, bad, memberID, func(ns string) bool {
		ok, known := exists[ns]
		return ok || !known
	})
	if err != nil {
		return nil, nil, err
	}
	for i, p := range readProblems {
		if p != nil {
			problems[i], bad[i] = p, true
		}
	}
	if req.ApplySet != nil && !req.Adopt {
		if oe, foreign := ownershipOf(*req.ApplySet, items, bad); oe != nil {
			for i, it := range items {
				if foreign[i] {
					problem(it, fmt.Sprintf("exists and was not deployed by devtool for this project (owned by %s); %s", ownerOf(it.live), adoptFixOne), oe)
					bad[i] = true
				}
			}
		}
	}

	if req.DryRun != DryRunClient {
		// Server-side dry runs, a.concurrency at a time; none for an object whose earlier
		// dry run still holds (opts.reuse, see knownObjects).
		dryProblems := make([]*ObjectProblem, len(items))
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(a.concurrency)
		reused := 0
		for i, it := range items {
			if bad[i] || it.pendingCRD {
				continue
			}
			if opts.reuse {
				if m := a.known.lookup(it, req.ForceConflicts); m != nil {
					it.merged = m
					reused++
					continue
				}
			}
			g.Go(func() error {
				obj := it.obj
				elsewhere := false
				if ns := obj.GetNamespace(); ns != "" && !exists[ns] {
					// The namespace is created by this request: dry-run somewhere that exists,
					// under a name no object there has.
					obj = obj.DeepCopy()
					obj.SetNamespace(fallback)
					obj.SetName(StandInName(obj.GetName()))
					elsewhere = true
				} else if it.job {
					if msg, err := a.checkJobOwner(gctx, cl, it); err != nil {
						if gctx.Err() != nil {
							return gctx.Err()
						}
						dryProblems[i] = &ObjectProblem{Object: it.display, Source: it.source, Message: "reading it: " + err.Error(), Err: err}
						return nil
					} else if msg != "" {
						dryProblems[i] = &ObjectProblem{Object: it.display, Source: it.source, Message: msg}
						return nil
					}
					// An earlier run's Job may exist (immutable template): dry-run a new one.
					obj = obj.DeepCopy()
					obj.SetName(StandInName(obj.GetName()))
				}
				// The parent is devtool's own object: Begin takes its fields over (as kubectl
				// does after a conflict), so its dry run does too.
				force := req.ForceConflicts || it.parent
				got, err := a.applyObject(gctx, cl, nil, it, obj, force, true, nil)
				var conflict *ConflictError
				if !force && !elsewhere && errors.As(err, &conflict) && legacyConflict(it, conflict) {
					// Apply moves the legacy manager's fields to the project's before applying
					// (migrateLegacyManager), so that conflict will not happen: take them over.
					got, err = a.applyObject(gctx, cl, nil, it, obj, true, true, nil)
				}
				if err == nil && obj == it.obj {
					it.merged = got
				}
				if err != nil {
					if gctx.Err() != nil {
						return gctx.Err()
					}
					if elsewhere && apierrors.IsForbidden(err) {
						a.log.Debug("dry run in a stand-in namespace forbidden; not checked", "object", it.display, "namespace", fallback, "error", err)
						return nil
					}
					p := a.problemFor(it, err)
					if elsewhere || it.job {
						// The server's message names the stand-in; show the name the user wrote.
						p.Message = strings.ReplaceAll(p.Message, obj.GetName(), it.obj.GetName())
					}
					dryProblems[i] = &p
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return nil, nil, err
		}
		if reused > 0 {
			a.log.Debug("reused the preflight's dry runs", "objects", reused)
		}
		for i, p := range dryProblems {
			if p != nil {
				problems[i] = p
			}
		}
	}
	var all []ObjectProblem
	for _, p := range problems {
		if p != nil {
			all = append(all, *p)
		}
	}
	if len(all) > 0 {
		return nil, nil, &ValidationError{Problems: all}
	}
	if opts.remember && req.DryRun != DryRunClient {
		for _, it := range items {
			a.known.remember(it, req.ForceConflicts)
		}
	}
	return cl, items, nil
}

// mapItems prepares the objects of req: checks 1–3 of Validate (kind, apiVersion and name set;
// the RESTMapper knows the kind, or a CRD of the request defines it; namespace scoping), and,
// when req.ApplySet is set, the ApplySet member label. problems[i] is the problem of items[i],
// nil if none; createdNS are the Namespace objects of the request. Only discovery requests are
// made.
func (a *Applier) mapItems(ctx context.Context, cl *clients, pf Preflight) (items []*item, problems []*ObjectProblem, createdNS map[string]bool, err error) {
	req := pf.Request
	problem := func(it *item, msg string, err error) {
		problems[it.index] = &ObjectProblem{Object: it.display, Source: it.source, Message: msg, Err: err}
	}
	crds := map[schema.GroupKind]crdInfo{}
	createdNS = map[string]bool{}
	for _, o := range req.Objects {
		gk := o.GroupVersionKind().GroupKind()
		switch gk {
		case gkNamespace:
			createdNS[o.GetName()] = true
		case gkCRD:
			if gk2, info, ok := crdOf(o); ok {
				crds[gk2] = info
			}
		}
	}
	defaultNS := req.Namespace
	if defaultNS == "" {
		defaultNS = metav1.NamespaceDefault
	}
	var memberID string
	if req.ApplySet != nil {
		memberID = req.ApplySet.ID()
	}

	n := len(req.Objects)
	all := append(append(make([]*unstructured.Unstructured, 0, n+len(pf.Jobs)), req.Objects...), pf.Jobs...)
	problems = make([]*ObjectProblem, len(all))
	items = make([]*item, len(all))
	for i, o := range all {
		it := &item{index: i, obj: o.DeepCopy(), job: i >= n, manager: fieldManager(req.FieldManager)}
		switch {
		case !it.job && i < len(req.Sources):
			it.source = req.Sources[i]
		case it.job && i-n < len(pf.JobSources):
			it.source = pf.JobSources[i-n]
		}
		items[i] = it
		it.display = display(it.obj)
		if msg := checkObject(it.obj); msg != "" {
			problem(it, msg, nil)
			continue
		}
		if it.job && it.obj.GroupVersionKind().GroupKind() != gkJob {
			problem(it, "is not a batch Job (only Jobs are run to completion)", nil)
			continue
		}
		gvk := it.obj.GroupVersionKind()
		if _, err := schema.ParseGroupVersion(it.obj.GetAPIVersion()); err != nil {
			problem(it, fmt.Sprintf("invalid apiVersion %q: %v", it.obj.GetAPIVersion(), err), err)
			continue
		}
		m, err := cl.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			if !meta.IsNoMatchError(err) {
				if ctx.Err() != nil {
					return nil, nil, nil, ctx.Err()
				}
				problem(it, fmt.Sprintf("looking up the API for kind %s in %s: %v", gvk.Kind, it.obj.GetAPIVersion(), err), err)
				continue
			}
			info, ok := crds[gvk.GroupKind()]
			switch {
			case ok && info.served[gvk.Version]:
				scope := meta.RESTScopeRoot
				if info.namespaced {
					scope = meta.RESTScopeNamespace
				}
				m = &meta.RESTMapping{
					Resource:         gvk.GroupVersion().WithResource(info.plural),
					GroupVersionKind: gvk,
					Scope:            scope,
				}
				it.pendingCRD = true
			case ok:
				problem(it, fmt.Sprintf("CustomResourceDefinition %s in this deploy does not serve version %s of kind %s", info.name, gvk.Version, gvk.Kind), err)
				continue
			default:
				problem(it, fmt.Sprintf("unknown kind %s in apiVersion %s: the cluster does not serve it (is a CustomResourceDefinition missing? add it to the manifests or install it first)", gvk.Kind, it.obj.GetAPIVersion()), err)
				continue
			}
		}
		it.mapping = m
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			if it.obj.GetNamespace() == "" {
				it.obj.SetNamespace(defaultNS)
			}
		} else if ns := it.obj.GetNamespace(); ns != "" {
			a.log.Debug("dropping metadata.namespace of a cluster-scoped object", "object", it.display, "namespace", ns)
			it.obj.SetNamespace("")
		}
		it.display = display(it.obj)
		if memberID != "" && !it.job {
			l := it.obj.GetLabels()
			if v, ok := l[LabelPartOf]; ok && v != memberID {
				problem(it, fmt.Sprintf("sets label %s=%s itself: the label is devtool's to set (its inventory); remove it from the manifest", LabelPartOf, v), nil)
				it.mapping = nil
				continue
			}
			if l == nil {
				l = map[string]string{}
			}
			l[LabelPartOf] = memberID
			it.obj.SetLabels(l)
		}
	}
	return items, problems, createdNS, nil
}

// StandInName derives, from an object's name, a name for a dry run in a stand-in namespace: the
// name's first characters, "-" and a random suffix, at most 63 characters (or the name's own
// length when longer), so that it is as valid as the name for the kinds that restrict names to
// DNS labels. pkg/deploy/helm dry-runs chart objects the same way.
func StandInName(name string) string {
	const suffixLen = 6 // "-" + 5 random characters
	keep := len(name) - suffixLen
	if len(name) <= 63 {
		keep = min(len(name), 63-suffixLen)
	}
	prefix := strings.TrimRight(name[:max(keep, 0)], "-.")
	if prefix == "" {
		prefix = "x"
	}
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	b := make([]byte, suffixLen-1)
	for i := range b {
		b[i] = alphabet[rand.IntN(len(alphabet))]
	}
	return prefix + "-" + string(b)
}

// problemFor turns an apply/dry-run error into an ObjectProblem.
func (a *Applier) problemFor(it *item, err error) ObjectProblem {
	p := ObjectProblem{Object: it.display, Source: it.source, Err: err}
	var conflict *ConflictError
	var status apierrors.APIStatus
	switch {
	case errors.As(err, &conflict):
		p.Message = conflict.conflictText() + "; " + conflict.fix()
	case errors.As(err, &status):
		p.Message = "rejected by the API server: " + status.Status().Message
	default:
		p.Message = err.Error()
	}
	return p
}

func namespaceExists(ctx context.Context, cl *clients, ns string) (bool, error) {
	_, err := cl.dyn.Resource(gvrNS).Get(ctx, ns, metav1.GetOptions{})
	switch {
	case err == nil:
		return true, nil
	case apierrors.IsNotFound(err):
		return false, nil
	case apierrors.IsForbidden(err):
		// Not allowed to read namespaces: let the dry run find out.
		return true, nil
	}
	return false, err
}

// crdOf extracts the group/kind a CustomResourceDefinition object defines.
func crdOf(o *unstructured.Unstructured) (schema.GroupKind, crdInfo, bool) {
	group, _, _ := unstructured.NestedString(o.Object, "spec", "group")
	kind, _, _ := unstructured.NestedString(o.Object, "spec", "names", "kind")
	plural, _, _ := unstructured.NestedString(o.Object, "spec", "names", "plural")
	scope, _, _ := unstructured.NestedString(o.Object, "spec", "scope")
	versions, _, _ := unstructured.NestedSlice(o.Object, "spec", "versions")
	if group == "" || kind == "" || plural == "" {
		return schema.GroupKind{}, crdInfo{}, false
	}
	info := crdInfo{name: o.GetName(), plural: plural, namespaced: scope != "Cluster", served: map[string]bool{}}
	for _, v := range versions {
		vm, ok := v.(map[string]any)
		if !ok {
			continue
		}
		name, _ := vm["name"].(string)
		served, _ := vm["served"].(bool)
		if name != "" && served {
			info.served[name] = true
		}
	}
	return schema.GroupKind{Group: group, Kind: kind}, info, true
}

// display names an object the way problems and errors show it: "Kind apiVersion [ns/]name".
func display(o *unstructured.Unstructured) string {
	name := o.GetName()
	if ns := o.GetNamespace(); ns != "" {
		name = ns + "/" + name
	}
	return fmt.Sprintf("%s %s %s", o.GetKind(), o.GetAPIVersion(), name)
}

// Apply validates req (see Validate: any problem anywhere → *ValidationError and nothing is
// changed; an object of someone else is refused unless req.Adopt), then server-side-applies
// the objects with field manager req.FieldManager (FieldManager when empty) and
// Force = req.ForceConflicts, in waves that keep the order that matters (applyWaves):
// Namespaces, then CustomResourceDefinitions (then it waits until each is Established and
// resets the RESTMapper, so custom resources come after the CRD that defines them), then the
// objects others are checked against when admitted (ServiceAccounts, LimitRanges,
// ResourceQuotas, PriorityClasses, RuntimeClasses, Roles and ClusterRoles), then everything
// else, and admission webhooks, admission policies and APIServices last. Within a wave,
// objects are applied in parallel, at most WithConcurrency at a time; the first failure
// cancels the rest. On an object of the ApplySet that the legacy FieldManager applied, that
// manager's managedFields entry is first renamed to req.FieldManager (see
// migrateLegacyManager), so that deploys made before per-project field managers neither
// conflict nor leave removed fields behind.
//
// Each object is dry-run once: an object Validate dry-ran with the same content, field
// manager and force, whose live object has not changed since, is not dry-run again (see
// knownObjects). An object whose dry-run result is the live object as it is, is not applied
// at all: the apply would change nothing.
//
// Each ObjectResult's Action is Created (the object did not exist), Unchanged (the dry run
// showed nothing would change, or its resourceVersion is the same before and after the
// apply) or Configured. Result lists Namespaces first, then CRDs, then the rest in request
// order. With req.DryRun == DryRunServer or DryRunClient nothing is applied after validation
// and every Action is Validated.
//
// With tx set, every object is applied as a member of tx's ApplySet, with the label
// applyset.kubernetes.io/part-of=<ID> (KEP-3659), and with tx's field manager when its begin
// Request names one; req.Adopt or the begin's Adopt adopts. The first Apply of tx writes the
// parent before anything else (see Transaction). A nil tx applies without an inventory (and
// without the ownership check).
//
// Errors: *ValidationError, *ClusterError, *ConflictError (a conflict that appeared after
// validation), or an error naming the object; on an error after the first change, Result
// lists the objects applied so far.
func (a *Applier) Apply(ctx context.Context, tx *Transaction, req Request) (Result, error) {
	if tx != nil {
		set := tx.ApplySet()
		req.ApplySet = &set
		if tx.begin.FieldManager != "" {
			req.FieldManager = tx.begin.FieldManager
		}
		req.Adopt = req.Adopt || tx.begin.Adopt
		if err := a.ensureBegun(ctx, tx); err != nil {
			return Result{}, err
		}
	}
	cl, items, err := a.validate(ctx, Preflight{Request: req}, validateOpts{reuse: true})
	if err != nil {
		return Result{}, err
	}
	ordered := applyOrder(items)
	if req.DryRun == DryRunServer || req.DryRun == DryRunClient {
		res := Result{Objects: make([]ObjectResult, 0, len(items))}
		for _, it := range ordered {
			res.Objects = append(res.Objects, objectResult(it.obj, Validated, ""))
		}
		return res, nil
	}
	pos := make(map[*item]int, len(ordered))
	for i, it := range ordered {
		pos[it] = i
	}
	done := make([]*ObjectResult, len(ordered))
	result := func() Result {
		res := Result{Objects: make([]ObjectResult, 0, len(ordered))}
		for _, r := range done {
			if r != nil {
				res.Objects = append(res.Objects, *r)
			}
		}
		return res
	}
	dup := duplicated(ordered)
	var crds []*item
	for _, wave := range applyWaves(ordered) {
		if len(crds) > 0 {
			if err := a.waitEstablished(ctx, cl, crds); err != nil {
				return result(), err
			}
			cl.mapper.Reset()
			crds = nil
		}
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(a.concurrency)
		for _, it := range wave {
			g.Go(func() error {
				r, err := a.applyItem(gctx, cl, tx, it, req.ForceConflicts, dup[it])
				if err != nil {
					return err
				}
				done[pos[it]] = &r
				if req.Progress != nil {
					req.Progress(r)
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return result(), err
		}
		for _, it := range wave {
			if it.mapping.GroupVersionKind.GroupKind() == gkCRD {
				crds = append(crds, it)
			}
		}
	}
	if len(crds) > 0 {
		if err := a.waitEstablished(ctx, cl, crds); err != nil {
			return result(), err
		}
		cl.mapper.Reset()
	}
	return result(), nil
}

// applyItem applies one validated object, or, unless always, reports it Unchanged without a
// write when its dry-run result is the live object as it is.
func (a *Applier) applyItem(ctx context.Context, cl *clients, tx *Transaction, it *item, force, always bool) (ObjectResult, error) {
	if !always && unchanged(it) {
		action := Unchanged
		if it.mapping.GroupVersionKind.GroupKind() == gkNamespace && tx.takeCreatedNamespace(it.obj.GetName()) {
			// A Namespace the transaction's begin created to hold the parent was created by this deploy.
			action = Created
		}
		a.log.Debug("unchanged (dry run = live object), not applied", "object", it.display, "resourceVersion", it.live.GetResourceVersion())
		return objectResult(it.obj, action, it.live.GetResourceVersion()), nil
	}
	a.known.forget(it, force)
	if always {
		// An earlier copy may have changed the object since validate read it: read it again.
		it.liveRead = false
	}
	var r ObjectResult
	_, err := a.applyObject(ctx, cl, tx, it, it.obj, force, false, &r)
	return r, err
}

// Waves of applyWaves.
const (
	waveNamespaces = iota
	waveCRDs
	wavePrerequisites
	waveRest
	waveLast
	waveCount
)

// prerequisiteKinds are objects the API server looks up when it admits others (a Pod is refused
// without its ServiceAccount, PriorityClass or RuntimeClass; LimitRanges and ResourceQuotas
// apply to what is created after them; a binding's escalation check reads its Role): they go
// before the rest (Helm's install order has them early for the same reasons).
var prerequisiteKinds = map[schema.GroupKind]bool{
	{Kind: "ServiceAccount"}:                                  true,
	{Kind: "LimitRange"}:                                      true,
	{Kind: "ResourceQuota"}:                                   true,
	{Group: "scheduling.k8s.io", Kind: "PriorityClass"}:       true,
	{Group: "node.k8s.io", Kind: "RuntimeClass"}:              true,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}: true,
	{Group: "rbac.authorization.k8s.io", Kind: "Role"}:        true,
}

// lastKinds change how the API server admits or serves everything else (webhooks that may call
// a Service of this deploy that is not up yet, admission policies, aggregated APIs): they go
// after the rest.
var lastKinds = map[schema.GroupKind]bool{
	{Group: "admissionregistration.k8s.io", Kind: "MutatingWebhookConfiguration"}:     true,
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingWebhookConfiguration"}:   true,
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingAdmissionPolicy"}:        true,
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingAdmissionPolicyBinding"}: true,
	{Group: "admissionregistration.k8s.io", Kind: "MutatingAdmissionPolicy"}:          true,
	{Group: "admissionregistration.k8s.io", Kind: "MutatingAdmissionPolicyBinding"}:   true,
	{Group: "apiregistration.k8s.io", Kind: "APIService"}:                             true,
}

func waveOf(it *item) int {
	gk := it.mapping.GroupVersionKind.GroupKind()
	switch {
	case gk == gkNamespace:
		return waveNamespaces
	case gk == gkCRD:
		return waveCRDs
	case prerequisiteKinds[gk]:
		return wavePrerequisites
	case lastKinds[gk]:
		return waveLast
	}
	return waveRest
}

// objectID is where an object lives: what two items must not share within one parallel group.
type objectID struct {
	gr        schema.GroupResource
	namespace string
	name      string
}

func idOf(it *item) objectID {
	return objectID{it.mapping.Resource.GroupResource(), it.obj.GetNamespace(), it.obj.GetName()}
}

// applyWaves splits items into the groups Apply applies one after the other (the objects of
// one group in parallel), each in the order of items; empty groups are left out. An object
// written more than once in the request is applied once per copy, in request order, the last
// copy winning (as a sequential apply would): each further copy goes into a group of its own
// after the wave's others.
func applyWaves(items []*item) [][]*item {
	waves := make([][][]*item, waveCount) // wave → copy number → items
	seen := map[objectID]int{}
	for _, it := range items {
		w, id := waveOf(it), idOf(it)
		n := seen[id]
		seen[id] = n + 1
		for len(waves[w]) <= n {
			waves[w] = append(waves[w], nil)
		}
		waves[w][n] = append(waves[w][n], it)
	}
	var out [][]*item
	for _, w := range waves {
		for _, g := range w {
			if len(g) > 0 {
				out = append(out, g)
			}
		}
	}
	return out
}

// duplicated returns the items whose object the request writes more than once. Their dry runs
// ran against the object as it was before any copy is applied, so they say nothing about
// whether a later copy changes it: they are always applied.
func duplicated(items []*item) map[*item]bool {
	count := map[objectID]int{}
	for _, it := range items {
		count[idOf(it)]++
	}
	dup := map[*item]bool{}
	for _, it := range items {
		if count[idOf(it)] > 1 {
			dup[it] = true
		}
	}
	return dup
}

// applyOrder returns Namespaces, then CRDs, then the rest, each group in request order.
func applyOrder(items []*item) []*item {
	rank := func(it *item) int {
		switch it.mapping.GroupVersionKind.GroupKind() {
		case gkNamespace:
			return 0
		case gkCRD:
			return 1
		}
		return 2
	}
	out := make([]*item, 0, len(items))
	for r := 0; r < 3; r++ {
		for _, it := range items {
			if rank(it) == r {
				out = append(out, it)
			}
		}
	}
	return out
}

func objectResult(o *unstructured.Unstructured, action Action, rv string) ObjectResult {
	return ObjectResult{
		APIVersion: o.GetAPIVersion(), Kind: o.GetKind(), Namespace: o.GetNamespace(), Name: o.GetName(),
		Action: action, ResourceVersion: rv,
	}
}

// applyObject server-side-applies obj (it's object, or a copy in another namespace for a dry
// run) and returns what the server answered: the stored object, or for a dry run the object
// an apply would store. When out is not nil it is filled with the result; for a real apply
// the object is read first to tell created/configured/unchanged apart.
func (a *Applier) applyObject(ctx context.Context, cl *clients, tx *Transaction, it *item, obj *unstructured.Unstructured, force, dryRun bool, out *ObjectResult) (*unstructured.Unstructured, error) {
	r := cl.dyn.Resource(it.mapping.Resource)
	var ri dynamic.ResourceInterface = r
	if it.mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		ri = r.Namespace(obj.GetNamespace())
	}
	before := ""
	existed := false
	if !dryRun {
		// validate has just read it (the item's own object only; a Namespace the transaction's
		// begin applied is read again).
		cur := it.live
		if !it.liveRead || obj != it.obj {
			var err error
			cur, err = ri.Get(ctx, obj.GetName(), metav1.GetOptions{})
			switch {
			case err == nil:
			case apierrors.IsNotFound(err):
				cur = nil
			default:
				return nil, fmt.Errorf("reading %s: %w", it.display, err)
			}
		}
		if cur != nil {
			var err error
			if cur, err = a.migrateLegacyManager(ctx, ri, it, cur); err != nil {
				return nil, err
			}
			existed, before = true, cur.GetResourceVersion()
		}
	}
	opts := metav1.ApplyOptions{FieldManager: it.manager, Force: force}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	start := time.Now()
	got, err := ri.Apply(ctx, obj.GetName(), obj, opts)
	if err != nil {
		if c := conflictError(it, err); c != nil {
			return nil, c
		}
		if dryRun {
			return nil, err
		}
		return nil, fmt.Errorf("applying %s: %w", it.display, err)
	}
	if out == nil {
		a.log.Debug("dry-run apply", "object", it.display, "took", time.Since(start))
		return got, nil
	}
	after := got.GetResourceVersion()
	action := Configured
	switch {
	case !existed, it.mapping.GroupVersionKind.GroupKind() == gkNamespace && tx.takeCreatedNamespace(obj.GetName()):
		// A Namespace the transaction's begin created to hold the parent was created by this deploy.
		action = Created
	case before == after:
		action = Unchanged
	}
	a.log.Debug("applied", "object", it.display, "action", action, "resourceVersion", after, "took", time.Since(start))
	*out = objectResult(it.obj, action, after)
	return got, nil
}

// conflictManager extracts the manager from the API server's conflict cause message,
// `conflict with "kubectl-edit" using apps/v1` (structured-merge-diff, k8s.io/apiserver
// fieldmanager).
var conflictManager = regexp.MustCompile(`conflict with "([^"]*)"`)

// conflictError returns a *ConflictError when err is a server-side apply conflict, else nil.
func conflictError(it *item, err error) *ConflictError {
	var status apierrors.APIStatus
	if !apierrors.IsConflict(err) || !errors.As(err, &status) {
		return nil
	}
	st := status.Status()
	c := &ConflictError{Object: it.display, Source: it.source, Err: err}
	if st.Details != nil {
		for _, cause := range st.Details.Causes {
			if cause.Type != metav1.CauseTypeFieldManagerConflict {
				continue
			}
			fc := FieldConflict{Field: cause.Field}
			if m := conflictManager.FindStringSubmatch(cause.Message); m != nil {
				fc.Manager = m[1]
			}
			c.Conflicts = append(c.Conflicts, fc)
		}
	}
	if len(c.Conflicts) == 0 && (st.Details == nil || len(st.Details.Causes) == 0) {
		// A 409 without field manager causes is an ordinary update conflict, not SSA.
		return nil
	}
	return c
}

// waitEstablished polls the CRDs until their Established condition is True (apiextensions
// v1), at most a.crdTimeout.
func (a *Applier) waitEstablished(ctx context.Context, cl *clients, crds []*item) error {
	ctx, cancel := context.WithTimeout(ctx, a.crdTimeout)
	defer cancel()
	for _, it := range crds {
		for {
			crd, err := cl.dyn.Resource(gvrCRD).Get(ctx, it.obj.GetName(), metav1.GetOptions{})
			if err == nil && established(crd) {
				break
			}
			select {
			case <-ctx.Done():
				if err == nil {
					err = ctx.Err()
				}
				return fmt.Errorf("waiting for CustomResourceDefinition %s to be established: %w", it.obj.GetName(), err)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

func established(crd *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, c := range conds {
		cm, ok := c.(map[string]any)
		if ok && cm["type"] == "Established" && cm["status"] == "True" {
			return true
		}
	}
	return false
}
