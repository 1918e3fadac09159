package build

import (
	"net"
	"strings"
)

// EnvInsecureRegistries names the environment variable that lists extra registries to reach
// over plain HTTP or HTTPS without certificate verification, in the format ParseRegistryList
// reads: comma-separated hosts, each "host" (any port) or "host:port". Only pkg/cli reads it,
// into a RegistryPolicy; library packages never read the environment.
const EnvInsecureRegistries = "DEVTOOL_INSECURE_REGISTRIES"

// RegistryPolicy is how devtool reaches registries. pkg/cli builds one value from flags, the
// environment and the registries file (docs/registries.md) and passes it to every builder
// (engine and native WithRegistryPolicy) and to the cache's registry lookup (RemoteRegistry),
// so that they all agree on which registries may be reached without TLS, which CA a registry
// is verified with, where base images are pulled from first, and which credentials are sent.
// The zero value allows only loopback registries to be reached without TLS and sends no
// credentials.
type RegistryPolicy struct {
	// Insecure lists registries ("host" or "host:port"; a bare host matches any port) reached
	// over plain HTTP or HTTPS without verification, besides loopback ones, which always are
	// unless Registries says otherwise.
	Insecure []string
	// Registries holds per-registry settings; the entry for a registry is the one whose Host
	// equals "host:port", else the one equal to the bare host.
	Registries []RegistryConfig
	// Auth says where credentials are read from.
	Auth Credentials
}

// RegistryConfig is the configuration of one registry (a registries.yaml entry, or what the
// --insecure-registry, --registry-ca and --registry-mirror flags say about one host).
type RegistryConfig struct {
	// Host is "host" (any port) or "host:port".
	Host string `json:"host"`
	// Insecure, when set, decides whether the registry is reached over plain HTTP or HTTPS
	// without verification, overriding the loopback default; unset with a CAFile means false.
	Insecure *bool `json:"insecure,omitempty"`
	// CAFile is a PEM bundle of CA certificates that the registry's certificate is verified
	// against, besides the system's roots (absolute path).
	CAFile string `json:"ca,omitempty"`
	// Mirrors are registries ("host[:port]") tried first, in order, for pulls of base images
	// from this registry (containers-registries.conf(5) "mirror"); pushes never go to a mirror.
	Mirrors []string `json:"mirrors,omitempty"`
}

// Config returns the settings for registry host ("host" or "host:port"): the entry whose Host
// equals host (case-insensitive), else the one equal to its bare hostname. Docker Hub's names
// are one registry: an entry for "docker.io" applies to "index.docker.io" (how image
// references name it) and "registry-1.docker.io", and the other way round.
func (p RegistryPolicy) Config(host string) (RegistryConfig, bool) {
	host = dockerHub(host)
	hostname := registryHostname(host)
	var bare *RegistryConfig
	for i := range p.Registries {
		c := &p.Registries[i]
		if strings.EqualFold(dockerHub(c.Host), host) {
			return *c, true
		}
		if !hasPort(c.Host) && strings.EqualFold(registryHostname(dockerHub(c.Host)), hostname) && bare == nil {
			bare = c
		}
	}
	if bare != nil {
		return *bare, true
	}
	return RegistryConfig{}, false
}

// dockerHub returns "docker.io" for Docker Hub's registry names, else host.
func dockerHub(host string) string {
	switch strings.ToLower(host) {
	case "docker.io", "index.docker.io", "registry-1.docker.io":
		return "docker.io"
	}
	return host
}

// IsInsecure reports whether host ("host", "host:port", "[::1]:5000") is a registry devtool
// talks to over plain HTTP or HTTPS without certificate verification. A registry's own
// configuration decides first (Insecure when set; a CAFile without Insecure means verified);
// otherwise a loopback host ("localhost", 127.0.0.0/8, ::1), or one p.Insecure lists
// (case-insensitive; an entry with a port matches that port only).
func (p RegistryPolicy) IsInsecure(host string) bool {
	if c, ok := p.Config(host); ok {
		if c.Insecure != nil {
			return *c.Insecure
		}
		if c.CAFile != "" {
			return false
		}
	}
	hostname := registryHostname(host)
	if hostname == "localhost" {
		return true
	}
	if ip := net.ParseIP(hostname); ip != nil && ip.IsLoopback() {
		return true
	}
	for _, h := range p.Insecure {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		if strings.EqualFold(h, host) || (!hasPort(h) && strings.EqualFold(registryHostname(h), hostname)) {
			return true
		}
	}
	return false
}

// CAFile returns the CA bundle configured for host, or "".
func (p RegistryPolicy) CAFile(host string) string {
	c, _ := p.Config(host)
	return c.CAFile
}

// Mirrors returns the mirrors configured for host, in the order to try them.
func (p RegistryPolicy) Mirrors(host string) []string {
	c, _ := p.Config(host)
	return c.Mirrors
}

// ParseRegistryList splits a comma-separated list of registries (the EnvInsecureRegistries
// format, " registry.lan , other.lan:5000,") into its entries, trimmed, empty ones dropped.
// It returns nil for a list without entries.
func ParseRegistryList(s string) []string {
	var out []string
	for _, h := range strings.Split(s, ",") {
		if h = strings.TrimSpace(h); h != "" {
			out = append(out, h)
		}
	}
	return out
}

// registryHostname strips the port (and IPv6 brackets) from a registry host.
func registryHostname(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h
	}
	return strings.Trim(host, "[]")
}

func hasPort(host string) bool {
	_, _, err := net.SplitHostPort(host)
	return err == nil
}
