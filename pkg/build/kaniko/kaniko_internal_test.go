package kaniko

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/devtool/devtool/pkg/build"
)

func TestExecutorArgs(t *testing.T) {
	insecure := true
	policy := build.RegistryPolicy{
		Insecure:   []string{"plain.example:5000"},
		Registries: []build.RegistryConfig{{Host: "docker.io", Mirrors: []string{"mirror.example/hub"}}, {Host: "quay.io", Mirrors: []string{"quay-mirror.example"}}, {Host: "ca.example", CAFile: "/etc/ca.pem"}, {Host: "quay-mirror.example", Insecure: &insecure}},
	}
	df := []byte("FROM busybox\nFROM quay.io/org/base:1 AS b\nCOPY --from=ca.example/x/y:2 /a /a\n")
	req := build.Request{Name: "app", Repository: "plain.example:5000/app", Tag: "abc", Push: true, Args: []string{"K=V"}, Platforms: []string{"linux/arm64"}}
	got, err := executorArgs(req, df, "Dockerfile", settings{policy: policy}, func(h string) string { return "/certs/" + h })
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"--dockerfile=Dockerfile", "--destination=plain.example:5000/app:abc", "--build-arg=K=V", "--custom-platform=linux/arm64",
		"--insecure-registry=quay-mirror.example", "--skip-tls-verify-registry=quay-mirror.example",
		"--registry-certificate=ca.example=/certs/ca.example",
		"--insecure-registry=plain.example:5000", "--skip-tls-verify-registry=plain.example:5000",
		"--registry-mirror=mirror.example/hub", "--registry-map=quay.io=quay-mirror.example"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("args\n got %q\nwant %q", got, want)
	}
	req.Push, req.Platforms = false, []string{"linux/amd64", "linux/arm64"}
	if _, err := executorArgs(req, df, "Dockerfile", settings{policy: policy}, nil); err == nil || !strings.Contains(err.Error(), "one platform per image") {
		t.Errorf("two platforms: %v", err)
	}
	req.Platforms = nil
	got, _ = executorArgs(req, []byte("FROM scratch\n"), "Dockerfile", settings{cacheRepo: "cache.example:5000/team/cache"}, nil)
	if want := []string{"--dockerfile=Dockerfile", "--no-push", "--destination=plain.example:5000/app:abc", "--build-arg=K=V", "--cache=true", "--cache-repo=cache.example:5000/team/cache"}; !reflect.DeepEqual(got, want) {
		t.Errorf("no push, cache: %q, want %q", got, want)
	}
	if got := touchedRegistries(req, []byte("FROM scratch\n"), settings{cacheRepo: "cache.example:5000/team/cache"}); !reflect.DeepEqual(got, []string{"plain.example:5000", "cache.example:5000"}) {
		t.Errorf("touched registries %q: want the destination's and the cache's", got)
	}
}

func TestWriteContext(t *testing.T) {
	proj := t.TempDir()
	ctxDir := filepath.Join(proj, "ctx")
	for p, body := range map[string]string{"ctx/a.txt": "a", "ctx/sub/b.txt": "b", "docker/Dockerfile": "FROM scratch\n"} {
		_ = os.MkdirAll(filepath.Dir(filepath.Join(proj, p)), 0o755)
		if err := os.WriteFile(filepath.Join(proj, p), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("a.txt", filepath.Join(ctxDir, "link")); err != nil {
		t.Fatal(err)
	}
	req := build.Request{ContextDir: ctxDir, Dockerfile: filepath.Join(proj, "docker/Dockerfile")}
	if rel, outside := dockerfilePath(req); rel != dockerfileInContext || !outside {
		t.Fatalf("dockerfilePath = %q, %v", rel, outside)
	}
	names, files := readContext(t, req)
	if want := []string{".devtool-kaniko/", ".devtool-kaniko/Dockerfile", "a.txt", "link", "sub/", "sub/b.txt"}; !reflect.DeepEqual(names, want) {
		t.Errorf("entries %q, want %q", names, want)
	}
	if files["link"] != "-> a.txt" || files[".devtool-kaniko/Dockerfile"] != "FROM scratch\n" || files["sub/b.txt"] != "b" {
		t.Errorf("contents %q", files)
	}
	req.Dockerfile = filepath.Join(ctxDir, "sub", "Dockerfile")
	if rel, outside := dockerfilePath(req); rel != "sub/Dockerfile" || outside {
		t.Errorf("dockerfilePath inside = %q, %v", rel, outside)
	}
}

func TestInContainerAndMounts(t *testing.T) {
	root := t.TempDir()
	none := func(string) string { return "" }
	if ok, why := inContainer(root, none); ok {
		t.Errorf("empty root is a container: %s", why)
	}
	_ = os.MkdirAll(filepath.Join(root, "run"), 0o755)
	_ = os.WriteFile(filepath.Join(root, "run/.containerenv"), nil, 0o644)
	if ok, why := inContainer(root, none); !ok || why != "/run/.containerenv exists" {
		t.Errorf("podman marker: %v %q", ok, why)
	}
	root2 := t.TempDir()
	_ = os.MkdirAll(filepath.Join(root2, "proc/self"), 0o755)
	_ = os.WriteFile(filepath.Join(root2, "proc/self/cgroup"), []byte("0::/kubepods/besteffort/pod1/abc\n"), 0o644)
	if ok, _ := inContainer(root2, none); !ok {
		t.Error("kubepods cgroup is not a container")
	}
	if ok, _ := inContainer(t.TempDir(), func(k string) string { return map[string]string{"KUBERNETES_SERVICE_HOST": "10.0.0.1"}[k] }); !ok {
		t.Error("a Pod's environment is not a container")
	}
	mounts := []string{"/", "/workspace", "/proc"}
	for dir, want := range map[string]bool{"/workspace/app": true, "/workspace": true, "/kaniko/x": true, "/src": false, "/workspaces": false, "/": false} {
		if got := safeFromKaniko(dir, mounts); got != want {
			t.Errorf("safeFromKaniko(%q) = %v", dir, got)
		}
	}
	mi := filepath.Join(t.TempDir(), "mountinfo")
	_ = os.WriteFile(mi, []byte("22 1 0:21 / / rw - ext4 /dev/vda rw\n30 22 0:40 / /my\\040dir rw - tmpfs tmpfs rw\n"), 0o644)
	if got, err := mountPoints(mi); err != nil || !reflect.DeepEqual(got, []string{"/", "/my dir"}) {
		t.Errorf("mountPoints = %q, %v", got, err)
	}
}

func TestNames(t *testing.T) {
	for in, want := range map[string]string{"App_Image.v2": "app-image-v2", strings.Repeat("x", 70): strings.Repeat("x", 40), "--": "image"} {
		if got := podNamePart(in); got != want {
			t.Errorf("podNamePart(%q) = %q, want %q", in, got, want)
		}
	}
	if got := labelValue("a/b:c"); got != "a-b-c" {
		t.Errorf("labelValue = %q", got)
	}
}

// readContext returns the entries writeContext sends for req, sorted, and the content of its
// files ("-> target" for symlinks); it fails t on an entry not owned by root.
func readContext(t *testing.T, req build.Request) (names []string, files map[string]string) {
	t.Helper()
	var buf bytes.Buffer
	if err := writeContext(context.Background(), &buf, req); err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	files = map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s owned by %d:%d", h.Name, h.Uid, h.Gid)
		}
		names = append(names, h.Name)
		if h.Typeflag == tar.TypeSymlink {
			files[h.Name] = "-> " + h.Linkname
		} else if h.Typeflag == tar.TypeReg {
			b, _ := io.ReadAll(tr)
			files[h.Name] = string(b)
		}
	}
	sort.Strings(names)
	return names, files
}

func tarNames(t *testing.T, req build.Request) []string {
	t.Helper()
	names, _ := readContext(t, req)
	return names
}

// TestWriteContextIgnore: the ignore file's rules (kaniko's choice of file) filter the upload;
// the Dockerfile and the ignore file are sent even when listed; "!" exceptions below an
// excluded directory are kept; a per-Dockerfile ignore file outside the context travels with
// the Dockerfile.
func TestWriteContextIgnore(t *testing.T) {
	dir := t.TempDir()
	for p, body := range map[string]string{
		".dockerignore":           "node_modules\n*.log\n!keep.log\nDockerfile\n.dockerignore\nbuild\n!build/out.bin\n",
		"Dockerfile":              "FROM scratch\n",
		"a.log":                   "x",
		"keep.log":                "x",
		"src/main.go":             "x",
		"node_modules/m/index.js": "x",
		"build/tmp.o":             "x",
		"build/out.bin":           "x",
	} {
		_ = os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, p), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got := tarNames(t, build.Request{ContextDir: dir, Dockerfile: filepath.Join(dir, "Dockerfile")})
	want := []string{".dockerignore", "Dockerfile", "build/out.bin", "keep.log", "src/", "src/main.go"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("sent %q, want %q", got, want)
	}

	outside := t.TempDir()
	_ = os.WriteFile(filepath.Join(outside, "Dockerfile"), []byte("FROM scratch\n"), 0o644)
	_ = os.WriteFile(filepath.Join(outside, "Dockerfile.dockerignore"), []byte("src\n"), 0o644)
	got = tarNames(t, build.Request{ContextDir: dir, Dockerfile: filepath.Join(outside, "Dockerfile")})
	for _, w := range []string{".devtool-kaniko/Dockerfile", ".devtool-kaniko/Dockerfile.dockerignore", "node_modules/m/index.js"} {
		if !slices.Contains(got, w) {
			t.Errorf("per-Dockerfile ignore: %q not sent (sent %q)", w, got)
		}
	}
	if slices.Contains(got, "src/main.go") {
		t.Errorf("per-Dockerfile ignore: src/main.go sent although Dockerfile.dockerignore excludes it")
	}
}
