package devfile

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	errPkg "github.com/devfile/library/v2/pkg/devfile/parser/errors"
)

// ValidationError reports a devfile that cannot be used: unreadable, not YAML, invalid against
// the devfile JSON schema, rejected by the devfile library's validation (devfile/api
// pkg/validation), or referencing something devtool does not support (remote parents). Load
// returns it for every such failure, including a missing or unreadable top-level devfile, so that
// the CLI can map it to exit code 2 with errors.As.
type ValidationError struct {
	// File is the absolute path of the devfile the problems were found in (the parent devfile's
	// path when a local parent is invalid).
	File string
	// Problems lists what is wrong, in the order found; never empty when returned by Load.
	Problems []Problem
	// Err is the underlying cause when there is one (an I/O error reading File, a timeout
	// reading a manifest uri), so errors.Is(err, fs.ErrNotExist) works; nil otherwise.
	Err error
}

// Problem is one thing wrong in a devfile.
type Problem struct {
	// Path locates the problem with names rather than indexes, e.g.
	// "components[name=backend].image.imageName" or "commands[id=deploy]"; "" when the problem
	// concerns the whole file.
	Path string `json:"path,omitempty"`
	// Message says what is wrong (and, where there is one, the fix), in short human text.
	Message string `json:"message"`
}

// String formats the problem as "path: message" (or just the message when Path is empty).
func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// Error lists the problems after the file name: one problem on one line, several problems one per
// line.
func (e *ValidationError) Error() string {
	switch len(e.Problems) {
	case 0:
		if e.Err != nil {
			return fmt.Sprintf("devfile %s: %v", e.File, e.Err)
		}
		return fmt.Sprintf("devfile %s is invalid", e.File)
	case 1:
		return fmt.Sprintf("devfile %s: %s", e.File, e.Problems[0])
	}
	var b strings.Builder
	fmt.Fprintf(&b, "devfile %s has %d problems:", e.File, len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  - ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Unwrap returns the underlying cause, if any.
func (e *ValidationError) Unwrap() error { return e.Err }

// invalid builds a one-problem ValidationError.
func invalid(file, path, format string, args ...any) *ValidationError {
	return &ValidationError{File: file, Problems: []Problem{{Path: path, Message: fmt.Sprintf(format, args...)}}}
}

// The library wraps everything in errPkg.NonCompliantDevfile, whose Error() adds this prefix;
// we use the inner text.
const schemaErrorsHeader = "invalid devfile schema. errors :"

// translateParseError turns an error from parser.ParseDevfile into Problems. doc is the raw
// (YAML-decoded) content of the file the error is about, used to name list elements.
func translateParseError(err error, doc any) []Problem {
	msg := err.Error()
	var nc *errPkg.NonCompliantDevfile
	if errors.As(err, &nc) {
		msg = nc.Err
	}
	msg = strings.TrimSpace(msg)
	if rest, ok := strings.CutPrefix(msg, schemaErrorsHeader); ok {
		return translateSchemaErrors(rest, doc)
	}
	if m := reUnknownSchema.FindStringSubmatch(msg); m != nil {
		return []Problem{{Path: "schemaVersion", Message: schemaVersionMessage(m[1], m[2])}}
	}
	return []Problem{{Message: msg}}
}

var (
	reUnknownSchema = regexp.MustCompile(`unable to find schema for version "([^"]*)"\. The parser supports devfile schema for version (.*)$`)
	reSemver        = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+`)
)

func schemaVersionMessage(version, supported string) string {
	var vs []string
	for _, v := range strings.Split(supported, ",") {
		if v = strings.TrimSpace(v); reSemver.MatchString(v) { // drop "v1alpha2"
			vs = append(vs, v)
		}
	}
	list := strings.Join(vs, ", ")
	if reSemver.MatchString(version) {
		return fmt.Sprintf("schemaVersion %q is not supported (supported: %s)", version, list)
	}
	return fmt.Sprintf("schemaVersion %q is not a devfile schema version like 2.2.0 (supported: %s)", version, list)
}

// translateSchemaErrors parses the library's "- field: description" lines (produced by
// xeipuuv/gojsonschema) into Problems with named paths and shorter messages.
func translateSchemaErrors(text string, doc any) []Problem {
	type raw struct{ field, desc string }
	var items []raw
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		line = strings.TrimPrefix(line, "- ")
		if line == "" {
			continue
		}
		field, desc, ok := strings.Cut(line, ": ")
		if !ok {
			items = append(items, raw{"", line})
			continue
		}
		items = append(items, raw{field, desc})
	}
	// A oneOf failure is accompanied by the errors of each alternative it tried ("uri is
	// required"); those are noise next to the oneOf explanation, so drop them.
	oneOf := map[string]bool{}
	for _, it := range items {
		if strings.Contains(it.desc, "(oneOf)") {
			oneOf[it.field] = true
		}
	}
	// A field or value that a newer schema adds explains the oneOf failures around it ("set
	// exactly one component type" beside an image component in a 2.1.0 devfile): say which
	// schemaVersion adds it instead.
	hinted := map[int]Problem{}
	for i, it := range items {
		if path, msg, ok := versionHint(it.field, it.desc, doc); ok {
			hinted[i] = Problem{Path: path, Message: msg}
		}
	}
	explained := func(field string) bool {
		for i := range hinted {
			f := items[i].field
			if f == field || field == "(root)" || strings.HasPrefix(f, field+".") {
				return true
			}
		}
		return false
	}
	var out []Problem
	seen := map[Problem]bool{}
	for i, it := range items {
		if oneOf[it.field] && !strings.Contains(it.desc, "(oneOf)") && strings.HasSuffix(it.desc, " is required") {
			continue
		}
		p, ok := hinted[i]
		if !ok {
			if strings.Contains(it.desc, "(oneOf)") && explained(it.field) {
				continue
			}
			p = Problem{Path: namedPath(it.field, doc), Message: schemaMessage(it.field, it.desc, doc)}
		}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		out = append(out, Problem{Message: "invalid against the devfile schema"})
	}
	return out
}

var (
	reRequired    = regexp.MustCompile(`^(.+) is required$`)
	reInvalidType = regexp.MustCompile(`^Invalid type\. Expected: (.+), given: (.+)$`)
	reAdditional  = regexp.MustCompile(`^Additional property (.+) is not allowed$`)
	rePattern     = regexp.MustCompile(`^Does not match pattern '(.*)'$`)
	reEnum        = regexp.MustCompile(`must be one of the following: (.*)$`)
)

// schemaMessage rewrites one gojsonschema description into short human text.
func schemaMessage(field, desc string, doc any) string {
	value, found := lookup(doc, field)
	last := field
	if i := strings.LastIndex(field, "."); i >= 0 {
		last = field[i+1:]
	}
	switch {
	case reRequired.MatchString(desc):
		return fmt.Sprintf("missing required field %q", reRequired.FindStringSubmatch(desc)[1])
	case reInvalidType.MatchString(desc):
		m := reInvalidType.FindStringSubmatch(desc)
		if found {
			return fmt.Sprintf("expected %s, but got %s %s", article(m[1]), m[2], shortValue(value))
		}
		return fmt.Sprintf("expected %s, but got %s", article(m[1]), m[2])
	case reAdditional.MatchString(desc):
		return fmt.Sprintf("unknown field %q", reAdditional.FindStringSubmatch(desc)[1])
	case rePattern.MatchString(desc):
		if field == "schemaVersion" {
			return fmt.Sprintf("schemaVersion %s is not a devfile schema version like 2.2.0", shortValue(value))
		}
		if last == "name" || last == "id" {
			return fmt.Sprintf("%s %s is not valid: use lowercase letters, digits and '-', starting and ending with a letter or digit", last, shortValue(value))
		}
		return fmt.Sprintf("%s does not match the pattern %s", shortValue(value), rePattern.FindStringSubmatch(desc)[1])
	case reEnum.MatchString(desc):
		allowed := reEnum.FindStringSubmatch(desc)[1]
		if found {
			return fmt.Sprintf("%s is not allowed here; must be one of %s", shortValue(value), allowed)
		}
		return "must be one of " + allowed
	case strings.Contains(desc, "(oneOf)"):
		return oneOfMessage(last, value)
	case strings.Contains(desc, "(anyOf)"):
		return "does not match any of the allowed forms"
	}
	// Other gojsonschema texts start with the field name ("x must be ..."); drop it, since the
	// path already names it.
	if rest, ok := strings.CutPrefix(desc, field+" "); ok {
		return rest
	}
	return desc
}

// oneOfMessage explains a oneOf failure for the objects where the alternatives are known.
func oneOfMessage(key string, value any) string {
	m, _ := value.(map[string]any)
	has := func(k string) bool { _, ok := m[k]; return ok }
	switch {
	case key == "kubernetes" || key == "openshift":
		if has("inlined") && has("uri") {
			return "both inlined and uri are set; use exactly one of them"
		}
		return "set exactly one of inlined or uri"
	case key == "dockerfile":
		return "set exactly one of uri, git or devfileRegistry"
	case key == "image":
		return "set exactly one image type (dockerfile)"
	case strings.HasPrefix(key, "components") || isIndex(key):
		if m != nil {
			if _, ok := m["name"]; ok && !has("commandLine") {
				return "set exactly one component type (container, kubernetes, openshift, image, volume)"
			}
			if has("id") {
				return "set exactly one command type (exec, apply, composite)"
			}
		}
	case key == "parent" || key == "plugin":
		return "set exactly one of uri, id or kubernetes"
	}
	return "matches none, or more than one, of the allowed forms"
}

func isIndex(s string) bool { _, err := strconv.Atoi(s); return err == nil }

func article(t string) string {
	if t == "" {
		return t
	}
	if strings.ContainsRune("aeiou", rune(t[0])) {
		return "an " + t
	}
	return "a " + t
}

func shortValue(v any) string {
	s := fmt.Sprintf("%q", fmt.Sprint(v))
	if _, ok := v.(string); !ok {
		s = flowValue(v)
	}
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}

// namedPath turns a gojsonschema field ("components.3.image.imageName") into a path that names
// list elements ("components[name=backend].image.imageName"), using doc, the decoded devfile.
// Elements without a name or id keep their index ("[3]"). "(root)" becomes "".
func namedPath(field string, doc any) string {
	if field == "" || field == "(root)" {
		return ""
	}
	segs := strings.Split(field, ".")
	var b strings.Builder
	cur := doc
	for i := 0; i < len(segs); i++ {
		seg := segs[i]
		switch c := cur.(type) {
		case map[string]any:
			// Keys may contain dots (attributes like "alpha.dockerimage-port"): join segments
			// until a key matches.
			key, n := seg, i
			for j := i; j < len(segs); j++ {
				k := strings.Join(segs[i:j+1], ".")
				if _, ok := c[k]; ok {
					key, n = k, j
					break
				}
			}
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(key)
			cur = c[key]
			i = n
		case []any:
			idx, err := strconv.Atoi(seg)
			if err != nil || idx < 0 || idx >= len(c) {
				b.WriteString("[" + seg + "]")
				cur = nil
				continue
			}
			cur = c[idx]
			b.WriteString(elementRef(cur, idx))
		default:
			if isIndex(seg) {
				b.WriteString("[" + seg + "]")
			} else {
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(seg)
			}
			cur = nil
		}
	}
	return b.String()
}

// elementRef names a list element by its "name" or "id" key, else by index.
func elementRef(elem any, idx int) string {
	if m, ok := elem.(map[string]any); ok {
		for _, k := range []string{"name", "id"} {
			if v, ok := m[k].(string); ok && v != "" {
				return fmt.Sprintf("[%s=%s]", k, v)
			}
		}
	}
	return fmt.Sprintf("[%d]", idx)
}

// lookup returns the value at a gojsonschema field path in doc.
func lookup(doc any, field string) (any, bool) {
	if field == "" || field == "(root)" {
		return doc, doc != nil
	}
	segs := strings.Split(field, ".")
	cur := doc
	for i := 0; i < len(segs); i++ {
		switch c := cur.(type) {
		case map[string]any:
			found := false
			for j := i; j < len(segs); j++ {
				if v, ok := c[strings.Join(segs[i:j+1], ".")]; ok {
					cur, i, found = v, j, true
					break
				}
			}
			if !found {
				return nil, false
			}
		case []any:
			idx, err := strconv.Atoi(segs[i])
			if err != nil || idx < 0 || idx >= len(c) {
				return nil, false
			}
			cur = c[idx]
		default:
			return nil, false
		}
	}
	return cur, true
}

// Messages of devfile/api pkg/validation, as wrapped by the library's ValidateDevfileData.
var (
	reInvalidCommand   = regexp.MustCompile(`(?s)^the command "([^"]*)" is invalid - (.*)$`)
	reCommandType      = regexp.MustCompile(`^command (\S+) has invalid type(.*)$`)
	reMultipleDefaults = regexp.MustCompile(`(?s)^command group (\S+) error - there should be exactly one default command, currently there are multiple default commands; (.*)$`)
	reMissingDefault   = regexp.MustCompile(`^command group (\S+) warning - `)
	reInvalidComponent = regexp.MustCompile(`(?s)^the component "([^"]*)" is invalid - (.*)$`)
	reReservedEnv      = regexp.MustCompile(`^env variable (\S+) is reserved and cannot be customized in component (\S+)(.*)$`)
	reResource         = regexp.MustCompile(`(?s)^(?:error parsing \S+ requirement|invalid resource request) for component (\S+): (.*)$`)
	reInvalidVolume    = regexp.MustCompile(`(?s)^the volume "([^"]*)" is invalid - (.*)$`)
	reEvents           = regexp.MustCompile(`(?s)^(\S+) type events are invalid: (.*)$`)
	reDuplicateKey     = regexp.MustCompile(`^duplicate key: (.*)$`)
)

// translateValidationError splits an error from validate.ValidateDevfileData (a
// hashicorp/go-multierror list of devfile/api validation errors) into Problems and warnings.
// devfile/api reports "there should be exactly one default command, currently there is no
// default command" as an error although its type is MissingDefaultCmdWarning; it is returned as a
// warning here, since devtool picks deploy commands itself (pkg/plan).
func translateValidationError(err error) (problems []Problem, warnings []string) {
	var errs []error
	if w, ok := err.(interface{ WrappedErrors() []error }); ok {
		errs = w.WrappedErrors()
	} else {
		errs = []error{err}
	}
	for _, e := range errs {
		msg := strings.TrimSpace(e.Error())
		switch {
		case reMissingDefault.MatchString(msg):
			warnings = append(warnings, msg)
		case reInvalidCommand.MatchString(msg):
			m := reInvalidCommand.FindStringSubmatch(msg)
			problems = append(problems, Problem{Path: commandPath(m[1]), Message: m[2]})
		case reCommandType.MatchString(msg):
			m := reCommandType.FindStringSubmatch(msg)
			problems = append(problems, Problem{Path: commandPath(m[1]), Message: "has no supported command type (exec, apply or composite)" + m[2]})
		case reMultipleDefaults.MatchString(msg):
			m := reMultipleDefaults.FindStringSubmatch(msg)
			cmds := strings.ReplaceAll(m[2], "command: ", "")
			problems = append(problems, Problem{Path: "commands", Message: fmt.Sprintf("several commands of group %s are marked isDefault: %s; mark only one", m[1], cmds)})
		case reInvalidComponent.MatchString(msg):
			m := reInvalidComponent.FindStringSubmatch(msg)
			problems = append(problems, Problem{Path: componentPath(m[1]), Message: m[2]})
		case reReservedEnv.MatchString(msg):
			m := reReservedEnv.FindStringSubmatch(msg)
			problems = append(problems, Problem{Path: componentPath(m[2]) + ".env", Message: fmt.Sprintf("env variable %s is reserved and cannot be set%s", m[1], m[3])})
		case reResource.MatchString(msg):
			m := reResource.FindStringSubmatch(msg)
			problems = append(problems, Problem{Path: componentPath(m[1]), Message: msg})
		case reInvalidVolume.MatchString(msg):
			m := reInvalidVolume.FindStringSubmatch(msg)
			problems = append(problems, Problem{Path: componentPath(m[1]), Message: m[2]})
		case reEvents.MatchString(msg):
			m := reEvents.FindStringSubmatch(msg)
			problems = append(problems, Problem{Path: "events." + m[1], Message: m[2]})
		case reDuplicateKey.MatchString(msg):
			problems = append(problems, Problem{Message: fmt.Sprintf("%q is used more than once (component names and command ids must be unique)", reDuplicateKey.FindStringSubmatch(msg)[1])})
		default:
			problems = append(problems, Problem{Message: msg})
		}
	}
	return problems, warnings
}

func componentPath(name string) string { return "components[name=" + name + "]" }
func commandPath(id string) string     { return "commands[id=" + id + "]" }
