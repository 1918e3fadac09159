package build

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/docker/cli/cli/config/configfile"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Credentials says where registry credentials are read from. pkg/cli fills it from the
// environment (DOCKER_CONFIG, REGISTRY_AUTH_FILE, XDG_RUNTIME_DIR, HOME); library packages
// read no environment. Files that do not exist are skipped.
type Credentials struct {
	// DockerConfig is the directory holding docker's config.json (DOCKER_CONFIG, else
	// ~/.docker); its "auths", "credsStore" and "credHelpers" are used as docker does
	// (github.com/docker/cli configfile: credential helpers run as docker-credential-NAME).
	DockerConfig string
	// AuthFiles are podman/buildah auth.json files (containers-auth.json(5): the same "auths"
	// format), consulted in order after the docker config.
	AuthFiles []string
}

// Keychain returns the authn.Keychain of these credentials: for a registry, the first of the
// docker config and the AuthFiles that has an entry for it (docker.io under
// "https://index.docker.io/v1/", as docker writes it), else anonymous. A file that cannot be
// parsed is an error naming the file (never its content).
func (c Credentials) Keychain() authn.Keychain { return keychain{c} }

type keychain struct{ c Credentials }

func (k keychain) files() []string {
	var fs []string
	if k.c.DockerConfig != "" {
		fs = append(fs, filepath.Join(k.c.DockerConfig, "config.json"))
	}
	return append(fs, k.c.AuthFiles...)
}

func (k keychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	key := target.RegistryStr()
	if key == name.DefaultRegistry {
		key = authn.DefaultAuthKey
	}
	for _, f := range k.files() {
		data, err := os.Open(f)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading registry credentials: %w", err)
		}
		cf := configfile.New(f)
		err = cf.LoadFromReader(data)
		data.Close()
		if err != nil {
			// The parser's message may quote the file; name the file only.
			return nil, fmt.Errorf("reading registry credentials from %s: not a valid docker config or auth.json file", f)
		}
		ac, err := cf.GetAuthConfig(key)
		if err != nil {
			return nil, fmt.Errorf("reading registry credentials for %s from %s (credential helper): %w", target.RegistryStr(), f, redactErr(err))
		}
		if ac.Username == "" && ac.Password == "" && ac.Auth == "" && ac.IdentityToken == "" && ac.RegistryToken == "" {
			continue
		}
		return authn.FromConfig(authn.AuthConfig{Username: ac.Username, Password: ac.Password, Auth: ac.Auth,
			IdentityToken: ac.IdentityToken, RegistryToken: ac.RegistryToken}), nil
	}
	return authn.Anonymous, nil
}

// redactErr keeps only the first line of a credential helper's error, which is its message.
func redactErr(err error) error {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return errors.New(s)
}

// Keychain returns the keychain of p.Auth (Credentials.Keychain).
func (p RegistryPolicy) Keychain() authn.Keychain { return p.Auth.Keychain() }

// DockerConfigJSON returns a ".dockerconfigjson" document ({"auths": {host: {"username",
// "password", "auth"}}}, the content of a kubernetes.io/dockerconfigjson Secret) holding the
// credentials p.Auth has for registry host ("host:port"). found is false when there are none
// (anonymous). Errors come from reading the credentials. The result is a secret: never log it.
func (p RegistryPolicy) DockerConfigJSON(host string) (doc []byte, found bool, err error) {
	reg, err := name.NewRegistry(host)
	if err != nil {
		return nil, false, fmt.Errorf("registry %q: %w", host, err)
	}
	a, err := p.Keychain().Resolve(reg)
	if err != nil {
		return nil, false, err
	}
	if a == authn.Anonymous {
		return nil, false, nil
	}
	ac, err := a.Authorization()
	if err != nil {
		return nil, false, fmt.Errorf("reading registry credentials for %s: %w", host, err)
	}
	type entry struct {
		Username      string `json:"username,omitempty"`
		Password      string `json:"password,omitempty"`
		Auth          string `json:"auth,omitempty"`
		IdentityToken string `json:"identitytoken,omitempty"`
	}
	e := entry{Username: ac.Username, Password: ac.Password, IdentityToken: ac.IdentityToken}
	if ac.Username != "" || ac.Password != "" {
		e.Auth = base64.StdEncoding.EncodeToString([]byte(ac.Username + ":" + ac.Password))
	} else if ac.Auth != "" {
		e.Auth = ac.Auth
	}
	key := host
	if key == name.DefaultRegistry {
		key = authn.DefaultAuthKey
	}
	doc, err = json.Marshal(map[string]map[string]entry{"auths": {key: e}})
	return doc, true, err
}

// Validate checks what can be checked before anything is built: every CAFile is readable and
// holds at least one PEM certificate. Errors name the registry and the file.
func (p RegistryPolicy) Validate() error {
	for _, c := range p.Registries {
		if c.CAFile == "" {
			continue
		}
		if _, err := loadCA(c.CAFile); err != nil {
			return fmt.Errorf("registry %s: CA bundle %s: %w", c.Host, c.CAFile, err)
		}
	}
	return nil
}

func loadCA(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("no PEM certificate in it")
	}
	return pool, nil
}

// Transport returns the RoundTripper every registry client of devtool uses: HTTPS to a
// registry with a CAFile verifies against the system roots plus that bundle; HTTPS to an
// insecure registry (IsInsecure) skips verification; plain HTTP only to insecure registries
// (HTTPSOnly); anything else goes through base (nil: http.DefaultTransport). Errors: a CA
// bundle that cannot be read (Validate).
func (p RegistryPolicy) Transport(base http.RoundTripper) (http.RoundTripper, error) {
	if base == nil {
		base = http.DefaultTransport
	}
	bt, ok := base.(*http.Transport)
	if !ok {
		bt = http.DefaultTransport.(*http.Transport)
	}
	t := &policyTransport{policy: p, verify: base, perCA: map[string]http.RoundTripper{}}
	skip := bt.Clone()
	skip.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the user marked this registry insecure
	t.skip = skip
	for _, c := range p.Registries {
		if c.CAFile == "" {
			continue
		}
		pool, err := loadCA(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("registry %s: CA bundle %s: %w", c.Host, c.CAFile, err)
		}
		ct := bt.Clone()
		ct.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		t.perCA[c.CAFile] = ct
	}
	return HTTPSOnly(t, p.IsInsecure), nil
}

type policyTransport struct {
	policy       RegistryPolicy
	verify, skip http.RoundTripper
	perCA        map[string]http.RoundTripper
}

func (t *policyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme == "https" {
		if ca := t.policy.CAFile(r.URL.Host); ca != "" && !t.policy.IsInsecure(r.URL.Host) {
			return t.perCA[ca].RoundTrip(r)
		}
		if t.policy.IsInsecure(r.URL.Host) {
			return t.skip.RoundTrip(r)
		}
	}
	return t.verify.RoundTrip(r)
}

// RegistryError explains err, a failure talking to registry host, when the cause is one the
// user fixes outside devtool: a certificate signed by an unknown authority (give the CA with
// --registry-ca or registries.yaml, or mark the registry insecure), or missing or refused
// credentials (log in with docker/podman login); ok is false, and err returned unchanged,
// for other errors. The result wraps err.
func RegistryError(err error, host string) (_ error, ok bool) {
	if err == nil {
		return nil, false
	}
	var ua x509.UnknownAuthorityError
	var cv *tls.CertificateVerificationError
	var hn x509.HostnameError
	switch {
	case errors.As(err, &ua), errors.As(err, &cv) && errors.As(cv.Err, &ua):
		return fmt.Errorf("registry %s presents a certificate signed by an unknown authority: give its CA bundle with --registry-ca %s=CA.pem (or \"ca:\" in registries.yaml), or mark it insecure: %w", host, host, err), true
	case errors.As(err, &hn):
		return fmt.Errorf("registry %s presents a certificate for another name: %w", host, err), true
	}
	var terr *transport.Error
	if errors.As(err, &terr) && (terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden) {
		return fmt.Errorf("registry %s refused access (HTTP %d): log in with `docker login %s` or `podman login %s` (devtool reads DOCKER_CONFIG/config.json and REGISTRY_AUTH_FILE/auth.json): %w",
			host, terr.StatusCode, host, host, err), true
	}
	return err, false
}
