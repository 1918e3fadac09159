package vars

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Fuzz targets for variable substitution and the --var/--var-file parsers. `go test` replays
// the seeds below and testdata/fuzz/FuzzXxx; `make fuzz` (or go test -fuzz '^FuzzXxx$') explores.

// corpusDevfiles returns the devfiles of the in-repo corpus (testdata/corpus/dev) that contain
// s, as seeds; none when the corpus is absent.
func corpusDevfiles(f *testing.F, s string) [][]byte {
	f.Helper()
	paths, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "corpus", "dev", "*", "devfile.yaml"))
	var out [][]byte
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		if strings.Contains(string(b), s) {
			out = append(out, b)
		}
	}
	return out
}

var (
	// validName is what refPattern captures as a name.
	validName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)
	// fileLine is how a --var-file error starts.
	fileLine = regexp.MustCompile(`^vars\.env:(\d+): `)
)

// FuzzSubstitute checks Substitute against its documented semantics: text without "{{" is
// returned as is; an undefined reference stays verbatim and is reported once per name; a
// defined reference is replaced by its value, which is not re-expanded (single pass); and
// substituting twice changes nothing when no value can form a new reference.
func FuzzSubstitute(f *testing.F) {
	seeds := []string{
		"{{CONTAINER_IMAGE}}", "{{COMPONENT_NAME}}", "port={{port}} name={{ name }}", "{{.name}}",
		"{{missing}} and {{ .Values.x }}", "no refs", "{{ }} {{-x}}", "{{a}}{{a}}", "{{a}} {{b}}",
		"{{{{a}}}}", "{{{{a}}b}}", "{{ {{a}} }}", "{{a}}}}", "{{\t.a\n}}", "{{a-b.c_d}}", "{{",
		"}}", "{{\xff}}", "VERSION={{version}}", "{{ dockerfileDir }}/Dockerfile",
	}
	for _, s := range seeds {
		f.Add(s, "name", "flag")
	}
	f.Add("{{a}}", "a", "{{b}}")
	f.Add("{{a}}", "a", "b")
	f.Add("x{{a}}y", "a", "{{a}}")
	for _, b := range corpusDevfiles(f, "{{") {
		f.Add(string(b), "CONTAINER_PORT", "8080")
	}
	f.Fuzz(func(t *testing.T, s, name, value string) {
		base := []Layer{
			{Source: "built-in", Values: map[string]string{"CONTAINER_IMAGE": "quay.io/x/y@sha256:0", "COMPONENT_NAME": "app", "PORT": "8080"}},
			{Source: "devfile", Values: map[string]string{"port": "3000", "name": "dev", "b": "{{a}}"}},
		}
		r := New(append(base, Layer{Source: "--var", Values: map[string]string{name: value}})...)

		var c Collector
		got := r.Substitute(s, "here", &c)
		if !strings.Contains(s, "{{") && got != s {
			t.Fatalf("Substitute(%q) = %q: text without {{ must come back unchanged", s, got)
		}
		for _, w := range c.Warnings() {
			if _, _, ok := r.Lookup(w.Name); ok {
				t.Errorf("warning for defined variable %q", w.Name)
			}
			if diff := cmp.Diff([]string{"here"}, w.Where); diff != "" {
				t.Errorf("warning %q where (-want +got):\n%s", w.Name, diff)
			}
		}

		// No variables: the identity, and every reference is reported.
		var none Collector
		if got := New().Substitute(s, "x", &none); got != s {
			t.Fatalf("empty resolver: Substitute(%q) = %q, want it unchanged", s, got)
		}
		var names []string
		for _, w := range none.Warnings() {
			names = append(names, w.Name)
		}
		refs := References(s)
		for _, n := range refs {
			if !validName.MatchString(n) {
				t.Errorf("References(%q) returned invalid name %q", s, n)
			}
		}
		slices.Sort(refs)
		if diff := cmp.Diff(refs, names); diff != "" {
			t.Errorf("undefined variables of %q: References (-) vs warnings (+):\n%s", s, diff)
		}

		if validName.MatchString(name) {
			// A defined reference is replaced by its value exactly: single pass, the value
			// is not expanded again, even when it contains references itself.
			ref := "{{" + name + "}}"
			if got := r.Substitute(ref, "", nil); got != value {
				t.Fatalf("Substitute(%q) = %q, want %q", ref, got, value)
			}
			// The reference's neighbours cannot change how it is read: substituting
			// p + ref + q is substituting p and q on their own around the value.
			p, q := s[:len(s)/2], s[len(s)/2:]
			want := r.Substitute(p, "", nil) + value + r.Substitute(q, "", nil)
			if got := r.Substitute(p+ref+q, "", nil); got != want {
				t.Fatalf("Substitute(%q) = %q, want %q", p+ref+q, got, want)
			}
		}

		// Idempotence holds when no value can be part of a reference: values without braces
		// and with a character that cannot appear in a name or the spaces around it.
		safe := strings.NewReplacer("{", "", "}", "").Replace(value) + "/"
		rs := New(Layer{Source: "--var", Values: map[string]string{name: safe, "port": "80/tcp", "name": "a b/c"}})
		once := rs.Substitute(s, "", nil)
		if twice := rs.Substitute(once, "", nil); twice != once {
			t.Fatalf("Substitute not idempotent with safe values: %q -> %q -> %q", s, once, twice)
		}
	})
}

// FuzzParseFile checks the --var-file parser: it never panics, errors name the file and a line
// that exists, and what it returns survives a round trip through the format it documents.
func FuzzParseFile(f *testing.F) {
	seeds := []string{
		"# comment\n\nA=1\nexport B = two \nC=\"quoted value\"\nD='single'\n",
		"A=1\nbroken line\n",
		"A=" + strings.Repeat("x", 100) + "\n",
		"", "\n", "=v", "export =v", "export export A=1", "A=\"\"", "A='", "A=\"x'", "A=''x''",
		"A=1\r\nB=2\r\n", "A==", " # not a comment?=1", "K=V=W", "A=1\nA=2", "\xff=\xfe",
		"CONTAINER_IMAGE=quay.io/me/app:v1\nDOMAIN_NAME=example.com\nCONTAINER_PORT=3000\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		const path = "vars.env"
		got, err := parseVarFile(data, path)
		lines := strings.Count(string(data), "\n") + 1
		if err != nil {
			m := fileLine.FindStringSubmatch(err.Error())
			if m == nil {
				t.Fatalf("error does not start with the file and line: %v", err)
			}
			if n, _ := strconv.Atoi(m[1]); n < 1 || n > lines {
				t.Fatalf("error names line %d of a %d-line file: %v", n, lines, err)
			}
			return
		}
		var b strings.Builder
		for k, v := range got {
			if k == "" || strings.TrimSpace(k) != k || strings.Contains(k, "=") {
				t.Fatalf("bad key %q", k)
			}
			if strings.ContainsAny(k+v, "\n") {
				t.Fatalf("key or value spans lines: %q=%q", k, v)
			}
			// "export " protects keys that start with "export "; double quotes protect
			// values' spaces and quotes.
			b.WriteString("export " + k + "=\"" + v + "\"\n")
		}
		again, err := parseVarFile([]byte(b.String()), path)
		if err != nil {
			t.Fatalf("re-parsing %q: %v", b.String(), err)
		}
		if diff := cmp.Diff(got, again); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}

		// ParseFile reads the same thing from disk.
		p := filepath.Join(dir, "vars.env")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		fromFile, err := ParseFile(p)
		if err != nil {
			t.Fatalf("ParseFile: %v", err)
		}
		if diff := cmp.Diff(got, fromFile); diff != "" {
			t.Fatalf("ParseFile differs from parsing the bytes (-bytes +file):\n%s", diff)
		}
	})
}

// FuzzParseFlags checks ParseFlags against its documentation. flags holds one --var value per
// line; env holds the environment as KEY=VALUE lines.
func FuzzParseFlags(f *testing.F) {
	f.Add("A=1\nB=x=y\nFROM_ENV\nEMPTY=", "FROM_ENV=e")
	f.Add("=v", "")
	f.Add("NOT_SET", "")
	f.Add(" A =1\n A", "A=env")
	f.Add("A=1\nA=2", "")
	f.Add("CONTAINER_IMAGE=quay.io/me/app:v1", "")
	f.Fuzz(func(t *testing.T, flags, env string) {
		envMap := map[string]string{}
		for _, l := range strings.Split(env, "\n") {
			if k, v, ok := strings.Cut(l, "="); ok {
				envMap[k] = v
			}
		}
		getenv := func(k string) (string, bool) { v, ok := envMap[k]; return v, ok }
		list := strings.Split(flags, "\n")
		got, err := ParseFlags(list, getenv)

		want := map[string]string{}
		var wantErr string // the first bad flag
		for _, fl := range list {
			k, v, hasValue := strings.Cut(fl, "=")
			k = strings.TrimSpace(k)
			if k == "" {
				wantErr = strconv.Quote(fl)
				break
			}
			if !hasValue {
				ev, ok := envMap[k]
				if !ok {
					wantErr = k
					break
				}
				v = ev
			}
			want[k] = v
		}
		if wantErr != "" {
			if err == nil || !strings.HasPrefix(err.Error(), "--var "+wantErr) {
				t.Fatalf("ParseFlags(%q) error = %v, want one naming --var %s", list, err, wantErr)
			}
			return
		}
		if err != nil {
			t.Fatalf("ParseFlags(%q): %v", list, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("ParseFlags(%q) (-want +got):\n%s", list, diff)
		}
	})
}
