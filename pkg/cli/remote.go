package cli

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/devtool/devtool/pkg/remote"
)

// validateRemote settles --registry-url (else DEVTOOL_REGISTRY_URL) and checks it is an
// http(s) URL, before anything is fetched.
func (g *globals) validateRemote() error {
	flag := "--registry-url"
	if g.registryURL == "" {
		if v, ok := g.getenv("DEVTOOL_REGISTRY_URL"); ok && v != "" {
			g.registryURL, flag = v, "DEVTOOL_REGISTRY_URL"
		}
	}
	if g.registryURL == "" {
		return nil
	}
	u, err := url.Parse(g.registryURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return &UsageError{Err: fmt.Errorf("%s %q: must be an http(s) URL of a devfile registry, like %s", flag, g.registryURL, remote.PublicRegistry)}
	}
	g.registryURL = strings.TrimSuffix(g.registryURL, "/")
	return nil
}

// cacheDir is DEVTOOL_CACHE_DIR, else os.UserCacheDir()/devtool on Linux ($XDG_CACHE_HOME/devtool,
// else $HOME/.cache/devtool; "" when none is set: then nothing is cached and --offline fails).
func (g *globals) cacheDir() string {
	if v, ok := g.getenv("DEVTOOL_CACHE_DIR"); ok && v != "" {
		if abs, err := filepath.Abs(v); err == nil {
			return abs
		}
		return v
	}
	// os.UserCacheDir reads XDG_CACHE_HOME and HOME; read them through getenv like the rest.
	if v, ok := g.getenv("XDG_CACHE_HOME"); ok && filepath.IsAbs(v) {
		return filepath.Join(v, "devtool")
	}
	if home, ok := g.getenv("HOME"); ok && home != "" {
		return filepath.Join(home, ".cache", "devtool")
	}
	return ""
}

// remoteClient is the client Load fetches remote references with: the cache directory, and
// --offline.
func (g *globals) remoteClient() (*remote.Client, error) {
	dir := g.cacheDir()
	if g.offline && dir == "" {
		return nil, &UsageError{Err: fmt.Errorf("--offline: no cache directory (set DEVTOOL_CACHE_DIR or HOME)")}
	}
	return remote.New(remote.Options{CacheDir: dir, Offline: g.offline, Logger: g.logger()}), nil
}
