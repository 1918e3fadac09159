package kaniko

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"

	authzv1 "k8s.io/api/authorization/v1"

	"github.com/devtool/devtool/pkg/build"
	"github.com/devtool/devtool/pkg/event"
)

// Labels of every object a Pod builder creates (build Pods and credential Secrets).
const (
	LabelManagedBy = "app.kubernetes.io/managed-by" // "devtool"
	LabelComponent = "app.kubernetes.io/component"  // "image-build"
	LabelImage     = "devtool.dev/image-component"  // the image component's name
)

// Defaults of a Pod builder.
const (
	// DefaultMaxParallel bounds concurrent build Pods when the cluster's allocatable CPU
	// cannot be read (--max-parallel-builds).
	DefaultMaxParallel = 4
	// DefaultTimeout bounds one build Pod (activeDeadlineSeconds).
	DefaultTimeout = 30 * time.Minute
	// startTimeout bounds the wait for a build Pod to start running (scheduling, pulling the
	// executor image).
	startTimeout = 5 * time.Minute
	// cleanupTimeout bounds the deletion of a build Pod and Secret, which runs under a fresh
	// context (after Ctrl-C too).
	cleanupTimeout = 10 * time.Second
	containerName  = "kaniko"
)

// Pod builds images with kaniko executor Pods in a cluster (--builder kaniko): per build, an
// optional Secret with the registry credentials devtool has, and a Pod that reads the build
// context from stdin (--context tar://stdin, streamed over the pods/attach subresource, as
// `kubectl run --stdin` does), streams its log to the caller, pushes the image and writes its
// digest to the termination message (--digest-file=/dev/termination-log). Both are deleted on
// success, failure and cancellation. Concurrent builds are bounded (WithMaxParallel).
type Pod struct {
	client    kubernetes.Interface
	rest      *rest.Config
	namespace string
	image     string
	secret    string
	cfg       settings
	cpu, mem  resource.Quantity
	timeout   time.Duration

	maxParallel int
	semOnce     sync.Once
	sem         chan struct{}
}

// PodOption configures a Pod builder.
type PodOption func(*Pod)

// WithImage sets the executor image (default DefaultImage).
func WithImage(ref string) PodOption { return func(p *Pod) { p.image = ref } }

// WithSecret names an existing Secret in the build namespace holding registry credentials
// (a kubernetes.io/dockerconfigjson Secret, key .dockerconfigjson): build Pods mount it as
// kaniko's config.json, and devtool creates none.
func WithSecret(name string) PodOption { return func(p *Pod) { p.secret = name } }

// WithRegistryPolicy sets the registries' credentials (put in a per-build Secret), plain-HTTP
// registries and mirrors (executor flags).
func WithRegistryPolicy(policy build.RegistryPolicy) PodOption {
	return func(p *Pod) { p.cfg.policy = policy }
}

// WithCacheRepo turns on kaniko's layer cache in repository repo (kaniko's --cache-repo, e.g.
// "registry.example/team/cache"): RUN layers are pushed there and reused by later builds.
func WithCacheRepo(repo string) PodOption { return func(p *Pod) { p.cfg.cacheRepo = repo } }

// WithMaxParallel bounds concurrent build Pods (n ≥ 1). Without it the bound is the cluster's
// allocatable CPU cores (the sum over Ready nodes, rounded down, at least 1), or
// DefaultMaxParallel when nodes cannot be listed.
func WithMaxParallel(n int) PodOption { return func(p *Pod) { p.maxParallel = n } }

// WithResources sets each build Pod's CPU and memory requests (default 500m and 512Mi).
func WithResources(cpu, memory resource.Quantity) PodOption {
	return func(p *Pod) { p.cpu, p.mem = cpu, memory }
}

// WithTimeout bounds each build Pod (activeDeadlineSeconds; default DefaultTimeout).
func WithTimeout(d time.Duration) PodOption { return func(p *Pod) { p.timeout = d } }

// NewPod returns a Pod builder that runs build Pods in namespace ("" means "default") of the
// cluster cfg connects to. Errors: a client cannot be made from cfg.
func NewPod(cfg *rest.Config, namespace string, opts ...PodOption) (*Pod, error) {
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	if namespace == "" {
		namespace = metav1.NamespaceDefault
	}
	p := &Pod{client: c, rest: cfg, namespace: namespace, image: DefaultImage, timeout: DefaultTimeout,
		cpu: resource.MustParse("500m"), mem: resource.MustParse("512Mi")}
	for _, o := range opts {
		o(p)
	}
	return p, nil
}

// Name is "kaniko".
func (p *Pod) Name() string { return builderName }

// Config implements build.Configured: the executor image is part of the input digest (another
// kaniko may build another image).
func (p *Pod) Config() string { return "image=" + p.image }

// Available reports whether the cluster answers and lets this user create Pods and attach to
// them in the build namespace (SelfSubjectAccessReview); --builder auto asks it last.
func (p *Pod) Available(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for _, ra := range []authzv1.ResourceAttributes{
		{Namespace: p.namespace, Verb: "create", Resource: "pods"},
		{Namespace: p.namespace, Verb: "create", Resource: "pods", Subresource: "attach"},
	} {
		r, err := p.client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx,
			&authzv1.SelfSubjectAccessReview{Spec: authzv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &ra}}, metav1.CreateOptions{})
		if err != nil || !r.Status.Allowed {
			return false
		}
	}
	return true
}

// slots returns the semaphore bounding concurrent build Pods, sized on first use.
func (p *Pod) slots(ctx context.Context) chan struct{} {
	p.semOnce.Do(func() {
		n := p.maxParallel
		if n <= 0 {
			n = allocatableCPUs(ctx, p.client)
		}
		p.sem = make(chan struct{}, n)
	})
	return p.sem
}

// allocatableCPUs is the whole CPUs allocatable on the cluster's Ready nodes (at least 1), or
// DefaultMaxParallel when nodes cannot be listed (no permission).
func allocatableCPUs(ctx context.Context, c kubernetes.Interface) int {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	nodes, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil || len(nodes.Items) == 0 {
		return DefaultMaxParallel
	}
	var milli int64
	for _, n := range nodes.Items {
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				milli += n.Status.Allocatable.Cpu().MilliValue()
			}
		}
	}
	if milli < 1000 {
		return 1
	}
	return int(milli / 1000)
}

// Build runs one build Pod for req. log receives the executor's output and devtool's lines
// about the Pod. Errors name req.Name and, for a failed build, the Pod, its exit code and
// reason; the Pod and Secret are gone when Build returns (deleted under a fresh context,
// bounded by 10 s, also after ctx was cancelled).
func (p *Pod) Build(ctx context.Context, req build.Request, log io.Writer) (res build.Result, err error) {
	if log == nil {
		log = io.Discard
	}
	dockerfile, err := readDockerfile(req)
	if err != nil {
		return build.Result{}, err
	}
	dfPath, _ := dockerfilePath(req)
	cas, err := caBundles(req, dockerfile, p.cfg)
	if err != nil {
		return build.Result{}, err
	}
	args, err := executorArgs(req, dockerfile, dfPath, p.cfg, func(h string) string { return caDir + "/" + caKey(h) })
	if err != nil {
		return build.Result{}, err
	}
	args = append([]string{"--context=tar://stdin", "--digest-file=/dev/termination-log"}, args...)
	var secretDoc []byte
	if p.secret != "" {
		// A missing Secret would leave the Pod waiting for its volume until the start timeout.
		if _, err := p.client.CoreV1().Secrets(p.namespace).Get(ctx, p.secret, metav1.GetOptions{}); err != nil {
			return build.Result{}, fmt.Errorf("image %q: the registry credentials Secret %q (--kaniko-secret) in namespace %q: %w", req.Name, p.secret, p.namespace, err)
		}
	} else {
		doc, found, err := dockerConfig(req, dockerfile, p.cfg)
		if err != nil {
			return build.Result{}, err
		}
		if found {
			secretDoc = doc
		}
	}

	sem := p.slots(ctx)
	select {
	case sem <- struct{}{}:
	default:
		fmt.Fprintf(log, "waiting for a free build slot (%d kaniko build Pods at once; --max-parallel-builds)\n", cap(sem))
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return build.Result{}, ctx.Err()
		}
	}
	defer func() { <-sem }()

	fail := func(err error) (build.Result, error) {
		return build.Result{}, fmt.Errorf("image %q: %w", req.Name, err)
	}
	id := randomSuffix()
	labels := map[string]string{LabelManagedBy: "devtool", LabelComponent: "image-build", LabelImage: labelValue(req.Name)}
	var created []func(context.Context) error
	defer func() {
		// A fresh context: the Pod and Secret must go after Ctrl-C too.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		var errs []error
		for i := len(created) - 1; i >= 0; i-- {
			if e := created[i](cctx); e != nil && !apierrors.IsNotFound(e) {
				errs = append(errs, e)
			}
		}
		if len(errs) > 0 && err == nil {
			err = fmt.Errorf("image %q: cleaning up: %w", req.Name, errors.Join(errs...))
		}
	}()
	zero := int64(0)
	del := metav1.DeleteOptions{GracePeriodSeconds: &zero}

	vols := podVolumes{credentials: p.secret}
	if secretDoc != nil || len(cas) > 0 {
		// One Secret per build: the credentials devtool has (unless the user named a Secret)
		// and the CA bundles of the registries the policy gives one (not secret, but they travel
		// with the credentials they go with).
		s := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "devtool-kaniko-" + id, Namespace: p.namespace, Labels: labels},
			Type:       corev1.SecretTypeOpaque,
			Data:       map[string][]byte{},
		}
		if secretDoc != nil {
			s.Data[corev1.DockerConfigJsonKey] = secretDoc
			vols.credentials = s.Name
		}
		for k, pem := range cas {
			s.Data[k] = pem
			vols.cas = append(vols.cas, k)
		}
		if len(cas) > 0 {
			vols.caSecret = s.Name
		}
		err := createOwned(&created, func() error {
			_, err := p.client.CoreV1().Secrets(p.namespace).Create(ctx, s, metav1.CreateOptions{FieldManager: "devtool"})
			return err
		}, func(c context.Context) error { return p.client.CoreV1().Secrets(p.namespace).Delete(c, s.Name, del) })
		if err != nil {
			return fail(fmt.Errorf("creating the registry credentials Secret for the kaniko build Pod: %w", err))
		}
	}

	pod := p.pod("devtool-build-"+podNamePart(req.Name)+"-"+id, args, vols, labels)
	err = createOwned(&created, func() error {
		_, err := p.client.CoreV1().Pods(p.namespace).Create(ctx, pod, metav1.CreateOptions{FieldManager: "devtool"})
		return err
	}, func(c context.Context) error { return p.client.CoreV1().Pods(p.namespace).Delete(c, pod.Name, del) })
	if err != nil {
		return fail(fmt.Errorf("creating the kaniko build Pod: %w", err))
	}
	fmt.Fprintf(log, "kaniko build Pod %s/%s (executor %s)\n", p.namespace, pod.Name, p.image)

	if err := p.waitRunning(ctx, pod.Name, log); err != nil {
		return fail(err)
	}
	tail := newTailWriter(log, 20)
	sent, err := p.attach(ctx, pod.Name, req, tail)
	tail.flush()
	if err != nil && ctx.Err() == nil {
		if !sent && !p.terminated(ctx, pod.Name) {
			// kaniko would wait for its context until the Pod's deadline.
			return fail(fmt.Errorf("streaming the build context into the kaniko build Pod %s/%s: %w", p.namespace, pod.Name, err))
		}
		// The Pod's end state and log say more than a broken stream.
		p.logTail(ctx, pod.Name, tail)
	}
	if err := ctx.Err(); err != nil {
		return build.Result{}, err
	}
	term, err := p.waitTerminated(ctx, pod.Name)
	if err != nil {
		return fail(err)
	}
	if term.ExitCode != 0 {
		msg := fmt.Sprintf("kaniko build Pod %s/%s failed (exit code %d", p.namespace, pod.Name, term.ExitCode)
		if term.Reason != "" && term.Reason != "Error" {
			msg += ", " + term.Reason
		}
		msg += ")"
		if term.Reason == "StartError" || term.ExitCode == 126 || term.ExitCode == 127 {
			msg += fmt.Sprintf("; the executor could not be started: is %s a kaniko executor image (--kaniko-image)?", p.image)
		}
		if lines := tail.lines(); len(lines) > 0 {
			msg += "; last lines of its log:\n  " + strings.Join(lines, "\n  ")
		}
		return fail(errors.New(msg))
	}
	res = build.Result{Name: req.Name, Repository: req.Repository, Tag: req.Tag, Builder: builderName}
	if res.Tag == "" {
		res.Tag = "latest"
	}
	if req.Push {
		d := strings.TrimSpace(term.Message)
		if !strings.HasPrefix(d, "sha256:") {
			return fail(fmt.Errorf("%w (termination message %q)", errDigest, d))
		}
		res.Digest = d
	}
	return res, nil
}

// createOwned runs create and registers del in cleanups to undo it: whatever create returns,
// since one cut short by Ctrl-C may still have reached the server — unless the name turned out
// to be someone else's (AlreadyExists), which devtool must not delete.
func createOwned(cleanups *[]func(context.Context) error, create func() error, del func(context.Context) error) error {
	theirs := false
	*cleanups = append(*cleanups, func(c context.Context) error {
		if theirs {
			return nil
		}
		return del(c)
	})
	err := create()
	theirs = apierrors.IsAlreadyExists(err)
	return err
}

// pod is the build Pod: root in its own container (kaniko unpacks the base image over it)
// with only the capabilities that needs, no service account token, no privilege escalation,
// stdin open once for the build context, the registry credentials Secret (if any) mounted as
// kaniko's config.json, and the CA bundles (if any) in caDir.
func (p *Pod) pod(name string, args []string, vols podVolumes, labels map[string]string) *corev1.Pod {
	f, root := false, int64(0)
	deadline := int64(p.timeout / time.Second)
	c := corev1.Container{
		Name:                     containerName,
		Image:                    p.image,
		Args:                     args,
		Stdin:                    true,
		StdinOnce:                true,
		TerminationMessagePolicy: corev1.TerminationMessageReadFile,
		Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceCPU: p.cpu, corev1.ResourceMemory: p.mem}},
		SecurityContext: &corev1.SecurityContext{
			RunAsUser:                &root,
			RunAsNonRoot:             &f,
			Privileged:               &f,
			AllowPrivilegeEscalation: &f,
			Capabilities: &corev1.Capabilities{
				Drop: []corev1.Capability{"ALL"},
				// Unpacking layers (owners, modes, setuid bits) and RUN as another USER.
				Add: []corev1.Capability{"CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "SETUID", "SETGID"},
			},
		},
	}
	spec := corev1.PodSpec{
		RestartPolicy:                 corev1.RestartPolicyNever,
		AutomountServiceAccountToken:  &f,
		EnableServiceLinks:            &f,
		ActiveDeadlineSeconds:         &deadline,
		TerminationGracePeriodSeconds: &root,
		Containers:                    []corev1.Container{c},
	}
	mount := func(name, secret, path string, items []corev1.KeyToPath) {
		spec.Volumes = append(spec.Volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: secret, Items: items}}})
		spec.Containers[0].VolumeMounts = append(spec.Containers[0].VolumeMounts, corev1.VolumeMount{Name: name, MountPath: path, ReadOnly: true})
	}
	if vols.credentials != "" {
		mount("registry-credentials", vols.credentials, "/kaniko/.docker", []corev1.KeyToPath{{Key: corev1.DockerConfigJsonKey, Path: "config.json"}})
	}
	if len(vols.cas) > 0 {
		var items []corev1.KeyToPath
		for _, k := range vols.cas {
			items = append(items, corev1.KeyToPath{Key: k, Path: k})
		}
		sort.Slice(items, func(i, j int) bool { return items[i].Key < items[j].Key })
		mount("registry-cas", vols.caSecret, caDir, items)
	}
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: p.namespace, Labels: labels}, Spec: spec}
}

// podVolumes are the Secrets a build Pod mounts: credentials (the user's or devtool's) as
// kaniko's config.json, and the CA bundles (keys cas of caSecret) in caDir.
type podVolumes struct {
	credentials string
	caSecret    string
	cas         []string
}

// caDir is where build Pods find the registries' CA bundles (--registry-certificate).
const caDir = "/kaniko/devtool-certs"

// caKey is the Secret key and file name of host's CA bundle ("ca-host_port.crt").
func caKey(host string) string {
	return "ca-" + strings.NewReplacer(":", "_", "[", "", "]", "").Replace(host) + ".crt"
}

// caBundles reads the CA bundles the policy gives the registries the build touches over TLS,
// by caKey. Errors name the registry and the file.
func caBundles(req build.Request, dockerfile []byte, cfg settings) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, h := range touchedRegistries(req, dockerfile, cfg) {
		if f := cfg.policy.CAFile(h); f != "" && !cfg.policy.IsInsecure(h) {
			pem, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("image %q: registry %s: CA bundle: %w", req.Name, h, err)
			}
			out[caKey(h)] = pem
		}
	}
	return out, nil
}

// watchPod calls cond with each state of the Pod until it returns done or an error, ctx ends,
// or within (0: no bound) passes.
func (p *Pod) watchPod(ctx context.Context, name string, within time.Duration, cond func(*corev1.Pod) (bool, error)) error {
	if within > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, within)
		defer cancel()
	}
	sel := fields.OneTermEqualSelector("metadata.name", name).String()
	for {
		list, err := p.client.CoreV1().Pods(p.namespace).List(ctx, metav1.ListOptions{FieldSelector: sel})
		if err != nil {
			return err
		}
		if len(list.Items) == 0 {
			return fmt.Errorf("build Pod %s/%s was deleted", p.namespace, name)
		}
		if done, err := cond(&list.Items[0]); done || err != nil {
			return err
		}
		w, err := p.client.CoreV1().Pods(p.namespace).Watch(ctx, metav1.ListOptions{FieldSelector: sel, ResourceVersion: list.ResourceVersion})
		if err != nil {
			return err
		}
		for ev := range w.ResultChan() {
			switch ev.Type {
			case watch.Deleted:
				w.Stop()
				return fmt.Errorf("build Pod %s/%s was deleted", p.namespace, name)
			case watch.Added, watch.Modified:
				if pod, ok := ev.Object.(*corev1.Pod); ok {
					if done, err := cond(pod); done || err != nil {
						w.Stop()
						return err
					}
				}
			}
		}
		w.Stop()
		if err := ctx.Err(); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("build Pod %s/%s: timed out", p.namespace, name)
			}
			return err
		}
		// The watch closed (server timeout): list again.
	}
}

// waitRunning waits until the kaniko container runs (or already ended), failing fast when the
// executor image cannot be pulled or the Pod cannot start.
func (p *Pod) waitRunning(ctx context.Context, name string, log io.Writer) error {
	saidPending := ""
	return p.watchPod(ctx, name, startTimeout, func(pod *corev1.Pod) (bool, error) {
		for _, cs := range pod.Status.ContainerStatuses {
			if cs.State.Running != nil || cs.State.Terminated != nil {
				return true, nil
			}
			if w := cs.State.Waiting; w != nil {
				switch w.Reason {
				case "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError", "CreateContainerError":
					return false, fmt.Errorf("kaniko build Pod %s/%s cannot start: %s: %s (the executor image is %s; set another with --kaniko-image)", p.namespace, name, w.Reason, w.Message, p.image)
				}
			}
		}
		if pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded {
			return true, nil
		}
		for _, c := range pod.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Message != "" && c.Message != saidPending {
				saidPending = c.Message
				fmt.Fprintf(log, "build Pod not scheduled yet: %s\n", c.Message)
			}
		}
		return false, nil
	})
}

// waitTerminated waits until the kaniko container ended and returns its final state.
func (p *Pod) waitTerminated(ctx context.Context, name string) (*corev1.ContainerStateTerminated, error) {
	var term *corev1.ContainerStateTerminated
	err := p.watchPod(ctx, name, p.timeout+time.Minute, func(pod *corev1.Pod) (bool, error) {
		for _, cs := range pod.Status.ContainerStatuses {
			if cs.Name == containerName && cs.State.Terminated != nil {
				term = cs.State.Terminated
				return true, nil
			}
		}
		if pod.Status.Phase == corev1.PodFailed {
			return false, fmt.Errorf("kaniko build Pod %s/%s failed: %s %s", p.namespace, name, pod.Status.Reason, pod.Status.Message)
		}
		return false, nil
	})
	return term, err
}

// attach streams the build context into the Pod's stdin and its output to log, over the
// pods/attach subresource: WebSocket first, SPDY when the server cannot upgrade (kubectl's
// order).
func (p *Pod) attach(ctx context.Context, name string, req build.Request, log io.Writer) (sent bool, err error) {
	r := p.client.CoreV1().RESTClient().Post().Resource("pods").Namespace(p.namespace).Name(name).SubResource("attach").
		VersionedParams(&corev1.PodAttachOptions{Container: containerName, Stdin: true, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	ws, err := remotecommand.NewWebSocketExecutor(p.rest, http.MethodGet, r.URL().String())
	if err != nil {
		return false, err
	}
	spdy, err := remotecommand.NewSPDYExecutor(p.rest, http.MethodPost, r.URL())
	if err != nil {
		return false, err
	}
	exec, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return false, err
	}
	pr, pw := io.Pipe()
	written := make(chan error, 1)
	go func() {
		err := writeContext(ctx, pw, req)
		written <- err
		pw.CloseWithError(err)
	}()
	err = exec.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: pr, Stdout: log, Stderr: log})
	pr.Close() // unblocks the writer if the stream ended first
	return <-written == nil, err
}

// terminated reports whether the kaniko container has ended (one read of the Pod).
func (p *Pod) terminated(ctx context.Context, name string) bool {
	pod, err := p.client.CoreV1().Pods(p.namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return false
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name == containerName && cs.State.Terminated != nil {
			return true
		}
	}
	return false
}

// logTail writes the last lines of the kaniko container's log to w, when the attach stream
// did not carry them (the container ended before devtool attached).
func (p *Pod) logTail(ctx context.Context, name string, w *tailWriter) {
	if len(w.lines()) > 0 {
		return
	}
	n := int64(w.n)
	b, err := p.client.CoreV1().Pods(p.namespace).GetLogs(name, &corev1.PodLogOptions{Container: containerName, TailLines: &n}).DoRaw(ctx)
	if err == nil {
		_, _ = w.Write(b)
		w.flush()
	}
}

// tailWriter passes the lines written to it on to w, without terminal colour codes (kaniko's
// default log format colours the level), and keeps the last n.
type tailWriter struct {
	lw  io.Writer // splits writes into lines for add
	w   io.Writer
	n   int
	mu  sync.Mutex
	buf []string
}

func newTailWriter(w io.Writer, n int) *tailWriter {
	t := &tailWriter{w: w, n: n}
	t.lw = event.LineWriter(t.add)
	return t
}

// ansi matches terminal escape sequences (SGR colours and the like).
var ansi = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)

func (t *tailWriter) Write(b []byte) (int, error) { return t.lw.Write(b) }

func (t *tailWriter) add(line string) {
	line = ansi.ReplaceAllString(line, "")
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, line)
	if len(t.buf) > t.n {
		t.buf = t.buf[len(t.buf)-t.n:]
	}
	_, _ = io.WriteString(t.w, line+"\n")
}

// flush delivers an unfinished last line.
func (t *tailWriter) flush() { _, _ = t.lw.Write([]byte("\n")) }

func (t *tailWriter) lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.buf...)
}

func randomSuffix() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// podNamePart makes an image component name fit a Pod name (DNS-1123, at most 40 characters
// here so the prefix and suffix fit).
func podNamePart(s string) string {
	s = labelValue(strings.ToLower(s))
	s = strings.Trim(strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, s), "-")
	if len(s) > 40 {
		s = strings.TrimRight(s[:40], "-")
	}
	if s == "" {
		s = "image"
	}
	return s
}

// labelValue makes s a valid label value (at most 63 characters of [A-Za-z0-9._-], starting
// and ending alphanumeric).
func labelValue(s string) string {
	s = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '-'
	}, s)
	if len(s) > 63 {
		s = s[:63]
	}
	return strings.Trim(s, "-_.")
}
