package devfile

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// helmFields are the settings of a Helm component, in either spelling.
var helmFields = []string{"chart", "version", "repo", "releaseName", "namespace", "values", "valuesFiles", "deployByDefault"}

// helmStandIn is the inlined manifest of the kubernetes component that replaces a Helm
// component in what the devfile library sees: the published schema (2.0.0–2.3.0) has no Helm
// component and no `custom` component (custom exists in DevWorkspaces only), so the library
// refuses both spellings. The stand-in keeps the component's name, so apply commands that
// reference it pass the library's checks; convert puts the Helm model back in its place.
const helmStandIn = "# devtool: Helm component (replaced after validation)\n"

// extractHelm finds the Helm components of doc, the raw devfile file (both spellings:
// `helm:` and `custom` with `componentClass: helm`), replaces each in doc by a kubernetes
// stand-in and returns them by component name. Problems (unknown fields, wrong types, a
// missing chart) are one *ValidationError naming each component.
func extractHelm(file string, doc map[string]any) (map[string]*Helm, error) {
	comps, _ := doc["components"].([]any)
	var out map[string]*Helm
	ve := &ValidationError{File: file}
	for i, c := range comps {
		cm, ok := c.(map[string]any)
		if !ok {
			continue
		}
		name, _ := cm["name"].(string)
		var settings any
		var field string
		switch {
		case cm["helm"] != nil:
			settings, field = cm["helm"], "helm"
			if cm["custom"] != nil {
				ve.Problems = append(ve.Problems, Problem{Path: componentPath(name), Message: "set exactly one component type: it has both helm and custom"})
				continue
			}
		case isHelmCustom(cm["custom"]):
			custom := cm["custom"].(map[string]any)
			for k := range custom {
				if k != "componentClass" && k != "embeddedResource" {
					ve.Problems = append(ve.Problems, Problem{Path: componentPath(name) + ".custom", Message: fmt.Sprintf("unknown field %q (a custom component has componentClass and embeddedResource)", k)})
				}
			}
			settings, field = custom["embeddedResource"], "custom.embeddedResource"
			if settings == nil {
				ve.Problems = append(ve.Problems, Problem{Path: componentPath(name) + ".custom", Message: "componentClass helm needs an embeddedResource holding the chart settings (chart, values, …)"})
				continue
			}
		default:
			continue
		}
		h, problems := parseHelm(componentPath(name)+"."+field, settings)
		ve.Problems = append(ve.Problems, problems...)
		if len(problems) > 0 {
			continue
		}
		h.Field = field
		if out == nil {
			out = map[string]*Helm{}
		}
		out[name] = h
		standIn := map[string]any{"name": name, "kubernetes": map[string]any{"inlined": helmStandIn}}
		if a, ok := cm["attributes"]; ok {
			standIn["attributes"] = a
		}
		comps[i] = standIn
	}
	if len(ve.Problems) > 0 {
		return nil, ve
	}
	return out, nil
}

// isHelmCustom reports whether v is a custom component's body with componentClass helm.
func isHelmCustom(v any) bool {
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	class, _ := m["componentClass"].(string)
	return strings.EqualFold(class, "helm")
}

// parseHelm reads the settings of a Helm component written at path.
func parseHelm(path string, v any) (*Helm, []Problem) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, []Problem{{Path: path, Message: fmt.Sprintf("must be a mapping with the chart settings (%s), not %s", strings.Join(helmFields, ", "), yamlKind(v))}}
	}
	var problems []Problem
	bad := func(field, format string, args ...any) {
		problems = append(problems, Problem{Path: path + "." + field, Message: fmt.Sprintf(format, args...)})
	}
	var unknown []string
	for k := range m {
		known := false
		for _, f := range helmFields {
			known = known || f == k
		}
		if !known {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		problems = append(problems, Problem{Path: path, Message: fmt.Sprintf("unknown field %q (a Helm component has %s)", k, strings.Join(helmFields, ", "))})
	}
	str := func(field string) string {
		v, ok := m[field]
		if !ok || v == nil {
			return ""
		}
		switch t := v.(type) {
		case string:
			return t
		case float64, int, int64, bool:
			// A YAML number or boolean (version: 1.2) stands for its text.
			return fmt.Sprint(t)
		}
		bad(field, "must be a string, not %s", yamlKind(v))
		return ""
	}
	h := &Helm{
		Chart: str("chart"), Version: str("version"), Repo: str("repo"),
		ReleaseName: str("releaseName"), Namespace: str("namespace"),
	}
	switch {
	case h.Chart == "" && m["chart"] == nil:
		bad("chart", "is required: a chart directory or .tgz relative to the devfile, an oci:// reference, or a chart name with repo")
	case h.Repo != "" && (strings.Contains(h.Chart, "/") || strings.HasPrefix(h.Chart, "oci://")):
		bad("chart", "%q: with repo, chart is the chart's name in that repository (like helm install --repo URL NAME)", h.Chart)
	}
	if h.Repo != "" && !strings.HasPrefix(h.Repo, "http://") && !strings.HasPrefix(h.Repo, "https://") && !strings.Contains(h.Repo, "{{") {
		bad("repo", "%q: must be an http(s) chart repository URL (for an OCI registry write chart: oci://host/repo/name)", h.Repo)
	}
	if v, ok := m["values"]; ok && v != nil {
		vm, ok := v.(map[string]any)
		if !ok {
			bad("values", "must be a mapping of chart values, not %s", yamlKind(v))
		} else {
			h.Values = cloneValues(vm)
		}
	}
	if v, ok := m["valuesFiles"]; ok && v != nil {
		list, ok := v.([]any)
		if !ok {
			bad("valuesFiles", "must be a list of paths relative to the devfile, not %s", yamlKind(v))
		}
		for i, e := range list {
			s, ok := e.(string)
			if !ok || s == "" {
				bad(fmt.Sprintf("valuesFiles[%d]", i), "must be a path relative to the devfile")
				continue
			}
			h.ValuesFiles = append(h.ValuesFiles, s)
		}
	}
	if v, ok := m["deployByDefault"]; ok && v != nil {
		b, ok := v.(bool)
		if !ok {
			bad("deployByDefault", "must be true or false")
		} else {
			h.DeployByDefault = &b
		}
	}
	return h, problems
}

// cloneValues deep-copies decoded YAML through JSON, so the model owns its values (numbers
// become float64, as sigs.k8s.io/yaml decodes them).
func cloneValues(m map[string]any) map[string]any {
	b, err := json.Marshal(m)
	if err != nil {
		return m
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		return m
	}
	return out
}

// allHelm returns the Helm components of f and every file below it, by name. A name defined
// in two files of the tree is an error (the library refuses duplicate components too; it
// cannot see these).
func (f *rawFile) allHelm() (map[string]*Helm, error) {
	out := map[string]*Helm{}
	from := map[string]string{}
	for _, r := range append([]*rawFile{f}, f.descendants()...) {
		for name, h := range r.helm {
			if prev, dup := from[name]; dup {
				return nil, invalid(f.path, componentPath(name), "Helm component %q is defined in %s and in %s; component names must be unique", name, prev, r.path)
			}
			from[name], out[name] = r.path, h
		}
	}
	return out, nil
}

// anyHelm reports whether a file of the tree below f (f included) has Helm or
// source-to-image components: extension components the library sees as stand-ins.
func (f *rawFile) anyHelm() bool {
	for _, r := range append([]*rawFile{f}, f.descendants()...) {
		if len(r.helm) > 0 || len(r.s2i) > 0 {
			return true
		}
	}
	return false
}

// applyHelm puts the Helm components back in place of their stand-ins.
func applyHelm(d *Devfile, helm map[string]*Helm) {
	for i := range d.Components {
		c := &d.Components[i]
		h, ok := helm[c.Name]
		if !ok || c.Manifest == nil || c.Manifest.Inlined != helmStandIn {
			continue
		}
		c.Kind, c.Helm, c.Manifest = KindHelm, h, nil
	}
}
