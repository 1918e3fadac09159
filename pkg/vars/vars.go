// Package vars resolves devfile variables ({{name}}) with devtool's precedence and substitutes
// them into text.
//
// Precedence, lowest first (design.md §3, after odo v3's --var/--var-file):
//
//	built-ins (CONTAINER_IMAGE, COMPONENT_NAME, PORT) < devfile `variables` < --var-file < --var
//	< attributes of the apply command being run (scoped to that apply)
//
// The devfile spec (2.1.0+, "variables") substitutes {{name}}; devtool also accepts {{.name}}
// (the outer-loop proposal's spelling) and tolerates spaces inside the braces. A reference to an
// undefined variable is left verbatim and reported as a Warning; Strict turns warnings into an
// *UndefinedError.
package vars

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// refPattern matches {{name}}, {{ name }} and {{.name}}. Names are what the devfile schema
// allows for variable keys plus dots, so Helm-style {{ .Values.x }} is recognised (and reported
// as undefined) rather than silently mangled.
var refPattern = regexp.MustCompile(`\{\{\s*\.?([A-Za-z0-9_][A-Za-z0-9_.-]*)\s*\}\}`)

// Layer is one source of variables: its values and a short name for messages ("devfile",
// "--var-file vars.env", "--var", "built-in", "command attributes").
type Layer struct {
	Source string
	Values map[string]string
}

// Resolver looks names up in layers; later layers win.
type Resolver struct {
	layers []Layer
}

// New returns a Resolver over layers given lowest precedence first.
func New(layers ...Layer) *Resolver {
	return &Resolver{layers: layers}
}

// With returns a new Resolver with extra layers on top (higher precedence), leaving r as is.
func (r *Resolver) With(layers ...Layer) *Resolver {
	all := make([]Layer, 0, len(r.layers)+len(layers))
	all = append(all, r.layers...)
	all = append(all, layers...)
	return &Resolver{layers: all}
}

// Layers returns r's layers, lowest precedence first (a copy).
func (r *Resolver) Layers() []Layer {
	return append([]Layer(nil), r.layers...)
}

// Lookup returns the value of name and the Source of the layer that defined it.
func (r *Resolver) Lookup(name string) (value, source string, ok bool) {
	for i := len(r.layers) - 1; i >= 0; i-- {
		if v, ok := r.layers[i].Values[name]; ok {
			return v, r.layers[i].Source, true
		}
	}
	return "", "", false
}

// Warning reports an undefined variable and every place (e.g. `components[name=app].image.imageName`)
// that referenced it.
type Warning struct {
	Name  string   `json:"name"`
	Where []string `json:"where"`
}

func (w Warning) String() string {
	if w.Name == "CONTAINER_IMAGE" {
		return fmt.Sprintf("variable \"CONTAINER_IMAGE\" is not defined (used in %s): it is set only for an apply command that follows exactly one image build; write the image component's imageName in the manifest instead (devtool replaces it with the built image)", strings.Join(w.Where, ", "))
	}
	return fmt.Sprintf("variable %q is not defined (used in %s); define it under `variables:` in the devfile, or pass --var %s=VALUE", w.Name, strings.Join(w.Where, ", "), w.Name)
}

// Collector accumulates Warnings across many substitutions. It is safe for concurrent use:
// pkg/run substitutes the manifests of parallel apply steps with one Collector.
type Collector struct {
	mu    sync.Mutex
	where map[string][]string
}

// Warnings returns the collected warnings, sorted by name, each Where list in first-seen order
// without duplicates.
func (c *Collector) Warnings() []Warning {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.where) == 0 {
		return nil
	}
	names := make([]string, 0, len(c.where))
	for n := range c.where {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]Warning, 0, len(names))
	for _, n := range names {
		out = append(out, Warning{Name: n, Where: append([]string(nil), c.where[n]...)})
	}
	return out
}

func (c *Collector) add(name, where string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.where == nil {
		c.where = map[string][]string{}
	}
	for _, w := range c.where[name] {
		if w == where {
			return
		}
	}
	c.where[name] = append(c.where[name], where)
}

// Substitute replaces every {{name}} in s. Undefined references stay verbatim and are recorded
// in c (which may be nil) under where. Substitution is single-pass: values are not re-expanded.
func (r *Resolver) Substitute(s, where string, c *Collector) string {
	if !strings.Contains(s, "{{") {
		return s
	}
	return refPattern.ReplaceAllStringFunc(s, func(m string) string {
		name := refPattern.FindStringSubmatch(m)[1]
		if v, _, ok := r.Lookup(name); ok {
			return v
		}
		if c != nil {
			c.add(name, where)
		}
		return m
	})
}

// References returns the variable names referenced in s, in order, without duplicates.
func References(s string) []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range refPattern.FindAllStringSubmatch(s, -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			out = append(out, m[1])
		}
	}
	return out
}

// UndefinedError is returned in --strict mode when variables are undefined.
type UndefinedError struct {
	Warnings []Warning
}

func (e *UndefinedError) Error() string {
	lines := make([]string, 0, len(e.Warnings))
	for _, w := range e.Warnings {
		lines = append(lines, w.String())
	}
	return "undefined variables (--strict):\n  " + strings.Join(lines, "\n  ")
}

// ParseFlags parses repeated --var values: "KEY=VALUE", or "KEY" alone, which takes the value of
// the environment variable KEY (odo's --var behaviour). getenv is os.LookupEnv in production.
// Errors name the flag value and the fix.
func ParseFlags(flags []string, getenv func(string) (string, bool)) (map[string]string, error) {
	out := map[string]string{}
	for _, f := range flags {
		k, v, hasValue := strings.Cut(f, "=")
		k = strings.TrimSpace(k)
		if k == "" {
			return nil, fmt.Errorf("--var %q: expected KEY=VALUE or KEY (to read the environment)", f)
		}
		if !hasValue {
			ev, ok := getenv(k)
			if !ok {
				return nil, fmt.Errorf("--var %s: environment variable %s is not set; pass --var %s=VALUE", k, k, k)
			}
			v = ev
		}
		out[k] = v
	}
	return out, nil
}

// ParseFile reads a --var-file: one KEY=VALUE per line, blank lines and lines starting with '#'
// ignored, an optional leading "export ", values optionally in matching single or double quotes
// (odo's --var-file format, a subset of dotenv). Errors name the file and line.
func ParseFile(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading --var-file: %w", err)
	}
	return parseVarFile(b, path)
}

// parseVarFile parses the content b of the --var-file at path (ParseFile's format); path only
// names the file in errors.
func parseVarFile(b []byte, path string) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, len(b)+1) // a line may be as long as the file (bufio's default limit is 64 KiB)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("%s:%d: expected KEY=VALUE, got %q", path, n, line)
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		out[k] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading --var-file %s: %w", path, err)
	}
	return out, nil
}
