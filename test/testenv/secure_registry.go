package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

// SecureRegistry is an in-process registry started by StartSecureRegistry.
type SecureRegistry struct {
	// Host is "127.0.0.1:PORT".
	Host string
	// CAFile is the PEM file of the CA that signed the server certificate ("" without TLS).
	CAFile string
	// Requests counts the requests that reached the registry with valid credentials (or
	// all, without credentials configured).
	Requests func() int
}

// StartSecureRegistry starts an in-process OCI registry (go-containerregistry pkg/registry)
// on 127.0.0.1 that, with user set, requires HTTP basic auth with user:password (401 with a
// Basic challenge otherwise, as docker/distribution's htpasswd auth does) and, with useTLS,
// serves HTTPS with a certificate for 127.0.0.1 and localhost signed by a CA generated for
// the test (written to a PEM file in t.TempDir()). It stops on t.Cleanup.
func StartSecureRegistry(t testing.TB, user, password string, useTLS bool) SecureRegistry {
	t.Helper()
	return StartSecureRegistryAt(t, "", user, password, useTLS)
}

// StartSecureRegistryAt is StartSecureRegistry listening on addr ("10.244.7.1:0": e.g. a test
// node's bridge address, where Pods reach it; "" for 127.0.0.1), its certificate also valid for
// addr's IP.
func StartSecureRegistryAt(t testing.TB, addr, user, password string, useTLS bool) SecureRegistry {
	t.Helper()
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	var n atomic.Int64
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if user != "" {
			u, p, ok := r.BasicAuth()
			if !ok || u != user || p != password {
				w.Header().Set("WWW-Authenticate", `Basic realm="devtool-test"`)
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
				return
			}
		}
		n.Add(1)
		reg.ServeHTTP(w, r)
	})
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // handshakes of clients without the CA
	var ips []net.IP
	if addr != "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		srv.Listener.Close()
		srv.Listener = ln
		if host, _, err := net.SplitHostPort(addr); err == nil {
			ips = append(ips, net.ParseIP(host))
		}
	}
	sr := SecureRegistry{Requests: func() int { return int(n.Load()) }}
	if !useTLS {
		srv.Start()
		t.Cleanup(srv.Close)
		sr.Host = strings.TrimPrefix(srv.URL, "http://")
		return sr
	}
	caPEM, cert := testCertificates(t, ips...)
	sr.CAFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(sr.CAFile, caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	sr.Host = strings.TrimPrefix(srv.URL, "https://")
	return sr
}

// testCertificates makes a CA (PEM) and a server certificate it signed for 127.0.0.1, ::1,
// localhost and ips, valid for a day.
func testCertificates(t testing.TB, ips ...net.IP) ([]byte, tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "devtool test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: append([]net.IP{net.ParseIP("127.0.0.1"), net.IPv6loopback}, ips...), DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// WriteDockerConfig writes a docker config.json into a new directory under t.TempDir() with
// basic-auth credentials for host ("auths": {host: {"auth": base64(user:password)}}, what
// `docker login` writes without a credential helper) and returns the directory, the value
// for DOCKER_CONFIG.
func WriteDockerConfig(t testing.TB, host, user, password string) string {
	t.Helper()
	dir := t.TempDir()
	doc, err := json.Marshal(map[string]map[string]map[string]string{"auths": {host: {
		"auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + password))}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), doc, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}
