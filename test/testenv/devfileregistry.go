package testenv

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"io/fs"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	indexSchema "github.com/devfile/registry-support/index/generator/schema"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// DevfileStack is one version of a stack a DevfileRegistry serves: Dir holds its devfile.yaml
// and resources (docker/Dockerfile, kubernetes/deploy.yaml, …), as in devfile/registry's
// stacks/<name>/<version>/.
type DevfileStack struct {
	Name, Version string
	// Default marks the version served for requests without a version (the highest of each
	// stack when no version is marked).
	Default bool
	Dir     string
}

// DevfileRegistry is a devfile registry on loopback speaking the REST API of
// devfile/registry-support's index server — GET /index, /v2index, /devfiles/<name>,
// /devfiles/<name>/<version> — and, under /v2/, an OCI registry (in-process
// go-containerregistry) holding each stack version as the artifact
// devfile-catalog/<name>:<version> whose layers are devfile.yaml (media type
// application/vnd.devfileio.devfile.layer.v1) and archive.tar (the other files, tar+gzip,
// application/x-tar), titled by org.opencontainers.image.title, as the registry build tools
// push them and registry-library pulls them. (The index server itself is not on the Go module
// proxy, so this stands in for it.)
type DevfileRegistry struct {
	// URL is the registry's base URL, http://127.0.0.1:PORT.
	URL string
	srv *httptest.Server
	// Requests counts the REST (non-OCI) requests served.
	Requests atomic.Int64
}

// StartDevfileRegistry serves stacks on loopback until Stop or t.Cleanup. Fails the test on a
// stack it cannot read or push.
func StartDevfileRegistry(t testing.TB, stacks []DevfileStack) *DevfileRegistry {
	t.Helper()
	r := &DevfileRegistry{}
	oci := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	byName := map[string][]DevfileStack{}
	for _, s := range stacks {
		byName[s.Name] = append(byName[s.Name], s)
	}
	var names []string
	for n, vs := range byName {
		names = append(names, n)
		sort.Slice(vs, func(i, j int) bool { return versionLess(vs[i].Version, vs[j].Version) })
		hasDefault := false
		for _, v := range vs {
			hasDefault = hasDefault || v.Default
		}
		if !hasDefault {
			vs[len(vs)-1].Default = true
		}
	}
	sort.Strings(names)
	files := map[string][]byte{} // name/version → devfile.yaml
	var v2 []indexSchema.Schema
	var v1idx []indexSchema.Schema
	for _, n := range names {
		s2 := indexSchema.Schema{Name: n, Type: indexSchema.StackDevfileType, DisplayName: n}
		for _, v := range byName[n] {
			b, err := os.ReadFile(filepath.Join(v.Dir, "devfile.yaml"))
			if err != nil {
				t.Fatalf("devfile registry stack %s %s: %v", n, v.Version, err)
			}
			files[n+"/"+v.Version] = b
			res := stackResources(t, v.Dir)
			ver := indexSchema.Version{
				Version: v.Version, SchemaVersion: schemaVersionOf(b), Default: v.Default,
				Links:     map[string]string{"self": "devfile-catalog/" + n + ":" + v.Version},
				Resources: append([]string{"devfile.yaml"}, res...),
			}
			s2.Versions = append(s2.Versions, ver)
			if v.Default {
				files[n+"/"] = b
				v1idx = append(v1idx, indexSchema.Schema{Name: n, Type: indexSchema.StackDevfileType, DisplayName: n,
					Version: v.Version, Links: ver.Links, Resources: ver.Resources})
			}
		}
		v2 = append(v2, s2)
	}
	writeJSON := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	mux := http.NewServeMux()
	mux.Handle("/v2/", oci)
	mux.HandleFunc("GET /index", func(w http.ResponseWriter, _ *http.Request) { r.Requests.Add(1); writeJSON(w, v1idx) })
	mux.HandleFunc("GET /v2index", func(w http.ResponseWriter, _ *http.Request) { r.Requests.Add(1); writeJSON(w, v2) })
	serve := func(w http.ResponseWriter, key string) {
		r.Requests.Add(1)
		b, ok := files[key]
		if !ok {
			http.Error(w, `{"status":"the devfile of `+key+` didn't exist"}`, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write(b)
	}
	mux.HandleFunc("GET /devfiles/{name}", func(w http.ResponseWriter, q *http.Request) { serve(w, q.PathValue("name")+"/") })
	mux.HandleFunc("GET /devfiles/{name}/{version}", func(w http.ResponseWriter, q *http.Request) {
		v := q.PathValue("version")
		if v == "default" {
			v = ""
		}
		serve(w, q.PathValue("name")+"/"+v)
	})
	r.srv = httptest.NewServer(mux)
	r.URL = r.srv.URL
	t.Cleanup(r.Stop)
	host := strings.TrimPrefix(r.URL, "http://")
	for _, s := range stacks {
		pushStack(t, host, s)
	}
	return r
}

// Stop closes the server (idempotent): later requests are refused.
func (r *DevfileRegistry) Stop() {
	r.srv.CloseClientConnections()
	r.srv.Close()
}

func pushStack(t testing.TB, host string, s DevfileStack) {
	t.Helper()
	df, err := os.ReadFile(filepath.Join(s.Dir, "devfile.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, "application/vnd.devfileio.devfile.config.v2+json")
	adds := []mutate.Addendum{{
		Layer:       static.NewLayer(df, "application/vnd.devfileio.devfile.layer.v1"),
		Annotations: map[string]string{"org.opencontainers.image.title": "devfile.yaml"},
	}}
	if archive := stackArchive(t, s.Dir); archive != nil {
		adds = append(adds, mutate.Addendum{
			Layer:       static.NewLayer(archive, "application/x-tar"),
			Annotations: map[string]string{"org.opencontainers.image.title": "archive.tar"},
		})
	}
	img, err = mutate.Append(img, adds...)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(host+"/devfile-catalog/"+s.Name+":"+s.Version, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatalf("pushing stack %s %s: %v", s.Name, s.Version, err)
	}
}

// stackResources lists the stack's files other than devfile.yaml (slash paths, sorted).
func stackResources(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel != "devfile.yaml" {
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// stackArchive packs the stack's resources as tar+gzip (nil when there are none).
func stackArchive(t testing.TB, dir string) []byte {
	t.Helper()
	res := stackResources(t, dir)
	if len(res) == 0 {
		return nil
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	dirs := map[string]bool{}
	for _, r := range res {
		// Directory entries first, as tar(1) writes them: registry-library's decompress does
		// not create parent directories.
		var parents []string
		for d := pathDir(r); d != "" && !dirs[d]; d = pathDir(d) {
			dirs[d] = true
			parents = append([]string{d}, parents...)
		}
		for _, d := range parents {
			if err := tw.WriteHeader(&tar.Header{Name: d + "/", Mode: 0o755, Typeflag: tar.TypeDir}); err != nil {
				t.Fatal(err)
			}
		}
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(r)))
		if err != nil {
			t.Fatal(err)
		}
		if err := tw.WriteHeader(&tar.Header{Name: r, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		_, _ = tw.Write(b)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// pathDir is the parent of a slash path, "" at the top.
func pathDir(p string) string {
	i := strings.LastIndex(p, "/")
	if i < 0 {
		return ""
	}
	return p[:i]
}

func schemaVersionOf(devfile []byte) string {
	for _, l := range strings.Split(string(devfile), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "schemaVersion:"); ok {
			return strings.Trim(strings.TrimSpace(v), `"'`)
		}
	}
	return ""
}

func versionLess(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		if pa[i] != pb[i] {
			if len(pa[i]) != len(pb[i]) {
				return len(pa[i]) < len(pb[i])
			}
			return pa[i] < pb[i]
		}
	}
	return len(pa) < len(pb)
}

// CorpusStacks returns the registry stacks the corpus carries: every
// <case>/_parent/<name>-<version>/ directory (devfile/registry's stacks/<name>/<version>,
// copied next to the cases whose parent they are).
func CorpusStacks(t testing.TB) []DevfileStack {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(CorpusDir(t), "*", "_parent", "*"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var out []DevfileStack
	for _, d := range dirs {
		base := filepath.Base(d)
		i := strings.LastIndex(base, "-")
		if i < 0 {
			continue
		}
		if _, err := os.Stat(filepath.Join(d, "devfile.yaml")); err != nil {
			continue
		}
		s := DevfileStack{Name: base[:i], Version: base[i+1:], Dir: d}
		if seen[base] {
			continue
		}
		seen[base] = true
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name+out[i].Version < out[j].Name+out[j].Version })
	return out
}
