package cli

import (
	"context"
	"encoding/json"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/devtool/devtool/test/testenv"
)

var update = flag.Bool("update", false, "rewrite golden files")

func sampleDir(name string) string {
	abs, _ := filepath.Abs(filepath.Join("..", "..", "testdata", "samples", name))
	return abs
}

// TestGolden pins the shape of devtool's JSON documents and text output.
func TestGolden(t *testing.T) {
	hello := sampleDir("hello")
	helmHello := sampleDir("helm-hello")
	s2iHello := sampleDir("s2i-hello")
	tests := []struct {
		golden string
		args   []string
	}{
		{"plan-hello.json", []string{"plan", "--devfile", hello, "--format", "json"}},
		{"plan-hello.txt", []string{"plan", "--devfile", hello}},
		{"plan-hello.dot", []string{"plan", "--devfile", hello, "--format", "dot"}},
		{"plan-hello.mmd", []string{"plan", "--devfile", hello, "--format", "mermaid"}},
		{"render-hello.yaml", []string{"render", "--devfile", hello, "--image-registry", "registry.example/me"}},
		{"validate-hello.json", []string{"validate", "--devfile", hello, "-o", "json"}},
		{"plan-helm-hello.txt", []string{"plan", "--devfile", helmHello}},
		{"plan-helm-hello.dot", []string{"plan", "--devfile", helmHello, "--format", "dot"}},
		{"plan-helm-hello.mmd", []string{"plan", "--devfile", helmHello, "--format", "mermaid"}},
		{"render-helm-hello.yaml", []string{"render", "--devfile", helmHello, "--image-registry", "registry.example/me"}},
		{"plan-s2i-hello.txt", []string{"plan", "--devfile", s2iHello}},
		{"render-s2i-hello.yaml", []string{"render", "--devfile", s2iHello, "--image-registry", "registry.example/me"}},
		{"describe-s2i-hello.json", []string{"describe", "--devfile", s2iHello, "-o", "json"}},
		{"describe-s2i-hello.txt", []string{"describe", "--devfile", s2iHello}},
		{"version.json", []string{"version", "-o", "json"}},
	}
	for _, tc := range tests {
		t.Run(tc.golden, func(t *testing.T) {
			stdout, stderr, err := runCLI(t, context.Background(), tc.args...)
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			got := strings.ReplaceAll(strings.ReplaceAll(stdout, hello, "$SAMPLE"), s2iHello, "$SAMPLE")
			path := filepath.Join("testdata", tc.golden)
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./pkg/cli -run TestGolden -update)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("output differs from %s (-want +got):\n%s", path, diff)
			}
		})
	}
}

func TestErrorsAndExitCodes(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cycle := write("cycle.yaml", `schemaVersion: 2.2.0
metadata: {name: c}
commands:
  - id: a
    composite: {commands: [b]}
  - id: b
    composite: {commands: [a], group: {kind: deploy}}
`)
	undefined := write("undef.yaml", `schemaVersion: 2.2.0
metadata: {name: u}
components:
  - name: m
    kubernetes:
      inlined: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: "{{missing}}"}
commands:
  - id: d
    apply: {component: m, group: {kind: deploy}}
`)
	tests := []struct {
		name     string
		args     []string
		code     string
		exit     int
		contains []string
	}{
		// devfile/library's validation finds the cycle first (pkg/plan's CycleError, which prints
		// the path, covers devfiles the library lets through; see pkg/plan tests).
		{"cycle", []string{"validate", "--devfile", cycle}, "InvalidDevfile", ExitInvalid, []string{"commands[id=a]", "commands[id=b]", "cannot indirectly reference itself"}},
		{"bad output flag", []string{"validate", "--devfile", cycle, "-o", "xml"}, "Usage", ExitInvalid, []string{"--output"}},
		{"undefined strict", []string{"render", "--devfile", undefined, "--strict"}, "UndefinedVariable", ExitInvalid, []string{`"missing"`, "components[name=m].kubernetes"}},
		{"unknown command", []string{"plan", "--devfile", undefined, "--command", "nope"}, "InvalidCommand", ExitInvalid, []string{`"nope"`}},
		{"missing devfile", []string{"validate", "--devfile", filepath.Join(dir, "absent")}, "InvalidDevfile", ExitInvalid, []string{"absent"}},
		{"bad var", []string{"render", "--devfile", undefined, "--var", "=x"}, "Usage", ExitInvalid, []string{"--var"}},
		{"unknown subcommand", []string{"deplyo"}, "Usage", ExitInvalid, []string{`unknown command "deplyo"`}},
		{"unexpected argument", []string{"validate", "extra"}, "Usage", ExitInvalid, []string{"extra"}},
		{"bad flag value", []string{"deploy", "--wait=soon"}, "Usage", ExitInvalid, []string{`"soon"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runCLI(t, context.Background(), tc.args...)
			if err == nil {
				t.Fatal("want error")
			}
			code, exit := Classify(err)
			if tc.code != "" && (code != tc.code || exit != tc.exit) {
				t.Errorf("Classify = %s/%d, want %s/%d (%v)", code, exit, tc.code, tc.exit, err)
			}
			for _, c := range tc.contains {
				if !strings.Contains(err.Error(), c) {
					t.Errorf("error %q does not contain %q", err, c)
				}
			}
		})
	}
	// Undefined without --strict: a warning, not an error.
	_, stderr, err := runCLI(t, context.Background(), "render", "--devfile", undefined)
	if err != nil || !strings.Contains(stderr, `variable "missing" is not defined`) {
		t.Errorf("render without --strict: err=%v stderr=%q", err, stderr)
	}
	// JSON error document on stdout.
	stdout, _, _ := runCLI(t, context.Background(), "validate", "--devfile", cycle, "-o", "json")
	dec := json.NewDecoder(strings.NewReader(stdout))
	var doc ErrorDocument
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("stdout is not a JSON document: %v\n%s", err, stdout)
	}
	if dec.More() {
		t.Errorf("stdout holds more than one JSON document:\n%s", stdout)
	}
	if doc.Kind != "Error" || doc.Code != "InvalidDevfile" || doc.ExitCode != ExitInvalid || !strings.HasSuffix(doc.File, "cycle.yaml") {
		t.Errorf("error document = %+v", doc)
	}
	problems, _ := doc.Problems.([]any)
	if len(problems) != 2 {
		t.Errorf("error document problems = %v, want the two commands of the cycle", doc.Problems)
	}
	// A failed build: one Error document carrying the partial report, nothing else.
	write("Dockerfile", "FROM 127.0.0.1:1/nothing/here:1\nCOPY . /\n")
	bad := write("build.yaml", `schemaVersion: 2.2.0
metadata: {name: b}
components:
  - name: img
    image: {imageName: 127.0.0.1:1/b, dockerfile: {uri: Dockerfile}}
`)
	stdout, _, err = runCLI(t, context.Background(), "build", "--devfile", bad, "--builder", "native", "-o", "json")
	if code, exit := Classify(err); code != "BuildFailed" || exit != ExitBuild {
		t.Errorf("build with an unreachable base image: %s/%d (%v)", code, exit, err)
	}
	dec = json.NewDecoder(strings.NewReader(stdout))
	doc = ErrorDocument{}
	if err := dec.Decode(&doc); err != nil || dec.More() || doc.Report == nil || doc.Report.Kind != "BuildReport" {
		t.Errorf("want exactly one Error document with the partial BuildReport; got err=%v:\n%s", err, stdout)
	}
	if !strings.Contains(doc.Message, "127.0.0.1:1/nothing/here:1") {
		t.Errorf("message does not name the base image: %s", doc.Message)
	}
}

// TestGoldenDescribeImages pins `describe` and `images` on the hello sample and on corpus
// cases written by other people (issue 10: what an IDE tree view reads).
//
// The projects are copied with normalised file modes (0644, 0755 for directories and
// executables): image tags are input digests, which cover the build context's file modes, and a
// checkout's modes depend on the umask.
func TestGoldenDescribeImages(t *testing.T) {
	hello := normalizeModes(t, testenv.CopyTree(t, sampleDir("hello"), t.TempDir()))
	corpus := func(name string) string {
		for _, c := range testenv.Corpus(t) {
			if strings.HasSuffix(c.Name, name) {
				return normalizeModes(t, testenv.CopyProject(t, c))
			}
		}
		t.Fatalf("corpus case %s not found", name)
		return ""
	}
	goStack := corpus("devfile+registry__stacks_go_2.2.0_devfile.yaml")
	dotnet := corpus("dotnet_final_devfile_kubernetes.mdx")
	tests := []struct {
		golden, dir string
		args        []string
	}{
		{"describe-hello.json", hello, []string{"describe", "-o", "json"}},
		{"describe-hello.txt", hello, []string{"describe"}},
		{"images-hello.json", hello, []string{"images", "--image-registry", "registry.example/me", "-o", "json"}},
		{"images-hello.txt", hello, []string{"images", "--image-registry", "registry.example/me", "--pull-list"}},
		{"describe-go-stack.json", goStack, []string{"describe", "-o", "json"}},
		{"images-go-stack.json", goStack, []string{"images", "--image-registry", "registry.example/me", "-o", "json"}},
		{"describe-dotnet.json", dotnet, []string{"describe", "-o", "json"}},
	}
	for _, tc := range tests {
		t.Run(tc.golden, func(t *testing.T) {
			stdout, stderr, err := runCLI(t, context.Background(), append(tc.args, "--devfile", tc.dir)...)
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			got := strings.ReplaceAll(stdout, tc.dir, "$SAMPLE")
			path := filepath.Join("testdata", tc.golden)
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./pkg/cli -run TestGoldenDescribeImages -update)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("output differs from %s (-want +got):\n%s", path, diff)
			}
		})
	}
}

func normalizeModes(t *testing.T, dir string) string {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		mode := fs.FileMode(0o644)
		if d.IsDir() || info.Mode()&0o100 != 0 {
			mode = 0o755
		}
		return os.Chmod(p, mode)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}
