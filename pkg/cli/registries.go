package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/devtool/devtool/pkg/build"
)

// Environment variables of the registry configuration (docs/registries.md). Only pkg/cli
// reads them.
const (
	// EnvRegistryCA lists CA bundles, "HOST=FILE[,HOST=FILE…]".
	EnvRegistryCA = "DEVTOOL_REGISTRY_CA"
	// EnvRegistryMirrors lists mirrors, "HOST=MIRROR[,HOST=MIRROR…]", tried in order.
	EnvRegistryMirrors = "DEVTOOL_REGISTRY_MIRRORS"
	// EnvRegistriesConfig is the registries file to read instead of the default one.
	EnvRegistriesConfig = "DEVTOOL_REGISTRIES_CONFIG"
)

// registryFlags are the registry settings given on the command line.
type registryFlags struct {
	insecure []string // --insecure-registry HOST
	cas      []string // --registry-ca HOST=FILE
	mirrors  []string // --registry-mirror HOST=MIRROR
	file     string   // --registries-config FILE

	resolved *build.RegistryPolicy
}

func addRegistryFlags(pf interface {
	StringArrayVar(*[]string, string, []string, string)
	StringVar(*string, string, string, string)
}, r *registryFlags) {
	pf.StringArrayVar(&r.insecure, "insecure-registry", nil, "reach registry HOST[:PORT] over plain HTTP or HTTPS without verification (repeatable; env "+build.EnvInsecureRegistries+")")
	pf.StringArrayVar(&r.cas, "registry-ca", nil, "verify registry HOST[:PORT] against the PEM CA bundle FILE: HOST=FILE (repeatable; env "+EnvRegistryCA+")")
	pf.StringArrayVar(&r.mirrors, "registry-mirror", nil, "pull base images of registry HOST from MIRROR first: HOST=MIRROR (repeatable, tried in order; env "+EnvRegistryMirrors+")")
	pf.StringVar(&r.file, "registries-config", "", "registries file (default $XDG_CONFIG_HOME/devtool/registries.yaml; env "+EnvRegistriesConfig+")")
}

// registriesFile is the registries.yaml document.
type registriesFile struct {
	Registries []build.RegistryConfig `json:"registries"`
}

// resolveRegistries builds the invocation's build.RegistryPolicy: per registry and per
// setting, a flag wins over the environment, which wins over the registries file; credentials
// come from DOCKER_CONFIG (else ~/.docker) and REGISTRY_AUTH_FILE (else
// $XDG_RUNTIME_DIR/containers/auth.json, then $XDG_CONFIG_HOME/containers/auth.json). Errors
// (usage errors, exit 2) name the flag, variable or file the bad value came from.
func (g *globals) resolveRegistries() (build.RegistryPolicy, error) {
	r := &g.registries
	if r.resolved != nil {
		return *r.resolved, nil
	}
	byHost := map[string]*build.RegistryConfig{}
	var order []string
	entry := func(host string) *build.RegistryConfig {
		k := strings.ToLower(host)
		if c, ok := byHost[k]; ok {
			return c
		}
		byHost[k] = &build.RegistryConfig{Host: host}
		order = append(order, k)
		return byHost[k]
	}

	// The file, lowest.
	file, explicit := r.file, r.file != ""
	if !explicit {
		if v, ok := g.getenv(EnvRegistriesConfig); ok && v != "" {
			file, explicit = v, true
		} else if dir := g.userConfigDir(); dir != "" {
			file = filepath.Join(dir, "devtool", "registries.yaml")
		}
	}
	if file != "" {
		data, err := os.ReadFile(file)
		switch {
		case err == nil:
			var doc registriesFile
			if err := yaml.UnmarshalStrict(data, &doc); err != nil {
				return build.RegistryPolicy{}, &UsageError{Err: fmt.Errorf("registries file %s: %w (see docs/registries.md for the format)", file, err)}
			}
			for i, c := range doc.Registries {
				if err := checkHost(c.Host); err != nil {
					return build.RegistryPolicy{}, &UsageError{Err: fmt.Errorf("registries file %s: registries[%d].host %q: %w", file, i, c.Host, err)}
				}
				e := entry(c.Host)
				if c.Insecure != nil {
					e.Insecure = c.Insecure
				}
				if c.CAFile != "" {
					e.CAFile = c.CAFile
					if !filepath.IsAbs(e.CAFile) {
						e.CAFile = filepath.Join(filepath.Dir(file), e.CAFile)
					}
				}
				if len(c.Mirrors) > 0 {
					e.Mirrors = c.Mirrors
				}
			}
		case errors.Is(err, os.ErrNotExist) && !explicit:
		default:
			return build.RegistryPolicy{}, &UsageError{Err: fmt.Errorf("registries file: %w", err)}
		}
	}

	// Then the environment, then the flags: each replaces what came before for its registry.
	envList := func(k string) []string { v, _ := g.getenv(k); return build.ParseRegistryList(v) }
	layers := []struct {
		source                   string
		insecure, cas, mirrors   []string
		insecureSrc, caSrc, mSrc string
	}{
		{"env", envList(build.EnvInsecureRegistries), envList(EnvRegistryCA), envList(EnvRegistryMirrors), build.EnvInsecureRegistries, EnvRegistryCA, EnvRegistryMirrors},
		{"flag", r.insecure, r.cas, r.mirrors, "--insecure-registry", "--registry-ca", "--registry-mirror"},
	}
	var insecure []string
	for _, l := range layers {
		for _, kv := range l.cas {
			h, f, ok := strings.Cut(kv, "=")
			if !ok || f == "" {
				return build.RegistryPolicy{}, &UsageError{Err: fmt.Errorf("%s %q: want HOST=FILE, e.g. registry.lan:5000=/etc/ssl/lan-ca.pem", l.caSrc, kv)}
			}
			if err := checkHost(h); err != nil {
				return build.RegistryPolicy{}, &UsageError{Err: fmt.Errorf("%s %q: %w", l.caSrc, kv, err)}
			}
			if abs, err := filepath.Abs(f); err == nil {
				f = abs
			}
			e := entry(h)
			// A CA given here overrides "insecure" from a lower layer: verify with it.
			e.CAFile, e.Insecure = f, nil
		}
		for _, h := range l.insecure {
			if err := checkHost(h); err != nil {
				return build.RegistryPolicy{}, &UsageError{Err: fmt.Errorf("%s %q: %w", l.insecureSrc, h, err)}
			}
			insecure = append(insecure, h)
			t := true
			entry(h).Insecure = &t
		}
		seen := map[string]bool{}
		for _, kv := range l.mirrors {
			h, m, ok := strings.Cut(kv, "=")
			if !ok || m == "" {
				return build.RegistryPolicy{}, &UsageError{Err: fmt.Errorf("%s %q: want HOST=MIRROR, e.g. docker.io=mirror.lan:5000", l.mSrc, kv)}
			}
			if err := checkHost(h); err != nil {
				return build.RegistryPolicy{}, &UsageError{Err: fmt.Errorf("%s %q: %w", l.mSrc, kv, err)}
			}
			e := entry(h)
			if !seen[strings.ToLower(h)] {
				e.Mirrors, seen[strings.ToLower(h)] = nil, true
			}
			e.Mirrors = append(e.Mirrors, m)
		}
	}
	p := build.RegistryPolicy{Insecure: insecure, Auth: g.credentials()}
	sort.Strings(order)
	for _, k := range order {
		p.Registries = append(p.Registries, *byHost[k])
	}
	if err := p.Validate(); err != nil {
		return build.RegistryPolicy{}, &UsageError{Err: fmt.Errorf("%w (fix --registry-ca, %s or the registries file)", err, EnvRegistryCA)}
	}
	r.resolved = &p
	return p, nil
}

// checkHost accepts a registry "host" or "host:port" (no scheme, no path).
func checkHost(h string) error {
	switch {
	case h == "":
		return errors.New("empty registry host")
	case strings.Contains(h, "://"):
		return errors.New("give the registry as HOST[:PORT], without a scheme")
	case strings.ContainsAny(h, "/ "):
		return errors.New("give the registry as HOST[:PORT], without a path")
	}
	return nil
}

// credentials are the credential locations of this invocation (docs/registries.md).
func (g *globals) credentials() build.Credentials {
	var c build.Credentials
	home, _ := g.getenv("HOME")
	if v, ok := g.getenv("DOCKER_CONFIG"); ok && v != "" {
		c.DockerConfig = v
	} else if home != "" {
		c.DockerConfig = filepath.Join(home, ".docker")
	}
	if v, ok := g.getenv("REGISTRY_AUTH_FILE"); ok && v != "" {
		c.AuthFiles = []string{v}
		return c
	}
	if v, ok := g.getenv("XDG_RUNTIME_DIR"); ok && v != "" {
		c.AuthFiles = append(c.AuthFiles, filepath.Join(v, "containers", "auth.json"))
	}
	if dir := g.userConfigDir(); dir != "" {
		c.AuthFiles = append(c.AuthFiles, filepath.Join(dir, "containers", "auth.json"))
	}
	return c
}

// userConfigDir is os.UserConfigDir's Unix rule read through g.getenv: $XDG_CONFIG_HOME,
// else $HOME/.config; "" when neither is set.
func (g *globals) userConfigDir() string {
	if v, ok := g.getenv("XDG_CONFIG_HOME"); ok && filepath.IsAbs(v) {
		return v
	}
	if home, ok := g.getenv("HOME"); ok && home != "" {
		return filepath.Join(home, ".config")
	}
	return ""
}
