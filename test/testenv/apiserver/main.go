// Command testapiserver runs a single-process, loopback-only Kubernetes control
// plane for integration tests: an embedded etcd (go.etcd.io/etcd/server/v3/embed)
// plus the real kube-apiserver (k8s.io/kubernetes/cmd/kube-apiserver/app).
// No kubelet, no controller-manager, no scheduler.
//
// On start it (re)uses <dir>/pki (CA, serving cert, admin client cert, SA key),
// writes <dir>/kubeconfig, and, once /readyz returns ok, writes <dir>/ready
// (containing the server URL) and prints "READY <url>" on stdout.
// SIGINT/SIGTERM shuts down the apiserver gracefully, then etcd; exit code 0.
//
// Usage:
//
//	testapiserver -dir $STATE [-port 0] [-etcd-servers http://127.0.0.1:2379] [-- <extra kube-apiserver flags>]
package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

const adminToken = "testcluster-admin-token"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "testapiserver:", err)
		os.Exit(1)
	}
}

func run() error {
	fs := flag.NewFlagSet("testapiserver", flag.ContinueOnError)
	dir := fs.String("dir", "", "state directory (pki/, etcd/, kubeconfig, ready); required")
	port := fs.Int("port", 0, "apiserver secure port on 127.0.0.1 (0 = pick a free port)")
	etcdServers := fs.String("etcd-servers", "", "use this external etcd instead of the embedded one (e.g. http://127.0.0.1:2379)")
	etcdPort := fs.Int("etcd-port", 0, "embedded etcd client port on 127.0.0.1 (0 = pick a free port)")
	etcdPeerPort := fs.Int("etcd-peer-port", 0, "embedded etcd peer port on 127.0.0.1 (0 = pick a free port)")
	fsync := fs.Bool("etcd-fsync", false, "let embedded etcd fsync (slower; default off, test data is throwaway)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return err
	}
	extra := fs.Args() // everything after "--" goes to kube-apiserver verbatim (later flags win)
	if *dir == "" {
		return fmt.Errorf("-dir is required")
	}
	d, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	pki := filepath.Join(d, "pki")
	if err := os.MkdirAll(pki, 0o700); err != nil {
		return err
	}

	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	if *port == 0 {
		*port = ports[0]
	}
	if *etcdPort == 0 {
		*etcdPort = ports[1]
	}
	if *etcdPeerPort == 0 {
		*etcdPeerPort = ports[2]
	}

	if err := ensurePKI(pki); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	serverURL := "https://127.0.0.1:" + strconv.Itoa(*port)
	if err := writeKubeconfig(filepath.Join(d, "kubeconfig"), serverURL, pki); err != nil {
		return err
	}
	_ = os.Remove(filepath.Join(d, "ready"))

	// 1. etcd
	if *etcdServers == "" {
		cfg := embed.NewConfig()
		cfg.Name = "testcluster"
		cfg.Dir = filepath.Join(d, "etcd")
		cfg.UnsafeNoFsync = !*fsync
		cfg.LogLevel = "error"
		cURL := url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(*etcdPort)}
		pURL := url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(*etcdPeerPort)}
		cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{cURL}, []url.URL{cURL}
		cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{pURL}, []url.URL{pURL}
		cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
		e, err := embed.StartEtcd(cfg)
		if err != nil {
			return fmt.Errorf("etcd: %w", err)
		}
		defer e.Close()
		select {
		case <-e.Server.ReadyNotify():
		case <-time.After(60 * time.Second):
			e.Server.Stop()
			return fmt.Errorf("etcd did not become ready in 60s")
		}
		*etcdServers = cURL.String()
	}

	// 2. kube-apiserver (in-process)
	args := []string{
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(*port),
		"--etcd-servers=" + *etcdServers,
		"--cert-dir=" + pki,
		"--tls-cert-file=" + filepath.Join(pki, "apiserver.crt"),
		"--tls-private-key-file=" + filepath.Join(pki, "apiserver.key"),
		"--client-ca-file=" + filepath.Join(pki, "ca.crt"),
		"--token-auth-file=" + filepath.Join(pki, "tokens.csv"),
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + filepath.Join(pki, "sa.key"),
		"--service-account-signing-key-file=" + filepath.Join(pki, "sa.key"),
		"--service-cluster-ip-range=10.0.0.0/24",
		"--allow-privileged=true",
		// No controller-manager creates "default" ServiceAccounts -> pod creation would fail.
		"--disable-admission-plugins=ServiceAccount",
		// 127.0.0.1 is not a valid Endpoints address; don't reconcile default/kubernetes endpoints.
		"--endpoint-reconciler-type=none",
	}
	args = append(args, extra...)

	go waitReady(serverURL, pki, filepath.Join(d, "ready"))

	cmd := app.NewAPIServerCommand() // installs the SIGTERM/SIGINT handler
	cmd.SetArgs(args)
	if err := cmd.Execute(); err != nil {
		return fmt.Errorf("kube-apiserver: %w", err)
	}
	return nil // deferred e.Close() stops etcd
}

func waitReady(serverURL, pki, readyFile string) {
	caPEM, _ := os.ReadFile(filepath.Join(pki, "ca.crt"))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	start := time.Now()
	for {
		req, _ := http.NewRequest("GET", serverURL+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		if resp, err := c.Do(req); err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && bytes.Equal(bytes.TrimSpace(body), []byte("ok")) {
				_ = os.WriteFile(readyFile, []byte(serverURL+"\n"), 0o644)
				fmt.Printf("READY %s (%.2fs after apiserver start)\n", serverURL, time.Since(start).Seconds())
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// ---------------------------------------------------------------- PKI ----

func ensurePKI(pki string) error {
	if _, err := os.Stat(filepath.Join(pki, "tokens.csv")); err == nil {
		return nil // already generated (tokens.csv is written last)
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now().Add(-time.Hour)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "testcluster-ca"},
		NotBefore:             now,
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	caCert, _ := x509.ParseCertificate(caDER)
	if err := writeCertKey(pki, "ca", caDER, caKey); err != nil {
		return err
	}
	issue := func(name string, serial int64, tmpl *x509.Certificate) error {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		tmpl.SerialNumber = big.NewInt(serial)
		tmpl.NotBefore, tmpl.NotAfter = now, now.Add(10*365*24*time.Hour)
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			return err
		}
		return writeCertKey(pki, name, der, key)
	}
	if err := issue("apiserver", 2, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.0.0.1")},
	}); err != nil {
		return err
	}
	if err := issue("admin", 3, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "admin", Organization: []string{"system:masters"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return err
	}
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	saPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(saKey)})
	if err := os.WriteFile(filepath.Join(pki, "sa.key"), saPEM, 0o600); err != nil {
		return err
	}
	// static token: token,user,uid,"groups"
	return os.WriteFile(filepath.Join(pki, "tokens.csv"),
		[]byte(adminToken+`,admin,admin,"system:masters"`+"\n"), 0o600)
}

func writeCertKey(dir, name string, der []byte, key *ecdsa.PrivateKey) error {
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, name+".crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name+".key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
}

func writeKubeconfig(path, serverURL, pki string) error {
	b64 := func(f string) string {
		b, _ := os.ReadFile(filepath.Join(pki, f))
		return base64.StdEncoding.EncodeToString(b)
	}
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: testcluster
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: admin
  user:
    client-certificate-data: %s
    client-key-data: %s
- name: admin-token
  user:
    token: %s
contexts:
- name: testcluster
  context: {cluster: testcluster, user: admin, namespace: default}
- name: testcluster-token
  context: {cluster: testcluster, user: admin-token, namespace: default}
current-context: testcluster
`, serverURL, b64("ca.crt"), b64("admin.crt"), b64("admin.key"), adminToken)
	return os.WriteFile(path, []byte(kc), 0o600)
}
