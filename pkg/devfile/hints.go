package devfile

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// tidy sorts e's problems by path, then message (the library reports schema problems in map
// iteration order, which changes from run to run), drops exact duplicates, and rewrites Go
// type names that library and YAML messages carry ("map[interface {}]interface {}") into
// devfile words.
func (e *ValidationError) tidy() {
	for i := range e.Problems {
		e.Problems[i].Message = plainMessage(e.Problems[i].Message)
	}
	slices.SortStableFunc(e.Problems, func(a, b Problem) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Message, b.Message)
	})
	e.Problems = slices.Compact(e.Problems)
}

var (
	// "yaml: invalid map key: map[interface {}]interface {}{"a":1}" (go-yaml v2 via sigs.k8s.io/yaml).
	reInvalidMapKey = regexp.MustCompile(`invalid map key: (?:map\[(?:interface \{\}|string)\](?:interface \{\}|string)|\[\]interface \{\})(\{.*\}|\[.*\])?`)
	// "json: cannot unmarshal string into Go struct field Container.env of type []v1alpha2.EnvVar"
	reUnmarshal = regexp.MustCompile(`json: cannot unmarshal (\w+) into Go (?:struct field (\S+) |value )of type ((?:\[\])?map\[[^\]]*\](?:interface \{\}|\S+)|\[\]interface \{\}|\S+)`)
	// Any Go type spelling left over.
	reGoMap   = regexp.MustCompile(`map\[(?:interface \{\}|string)\](?:interface \{\}|string)`)
	reGoSlice = regexp.MustCompile(`\[\](?:interface \{\}|string)`)
)

// plainMessage rewrites the Go type spellings of library and YAML messages.
func plainMessage(msg string) string {
	msg = reInvalidMapKey.ReplaceAllStringFunc(msg, func(m string) string {
		key := reInvalidMapKey.FindStringSubmatch(m)[1]
		if key != "" {
			key = " (" + key + ")"
		}
		return "a mapping key is itself a mapping or list" + key + "; keys must be plain values: quote the key or fix the indentation"
	})
	msg = reUnmarshal.ReplaceAllStringFunc(msg, func(m string) string {
		s := reUnmarshal.FindStringSubmatch(m)
		where := ""
		if s[2] != "" {
			parts := strings.Split(s[2], ".")
			where = " at " + strings.Join(parts[1:], ".")
			if len(parts) == 1 {
				where = " at " + parts[0]
			}
		}
		return fmt.Sprintf("expected %s but got %s%s", goTypeWords(s[3]), jsonKindWords(s[1]), where)
	})
	msg = reGoMap.ReplaceAllString(msg, "mapping")
	msg = reGoSlice.ReplaceAllString(msg, "list")
	return strings.ReplaceAll(msg, "interface {}", "value")
}

// goTypeWords names a Go type by what a devfile author writes.
func goTypeWords(t string) string {
	switch {
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map["), strings.Contains(t, "."):
		return "a mapping"
	case t == "string":
		return "a string"
	case t == "bool":
		return "true or false"
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"), strings.HasPrefix(t, "float"):
		return "a number"
	}
	return "a " + t
}

// jsonKindWords names an encoding/json value kind ("object", "array", "number", …).
func jsonKindWords(k string) string {
	switch k {
	case "object":
		return "a mapping"
	case "array":
		return "a list"
	case "bool":
		return "true or false"
	}
	return article(k)
}

// fieldSince is the devfile schema version that added each field devtool users meet, keyed by
// its place in the schema ("[]" for a list element): the properties of
// devfile/library v2.4.0's embedded schemas (pkg/devfile/parser/data/v2/<version>) that are
// missing from the previous version. 2.2.1 and 2.3.0 added none; parent and plugin overrides
// follow their devfile's fields and are not listed.
var fieldSince = map[string]string{
	"attributes":                                     "2.1.0",
	"variables":                                      "2.1.0",
	"metadata.language":                              "2.1.0",
	"metadata.projectType":                           "2.1.0",
	"metadata.website":                               "2.1.0",
	"components[].container.cpuLimit":                "2.1.0",
	"components[].container.cpuRequest":              "2.1.0",
	"components[].container.memoryRequest":           "2.1.0",
	"components[].volume.ephemeral":                  "2.1.0",
	"components[].image":                             "2.2.0",
	"components[].container.annotation":              "2.2.0",
	"components[].container.endpoints[].annotation":  "2.2.0",
	"components[].kubernetes.deployByDefault":        "2.2.0",
	"components[].kubernetes.endpoints[].annotation": "2.2.0",
	"components[].openshift.deployByDefault":         "2.2.0",
	"components[].openshift.endpoints[].annotation":  "2.2.0",
	"metadata.architectures":                         "2.2.0",
	"metadata.provider":                              "2.2.0",
	"metadata.supportUrl":                            "2.2.0",
	"dependentProjects":                              "2.2.2",
}

// valueSince is the schema version that added an enum value, keyed "place=value" (the same
// schemas: the deploy group kind is 2.2.0's).
var valueSince = map[string]string{
	"commands[].apply.group.kind=deploy":     "2.2.0",
	"commands[].exec.group.kind=deploy":      "2.2.0",
	"commands[].composite.group.kind=deploy": "2.2.0",
}

// schemaPlace turns a gojsonschema field ("components.0.image") into fieldSince's key
// ("components[].image").
func schemaPlace(field string) string {
	var b strings.Builder
	for _, seg := range strings.Split(field, ".") {
		if isIndex(seg) {
			b.WriteString("[]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(seg)
	}
	return b.String()
}

// versionHint says, for a schema problem, that the file's schemaVersion is older than the
// version that added the field (an unknown field) or the value (an enum), and returns the
// problem's path and message; ok is false when no newer schema explains the problem.
func versionHint(field, desc string, doc any) (path, msg string, ok bool) {
	have, _ := lookup(doc, "schemaVersion")
	hv, _ := have.(string)
	if !reSemver.MatchString(hv) {
		return "", "", false
	}
	if m := reAdditional.FindStringSubmatch(desc); m != nil {
		place := m[1]
		if field != "" && field != "(root)" {
			place = schemaPlace(field) + "." + m[1]
		}
		since, known := fieldSince[place]
		if !known || !versionGreater(since, hv) {
			return "", "", false
		}
		p := namedPath(field, doc)
		if p != "" {
			p += "."
		}
		what := fmt.Sprintf("field %q needs", m[1])
		if place == "components[].image" {
			what = "image components need"
		}
		return p + m[1], fmt.Sprintf("%s schemaVersion %s or later, but this devfile has schemaVersion %s; set schemaVersion: %s", what, since, hv, since), true
	}
	if reEnum.MatchString(desc) {
		v, found := lookup(doc, field)
		s, isString := v.(string)
		if !found || !isString {
			return "", "", false
		}
		since, known := valueSince[schemaPlace(field)+"="+s]
		if !known || !versionGreater(since, hv) {
			return "", "", false
		}
		what := field[strings.LastIndex(field, ".")+1:]
		if strings.HasSuffix(field, ".group.kind") {
			what = "group kind"
		}
		return namedPath(field, doc), fmt.Sprintf("%s %q needs schemaVersion %s or later, but this devfile has schemaVersion %s; set schemaVersion: %s", what, s, since, hv, since), true
	}
	return "", "", false
}

// flowValue writes a mapping or list value as JSON (`{"a":"b"}`) rather than Go's
// fmt spelling (`map[a:b]`); other values as fmt does.
func flowValue(v any) string {
	switch v.(type) {
	case map[string]any, []any:
		if b, err := json.Marshal(v); err == nil {
			return string(b)
		}
	}
	return fmt.Sprint(v)
}
