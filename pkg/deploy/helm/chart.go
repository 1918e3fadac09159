package helm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"helm.sh/helm/v4/pkg/action"
	ci "helm.sh/helm/v4/pkg/chart"
	"helm.sh/helm/v4/pkg/chart/loader/archive"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/registry"
	"helm.sh/helm/v4/pkg/repo/v1"
	"sigs.k8s.io/yaml"
)

// DefaultHTTPTimeout bounds each download (index.yaml, a chart archive, a registry pull) when
// the Loader is given none.
const DefaultHTTPTimeout = 30 * time.Second

// maxDownload bounds what one download may be (index files of big repositories are tens of MiB).
const maxDownload = 64 << 20

// LoaderOption configures a Loader.
type LoaderOption func(*Loader)

// WithPlainHTTP says which registry and chart repository hosts ("host" or "host:port") may be
// reached over plain HTTP. The default allows loopback hosts only (127.0.0.1, ::1, localhost),
// devtool's rule for image registries.
func WithPlainHTTP(allow func(host string) bool) LoaderOption {
	return func(l *Loader) {
		if allow != nil {
			l.plainHTTP = allow
		}
	}
}

// WithHTTPTimeout bounds each download (0 keeps DefaultHTTPTimeout).
func WithHTTPTimeout(d time.Duration) LoaderOption {
	return func(l *Loader) {
		if d > 0 {
			l.timeout = d
		}
	}
}

// WithLoaderLogger logs downloads at debug level.
func WithLoaderLogger(log *slog.Logger) LoaderOption {
	return func(l *Loader) {
		if log != nil {
			l.log = log
		}
	}
}

// WithRegistryConfig names Helm's registry credentials file (`helm registry login` writes
// it; default: Helm's, $HELM_REGISTRY_CONFIG or ~/.config/helm/registry/config.json).
func WithRegistryConfig(file string) LoaderOption {
	return func(l *Loader) { l.registryConfig = file }
}

// Loader loads charts; it needs no cluster. The zero value is not usable: use NewLoader.
type Loader struct {
	plainHTTP      func(host string) bool
	timeout        time.Duration
	log            *slog.Logger
	registryConfig string
}

// NewLoader returns a Loader.
func NewLoader(opts ...LoaderOption) *Loader {
	l := &Loader{plainHTTP: isLoopback, timeout: DefaultHTTPTimeout, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(l)
	}
	return l
}

// isLoopback reports whether host ("host[:port]") is a loopback name or address.
func isLoopback(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(h, "[]"))
	return ip != nil && ip.IsLoopback()
}

// Source says where a chart comes from.
type Source struct {
	// Chart is an absolute path (a chart directory or a packaged .tgz), an oci:// reference
	// (oci://host/repo/name, without a tag), or, with Repo, a chart name.
	Chart string
	// Repo is a chart repository URL (http(s); its index.yaml lists the charts).
	Repo string
	// Version is a semver version or constraint ("1.2.3", "^1.2"); empty means the latest
	// stable version. For a local chart it is checked against Chart.yaml.
	Version string
	// Root, when set, confines local paths — the chart and its file:// dependencies — to this
	// directory (the project directory); an *OutsideRootError otherwise.
	Root string
}

func (s Source) String() string {
	switch {
	case s.Repo != "":
		v := s.Version
		if v == "" {
			v = "latest"
		}
		return fmt.Sprintf("%s %s from %s", s.Chart, v, s.Repo)
	case strings.HasPrefix(s.Chart, "oci://") && s.Version != "":
		return s.Chart + ":" + s.Version
	}
	return s.Chart
}

// Chart is a loaded chart with its dependencies, kept as files so that every render and
// upgrade starts from a fresh copy (Helm's rendering changes the chart it is given).
type Chart struct {
	// Name, Version and AppVersion are Chart.yaml's.
	Name, Version, AppVersion string
	// Source is where the chart came from (a path, an oci:// reference with its version, or
	// the repository chart).
	Source string
	files  []*archive.BufferedFile
}

// String is "name version" as helm list shows charts ("hello-0.1.0").
func (c *Chart) String() string { return c.Name + "-" + c.Version }

// load returns a fresh copy of the chart.
func (c *Chart) load() (*chart.Chart, error) {
	files := make([]*archive.BufferedFile, len(c.files))
	for i, f := range c.files {
		cp := *f
		files[i] = &cp
	}
	return loader.LoadFiles(files)
}

// ChartError is a chart that could not be loaded: missing, not a chart, an unknown version, a
// download that failed, or dependencies that cannot be resolved.
type ChartError struct {
	Chart string
	Err   error
}

func (e *ChartError) Error() string { return fmt.Sprintf("chart %s: %v", e.Chart, e.Err) }
func (e *ChartError) Unwrap() error { return e.Err }

// OutsideRootError is a local chart path outside Source.Root.
type OutsideRootError struct {
	Path, Root string
}

func (e *OutsideRootError) Error() string {
	return fmt.Sprintf("%s is outside the project directory %s", e.Path, e.Root)
}

// Load loads the chart src names, with its dependencies: those in its charts/ directory, and,
// when some are missing there, the ones its Chart.lock pins (downloaded from their
// repository or registry, or read from a file:// path) — `helm dependency build` without
// writing anything into the chart directory. Errors are *ChartError (wrapping an
// *OutsideRootError for a path outside src.Root), or ctx's error.
func (l *Loader) Load(ctx context.Context, src Source) (*Chart, error) {
	ch, dir, err := l.fetch(ctx, src)
	if err != nil {
		return nil, cancelled(ctx, &ChartError{Chart: src.String(), Err: err})
	}
	c := &Chart{Name: ch.Metadata.Name, Version: ch.Metadata.Version, AppVersion: ch.Metadata.AppVersion, Source: src.String(), files: rawFiles(ch, "")}
	if err := l.resolveDependencies(ctx, c, ch, dir, src.Root); err != nil {
		return nil, cancelled(ctx, &ChartError{Chart: src.String(), Err: err})
	}
	return c, nil
}

// fetch loads the chart itself; dir is its directory for a local chart directory ("" else).
func (l *Loader) fetch(ctx context.Context, src Source) (*chart.Chart, string, error) {
	switch {
	case src.Repo != "":
		data, err := l.fromRepo(ctx, src.Repo, src.Chart, src.Version)
		if err != nil {
			return nil, "", err
		}
		ch, err := loader.LoadArchive(bytes.NewReader(data))
		return ch, "", err
	case strings.HasPrefix(src.Chart, "oci://"):
		data, err := l.fromRegistry(ctx, src.Chart, src.Version)
		if err != nil {
			return nil, "", err
		}
		ch, err := loader.LoadArchive(bytes.NewReader(data))
		return ch, "", err
	case strings.Contains(src.Chart, "://"):
		return nil, "", fmt.Errorf("unsupported chart location %q: use a path, an oci:// reference, or a chart name with a repository URL", src.Chart)
	}
	p := src.Chart
	if !filepath.IsAbs(p) {
		return nil, "", fmt.Errorf("local chart path %q is not absolute", p)
	}
	if err := confined(p, src.Root); err != nil {
		return nil, "", err
	}
	st, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, "", fmt.Errorf("%s does not exist", p)
		}
		return nil, "", err
	}
	var ch *chart.Chart
	dir := ""
	if st.IsDir() {
		if _, err := os.Stat(filepath.Join(p, "Chart.yaml")); err != nil {
			return nil, "", fmt.Errorf("%s is not a chart directory (no Chart.yaml)", p)
		}
		ch, err = loader.LoadDir(p)
		dir = p
	} else {
		ch, err = loader.LoadFile(p)
	}
	if err != nil {
		return nil, "", err
	}
	if src.Version != "" {
		ok, err := versionMatches(ch.Metadata.Version, src.Version)
		if err != nil {
			return nil, "", err
		}
		if !ok {
			return nil, "", fmt.Errorf("its Chart.yaml has version %s, the devfile asks for %s", ch.Metadata.Version, src.Version)
		}
	}
	return ch, dir, nil
}

// confined checks p (absolute) against root, lexically and after symlinks.
func confined(p, root string) error {
	if root == "" {
		return nil
	}
	inside := func(p, root string) bool {
		rel, err := filepath.Rel(root, p)
		return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
	}
	if !inside(filepath.Clean(p), filepath.Clean(root)) {
		return &OutsideRootError{Path: p, Root: root}
	}
	rp, err1 := filepath.EvalSymlinks(p)
	rr, err2 := filepath.EvalSymlinks(root)
	if err1 == nil && err2 == nil && !inside(rp, rr) {
		return &OutsideRootError{Path: p + " (" + rp + ")", Root: root}
	}
	return nil
}

func versionMatches(version, want string) (bool, error) {
	if version == want {
		return true, nil
	}
	c, err := semver.NewConstraint(want)
	if err != nil {
		return false, fmt.Errorf("version %q is not a version or constraint: %w", want, err)
	}
	v, err := semver.NewVersion(version)
	if err != nil {
		return false, nil
	}
	return c.Check(v), nil
}

// rawFiles are the files of ch (Helm keeps them in Raw), under prefix.
func rawFiles(ch *chart.Chart, prefix string) []*archive.BufferedFile {
	out := make([]*archive.BufferedFile, 0, len(ch.Raw))
	for _, f := range ch.Raw {
		out = append(out, &archive.BufferedFile{Name: prefix + f.Name, ModTime: f.ModTime, Data: f.Data})
	}
	return out
}

// checkDependencies is Helm's check that every dependency of Chart.yaml is in charts/.
func checkDependencies(ch *chart.Chart) error {
	reqs := make([]ci.Dependency, len(ch.Metadata.Dependencies))
	for i, d := range ch.Metadata.Dependencies {
		reqs[i] = d
	}
	return action.CheckDependencies(ch, reqs)
}

// resolveDependencies adds the dependencies Chart.yaml declares and charts/ lacks, from the
// versions Chart.lock pins, to c's files.
func (l *Loader) resolveDependencies(ctx context.Context, c *Chart, ch *chart.Chart, dir, root string) error {
	if len(ch.Metadata.Dependencies) == 0 || checkDependencies(ch) == nil {
		return nil
	}
	present := map[string]bool{}
	for _, d := range ch.Dependencies() {
		present[d.Name()] = true
	}
	var missing []string
	for _, d := range ch.Metadata.Dependencies {
		if !present[d.Name] {
			missing = append(missing, d.Name)
		}
	}
	if ch.Lock == nil {
		return fmt.Errorf("Chart.yaml declares dependencies (%s) that are not in its charts/ directory, and it has no Chart.lock to say which versions; run `helm dependency update` in the chart directory", strings.Join(missing, ", "))
	}
	locked := map[string]*chart.Dependency{}
	for _, d := range ch.Lock.Dependencies {
		locked[d.Name] = d
	}
	for _, d := range ch.Metadata.Dependencies {
		if present[d.Name] {
			continue
		}
		lk, ok := locked[d.Name]
		if !ok {
			return fmt.Errorf("Chart.lock is out of sync with Chart.yaml: it has no entry for dependency %q; run `helm dependency update` in the chart directory", d.Name)
		}
		files, err := l.dependency(ctx, lk, dir, root)
		if err != nil {
			return fmt.Errorf("dependency %s %s (%s): %w", lk.Name, lk.Version, lk.Repository, err)
		}
		c.files = append(c.files, files...)
	}
	full, err := c.load()
	if err != nil {
		return err
	}
	return checkDependencies(full)
}

// dependency fetches one locked dependency as files under charts/.
func (l *Loader) dependency(ctx context.Context, d *chart.Dependency, dir, root string) ([]*archive.BufferedFile, error) {
	r := d.Repository
	switch {
	case strings.HasPrefix(r, "file://"):
		if dir == "" {
			return nil, errors.New("a file:// dependency needs a chart directory; package the chart with its dependencies")
		}
		p := strings.TrimPrefix(r, "file://")
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		if err := confined(p, root); err != nil {
			return nil, err
		}
		sub, err := loader.LoadDir(p)
		if err != nil {
			return nil, err
		}
		return rawFiles(sub, "charts/"+d.Name+"/"), nil
	case strings.HasPrefix(r, "oci://"):
		data, err := l.fromRegistry(ctx, strings.TrimSuffix(r, "/")+"/"+d.Name, d.Version)
		if err != nil {
			return nil, err
		}
		return []*archive.BufferedFile{{Name: fmt.Sprintf("charts/%s-%s.tgz", d.Name, d.Version), Data: data}}, nil
	case strings.HasPrefix(r, "http://"), strings.HasPrefix(r, "https://"):
		data, err := l.fromRepo(ctx, r, d.Name, d.Version)
		if err != nil {
			return nil, err
		}
		return []*archive.BufferedFile{{Name: fmt.Sprintf("charts/%s-%s.tgz", d.Name, d.Version), Data: data}}, nil
	}
	return nil, fmt.Errorf("repository %q: devtool reads dependencies from http(s) repository URLs, oci:// registries and file:// paths, not from helm's named repositories (repositories.yaml); put the URL in Chart.yaml", r)
}

// fromRepo downloads chart name at version (a constraint; "" the latest) from the chart
// repository repoURL: its index.yaml, then the archive the entry points at, whose sha256 must
// match the entry's digest when it has one.
func (l *Loader) fromRepo(ctx context.Context, repoURL, name, version string) ([]byte, error) {
	index := strings.TrimSuffix(repoURL, "/") + "/index.yaml"
	data, err := l.get(ctx, index)
	if err != nil {
		return nil, err
	}
	var idx repo.IndexFile
	if err := yaml.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Errorf("%s: not a chart repository index: %w", index, err)
	}
	idx.SortEntries()
	cv, err := idx.Get(name, version)
	if err != nil {
		switch {
		case errors.Is(err, repo.ErrNoChartName):
			return nil, fmt.Errorf("the repository %s has no chart %q", repoURL, name)
		case version != "":
			return nil, fmt.Errorf("the repository %s has no version %s of chart %q", repoURL, version, name)
		}
		return nil, fmt.Errorf("chart %q in %s: %w", name, repoURL, err)
	}
	if len(cv.URLs) == 0 {
		return nil, fmt.Errorf("chart %s %s in %s lists no download URL", name, cv.Version, repoURL)
	}
	u, err := repo.ResolveReferenceURL(strings.TrimSuffix(repoURL, "/")+"/", cv.URLs[0])
	if err != nil {
		return nil, err
	}
	archiveData, err := l.get(ctx, u)
	if err != nil {
		return nil, err
	}
	if cv.Digest != "" {
		sum := sha256.Sum256(archiveData)
		if got := hex.EncodeToString(sum[:]); got != strings.TrimPrefix(cv.Digest, "sha256:") {
			return nil, fmt.Errorf("%s: sha256 %s, the repository index says %s", u, got, cv.Digest)
		}
	}
	l.log.Debug("downloaded chart", "chart", name, "version", cv.Version, "url", u)
	return archiveData, nil
}

// get GETs u (http only for hosts plainHTTP allows), bounded by the timeout and ctx.
func (l *Loader) get(ctx context.Context, u string) ([]byte, error) {
	pu, err := url.Parse(u)
	if err != nil {
		return nil, err
	}
	switch pu.Scheme {
	case "https":
	case "http":
		if !l.plainHTTP(pu.Host) {
			return nil, fmt.Errorf("%s: plain http is allowed only for loopback hosts and those in DEVTOOL_INSECURE_REGISTRIES; use https", u)
		}
	default:
		return nil, fmt.Errorf("%s: unsupported scheme %q", u, pu.Scheme)
	}
	rctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %s", u, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxDownload+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	if len(b) > maxDownload {
		return nil, fmt.Errorf("GET %s: larger than %d MiB", u, maxDownload>>20)
	}
	return b, nil
}

// fromRegistry pulls the chart ref (oci://host/repo/name) at version — a tag, or a semver
// constraint matched against the repository's tags ("" the highest) — with Helm's registry
// client (credentials of `helm registry login`).
func (l *Loader) fromRegistry(ctx context.Context, ref, version string) ([]byte, error) {
	bare := strings.TrimPrefix(ref, "oci://")
	if i := strings.LastIndex(bare, ":"); i > strings.LastIndex(bare, "/") {
		return nil, fmt.Errorf("%s: give the version in the version field, not as a tag", ref)
	}
	host, _, _ := strings.Cut(bare, "/")
	opts := []registry.ClientOption{
		registry.ClientOptWriter(io.Discard),
		registry.ClientOptHTTPClient(&http.Client{Timeout: l.timeout}),
	}
	if l.plainHTTP(host) {
		opts = append(opts, registry.ClientOptPlainHTTP())
	}
	if l.registryConfig != "" {
		opts = append(opts, registry.ClientOptCredentialsFile(l.registryConfig))
	}
	rc, err := registry.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1)
	// Helm's registry client takes no context: run it aside and stop waiting when ctx ends
	// (its HTTP client's timeout bounds it).
	go func() {
		tag := version
		if _, err := semver.StrictNewVersion(version); err != nil {
			tags, err := rc.Tags(bare)
			if err != nil {
				done <- result{err: fmt.Errorf("listing the versions of %s: %w", ref, err)}
				return
			}
			tag = ""
			for _, t := range tags { // highest first
				if ok, _ := versionMatches(t, orLatest(version)); ok {
					tag = t
					break
				}
			}
			if tag == "" {
				done <- result{err: fmt.Errorf("%s has no version matching %q (versions: %s)", ref, orLatest(version), strings.Join(tags, ", "))}
				return
			}
		}
		res, err := rc.Pull(bare + ":" + strings.ReplaceAll(tag, "+", "_"))
		if err != nil {
			done <- result{err: fmt.Errorf("pulling %s:%s: %w", ref, tag, err)}
			return
		}
		l.log.Debug("pulled chart", "ref", ref, "version", tag, "digest", res.Manifest.Digest)
		done <- result{data: res.Chart.Data}
	}()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case r := <-done:
		return r.data, r.err
	}
}

func orLatest(v string) string {
	if v == "" {
		return "*"
	}
	return v
}
