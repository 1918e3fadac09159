package engine

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/devtool/devtool/pkg/build"
	"github.com/google/go-containerregistry/pkg/name"
)

// registryFiles gives buildah and podman the registry policy's CA bundles and credentials
// for the registries a build touches (hosts: the push target and the registries of the
// images the Dockerfile pulls), in a new temporary directory that cleanup removes:
//
//   - --cert-dir DIR, with DIR/<host>.crt a copy of the CA bundle configured for each host
//     that has one (--cert-dir is one directory of *.crt files used for every registry of
//     the command, unlike containers-certs.d(5)'s per-host directories; the system roots
//     stay trusted);
//   - --authfile DIR/auth.json (mode 0600), holding, for each of hosts, the credentials the
//     policy's keychain resolves (docker config, credential helpers, auth.json), when any
//     has some. Credentials a credential helper returned are thus on disk, readable by the
//     user only, for the duration of the engine command.
//
// docker gets no flags: its daemon owns TLS (/etc/docker/certs.d) and the CLI reads its own
// config (DOCKER_CONFIG, passed through in the environment). Errors name the registry, never
// a credential.
func (e *engine) registryFiles(hosts, pulls []string) (flags, buildOnly []string, cleanup func(), err error) {
	cleanup = func() {}
	if e.kind == Docker || len(hosts) == 0 {
		return nil, nil, cleanup, nil
	}
	sort.Strings(hosts)
	var dir string
	mkdir := func() error {
		if dir != "" {
			return nil
		}
		d, err := os.MkdirTemp("", "devtool-registries-")
		if err != nil {
			return err
		}
		dir, cleanup = d, func() { os.RemoveAll(d) }
		return nil
	}
	seen := map[string]bool{}
	auths := map[string]json.RawMessage{}
	certs := false
	for _, h := range hosts {
		if h == "" || seen[h] {
			continue
		}
		seen[h] = true
		if ca := e.cfg.policy.CAFile(h); ca != "" && !e.cfg.policy.IsInsecure(h) {
			pem, err := os.ReadFile(ca)
			if err != nil {
				return nil, nil, cleanup, fmt.Errorf("registry %s: CA bundle: %w", h, err)
			}
			if err := mkdir(); err != nil {
				return nil, nil, cleanup, err
			}
			hd := filepath.Join(dir, "certs")
			if err := os.MkdirAll(hd, 0o700); err != nil {
				return nil, nil, cleanup, err
			}
			if err := os.WriteFile(filepath.Join(hd, strings.NewReplacer(":", "_", "[", "", "]", "").Replace(h)+".crt"), pem, 0o600); err != nil {
				return nil, nil, cleanup, err
			}
			certs = true
		}
		doc, found, err := e.cfg.policy.DockerConfigJSON(h)
		if err != nil {
			return nil, nil, cleanup, err
		}
		if found {
			var d struct {
				Auths map[string]json.RawMessage `json:"auths"`
			}
			if err := json.Unmarshal(doc, &d); err != nil {
				return nil, nil, cleanup, fmt.Errorf("registry %s: credentials: %w", h, err)
			}
			for k, v := range d.Auths {
				auths[k] = v
			}
		}
	}
	if certs {
		flags = append(flags, "--cert-dir", filepath.Join(dir, "certs"))
	}
	if len(auths) > 0 {
		if err := mkdir(); err != nil {
			return nil, nil, cleanup, err
		}
		b, err := json.Marshal(map[string]any{"auths": auths})
		if err != nil {
			return nil, nil, cleanup, err
		}
		f := filepath.Join(dir, "auth.json")
		if err := os.WriteFile(f, b, 0o600); err != nil {
			return nil, nil, cleanup, err
		}
		flags = append(flags, "--authfile", f)
	}
	if conf := e.registriesConf(pulls); conf != "" {
		if err := mkdir(); err != nil {
			return nil, nil, cleanup, err
		}
		f := filepath.Join(dir, "registries.conf")
		if err := os.WriteFile(f, []byte(conf), 0o600); err != nil {
			return nil, nil, cleanup, err
		}
		buildOnly = append(buildOnly, "--registries-conf", f)
	}
	return flags, buildOnly, cleanup, nil
}

// registriesConf is a containers-registries.conf(5) (v2) document giving the policy's mirrors
// of the pulled registries, or "" when none has one. It replaces the system registries.conf
// for the build, so it also sets unqualified-search-registries = ["docker.io"] (docker's
// short-name rule) and marks insecure registries and mirrors as the policy says.
func (e *engine) registriesConf(pulls []string) string {
	var b strings.Builder
	seen := map[string]bool{}
	for _, h := range pulls {
		ms := e.cfg.policy.Mirrors(h)
		if len(ms) == 0 || seen[h] {
			continue
		}
		seen[h] = true
		fmt.Fprintf(&b, "\n[[registry]]\nlocation = %q\ninsecure = %t\n", h, e.cfg.policy.IsInsecure(h))
		for _, m := range ms {
			fmt.Fprintf(&b, "[[registry.mirror]]\nlocation = %q\ninsecure = %t\n", m, e.cfg.policy.IsInsecure(registryHost(m+"/x")))
		}
	}
	if b.Len() == 0 {
		return ""
	}
	return "unqualified-search-registries = [\"docker.io\"]\n" + b.String()
}

// buildHosts are the registries a build touches (hosts): the push target's (when pushing)
// and those of the images the Dockerfile pulls (pulls), with their mirrors.
func (e *engine) buildHosts(dockerfile []byte, args []string, ref string, push bool) (hosts, pulls []string) {
	images, _ := build.PulledImages(dockerfile, args)
	for _, img := range images {
		if r, err := name.ParseReference(img); err == nil {
			pulls = append(pulls, r.Context().RegistryStr())
		}
	}
	hosts = append(hosts, pulls...)
	for _, h := range pulls {
		for _, m := range e.cfg.policy.Mirrors(h) {
			hosts = append(hosts, registryHost(m+"/x"))
		}
	}
	if push {
		hosts = append(hosts, registryHost(ref))
	}
	return hosts, pulls
}

// withFlags inserts flags right after the subcommand of argv (program, global flags,
// subcommand, …).
func (e *engine) withFlags(argv, flags []string) []string {
	if len(flags) == 0 {
		return argv
	}
	i := 2 + len(e.cfg.globalFlags)
	if i < len(argv) && argv[i-1] == "manifest" { // "manifest push": the flags are push's
		i++
	}
	if i > len(argv) {
		i = len(argv)
	}
	out := append(append(append([]string(nil), argv[:i]...), flags...), argv[i:]...)
	return out
}
