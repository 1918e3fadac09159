// Command testenv runs devtool's local environment for `make demo` and manual testing: an OCI
// registry on loopback (go-containerregistry's in-process registry) with a busybox base image
// pushed to it, and a real single-node Kubernetes v1.33 (testenv.StartNode: the test
// kube-apiserver + etcd, kube-controller-manager, kube-scheduler, a kubelet with containerd +
// runc; docs/node.md). They run in a background process that outlives this command; its PID,
// logs and the kubeconfig live in the state directory. Where the node cannot run (not root,
// node binaries or packages missing) up falls back to the API server without a node, where
// Pods stay Pending.
//
// Usage:
//
//	testenv up     -dir .testenv [-registry 127.0.0.1:5555]   start what is not running; push the base image
//	testenv down   -dir .testenv                              stop them (SIGTERM by PID, SIGKILL after 30 s; the node cleans up first)
//	testenv status -dir .testenv                              what runs, where
//	testenv show   -dir .testenv -n NAMESPACE                 the devtool-managed objects in a namespace
//	testenv get    -dir .testenv -n NAMESPACE -l SELECTOR     wait for a Running Pod, GET / on its first container port, print the answer
//	testenv registry -addr 127.0.0.1:5555 [-blobs DIR]        serve the registry in the foreground
//	testenv node   -dir DIR -registry 127.0.0.1:5555          run the node in the foreground (up runs this)
//
// The registry keeps manifests in memory: after `down` the images are gone and the next
// deploy rebuilds them (the input-digest cache only skips builds the registry still has).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/devtool/devtool/test/testenv"
)

func main() {
	if len(os.Args) < 2 {
		usage(os.Stderr)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "up":
		err = up(ctx, os.Args[2:])
	case "down":
		err = down(os.Args[2:])
	case "status":
		err = status(os.Args[2:])
	case "show":
		err = show(ctx, os.Args[2:])
	case "registry":
		err = serveRegistry(ctx, os.Args[2:])
	case "node":
		err = serveNode(ctx, os.Args[2:])
	case "get":
		err = get(ctx, os.Args[2:])
	case "-h", "--help", "help":
		usage(os.Stdout)
		return
	default:
		usage(os.Stderr)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		os.Exit(1)
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, `usage: testenv up|down|status|show|registry [flags]
  up       -dir DIR [-registry 127.0.0.1:5555]  start the registry and the API server (idempotent)
  down     -dir DIR                             stop them
  status   -dir DIR                             show what runs
  show     -dir DIR -n NAMESPACE                list devtool-managed objects and their images
  get      -dir DIR -n NAMESPACE -l SELECTOR    GET / from a Running Pod (pod IP, first container port)
  registry -addr HOST:PORT [-blobs DIR]         serve the registry in the foreground
  node     -dir DIR -registry HOST:PORT         run the test node in the foreground`)
}

// state paths inside -dir.
type state struct{ dir string }

func (s state) path(name string) string { return filepath.Join(s.dir, name) }
func (s state) kubeconfig() string      { return s.path("kubeconfig") }

// pid reads <dir>/<name>.pid and reports whether that process is alive.
func (s state) pid(name string) (int, bool) {
	b, err := os.ReadFile(s.path(name + ".pid"))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	return pid, syscall.Kill(pid, 0) == nil
}

func dirFlag(fs *flag.FlagSet) *string {
	return fs.String("dir", ".testenv", "state directory (PIDs, logs, kubeconfig, API server data)")
}

func parse(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(os.Stderr)
	return fs.Parse(args)
}

func up(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	dir := dirFlag(fs)
	addr := fs.String("registry", "127.0.0.1:5555", "registry listen address (loopback)")
	if err := parse(fs, args); err != nil {
		return err
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	s := state{abs}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return err
	}
	ok, msg := testenv.NodeAvailable()
	if ok {
		return upNode(ctx, s, *addr)
	}
	fmt.Fprintf(os.Stderr, "testenv: no node (%s): starting the API server alone, Pods will stay Pending\n", msg)

	// Registry.
	if pid, ok := s.pid("registry"); ok {
		fmt.Fprintf(os.Stderr, "testenv: registry already running (pid %d)\n", pid)
	} else {
		self, err := os.Executable()
		if err != nil {
			return err
		}
		if err := spawn(s, "registry", self, "registry", "-addr", *addr, "-blobs", s.path("registry-blobs")); err != nil {
			return err
		}
	}
	if err := waitRegistry(ctx, *addr, 15*time.Second); err != nil {
		return fmt.Errorf("registry on %s: %w (log: %s)", *addr, err, s.path("registry.log"))
	}
	if err := os.WriteFile(s.path("registry"), []byte(*addr+"\n"), 0o644); err != nil {
		return err
	}

	// API server.
	if pid, ok := s.pid("apiserver"); ok {
		fmt.Fprintf(os.Stderr, "testenv: API server already running (pid %d)\n", pid)
	} else {
		bin, err := testenv.APIServerBinary()
		if err != nil {
			return err
		}
		_ = os.Remove(s.path("ready"))
		if err := spawn(s, "apiserver", bin, "-dir", abs); err != nil {
			return err
		}
	}
	url, err := testenv.WaitReady(ctx, abs, 90*time.Second)
	if err != nil {
		return fmt.Errorf("API server: %w (log: %s)", err, s.path("apiserver.log"))
	}

	// kube-controller-manager, when built (make deps-demo): namespace deletion finishes,
	// Deployments get ReplicaSets and Pods (which stay Pending: there is no node).
	kcmNote := "not built (test/testenv/install-deps.sh --with-kcm): deleted namespaces stay Terminating"
	if bin, err := testenv.APIServerBinary(); err == nil {
		kcm := filepath.Join(filepath.Dir(bin), "kube-controller-manager")
		if _, err := os.Stat(kcm); err == nil {
			if pid, ok := s.pid("kcm"); ok {
				kcmNote = fmt.Sprintf("running (pid %d)", pid)
			} else {
				if err := spawn(s, "kcm", kcm,
					"--kubeconfig="+s.kubeconfig(), "--leader-elect=false", "--secure-port=0",
					"--controllers=namespace,garbagecollector,serviceaccount,serviceaccount-token,deployment,replicaset",
					"--service-account-private-key-file="+s.path("pki/sa.key"), "--root-ca-file="+s.path("pki/ca.crt"),
					"--use-service-account-credentials=false"); err != nil {
					return err
				}
				kcmNote = "started (log " + s.path("kcm.log") + ")"
			}
		}
	}

	// Base image (always: the registry forgets everything when it restarts; pushing again is a
	// no-op for the registry when the blobs are there).
	ref, err := testenv.PushBusybox(ctx, *addr)
	if err != nil {
		return err
	}
	fmt.Printf("registry     %s (base image %s)\n", *addr, ref)
	fmt.Printf("API server   %s\n", url)
	fmt.Printf("controllers  kube-controller-manager %s\n", kcmNote)
	fmt.Printf("kubeconfig   %s\n", s.kubeconfig())
	fmt.Printf("stop with    testenv down -dir %s\n", *dir)
	return nil
}

// spawn starts argv as a background process in its own session (it outlives testenv), with
// output in <dir>/<name>.log and its PID in <dir>/<name>.pid.
func spawn(s state, name string, argv ...string) error {
	logf, err := os.OpenFile(s.path(name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", name, err)
	}
	if err := os.WriteFile(s.path(name+".pid"), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "testenv: started %s (pid %d, log %s)\n", name, cmd.Process.Pid, s.path(name+".log"))
	return cmd.Process.Release()
}

func waitRegistry(ctx context.Context, addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/v2/", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET /v2/: %s", resp.Status)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not answering after %s: %v", timeout, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func down(args []string) error {
	fs := flag.NewFlagSet("down", flag.ContinueOnError)
	dir := dirFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	s := state{*dir}
	var errs []error
	for _, name := range []string{"node", "kcm", "apiserver", "registry"} {
		pid, alive := s.pid(name)
		if alive {
			// The node deletes the workloads and waits for the kubelet to tear them down first.
			wait := 30 * time.Second
			if name == "node" {
				wait = 3 * time.Minute
			}
			if err := terminate(pid, wait); err != nil {
				errs = append(errs, fmt.Errorf("%s (pid %d): %w", name, pid, err))
				continue
			}
			fmt.Fprintf(os.Stderr, "testenv: stopped %s (pid %d)\n", name, pid)
		}
		_ = os.Remove(s.path(name + ".pid"))
	}
	_ = os.Remove(s.path("ready"))
	_ = os.Remove(s.path("node-ready"))
	return errors.Join(errs...)
}

// terminate sends SIGTERM to pid (never by name) and SIGKILL after timeout.
func terminate(pid int, timeout time.Duration) error {
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if syscall.Kill(pid, 0) != nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return syscall.Kill(pid, syscall.SIGKILL)
}

func status(args []string) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	dir := dirFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	s := state{*dir}
	for _, name := range []string{"node", "registry", "apiserver", "kcm"} {
		pid, alive := s.pid(name)
		where := ""
		switch name {
		case "registry":
			b, _ := os.ReadFile(s.path("registry"))
			where = strings.TrimSpace(string(b))
		case "apiserver":
			b, _ := os.ReadFile(s.path("ready"))
			where = strings.TrimSpace(string(b))
		}
		if alive {
			fmt.Printf("%-10s running (pid %d) %s\n", name, pid, where)
		} else {
			fmt.Printf("%-10s stopped\n", name)
		}
	}
	return nil
}

func show(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("show", flag.ContinueOnError)
	dir := dirFlag(fs)
	ns := fs.String("n", "default", "namespace")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", state{*dir}.kubeconfig())
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	sel := metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=devtool"}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	fmt.Fprintf(tw, "KIND\tNAMESPACE\tNAME\tRESOURCEVERSION\tDETAIL\n")
	deps, err := cs.AppsV1().Deployments(*ns).List(ctx, sel)
	if err != nil {
		return fmt.Errorf("listing Deployments in %s: %w", *ns, err)
	}
	for _, d := range deps.Items {
		for _, c := range d.Spec.Template.Spec.Containers {
			fmt.Fprintf(tw, "Deployment\t%s\t%s\t%s\tcontainer %s image %s\n", d.Namespace, d.Name, d.ResourceVersion, c.Name, c.Image)
		}
	}
	svcs, err := cs.CoreV1().Services(*ns).List(ctx, sel)
	if err != nil {
		return err
	}
	for _, s := range svcs.Items {
		var ports []string
		for _, p := range s.Spec.Ports {
			ports = append(ports, fmt.Sprintf("%d→%s", p.Port, p.TargetPort.String()))
		}
		fmt.Fprintf(tw, "Service\t%s\t%s\t%s\tports %s\n", s.Namespace, s.Name, s.ResourceVersion, strings.Join(ports, ","))
	}
	// Pods are the Deployment's (created by kube-controller-manager when it runs); they carry
	// the pod template's labels, not devtool's, so all of the namespace's are listed.
	pods, err := cs.CoreV1().Pods(*ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, p := range pods.Items {
		detail := "phase " + string(p.Status.Phase)
		if p.Spec.NodeName == "" {
			detail += " (not scheduled: no node runs it here)"
		} else if p.Status.PodIP != "" {
			detail += " on node " + p.Spec.NodeName + ", IP " + p.Status.PodIP
		}
		fmt.Fprintf(tw, "Pod\t%s\t%s\t%s\t%s\n", p.Namespace, p.Name, p.ResourceVersion, detail)
	}
	cms, err := cs.CoreV1().ConfigMaps(*ns).List(ctx, sel)
	if err != nil {
		return err
	}
	for _, c := range cms.Items {
		fmt.Fprintf(tw, "ConfigMap\t%s\t%s\t%s\t%d keys\n", c.Namespace, c.Name, c.ResourceVersion, len(c.Data))
	}
	return nil
}

func serveRegistry(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("registry", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:5555", "listen address")
	blobs := fs.String("blobs", "", "directory for blobs (default: memory)")
	if err := parse(fs, args); err != nil {
		return err
	}
	r, err := testenv.ServeRegistry(ctx, *addr, *blobs)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "registry listening on %s\n", r.Host)
	return r.Wait()
}

// upNode starts `testenv node` in the background (unless it runs) and waits for its
// node-ready file: the registry on addr holds the base image and the node is Ready.
func upNode(ctx context.Context, s state, addr string) error {
	if pid, ok := s.pid("node"); ok {
		fmt.Fprintf(os.Stderr, "testenv: node already running (pid %d)\n", pid)
	} else {
		self, err := os.Executable()
		if err != nil {
			return err
		}
		_ = os.Remove(s.path("node-ready"))
		start := time.Now()
		if err := spawn(s, "node", self, "node", "-dir", s.dir, "-registry", addr); err != nil {
			return err
		}
		for {
			if _, err := os.Stat(s.path("node-ready")); err == nil {
				break
			}
			pid, alive := s.pid("node")
			if !alive {
				return fmt.Errorf("the test node (pid %d) exited before it was Ready; see %s", pid, s.path("node.log"))
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
			if time.Since(start) > 3*time.Minute {
				return fmt.Errorf("the test node is not Ready after 3m; see %s", s.path("node.log"))
			}
		}
		fmt.Fprintf(os.Stderr, "testenv: node Ready in %s\n", time.Since(start).Round(10*time.Millisecond))
	}
	fmt.Printf("registry     %s (base image %s/%s)\n", addr, addr, testenv.BusyboxRepo)
	fmt.Printf("node         %s (kubelet + containerd; logs in %s)\n", testenv.NodeName, filepath.Join(s.dir, "node", "logs"))
	fmt.Printf("kubeconfig   %s\n", s.kubeconfig())
	fmt.Printf("stop with    testenv down -dir %s\n", s.dir)
	return nil
}

// serveNode runs a test node in the foreground until SIGTERM/SIGINT, then stops and cleans
// it. Once the node is Ready it copies the kubeconfig to <dir>/kubeconfig, the registry
// address to <dir>/registry, and writes <dir>/node-ready.
func serveNode(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
	dir := dirFlag(fs)
	addr := fs.String("registry", "127.0.0.1:5555", "registry listen address (loopback)")
	if err := parse(fs, args); err != nil {
		return err
	}
	s := state{*dir}
	n, err := testenv.StartNodeWith(ctx, s.path("node"), 3*time.Minute, testenv.NodeOptions{RegistryAddr: *addr})
	if err != nil {
		return err
	}
	defer func() {
		if err := n.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "testenv node: stopping:", err)
		}
		fmt.Fprintln(os.Stderr, "testenv node: stopped and cleaned up")
	}()
	kc, err := os.ReadFile(n.Kubeconfig)
	if err != nil {
		return err
	}
	for name, body := range map[string][]byte{"kubeconfig": kc, "registry": []byte(n.Registry + "\n"), "node-ready": []byte(n.API.URL + "\n")} {
		if err := os.WriteFile(s.path(name), body, 0o600); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "testenv node: Ready; API server %s, registry %s\n", n.API.URL, n.Registry)
	<-ctx.Done()
	return nil
}

// get waits (up to -timeout) for a Running Pod matching -l in -n, sends GET / to its IP on
// its first container port and prints the status and body: the demo's proof that the app
// answers. Errors: no such Pod in time, no container port, the request failing.
func get(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("get", flag.ContinueOnError)
	dir := dirFlag(fs)
	ns := fs.String("n", "default", "namespace")
	sel := fs.String("l", "", "label selector of the Pod")
	timeout := fs.Duration("timeout", 2*time.Minute, "how long to wait for a Running Pod that answers")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", state{*dir}.kubeconfig())
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	var last error
	for {
		pods, err := cs.CoreV1().Pods(*ns).List(ctx, metav1.ListOptions{LabelSelector: *sel})
		last = err
		if err == nil {
			last = fmt.Errorf("no Running Pod matches %q in %s", *sel, *ns)
			for _, p := range pods.Items {
				if p.Status.Phase != "Running" || p.Status.PodIP == "" || p.DeletionTimestamp != nil {
					continue
				}
				port := int32(0)
				for _, c := range p.Spec.Containers {
					for _, cp := range c.Ports {
						if port == 0 {
							port = cp.ContainerPort
						}
					}
				}
				if port == 0 {
					return fmt.Errorf("Pod %s/%s declares no container port", p.Namespace, p.Name)
				}
				url := fmt.Sprintf("http://%s:%d/", p.Status.PodIP, port)
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					last = fmt.Errorf("GET %s (Pod %s/%s): %w", url, p.Namespace, p.Name, err)
					continue
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					return err
				}
				fmt.Printf("GET %s (Pod %s/%s) -> %s\n%s", url, p.Namespace, p.Name, resp.Status, body)
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%v (waited %s)", last, *timeout)
		case <-time.After(500 * time.Millisecond):
		}
	}
}
