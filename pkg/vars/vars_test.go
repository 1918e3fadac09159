package vars

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSubstitutePrecedence(t *testing.T) {
	r := New(
		Layer{Source: "built-in", Values: map[string]string{"CONTAINER_IMAGE": "built", "COMPONENT_NAME": "app"}},
		Layer{Source: "devfile", Values: map[string]string{"CONTAINER_IMAGE": "quay.io/x/y", "port": "3000", "name": "dev"}},
		Layer{Source: "--var-file", Values: map[string]string{"port": "8080", "name": "file"}},
		Layer{Source: "--var", Values: map[string]string{"name": "flag"}},
	)
	tests := []struct {
		in, want  string
		undefined []Warning
	}{
		{"{{CONTAINER_IMAGE}}", "quay.io/x/y", nil},
		{"{{COMPONENT_NAME}}", "app", nil},
		{"port={{port}} name={{ name }}", "port=8080 name=flag", nil},
		{"{{.name}}", "flag", nil},
		{"{{missing}} and {{ .Values.x }}", "{{missing}} and {{ .Values.x }}", []Warning{{Name: "Values.x", Where: []string{"here"}}, {Name: "missing", Where: []string{"here"}}}},
		{"no refs", "no refs", nil},
		{"{{ }} {{-x}}", "{{ }} {{-x}}", nil},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			var c Collector
			got := r.Substitute(tc.in, "here", &c)
			if got != tc.want {
				t.Errorf("Substitute(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if diff := cmp.Diff(tc.undefined, c.Warnings()); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestScopedLayerDoesNotLeak(t *testing.T) {
	base := New(Layer{Source: "devfile", Values: map[string]string{"img": "a"}})
	scoped := base.With(Layer{Source: "command attributes", Values: map[string]string{"img": "b"}})
	if got := scoped.Substitute("{{img}}", "", nil); got != "b" {
		t.Errorf("scoped = %q, want b", got)
	}
	if got := base.Substitute("{{img}}", "", nil); got != "a" {
		t.Errorf("base = %q, want a (With must not modify the receiver)", got)
	}
	_, src, _ := scoped.Lookup("img")
	if src != "command attributes" {
		t.Errorf("source = %q", src)
	}
}

func TestCollectorDedupesWhere(t *testing.T) {
	r := New()
	var c Collector
	r.Substitute("{{a}}{{a}}", "x", &c)
	r.Substitute("{{a}}", "y", &c)
	r.Substitute("{{a}}", "x", &c)
	want := []Warning{{Name: "a", Where: []string{"x", "y"}}}
	if diff := cmp.Diff(want, c.Warnings()); diff != "" {
		t.Error(diff)
	}
	e := &UndefinedError{Warnings: want}
	if e.Error() == "" {
		t.Error("empty error")
	}
}

func TestParseFlags(t *testing.T) {
	env := map[string]string{"FROM_ENV": "e"}
	getenv := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	got, err := ParseFlags([]string{"A=1", "B=x=y", "FROM_ENV", "EMPTY="}, getenv)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"A": "1", "B": "x=y", "FROM_ENV": "e", "EMPTY": ""}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Error(diff)
	}
	for _, bad := range []string{"=v", "NOT_SET"} {
		if _, err := ParseFlags([]string{bad}, getenv); err == nil {
			t.Errorf("ParseFlags(%q): want error", bad)
		}
	}
}

func TestParseFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "vars.env")
	content := "# comment\n\nA=1\nexport B = two \nC=\"quoted value\"\nD='single'\n"
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ParseFile(p)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"A": "1", "B": "two", "C": "quoted value", "D": "single"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Error(diff)
	}
	if err := os.WriteFile(p, []byte("A=1\nbroken line\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseFile(p); err == nil || !contains(err.Error(), ":2:") {
		t.Errorf("want error naming line 2, got %v", err)
	}
}

func TestReferences(t *testing.T) {
	got := References("{{a}} {{ .b }} {{a}}")
	if diff := cmp.Diff([]string{"a", "b"}, got); diff != "" {
		t.Error(diff)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// TestCollectorConcurrent: pkg/run substitutes the manifests of parallel apply steps with one
// shared Collector; recording undefined variables from several goroutines must be safe.
func TestCollectorConcurrent(t *testing.T) {
	r := New()
	var c Collector
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				r.Substitute("{{a}} {{b}}", fmt.Sprintf("w%d-%d", i, j), &c)
				_ = c.Warnings()
			}
		}()
	}
	wg.Wait()
	ws := c.Warnings()
	if len(ws) != 2 || len(ws[0].Where) != 400 || len(ws[1].Where) != 400 {
		t.Errorf("got %d warnings", len(ws))
	}
}

func TestParseFileErrorNamesFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big.env")
	if err := os.WriteFile(p, []byte("A="+strings.Repeat("x", 70000)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ParseFile(p)
	if err != nil && !strings.Contains(err.Error(), p) {
		t.Errorf("error does not name the file: %v", err)
	}
	if err == nil && len(got["A"]) != 70000 {
		t.Errorf("A has %d bytes, want 70000", len(got["A"]))
	}
}
