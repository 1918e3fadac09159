package testenv

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// NodeName is the name (and InternalIP) of the test node's only Node: the kubelet runs with
// --hostname-override=127.0.0.1 because it refuses a loopback --node-ip (docs/node.md).
const NodeName = "127.0.0.1"

// PauseRepo is the repository, relative to the node's registry host, of the sandbox ("pause")
// image StartNode pushes: the busybox image of PushBusybox running `sleep`, which is all a
// sandbox needs (containerd stops sandboxes with SIGKILL; nothing shares its PID namespace).
const PauseRepo = "base/pause:3.10"

// nodeBinaries are the binaries StartNode runs from test/testenv/bin (build.sh builds them).
var nodeBinaries = []string{"kube-controller-manager", "kube-scheduler", "kubelet"}

// nodeHostTools are the host programs StartNode runs (install-deps.sh installs them).
var nodeHostTools = map[string]string{
	"containerd":          "/usr/bin/containerd",
	"runc":                "/usr/sbin/runc",
	"ctr":                 "/usr/bin/ctr",
	"bridge CNI plugin":   "/usr/lib/cni/bridge",
	"host-local CNI":      "/usr/lib/cni/host-local",
	"loopback CNI plugin": "/usr/lib/cni/loopback",
	"ip":                  "/usr/sbin/ip",
}

// NodeHint is what to run when a part of the test node is missing.
const NodeHint = "make deps (test/testenv/install-deps.sh: apt-get install containerd runc containernetworking-plugins, and build.sh for kubelet, kube-scheduler and kube-controller-manager)"

// NodeAvailable reports whether this machine can run a test node: root (the kubelet and
// containerd mount, create cgroups and network devices), the binaries build.sh builds, and
// the Debian packages install-deps.sh installs. When it cannot, the message says what is
// missing and how to install it.
func NodeAvailable() (bool, string) {
	if os.Geteuid() != 0 {
		return false, "the test node needs root (kubelet and containerd mount file systems and create cgroups and a bridge)"
	}
	bin, err := APIServerBinary()
	if err != nil {
		return false, err.Error()
	}
	var missing []string
	for _, b := range nodeBinaries {
		if _, err := os.Stat(filepath.Join(filepath.Dir(bin), b)); err != nil {
			missing = append(missing, filepath.Join(filepath.Dir(bin), b))
		}
	}
	for what, p := range nodeHostTools {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, what+" ("+p+")")
		}
	}
	if _, err := os.Stat(BusyboxBin); err != nil {
		missing = append(missing, "busybox ("+BusyboxBin+")")
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return false, "test node: missing " + strings.Join(missing, ", ") + "; install with " + NodeHint
	}
	return true, ""
}

// Node is a real single-node Kubernetes v1.33 on loopback: the test API server (etcd +
// kube-apiserver), kube-controller-manager, kube-scheduler, and a kubelet running pods with
// Debian containerd + runc and a CNI bridge, plus an in-process OCI registry holding the
// pause and busybox images containerd pulls over plain HTTP. Recipe and figures: docs/node.md.
type Node struct {
	// API is the node's API server; API.Kubeconfig authenticates as system:masters.
	API *APIServer
	// Kubeconfig is API.Kubeconfig.
	Kubeconfig string
	// Dir holds everything the node writes (state, logs, kubelet root, containerd root).
	Dir string
	// Registry is the loopback registry host ("127.0.0.1:PORT") containerd pulls from.
	Registry string
	// PodRegistry is the same registry where Pods reach it ("10.244.N.1:PORT", the CNI
	// bridge's gateway address, which is also local to the host): images that a Pod pushes
	// (kaniko build Pods) go here, and containerd pulls from it over plain HTTP too.
	PodRegistry string
	// Busybox is the busybox image reference in Registry (see PushBusybox).
	Busybox string
	// Client talks to API.
	Client kubernetes.Interface

	bridge, network, cgroupRoot string
	sysctls                     map[string]string
	procs                       []*nodeProc // start order
	stopRegistry                context.CancelFunc
	registry                    *Registry
	kaniko                      kanikoImages
}

type nodeProc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
}

// sysctlsKubeletSets are the kernel settings a kubelet with protectKernelDefaults=false
// writes (vm.overcommit_memory=1, kernel.panic=10, kernel.panic_on_oops=1, ...); StartNode
// records them and Stop writes the old values back.
var sysctlsKubeletSets = []string{"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops", "kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes"}

// StartNode starts a test node in dir (created if needed; keep the path short: containerd's
// socket lives under it and unix socket paths are limited to 108 bytes) and returns once the
// node is Ready and the default ServiceAccount exists, or an error naming the log to read
// (timeout bounds the whole start; ~5 s on 2 cores). On error everything started so far is
// stopped and cleaned. Every name that could clash with another node on the same machine
// (bridge, subnet, CNI network, cgroup root, kubelet ports) is chosen at random, so nodes
// of parallel test packages do not meet. Stop the node with Stop.
func StartNode(ctx context.Context, dir string, timeout time.Duration) (*Node, error) {
	return StartNodeWith(ctx, dir, timeout, NodeOptions{})
}

// NodeOptions change how StartNodeWith starts a node.
type NodeOptions struct {
	// RegistryAddr is where the node's registry listens ("127.0.0.1:5555" for make demo);
	// empty: a random loopback port.
	RegistryAddr string
}

// StartNodeWith is StartNode with options.
func StartNodeWith(ctx context.Context, dir string, timeout time.Duration, opts NodeOptions) (n *Node, err error) {
	if ok, msg := NodeAvailable(); !ok {
		return nil, errors.New(msg)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	bin, _ := APIServerBinary()
	binDir := filepath.Dir(bin)
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	for _, d := range []string{"logs", "containerd/certs.d", "cni/net.d", "kubelet/pki", "pod-logs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, fmt.Errorf("test node dir: %w", err)
		}
	}
	id := randomHex(3)
	n = &Node{Dir: dir, bridge: "dt" + id, network: "devtool-" + id, cgroupRoot: "/devtool-node-" + id, sysctls: map[string]string{}}
	defer func() {
		if err != nil {
			_ = n.Stop()
			n = nil
		}
	}()
	for _, k := range sysctlsKubeletSets {
		if b, err := os.ReadFile("/proc/sys/" + k); err == nil {
			n.sysctls[k] = strings.TrimSpace(string(b))
		}
	}

	// 1. registry with the pause and busybox images.
	rctx, rcancel := context.WithCancel(context.WithoutCancel(ctx))
	n.stopRegistry = rcancel
	addr := opts.RegistryAddr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	n.registry, err = ServeRegistry(rctx, addr, filepath.Join(dir, "registry"))
	if err != nil {
		return n, err
	}
	n.Registry = n.registry.Host
	if n.Busybox, err = PushBusybox(ctx, n.Registry); err != nil {
		return n, err
	}
	pause, err := pushPause(ctx, n.Busybox, n.Registry+"/"+PauseRepo)
	if err != nil {
		return n, err
	}

	// 2. containerd (CRI) with runc, the CNI bridge and the registry over plain HTTP.
	subnet, err := freeSubnet()
	if err != nil {
		return n, err
	}
	if err := n.TrustRegistry(n.Registry); err != nil {
		return n, err
	}
	// The bridge exists before the first Pod (the CNI bridge plugin keeps an existing one and its
	// gateway address), so the registry can listen on the gateway address for Pods.
	// Its MAC is set explicitly: a Linux bridge otherwise takes the lowest MAC of its ports and
	// changes it as Pods come and go, and Pods whose ARP cache still holds the old gateway MAC
	// lose new connections to the registry for ~20 s (seen as kaniko pushes that stalled).
	gw := strings.TrimSuffix(subnet, "0/24") + "1"
	mac := "02:" + strings.Join([]string{randomHex(1), randomHex(1), randomHex(1), randomHex(1), randomHex(1)}, ":")
	for _, args := range [][]string{{"link", "add", "name", n.bridge, "address", mac, "type", "bridge"}, {"addr", "add", gw + "/24", "dev", n.bridge}, {"link", "set", n.bridge, "up"}} {
		if out, err := exec.CommandContext(ctx, "/usr/sbin/ip", args...).CombinedOutput(); err != nil {
			return n, fmt.Errorf("creating bridge %s: ip %s: %v: %s", n.bridge, strings.Join(args, " "), err, out)
		}
	}
	if n.PodRegistry, err = n.registry.Listen(rctx, gw+":0"); err != nil {
		return n, err
	}
	if err := n.TrustRegistry(n.PodRegistry); err != nil {
		return n, err
	}
	files := map[string]string{
		"containerd/config.toml":        fmt.Sprintf(containerdConfig, dir, pause),
		"cni/net.d/10-devtool.conflist": fmt.Sprintf(cniConfig, n.network, n.bridge, subnet, dir),
	}
	for p, body := range files {
		if err := os.WriteFile(filepath.Join(dir, p), []byte(body), 0o644); err != nil {
			return n, err
		}
	}
	if err := n.spawn("containerd", "/usr/bin/containerd", "--config", filepath.Join(dir, "containerd/config.toml")); err != nil {
		return n, err
	}
	sock := filepath.Join(dir, "containerd/containerd.sock")
	if err := n.waitFor(ctx, "containerd socket", func() bool { _, err := os.Stat(sock); return err == nil }); err != nil {
		return n, err
	}

	// 3. API server, told how to reach the kubelet on loopback.
	api := filepath.Join(dir, "api")
	n.API, err = StartAPIServer(ctx, api, timeout, "--kubelet-client-certificate="+filepath.Join(api, "pki/admin.crt"),
		"--kubelet-client-key="+filepath.Join(api, "pki/admin.key"), "--kubelet-preferred-address-types=InternalIP,Hostname")
	if err != nil {
		return n, err
	}
	n.Kubeconfig = n.API.Kubeconfig
	cfg, err := clientcmd.BuildConfigFromFlags("", n.Kubeconfig)
	if err != nil {
		return n, err
	}
	if n.Client, err = kubernetes.NewForConfig(cfg); err != nil {
		return n, err
	}

	// 4. controllers and scheduler.
	if err := n.spawn("kcm", filepath.Join(binDir, "kube-controller-manager"), "--kubeconfig="+n.Kubeconfig,
		"--leader-elect=false", "--secure-port=0", "--controllers=*",
		"--service-account-private-key-file="+filepath.Join(api, "pki/sa.key"), "--root-ca-file="+filepath.Join(api, "pki/ca.crt"),
		"--use-service-account-credentials=false"); err != nil {
		return n, err
	}
	if err := n.spawn("scheduler", filepath.Join(binDir, "kube-scheduler"), "--kubeconfig="+n.Kubeconfig,
		"--authentication-kubeconfig="+n.Kubeconfig, "--authorization-kubeconfig="+n.Kubeconfig,
		"--leader-elect=false", "--secure-port=0"); err != nil {
		return n, err
	}

	// 5. kubelet in its own cgroup root (created in every hierarchy: the kubelet requires it).
	if err := n.makeCgroupRoot(); err != nil {
		return n, err
	}
	port, err := freePort()
	if err != nil {
		return n, err
	}
	kcfg := fmt.Sprintf(kubeletConfig, port, filepath.Join(api, "pki/ca.crt"), sock, n.cgroupRoot, filepath.Join(dir, "pod-logs"))
	if err := os.WriteFile(filepath.Join(dir, "kubelet-config.yaml"), []byte(kcfg), 0o644); err != nil {
		return n, err
	}
	if err := n.spawn("kubelet", filepath.Join(binDir, "kubelet"), "--config="+filepath.Join(dir, "kubelet-config.yaml"),
		"--kubeconfig="+n.Kubeconfig, "--root-dir="+filepath.Join(dir, "kubelet"), "--cert-dir="+filepath.Join(dir, "kubelet/pki"),
		"--hostname-override="+NodeName, "--fail-swap-on=false", "--v=1"); err != nil {
		return n, err
	}
	if err := n.waitFor(ctx, "node "+NodeName+" Ready", n.ready); err != nil {
		return n, err
	}
	return n, nil
}

// TrustRegistry lets containerd pull from host ("127.0.0.1:PORT") over plain HTTP by writing
// containerd/certs.d/<host>/hosts.toml (containerd reads it on every pull). Errors: writing.
func (n *Node) TrustRegistry(host string) error {
	d := filepath.Join(n.Dir, "containerd/certs.d", host)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return err
	}
	body := fmt.Sprintf("server = \"http://%s\"\n\n[host.\"http://%s\"]\n  capabilities = [\"pull\", \"resolve\"]\n", host, host)
	return os.WriteFile(filepath.Join(d, "hosts.toml"), []byte(body), 0o644)
}

// Mirror makes containerd pull images of registry host (e.g. "registry.access.redhat.com")
// from the node's loopback registry, same repository paths, over plain HTTP (hosts.toml with
// the loopback registry as the first host; host itself stays the fallback server): for tests
// whose devfiles name images on registries that cannot be reached here. Push what they need
// to n.Registry under the same paths (CopyImage). Errors: writing the file.
func (n *Node) Mirror(host string) error {
	d := filepath.Join(n.Dir, "containerd/certs.d", host)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return err
	}
	body := fmt.Sprintf("server = \"https://%s\"\n\n[host.\"http://%s\"]\n  capabilities = [\"pull\", \"resolve\"]\n", host, n.Registry)
	return os.WriteFile(filepath.Join(d, "hosts.toml"), []byte(body), 0o644)
}

// CopyImage copies the image src (plain HTTP on loopback) to n.Registry/<repo> ("ubi8/nodejs-14:latest").
func (n *Node) CopyImage(ctx context.Context, src, repo string) error {
	s, err := name.ParseReference(src, name.Insecure)
	if err != nil {
		return err
	}
	img, err := remote.Image(s, remote.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("reading %s: %w", src, err)
	}
	return pushImage(ctx, img, n.Registry+"/"+repo, src)
}

// ready reports whether the Node is Ready and the default ServiceAccount exists.
func (n *Node) ready() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	no, err := n.Client.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
	if err != nil {
		return false
	}
	for _, c := range no.Status.Conditions {
		if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
			_, err := n.Client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
			return err == nil
		}
	}
	return false
}

// waitFor polls cond every 100 ms until it holds, a node process exits (the error names its
// log) or ctx ends.
func (n *Node) waitFor(ctx context.Context, what string, cond func() bool) error {
	for !cond() {
		for _, p := range n.procs {
			select {
			case <-p.done:
				return fmt.Errorf("test node: %s exited while waiting for %s; see %s", p.name, what, n.logPath(p.name))
			default:
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("test node: waiting for %s: %w (logs in %s)", what, ctx.Err(), filepath.Join(n.Dir, "logs"))
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

func (n *Node) logPath(name string) string { return filepath.Join(n.Dir, "logs", name+".log") }

// spawn starts argv as node process name, output to logs/<name>.log, in its own process
// group with SIGTERM on the test process's death.
func (n *Node) spawn(name string, argv ...string) error {
	logf, err := os.Create(n.logPath(name))
	if err != nil {
		return err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("test node: starting %s: %w", name, err)
	}
	p := &nodeProc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); logf.Close(); close(p.done) }()
	n.procs = append(n.procs, p)
	return nil
}

// stopProc sends SIGTERM to the process (by PID), waits up to 30 s, then SIGKILL.
func stopProc(p *nodeProc) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (n *Node) proc(name string) *nodeProc {
	for _, p := range n.procs {
		if p.name == name {
			return p
		}
	}
	return nil
}

// Stop deletes every workload (so the kubelet tears pods down: CNI DEL, volume unmounts),
// stops kubelet, scheduler, controllers, API server and containerd by PID, kills containers
// left behind, unmounts what the kubelet and containerd mounted under Dir, removes the cgroup
// root, the CNI bridge and the CNI result cache entries, and writes back the sysctls the
// kubelet changed. It returns the problems it met (joined); safe to call twice.
func (n *Node) Stop() error {
	if n == nil {
		return nil
	}
	var errs []error
	if n.Client != nil && n.proc("kubelet") != nil && n.API != nil {
		n.deleteWorkloads(60 * time.Second)
	}
	for _, name := range []string{"kubelet", "scheduler", "kcm"} {
		if p := n.proc(name); p != nil {
			stopProc(p)
		}
	}
	if n.API != nil {
		if err := n.API.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stopping API server: %w", err))
		}
	}
	if p := n.proc("containerd"); p != nil {
		n.killContainers()
		stopProc(p)
	}
	if err := unmountNodeDir(n.Dir); err != nil {
		errs = append(errs, err)
	}
	if n.cgroupRoot != "" {
		removeCgroupRoot(n.cgroupRoot)
	}
	if n.bridge != "" {
		if _, err := net.InterfaceByName(n.bridge); err == nil {
			if out, err := exec.Command("/usr/sbin/ip", "link", "del", n.bridge).CombinedOutput(); err != nil {
				errs = append(errs, fmt.Errorf("deleting bridge %s: %v: %s", n.bridge, err, out))
			}
		}
	}
	if n.network != "" {
		ms, _ := filepath.Glob("/var/lib/cni/results/" + n.network + "-*")
		for _, m := range ms {
			_ = os.Remove(m)
		}
		// Paths the kubelet (device-plugin socket), libcni and the containerd shim hard-code:
		// the socket goes, then only directories left empty (never another runtime's data).
		_ = os.Remove("/var/lib/kubelet/device-plugins/kubelet.sock")
		for _, d := range []string{"/var/lib/kubelet/device-plugins", "/var/lib/kubelet", "/var/lib/cni/results", "/var/lib/cni",
			"/run/containerd/runc/k8s.io", "/run/containerd/runc", "/run/containerd/s", "/run/containerd"} {
			_ = syscall.Rmdir(d)
		}
	}
	for k, v := range n.sysctls {
		_ = os.WriteFile("/proc/sys/"+k, []byte(v), 0o644)
	}
	n.sysctls = nil
	if n.stopRegistry != nil {
		n.stopRegistry()
		n.stopRegistry = nil
	}
	return errors.Join(errs...)
}

// deleteWorkloads deletes controllers then pods in every namespace and waits (up to timeout)
// until no Pod is left.
func (n *Node) deleteWorkloads(timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	nss, err := n.Client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	bg := metav1.DeletePropagationBackground
	opts := metav1.DeleteOptions{PropagationPolicy: &bg}
	for _, ns := range nss.Items {
		c, a, b := n.Client.AppsV1(), n.Client.BatchV1(), ns.Name
		_ = c.Deployments(b).DeleteCollection(ctx, opts, metav1.ListOptions{})
		_ = c.StatefulSets(b).DeleteCollection(ctx, opts, metav1.ListOptions{})
		_ = c.DaemonSets(b).DeleteCollection(ctx, opts, metav1.ListOptions{})
		_ = c.ReplicaSets(b).DeleteCollection(ctx, opts, metav1.ListOptions{})
		_ = a.Jobs(b).DeleteCollection(ctx, opts, metav1.ListOptions{})
		grace := int64(1)
		_ = n.Client.CoreV1().Pods(b).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &grace}, metav1.ListOptions{})
	}
	for ctx.Err() == nil {
		pods, err := n.Client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
		if err != nil || len(pods.Items) == 0 {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// killContainers kills and removes containers containerd still has in namespace k8s.io.
func (n *Node) killContainers() {
	ctr := func(args ...string) string {
		out, _ := exec.Command("/usr/bin/ctr", append([]string{"-a", filepath.Join(n.Dir, "containerd/containerd.sock"), "-n", "k8s.io"}, args...)...).Output()
		return string(out)
	}
	tasks := strings.Fields(ctr("tasks", "ls", "-q"))
	for _, t := range tasks {
		ctr("tasks", "kill", "-s", "KILL", t)
	}
	if len(tasks) > 0 {
		time.Sleep(time.Second)
	}
	for _, t := range strings.Fields(ctr("tasks", "ls", "-q")) {
		ctr("tasks", "rm", "-f", t)
	}
	for _, c := range strings.Fields(ctr("containers", "ls", "-q")) {
		ctr("containers", "rm", c)
	}
}

// unmountNodeDir unmounts every mount point at or below dir, deepest first (lazily when busy).
func unmountNodeDir(dir string) error {
	for range 3 {
		f, err := os.Open("/proc/self/mountinfo")
		if err != nil {
			return err
		}
		var mps []string
		s := bufio.NewScanner(f)
		for s.Scan() {
			fs := strings.Fields(s.Text())
			if len(fs) > 4 {
				if p := unescapeMount(fs[4]); p == dir || strings.HasPrefix(p, dir+"/") {
					mps = append(mps, p)
				}
			}
		}
		f.Close()
		if len(mps) == 0 {
			return nil
		}
		sort.Sort(sort.Reverse(sort.StringSlice(mps)))
		for _, m := range mps {
			if err := syscall.Unmount(m, 0); err != nil {
				_ = syscall.Unmount(m, syscall.MNT_DETACH)
			}
		}
	}
	return fmt.Errorf("test node: mounts left under %s", dir)
}

// cgroupHierarchies are the mounted cgroup hierarchies: every v1 controller directory and
// the unified (v2) one, or /sys/fs/cgroup itself on a pure v2 host.
func cgroupHierarchies() []string {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return []string{"/sys/fs/cgroup"}
	}
	ents, _ := os.ReadDir("/sys/fs/cgroup")
	var hs []string
	for _, e := range ents {
		p := filepath.Join("/sys/fs/cgroup", e.Name())
		if fi, err := os.Lstat(p); err == nil && fi.IsDir() {
			hs = append(hs, p)
		}
	}
	return hs
}

func (n *Node) makeCgroupRoot() error {
	for _, h := range cgroupHierarchies() {
		if err := os.Mkdir(filepath.Join(h, n.cgroupRoot), 0o755); err != nil && !os.IsExist(err) {
			return fmt.Errorf("test node: creating cgroup %s: %w", filepath.Join(h, n.cgroupRoot), err)
		}
	}
	return nil
}

// removeCgroupRoot removes root and its sub-cgroups, deepest first, in every hierarchy.
func removeCgroupRoot(root string) {
	for _, h := range cgroupHierarchies() {
		top := filepath.Join(h, root)
		var dirs []string
		_ = filepath.WalkDir(top, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
		for _, d := range dirs {
			_ = syscall.Rmdir(d)
		}
	}
}

// pushPause pushes the busybox image at busybox as ref with Entrypoint sleep: the sandbox image.
func pushPause(ctx context.Context, busybox, ref string) (string, error) {
	src, err := name.ParseReference(busybox, name.Insecure)
	if err != nil {
		return "", err
	}
	img, err := remote.Image(src, remote.WithContext(ctx))
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", busybox, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return "", err
	}
	cf = cf.DeepCopy()
	cf.Config.Entrypoint = []string{"/bin/sleep", "2147483647"}
	cf.Config.Cmd = nil
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return "", err
	}
	if err := pushImage(ctx, img, ref, "the pause image"); err != nil {
		return "", err
	}
	return ref, nil
}

// freeSubnet picks a /24 in 10.244.0.0/16 that no local interface address is in.
func freeSubnet() (string, error) {
	addrs, _ := net.InterfaceAddrs()
	for range 64 {
		b := make([]byte, 1)
		_, _ = rand.Read(b)
		_, cidr, _ := net.ParseCIDR("10.244." + strconv.Itoa(int(b[0])) + ".0/24")
		used := false
		for _, a := range addrs {
			if ip, _, err := net.ParseCIDR(a.String()); err == nil && cidr.Contains(ip) {
				used = true
			}
		}
		if !used {
			return cidr.String(), nil
		}
	}
	return "", errors.New("test node: no free /24 in 10.244.0.0/16")
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// NodeForMain starts the node of a test package from TestMain, lazily: the first call
// starts it in a new temporary directory (short, under os.TempDir), later calls return the
// same node or the same error. StopNodeForMain stops it after m.Run.
type NodeForMain struct {
	mu   sync.Mutex // parallel tests may call Get at once
	node *Node
	err  error
	done bool
	skip string
}

// Get returns the package's node, starting it on first use. When the node cannot run here
// the test is skipped with the reason, or fails when $DEVTOOL_REQUIRE_TESTENV=1; a node
// that was available but did not start fails the test.
func (m *NodeForMain) Get(t testing.TB) *Node {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.done {
		m.done = true
		if ok, msg := NodeAvailable(); !ok {
			m.skip = msg
		} else {
			dir, err := os.MkdirTemp("", "dtnode-")
			if err == nil {
				start := time.Now()
				m.node, err = StartNode(context.Background(), dir, 2*time.Minute)
				if err == nil {
					t.Logf("test node Ready in %s (dir %s)", time.Since(start).Round(10*time.Millisecond), dir)
				}
			}
			m.err = err
		}
	}
	switch {
	case m.skip != "" && Required():
		t.Fatalf("%s=1 but the test node cannot run: %s", EnvRequire, m.skip)
	case m.skip != "":
		t.Skipf("test node not available: %s", m.skip)
	case m.err != nil:
		t.Fatalf("starting the test node: %v", m.err)
	}
	return m.node
}

// Stop stops the node if it was started and removes its directory; call it after m.Run.
func (m *NodeForMain) Stop() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.node == nil {
		return nil
	}
	err := m.node.Stop()
	if err == nil {
		err = os.RemoveAll(m.node.Dir)
	}
	return err
}

const containerdConfig = `# containerd 1.6 (Debian) for the devtool test node (docs/node.md): everything under the node dir
version = 2
root = "%[1]s/containerd/root"
state = "%[1]s/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "%[1]s/containerd/containerd.sock"
[ttrpc]
  address = "%[1]s/containerd/containerd.sock.ttrpc"
[debug]
  address = "%[1]s/containerd/debug.sock"
  level = "info"
[metrics]
  address = ""

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "%[1]s/containerd/opt"
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "%[2]s"
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    enable_tls_streaming = false
    netns_mounts_under_state_dir = true
    disable_apparmor = true
    # without CAP_SYS_RESOURCE a negative oom_score_adj (-998 for sandboxes) is EPERM in runc
    restrict_oom_score_adj = true
    tolerate_missing_hugetlb_controller = true
    disable_hugetlb_controller = true
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          BinaryName = "/usr/sbin/runc"
          SystemdCgroup = false
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "%[1]s/cni/net.d"
      max_conf_num = 1
    [plugins."io.containerd.grpc.v1.cri".registry]
      config_path = "%[1]s/containerd/certs.d"
`

const cniConfig = `{
  "cniVersion": "0.4.0",
  "name": %[1]q,
  "plugins": [
    {
      "type": "bridge",
      "bridge": %[2]q,
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {"type": "host-local", "ranges": [[{"subnet": %[3]q}]], "dataDir": "%[4]s/cni/ipam"}
    },
    {"type": "loopback"}
  ]
}
`

const kubeletConfig = `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: %[1]d
readOnlyPort: 0
healthzPort: 0
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: %[2]s}
authorization:
  mode: AlwaysAllow
containerRuntimeEndpoint: unix://%[3]s
imageServiceEndpoint: unix://%[3]s
cgroupDriver: cgroupfs
cgroupsPerQOS: true
cgroupRoot: %[4]s
failCgroupV1: false
failSwapOn: false
podLogsDir: %[5]s
staticPodPath: ""
makeIPTablesUtilChains: false
protectKernelDefaults: false
oomScoreAdj: 0
serializeImagePulls: false
resolvConf: /etc/resolv.conf
evictionHard:
  memory.available: "100Mi"
  nodefs.available: "1%%"
  nodefs.inodesFree: "1%%"
  imagefs.available: "1%%"
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
nodeStatusUpdateFrequency: 5s
syncFrequency: 10s
fileCheckFrequency: 20s
maxPods: 50
`
