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

// RegistryPolicy is how devtool reaches registries. pkg/cli builds one value from flags and
// the environment (EnvInsecureRegistries) and passes it to every builder (engine and native
// WithRegistryPolicy) and to the cache's registry lookup (RemoteRegistry), so that they all
// agree on which registries may be reached without TLS. The zero value allows only loopback
// registries to be reached that way.
type RegistryPolicy struct {
	// Insecure lists registries ("host" or "host:port"; a bare host matches any port) reached
	// over plain HTTP or HTTPS without verification, besides loopback ones, which always are.
	Insecure []string
}

// IsInsecure reports whether host ("host", "host:port", "[::1]:5000") is a registry devtool
// talks to over plain HTTP or HTTPS without certificate verification: a loopback host
// ("localhost", 127.0.0.0/8, ::1), or one p.Insecure lists (case-insensitive; an entry with a
// port matches that port only).
func (p RegistryPolicy) IsInsecure(host string) bool {
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
