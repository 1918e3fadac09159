package devfile

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/devfile/api/v2/pkg/apis/workspaces/v1alpha2"
	"sigs.k8s.io/yaml"

	"github.com/devtool/devtool/pkg/remote"
)

// isRemoteRef reports whether an import reference (parent) points into a devfile registry
// (id) or at an http(s) uri.
func isRemoteRef(ref map[string]any) bool {
	id, _ := ref["id"].(string)
	uri, _ := ref["uri"].(string)
	return id != "" || remote.IsHTTP(uri)
}

// remoteOrigin is where a fetched parent devfile came from: a registry stack (its files in
// dir, in the cache) or an http(s) URL (base).
type remoteOrigin struct {
	dir  string
	base *url.URL
	// project is the directory of the devfile being loaded: odo copies a stack's files into it
	// without overwriting, so a file the project has wins over the stack's.
	project string
}

// registryFor is the registry a reference uses: the configured mirror, else its own
// registryUrl, else the public registry (odo v3).
func registryFor(opts LoadOptions, own string) string {
	switch {
	case opts.RegistryURL != "":
		return opts.RegistryURL
	case own != "":
		return own
	}
	return remote.PublicRegistry
}

// scanRemote fetches a registry or http(s) parent (devfile spec "ImportReference": id +
// registryUrl + version, or uri) through opts.Remote and scans it. Nothing is written to the
// project or the working directory: registry stacks live in the client's cache.
func scanRemote(ctx context.Context, file string, ref map[string]any, stack []string, opts LoadOptions) (*rawFile, error) {
	str := func(k string) string { s, _ := ref[k].(string); return s }
	uri, id, own, version := str("uri"), str("id"), str("registryUrl"), str("version")
	project := filepath.Dir(file)
	if len(stack) > 0 {
		project = filepath.Dir(stack[0])
	}
	var (
		key, where string
		data       []byte
		from       = &remoteOrigin{project: project}
		err        error
	)
	if id != "" {
		where = "parent"
		registry := registryFor(opts, own)
		var st *remote.Stack
		st, err = opts.Remote.Stack(ctx, registry, id, version)
		if err == nil {
			data, from.dir = st.Devfile, st.Dir
			key = strings.TrimSuffix(registry, "/") + "/devfiles/" + id + "/" + st.Version
		}
	} else {
		key, where = uri, "parent.uri"
		data, err = opts.Remote.Get(ctx, "parent uri", uri, "uri\x00"+uri)
		if err == nil {
			from.base, err = url.Parse(uri)
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("loading devfile %s: %w", file, ctx.Err())
		}
		return nil, &ValidationError{File: file, Problems: []Problem{{Path: where, Message: err.Error()}}, Err: err}
	}
	for i, s := range stack {
		if s == key {
			chain := append(append([]string{}, stack[i:]...), key)
			return nil, invalid(file, where, "parent reference cycle %s", strings.Join(chain, " -> "))
		}
	}
	return scanData(ctx, key, data, stack, opts, from)
}

// prepare checks a fetched devfile m (file is its URL) and rewrites its relative uris: local
// parents and plugins are refused (they would name files of the remote side that devtool does
// not fetch); a kubernetes/openshift uri or dockerfile uri the project does not have points at
// the stack's copy (registry) or the URL resolved against the parent's (uri parent).
func (o *remoteOrigin) prepare(file string, m map[string]any, stack []string) error {
	if p, ok := m["parent"].(map[string]any); ok && !isRemoteRef(p) {
		if u, _ := p["uri"].(string); u != "" {
			return invalid(file, "parent.uri", "the fetched devfile refers to a local parent %q, which devtool cannot fetch; use a registry id or an http(s) uri", u)
		}
	}
	comps, _ := m["components"].([]any)
	for _, c := range comps {
		cm, _ := c.(map[string]any)
		name, _ := cm["name"].(string)
		if p, ok := cm["plugin"].(map[string]any); ok {
			if u, _ := p["uri"].(string); u != "" && !remote.IsHTTP(u) {
				return invalid(file, componentPath(name)+".plugin", "the fetched devfile refers to a local plugin %q, which devtool cannot fetch", u)
			}
		}
		for _, kind := range []string{"kubernetes", "openshift"} {
			if k, ok := cm[kind].(map[string]any); ok {
				o.rewrite(k, "uri")
			}
		}
		if img, ok := cm["image"].(map[string]any); ok {
			if df, ok := img["dockerfile"].(map[string]any); ok {
				o.rewrite(df, "uri")
			}
		}
	}
	return nil
}

func (o *remoteOrigin) rewrite(m map[string]any, key string) {
	u, _ := m[key].(string)
	if u == "" || strings.Contains(u, "://") || strings.Contains(u, "{{") || filepath.IsAbs(u) {
		return
	}
	if _, err := os.Stat(filepath.Join(o.project, filepath.FromSlash(u))); err == nil {
		return // the project's own file wins, as after odo's copy
	}
	switch {
	case o.dir != "":
		p := filepath.Join(o.dir, filepath.FromSlash(u))
		if rel, err := filepath.Rel(o.dir, p); err == nil && !strings.HasPrefix(rel, "..") {
			if _, err := os.Stat(p); err == nil {
				m[key] = p
			}
		}
	case o.base != nil:
		if r, err := o.base.Parse(u); err == nil {
			m[key] = r.String()
		}
	}
}

// parentName describes a parent reference for messages.
func parentName(p *v1.Parent) string {
	switch {
	case p.Id != "":
		s := fmt.Sprintf("%q", p.Id)
		if p.Version != "" {
			s += " version " + p.Version
		}
		if p.RegistryUrl != "" {
			s += " from " + p.RegistryUrl
		}
		return s
	case p.Uri != "":
		return p.Uri
	}
	return "(kubernetes)"
}

// fetchDockerfiles fetches every remote Dockerfile (devfile spec 2.2.0 dockerfile: git,
// devfileRegistry, an http(s) uri, or a registry parent's file) into the cache and sets
// Dockerfile.Fetched and Remote. All fetches run concurrently; failures are reported together
// as one *ValidationError naming each component.
func fetchDockerfiles(ctx context.Context, d *Devfile, opts LoadOptions) error {
	var comps []*Component
	for i := range d.Components {
		c := &d.Components[i]
		if c.Image == nil || c.Image.Dockerfile == nil {
			continue
		}
		df := c.Image.Dockerfile
		if remote.IsHTTP(df.URI) && strings.Contains(df.URI, "{{") {
			// Fetched at load time, before variables are known: left unfetched, and the build
			// step refuses it naming the component.
			df.Remote = "uri " + remote.Redact(df.URI)
			continue
		}
		if df.Git != nil || df.Registry != nil || remote.IsHTTP(df.URI) && !strings.Contains(df.URI, "{{") || inCache(opts, df.URI) {
			comps = append(comps, c)
		}
	}
	return forComponents(ctx, d, comps,
		func(c *Component) string { return componentPath(c.Name) + ".image.dockerfile" },
		func(c *Component) error { return fetchDockerfile(ctx, c.Image.Dockerfile, opts) })
}

func inCache(opts LoadOptions, p string) bool {
	dir := opts.Remote.CacheDir()
	if dir == "" || !filepath.IsAbs(p) {
		return false
	}
	rel, err := filepath.Rel(dir, p)
	return err == nil && !strings.HasPrefix(rel, "..")
}

func fetchDockerfile(ctx context.Context, df *Dockerfile, opts LoadOptions) error {
	var content []byte
	var err error
	switch {
	case df.Git != nil:
		g := df.Git
		var repo string
		repo, err = gitRemote(g)
		if err != nil {
			return err
		}
		df.Remote = "git " + remote.Redact(repo)
		content, err = opts.Remote.GitFile(ctx, repo, g.Revision, g.FileLocation)
	case df.Registry != nil:
		registry := registryFor(opts, df.Registry.RegistryURL)
		df.Remote = "registry " + df.Registry.ID
		var st *remote.Stack
		if st, err = opts.Remote.Stack(ctx, registry, df.Registry.ID, ""); err == nil {
			content, err = stackDockerfile(st)
		}
	case remote.IsHTTP(df.URI):
		df.Remote = "uri " + remote.Redact(df.URI)
		content, err = opts.Remote.Get(ctx, "dockerfile uri", df.URI, "uri\x00"+df.URI)
	default: // a registry parent's file, already in the cache
		df.Remote = "stack"
		content, err = os.ReadFile(df.URI)
	}
	if err != nil {
		return err
	}
	df.Fetched, err = opts.Remote.Store(content, "Dockerfile")
	return err
}

// gitRemote picks the remote to clone: checkoutFrom.remote, else the only one (devfile spec:
// checkoutFrom.remote is required when there are several).
func gitRemote(g *GitSource) (string, error) {
	var names []string
	for n := range g.Remotes {
		names = append(names, n)
	}
	switch {
	case g.Remote != "":
		u, ok := g.Remotes[g.Remote]
		if !ok {
			return "", fmt.Errorf("git checkoutFrom.remote %q is not one of the remotes (%s)", g.Remote, strings.Join(names, ", "))
		}
		return u, nil
	case len(g.Remotes) == 1:
		return g.Remotes[names[0]], nil
	case len(g.Remotes) == 0:
		return "", errors.New("git has no remotes; add remotes: {origin: <repository URL>}")
	}
	return "", fmt.Errorf("git has %d remotes; set checkoutFrom.remote to one of them", len(g.Remotes))
}

// stackDockerfile finds the Dockerfile of a registry stack: the dockerfile uri of the stack
// devfile's first image component, else Dockerfile or docker/Dockerfile among its files.
func stackDockerfile(st *remote.Stack) ([]byte, error) {
	var doc struct {
		Components []struct {
			Image *struct {
				Dockerfile *struct {
					URI string `json:"uri"`
				} `json:"dockerfile"`
			} `json:"image"`
		} `json:"components"`
	}
	candidates := []string{}
	if yaml.Unmarshal(st.Devfile, &doc) == nil {
		for _, c := range doc.Components {
			if c.Image != nil && c.Image.Dockerfile != nil && c.Image.Dockerfile.URI != "" && !strings.Contains(c.Image.Dockerfile.URI, "://") {
				candidates = append(candidates, c.Image.Dockerfile.URI)
				break
			}
		}
	}
	candidates = append(candidates, "Dockerfile", "docker/Dockerfile")
	for _, c := range candidates {
		p := filepath.Join(st.Dir, filepath.FromSlash(c))
		if rel, err := filepath.Rel(st.Dir, p); err != nil || strings.HasPrefix(rel, "..") {
			continue
		}
		if b, err := os.ReadFile(p); err == nil {
			return b, nil
		}
	}
	return nil, fmt.Errorf("stack %q (version %s) from %s has no Dockerfile (looked for %s)", st.ID, st.Version, st.Registry, strings.Join(candidates, ", "))
}
