package devfile

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	v1 "github.com/devfile/api/v2/pkg/apis/workspaces/v1alpha2"
	"github.com/devfile/api/v2/pkg/attributes"
	"github.com/devfile/api/v2/pkg/utils/overriding"
	"github.com/devfile/api/v2/pkg/validation/variables"
	"github.com/devfile/library/v2/pkg/devfile/parser"
	devfileData "github.com/devfile/library/v2/pkg/devfile/parser/data"
	"github.com/devfile/library/v2/pkg/devfile/parser/data/v2/common"
	"github.com/devfile/library/v2/pkg/devfile/validate"
	"sigs.k8s.io/yaml"

	"github.com/devtool/devtool/pkg/remote"
)

// DefaultHTTPTimeout bounds each http(s) read Load makes when LoadOptions.HTTPTimeout is 0.
const DefaultHTTPTimeout = 10 * time.Second

// maxManifestSize bounds what is read from one manifest uri.
const maxManifestSize = 16 << 20

// devfileNames returns the file names Load looks for, in this order, when given a directory
// (the order of devfile/library and odo).
func devfileNames() []string {
	return []string{"devfile.yaml", ".devfile.yaml", "devfile.yml", ".devfile.yml"}
}

// LoadOptions configures Load.
type LoadOptions struct {
	// HTTPTimeout bounds each http(s) request when Remote is nil; 0 means DefaultHTTPTimeout.
	HTTPTimeout time.Duration
	// Logger receives debug messages (the library's "no default command" warnings, undefined
	// variables, templated uris left unread); nil discards them.
	Logger *slog.Logger
	// Remote fetches registry and http(s) parents, http(s) manifest uris and remote
	// Dockerfiles (cache, --offline); nil means a client without a cache (registry parents
	// then fail, since their resources need one) bounded by HTTPTimeout.
	Remote *remote.Client
	// RegistryURL, when set, is the devfile registry used for every registry reference (a
	// mirror: --registry-url / DEVTOOL_REGISTRY_URL), whatever registryUrl the devfile names;
	// when "", a reference's own registryUrl is used, else remote.PublicRegistry (odo v3).
	RegistryURL string
}

func (o LoadOptions) withDefaults() LoadOptions {
	if o.HTTPTimeout <= 0 {
		o.HTTPTimeout = DefaultHTTPTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Remote == nil {
		o.Remote = remote.New(remote.Options{Timeout: o.HTTPTimeout, MaxSize: maxManifestSize, Logger: o.Logger})
	}
	return o
}

// Load reads, validates and flattens the devfile at path (a devfile, or a directory holding one
// devfile.yaml, .devfile.yaml, devfile.yml, .devfile.yml, looked for in that order) with
// github.com/devfile/library/v2, and converts it to the model.
//
// What Load does and does not do:
//   - Variables ({{name}}) are kept exactly as written; pkg/vars substitutes them. (The library
//     only substitutes in ParseDevfileAndValidate, which Load does not call; library validation
//     runs on a substituted copy so that e.g. a templated memoryLimit is not rejected.)
//   - A local parent (parent.uri: ./base.yaml) is merged in. When the parent lives in the same
//     directory the library flattens it; otherwise Load merges it with the same devfile/api
//     functions, because the library would copy the parent's whole directory into the project.
//   - A parent from a devfile registry (id, registryUrl, version) or an http(s) uri is fetched
//     by opts.Remote (ctx, timeouts, size limit, retries, cache, offline; see remote.go and
//     docs/remote.md), not by the library, which would write the stack's files into the process
//     working directory and cannot be cancelled. The stack's files stay in the cache: a relative
//     uri of the parent that the project lacks points at the stack's copy (or, for a uri parent,
//     at the URL resolved against the parent's). RegistryURL, when set, replaces every
//     registryUrl. Kubernetes (DevWorkspaceTemplate) parents and remote plugins are refused
//     before any I/O.
//   - Remote Dockerfiles (dockerfile.git, dockerfile.devfileRegistry, an http(s) dockerfile
//     uri) are fetched into the cache: Dockerfile.Fetched.
//   - kubernetes/openshift component uris are read by Load itself (not by the library), relative
//     to the devfile's directory or over http(s) bounded by opts.HTTPTimeout and ctx, into
//     Manifest.Content/Source. A uri containing "{{" is left unread (Content "") since it needs
//     variables; call ReadManifestURI after substitution.
//   - Helm components (devtool's extension, both spellings: `helm:` and `custom` with
//     componentClass helm; see Helm) are taken out before the library sees the file — the
//     published schemas have neither — and replaced by stand-in kubernetes components of the
//     same names, then put back into the model as KindHelm.
//   - source-to-image images (devtool's extension, `image.s2i` and `custom` with componentClass
//     s2i; see S2I) are replaced the same way by image components with a stand-in dockerfile,
//     then put back as Image.S2I.
//   - Nothing is written to the project directory, the working directory or TMPDIR.
//
// Errors: every problem with the devfile (missing or unreadable file, bad YAML, schema and
// library validation failures, unsupported or unreachable parents, unreadable manifest uris and
// remote Dockerfiles) is a
// *ValidationError whose Problems name components and commands; the underlying I/O error, if any,
// is its Err. A cancelled ctx returns an error wrapping ctx.Err() instead. Problems come
// sorted by path, then message, whatever order the library found them in, and never show Go
// types (see tidy).
func Load(ctx context.Context, path string, opts LoadOptions) (*Devfile, error) {
	d, err := load(ctx, path, opts)
	var ve *ValidationError
	if errors.As(err, &ve) {
		ve.tidy()
	}
	return d, err
}

// load is Load before its problems are sorted and tidied.
func load(ctx context.Context, path string, opts LoadOptions) (*Devfile, error) {
	opts = opts.withDefaults()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("loading devfile: %w", err)
	}
	file, err := findDevfile(path)
	if err != nil {
		return nil, err
	}
	root, err := scan(ctx, file, nil, opts)
	if err != nil {
		return nil, err
	}
	obj, err := parseTree(ctx, root, opts)
	if err != nil {
		return nil, err
	}
	if err := validateData(obj, root.path, opts.Logger); err != nil {
		return nil, err
	}
	d, err := convert(obj, root.path)
	if err != nil {
		return nil, err
	}
	helm, err := root.allHelm()
	if err != nil {
		return nil, err
	}
	applyHelm(d, helm)
	s2i, err := root.allS2I()
	if err != nil {
		return nil, err
	}
	applyS2I(d, s2i)
	if err := readManifests(ctx, d, opts); err != nil {
		return nil, err
	}
	if err := fetchDockerfiles(ctx, d, opts); err != nil {
		return nil, err
	}
	opts.Logger.Debug("devfile loaded", "path", d.Path, "schemaVersion", d.SchemaVersion,
		"components", len(d.Components), "commands", len(d.Commands))
	return d, nil
}

// Component returns the component with the given name.
func (d *Devfile) Component(name string) (*Component, bool) {
	for i := range d.Components {
		if d.Components[i].Name == name {
			return &d.Components[i], true
		}
	}
	return nil, false
}

// Command returns the command with the given id. Ids compare case-insensitively, as in devfile
// validation (devfile/api pkg/validation lowercases composite sub-command references).
func (d *Devfile) Command(id string) (*Command, bool) {
	for i := range d.Commands {
		if strings.EqualFold(d.Commands[i].ID, id) {
			return &d.Commands[i], true
		}
	}
	return nil, false
}

// findDevfile resolves path to the absolute path of a devfile.
func findDevfile(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", &ValidationError{File: path, Problems: []Problem{{Message: fmt.Sprintf("cannot resolve path: %v", err)}}, Err: err}
	}
	st, err := os.Stat(abs)
	if err != nil {
		msg := fmt.Sprintf("cannot read devfile: %v", err)
		if errors.Is(err, fs.ErrNotExist) {
			msg = "no such file or directory"
		}
		return "", &ValidationError{File: abs, Problems: []Problem{{Message: msg}}, Err: err}
	}
	if !st.IsDir() {
		return abs, nil
	}
	for _, name := range devfileNames() {
		f := filepath.Join(abs, name)
		if st, err := os.Stat(f); err == nil && !st.IsDir() {
			return f, nil
		}
	}
	return "", &ValidationError{File: abs, Problems: []Problem{{
		Message: fmt.Sprintf("no devfile in directory %s (looked for %s)", abs, strings.Join(devfileNames(), ", ")),
	}}, Err: fs.ErrNotExist}
}

// rawFile is one devfile of the parent/plugin tree, decoded as plain YAML before the library
// sees it: to refuse remote references before any I/O, to catch what makes the library panic
// (a non-string schemaVersion), and to name list elements in error paths.
type rawFile struct {
	path    string
	doc     map[string]any
	parent  *rawFile
	plugins []*rawFile
	// helm are the file's Helm components (extractHelm); data, when set, is doc with them
	// replaced by stand-ins: what the library parses instead of the file.
	helm map[string]*Helm
	data []byte
	// json is the file's content as the library would convert it (YAML to JSON), kept so that
	// the library need not convert the YAML a second time; nil for a file that already is
	// JSON (the library reads that as it is).
	json []byte
	// s2i are the file's source-to-image components (extractS2I), replaced in data by image
	// components with a stand-in dockerfile.
	s2i map[string]*S2I
}

// sameDir reports whether every local reference in the tree below f points into the directory
// of the referencing file, so the library's flattening copies nothing (its parseFromURI copies
// the referenced file's directory into the referencing file's directory otherwise).
func (f *rawFile) sameDir() bool {
	for _, r := range f.refs() {
		if filepath.Dir(r.path) != filepath.Dir(f.path) || !r.sameDir() {
			return false
		}
	}
	return true
}

// hasRefs reports whether the file names a parent or a plugin component, resolved or not.
func (f *rawFile) hasRefs() bool {
	if _, ok := f.doc["parent"]; ok {
		return true
	}
	comps, _ := f.doc["components"].([]any)
	for _, c := range comps {
		cm, _ := c.(map[string]any)
		if _, ok := cm["plugin"]; ok {
			return true
		}
	}
	return false
}

// decodeYAML decodes a devfile as yaml.Unmarshal into an any would, and returns its JSON form
// too: sigs.k8s.io/yaml.YAMLToJSON, what the library's parser (context/content.go) converts
// a YAML devfile with, so both see the same document from one YAML parse. Content that starts
// with "{" (after white space) the library reads as JSON as it is; js is nil then and doc comes
// from yaml.Unmarshal, as before.
func decodeYAML(data []byte) (doc any, js []byte, err error) {
	if bytes.HasPrefix(bytes.TrimLeftFunc(data, unicode.IsSpace), []byte("{")) {
		err = yaml.Unmarshal(data, &doc)
		return doc, nil, err
	}
	js, err = yaml.YAMLToJSON(data)
	if err != nil {
		return nil, nil, err
	}
	if err := json.Unmarshal(js, &doc); err != nil {
		return nil, nil, fmt.Errorf("error unmarshaling JSON: while decoding JSON: %w", err)
	}
	return doc, js, nil
}

func (f *rawFile) refs() []*rawFile {
	var out []*rawFile
	if f.parent != nil {
		out = append(out, f.parent)
	}
	return append(out, f.plugins...)
}

// descendants lists every referenced file below f (not f itself), depth first.
func (f *rawFile) descendants() []*rawFile {
	var out []*rawFile
	for _, r := range f.refs() {
		out = append(out, r)
		out = append(out, r.descendants()...)
	}
	return out
}

// scan reads and checks file and, recursively, its local parent and plugins. stack holds the
// files referencing it, for cycle detection.
func scan(ctx context.Context, file string, stack []string, opts LoadOptions) (*rawFile, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, &ValidationError{File: file, Problems: []Problem{{Message: fmt.Sprintf("cannot read devfile: %v", err)}}, Err: err}
	}
	return scanData(ctx, file, data, stack, opts, nil)
}

// scanData is scan of a devfile's content; from is set for a devfile fetched from a registry or
// an http(s) uri (remote.go), whose relative uris it rewrites and whose local references it
// refuses.
func scanData(ctx context.Context, file string, data []byte, stack []string, opts LoadOptions, from *remoteOrigin) (*rawFile, error) {
	var err error
	doc, js, err := decodeYAML(data)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "error converting YAML to JSON: ")
		return nil, invalid(file, "", "not valid YAML: %s", msg)
	}
	m, ok := doc.(map[string]any)
	if !ok {
		return nil, invalid(file, "", "a devfile must be a YAML mapping (schemaVersion: ..., components: ...), not %s", yamlKind(doc))
	}
	v, ok := m["schemaVersion"]
	s, isString := v.(string)
	switch {
	case !ok:
		return nil, invalid(file, "schemaVersion", "schemaVersion is missing; add a first line like \"schemaVersion: 2.2.0\"")
	case !isString:
		// The library type-asserts schemaVersion to string and panics otherwise.
		return nil, invalid(file, "schemaVersion", "schemaVersion must be a string like \"2.2.0\", got %v; quote it", v)
	case s == "":
		return nil, invalid(file, "schemaVersion", "schemaVersion is empty; use a devfile schema version like 2.2.0")
	}
	f := &rawFile{path: file, doc: m, json: js}
	if f.helm, err = extractHelm(file, m); err != nil {
		return nil, err
	}
	if f.s2i, err = extractS2I(file, m); err != nil {
		return nil, err
	}
	if from != nil {
		if err := from.prepare(file, m, stack); err != nil {
			return nil, err
		}
	}
	if len(f.helm) > 0 || len(f.s2i) > 0 || from != nil {
		if f.data, err = json.Marshal(m); err != nil {
			return nil, invalid(file, "components", "%v", err)
		}
	}
	stack = append(stack, file)
	if p, ok := m["parent"].(map[string]any); ok && isRemoteRef(p) {
		if f.parent, err = scanRemote(ctx, file, p, stack, opts); err != nil {
			return nil, err
		}
	} else if ok {
		target, err := localRef(file, "parent", "parent", "parents", p, stack)
		if err != nil {
			return nil, err
		}
		if target != "" {
			if f.parent, err = scan(ctx, target, stack, opts); err != nil {
				return nil, err
			}
		}
	}
	comps, _ := m["components"].([]any)
	for _, c := range comps {
		cm, _ := c.(map[string]any)
		p, ok := cm["plugin"].(map[string]any)
		if !ok {
			continue
		}
		name, _ := cm["name"].(string)
		what := fmt.Sprintf("plugin component %q", name)
		target, err := localRef(file, componentPath(name)+".plugin", what, "plugins", p, stack)
		if err != nil {
			return nil, err
		}
		if target == "" {
			continue
		}
		if filepath.Dir(target) != filepath.Dir(file) {
			return nil, invalid(file, componentPath(name)+".plugin", "%s: plugin files outside the devfile's directory are not supported", what)
		}
		pf, err := scan(ctx, target, stack, opts)
		if err != nil {
			return nil, err
		}
		f.plugins = append(f.plugins, pf)
	}
	return f, nil
}

// localRef checks an import reference (parent or plugin, devfile spec "ImportReference") and
// returns the absolute path of a local uri, "" when the reference is empty. Remote references
// are refused here, before any network I/O.
func localRef(file, path, what, plural string, ref map[string]any, stack []string) (string, error) {
	str := func(k string) string { s, _ := ref[k].(string); return s }
	uri, id, registry, version := str("uri"), str("id"), str("registryUrl"), str("version")
	hint := "remote " + plural + " are not supported; download the devfile next to this one and reference it with a relative uri (for example uri: ./plugin-devfile.yaml)"
	switch {
	case uri != "":
		if strings.HasPrefix(uri, "http://") || strings.HasPrefix(uri, "https://") {
			return "", invalid(file, path+".uri", "%s uri %q: %s", what, uri, hint)
		}
		if strings.Contains(uri, "://") {
			return "", invalid(file, path+".uri", "%s uri %q: unsupported scheme; use a path relative to the devfile", what, uri)
		}
		// The library joins even an absolute uri to the devfile's directory; do the same so
		// both flattening paths agree.
		target := filepath.Join(filepath.Dir(file), filepath.FromSlash(uri))
		for i, s := range stack {
			if s == target {
				chain := append(append([]string{}, stack[i:]...), target)
				return "", invalid(file, path+".uri", "%s uri %q: reference cycle %s", what, uri, strings.Join(chain, " -> "))
			}
		}
		st, err := os.Stat(target)
		if err != nil || st.IsDir() {
			return "", invalid(file, path+".uri", "%s uri %q: no devfile at %s", what, uri, target)
		}
		return target, nil
	case id != "":
		from := "the default registry"
		if registry != "" {
			from = "registry " + registry
		}
		if version != "" {
			from += " (version " + version + ")"
		}
		return "", invalid(file, path, "%s id %q from %s: %s", what, id, from, hint)
	case ref["kubernetes"] != nil:
		k, _ := ref["kubernetes"].(map[string]any)
		name, _ := k["name"].(string)
		ns, _ := k["namespace"].(string)
		return "", invalid(file, path+".kubernetes", "%s kubernetes DevWorkspaceTemplate %q (namespace %q): devtool does not read DevWorkspaceTemplates from a cluster; use a registry parent (id, registryUrl, version) or a uri to the devfile", what, name, ns)
	}
	return "", nil
}

func yamlKind(v any) string {
	switch v.(type) {
	case nil:
		return "an empty document"
	case []any:
		return "a list"
	default:
		return fmt.Sprintf("a scalar (%v)", v)
	}
}

// parseTree parses f with its parent and plugins flattened in.
func parseTree(ctx context.Context, f *rawFile, opts LoadOptions) (parser.DevfileObj, error) {
	// Validate every referenced file on its own first: the library's schema errors do not say
	// which file of the tree they come from.
	for _, r := range f.descendants() {
		if _, err := libParse(ctx, r, false, opts); err != nil {
			return parser.DevfileObj{}, err
		}
	}
	if f.sameDir() && !f.anyHelm() {
		return libParse(ctx, f, true, opts)
	}
	if len(f.plugins) > 0 && f.anyHelm() {
		return parser.DevfileObj{}, invalid(f.path, "components", "Helm and source-to-image components cannot be combined with plugin components")
	}
	if f.parent == nil {
		// Only here for Helm and s2i stand-ins (the library parses the rewritten content, not the file).
		return libParse(ctx, f, false, opts)
	}
	if len(f.plugins) > 0 {
		return parser.DevfileObj{}, invalid(f.path, "components", "plugin components cannot be combined with a parent outside the devfile's directory")
	}
	parentObj, err := parseTree(ctx, f.parent, opts)
	if err != nil {
		return parser.DevfileObj{}, err
	}
	obj, err := libParse(ctx, f, false, opts)
	if err != nil {
		return parser.DevfileObj{}, err
	}
	if err := mergeParent(obj, parentObj, f.path); err != nil {
		return parser.DevfileObj{}, err
	}
	return obj, nil
}

// libParse runs parser.ParseDevfile on f. The library takes no context and may block; it runs
// in a goroutine that is abandoned if ctx ends (nothing in it does network I/O: remote
// references were fetched or refused by scan). A library panic becomes an error.
func libParse(ctx context.Context, f *rawFile, flatten bool, opts LoadOptions) (parser.DevfileObj, error) {
	no := false
	timeout := int(math.Ceil(opts.HTTPTimeout.Seconds()))
	args := parser.ParserArgs{
		Path:                          f.path,
		FlattenedDevfile:              &flatten,
		ConvertKubernetesContentInUri: &no, // Load reads uris itself, with ctx and timeout
		SetBooleanDefaults:            &no, // keep unset booleans nil
		DownloadGitResources:          &no, // else the library clones parent git repos into the project
		HTTPTimeout:                   &timeout,
		Context:                       ctx,
	}
	switch {
	case f.data != nil:
		// The file with its Helm components replaced by stand-ins (the schema has none).
		args.Path, args.Data = "", f.data
	case f.json != nil && (!flatten || !f.hasRefs()):
		// The same content the library would read from Path and convert, already converted by
		// scan. Only without references to flatten: the library resolves a relative parent or
		// plugin uri against the path of the file it read.
		args.Path, args.Data = "", f.json
	}
	type result struct {
		obj parser.DevfileObj
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- result{err: fmt.Errorf("devfile library panicked: %v", r)}
			}
		}()
		obj, err := parser.ParseDevfile(args)
		done <- result{obj, err}
	}()
	select {
	case <-ctx.Done():
		return parser.DevfileObj{}, fmt.Errorf("loading devfile %s: %w", f.path, ctx.Err())
	case r := <-done:
		if r.err != nil {
			return parser.DevfileObj{}, &ValidationError{File: f.path, Problems: translateParseError(r.err, f.doc)}
		}
		return r.obj, nil
	}
}

// mergeParent flattens parentObj (already flattened) into child the way the library's
// parseParentAndPlugin does (devfile/api overriding: parent overrides, then merge), for parents
// outside the child's directory.
func mergeParent(child, parentObj parser.DevfileObj, file string) error {
	parent := child.Data.GetParent()
	if parent == nil {
		return nil
	}
	pv, cv := parentObj.Data.GetSchemaVersion(), child.Data.GetSchemaVersion()
	if versionGreater(pv, cv) {
		return invalid(file, "parent", "parent devfile %s has schemaVersion %s, newer than this devfile's %s", parentName(parent), pv, cv)
	}
	flat := parentObj.Data.GetDevfileWorkspaceSpecContent()
	if !reflect.DeepEqual(parent.ParentOverrides, v1.ParentOverrides{}) {
		var err error
		if flat, err = overriding.OverrideDevWorkspaceTemplateSpec(flat, parent.ParentOverrides); err != nil {
			return invalid(file, "parent", "applying overrides to parent %s: %v", parentName(parent), err)
		}
	}
	merged, err := overriding.MergeDevWorkspaceTemplateSpec(child.Data.GetDevfileWorkspaceSpecContent(), flat)
	if err != nil {
		return invalid(file, "", "merging parent %s: %v", parentName(parent), err)
	}
	child.Data.SetDevfileWorkspaceSpecContent(*merged)
	child.Data.SetParent(nil)
	return nil
}

// versionGreater compares major.minor.patch prefixes ("2.2.0-latest" counts as 2.2.0).
func versionGreater(a, b string) bool {
	pa, pb := versionParts(a), versionParts(b)
	for i := range pa {
		if pa[i] != pb[i] {
			return pa[i] > pb[i]
		}
	}
	return false
}

func versionParts(v string) [3]int {
	var out [3]int
	v, _, _ = strings.Cut(v, "-")
	for i, s := range strings.SplitN(v, ".", 3) {
		out[i], _ = strconv.Atoi(s)
	}
	return out
}

// validateData runs the library's data validation (devfile/api pkg/validation: commands,
// composites, components, events, projects) — the part of ParseDevfileAndValidate after
// parsing — on a copy with the devfile's own variables substituted, as the library does.
func validateData(obj parser.DevfileObj, file string, log *slog.Logger) error {
	version := obj.Ctx.GetApiVersion()
	if version == "" {
		version = obj.Data.GetSchemaVersion()
	}
	spec := obj.Data.GetDevfileWorkspaceSpec().DeepCopy()
	if version != "2.0.0" { // variables exist from 2.1.0 on; the library skips 2.0.0 too
		w := variables.ValidateAndReplaceGlobalVariable(spec)
		if len(w.Commands)+len(w.Components)+len(w.Projects)+len(w.StarterProjects)+len(w.DependentProjects) > 0 {
			log.Debug("devfile references undefined variables (substituted later)", "commands", w.Commands, "components", w.Components)
		}
	}
	data, err := devfileData.NewDevfileData(version)
	if err != nil {
		return invalid(file, "schemaVersion", "%v", err)
	}
	data.SetDevfileWorkspaceSpec(*spec)
	err = validate.ValidateDevfileData(data)
	if err == nil {
		return nil
	}
	problems, warnings := translateValidationError(err)
	for _, w := range warnings {
		// Only deploy-group defaults matter to devtool, and pkg/plan reports those.
		log.Debug("devfile library warning: "+w, "devfile", file)
	}
	if len(problems) == 0 {
		return nil
	}
	return &ValidationError{File: file, Problems: problems}
}

// Attributes the library adds to elements it imported from a parent or plugin; they are not the
// user's and are left out of the model.
var importAttributes = map[string]bool{
	"api.devfile.io/imported-from":        true,
	"api.devfile.io/parent-override-from": true,
	"api.devfile.io/plugin-override-from": true,
}

// convert maps the flattened library object to the model.
func convert(obj parser.DevfileObj, file string) (*Devfile, error) {
	comps, err := obj.Data.GetComponents(common.DevfileOptions{})
	if err != nil {
		return nil, invalid(file, "components", "%v", err)
	}
	cmds, err := obj.Data.GetCommands(common.DevfileOptions{})
	if err != nil {
		return nil, invalid(file, "commands", "%v", err)
	}
	d := &Devfile{
		Path:          file,
		Dir:           filepath.Dir(file),
		SchemaVersion: obj.Data.GetSchemaVersion(),
		Name:          obj.Data.GetMetadata().Name,
	}
	if vars := obj.Data.GetDevfileWorkspaceSpec().Variables; len(vars) > 0 {
		d.Variables = make(map[string]string, len(vars))
		for k, v := range vars {
			d.Variables[k] = v
		}
	}
	for _, c := range comps {
		d.Components = append(d.Components, convertComponent(c))
	}
	for _, c := range cmds {
		d.Commands = append(d.Commands, convertCommand(c))
	}
	return d, nil
}

func convertComponent(c v1.Component) Component {
	out := Component{Name: c.Name, Kind: KindUnsupported, Attributes: convertAttributes(c.Attributes)}
	switch {
	case c.Image != nil:
		out.Kind = KindImage
		img := &Image{ImageName: c.Image.ImageName, AutoBuild: copyBool(c.Image.AutoBuild)}
		if df := c.Image.Dockerfile; df != nil {
			img.Dockerfile = &Dockerfile{
				URI:          df.Uri,
				BuildContext: df.BuildContext,
				Args:         append([]string(nil), df.Args...),
				RootRequired: copyBool(df.RootRequired),
			}
			switch {
			case df.Git != nil:
				g := &GitSource{Remotes: df.Git.Remotes, FileLocation: df.Git.FileLocation}
				if cf := df.Git.CheckoutFrom; cf != nil {
					g.Remote, g.Revision = cf.Remote, cf.Revision
				}
				img.Dockerfile.Git = g
				img.Dockerfile.Remote = "git"
			case df.DevfileRegistry != nil:
				img.Dockerfile.Registry = &RegistrySource{ID: df.DevfileRegistry.Id, RegistryURL: df.DevfileRegistry.RegistryUrl}
				img.Dockerfile.Remote = "registry " + df.DevfileRegistry.Id
			}
		}
		out.Image = img
	case c.Kubernetes != nil:
		out.Kind = KindKubernetes
		out.Manifest = convertManifest(&c.Kubernetes.K8sLikeComponent)
	case c.Openshift != nil:
		out.Kind = KindOpenShift
		out.Manifest = convertManifest(&c.Openshift.K8sLikeComponent)
	case c.Container != nil:
		out.Kind = KindContainer
		ct := &Container{
			Image: c.Container.Image, Env: convertEnv(c.Container.Env),
			MemoryLimit: c.Container.MemoryLimit, MemoryRequest: c.Container.MemoryRequest,
			CPULimit: c.Container.CpuLimit, CPURequest: c.Container.CpuRequest,
		}
		for _, e := range c.Container.Endpoints {
			ct.Endpoints = append(ct.Endpoints, Endpoint{Name: e.Name, TargetPort: e.TargetPort})
		}
		out.Container = ct
	case c.Volume != nil:
		out.Kind = KindVolume
	}
	return out
}

func convertEnv(env []v1.EnvVar) []EnvVar {
	if len(env) == 0 {
		return nil
	}
	out := make([]EnvVar, len(env))
	for i, e := range env {
		out[i] = EnvVar{Name: e.Name, Value: e.Value}
	}
	return out
}

func convertManifest(k *v1.K8sLikeComponent) *Manifest {
	return &Manifest{Inlined: k.Inlined, URI: k.Uri, DeployByDefault: copyBool(k.DeployByDefault)}
}

func convertCommand(c v1.Command) Command {
	out := Command{ID: c.Id, Kind: CommandUnsupported, Attributes: convertAttributes(c.Attributes)}
	var g *v1.CommandGroup
	switch {
	case c.Apply != nil:
		out.Kind = CommandApply
		out.Apply = &Apply{Component: c.Apply.Component}
		g = c.Apply.Group
	case c.Composite != nil:
		out.Kind = CommandComposite
		out.Composite = &Composite{
			Commands: append([]string(nil), c.Composite.Commands...),
			Parallel: c.Composite.Parallel != nil && *c.Composite.Parallel,
		}
		g = c.Composite.Group
	case c.Exec != nil:
		out.Kind = CommandExec
		out.Exec = &Exec{Component: c.Exec.Component, CommandLine: c.Exec.CommandLine, WorkingDir: c.Exec.WorkingDir, Env: convertEnv(c.Exec.Env)}
		g = c.Exec.Group
	case c.Custom != nil:
		g = c.Custom.Group
	}
	if g != nil {
		out.Group = &Group{Kind: string(g.Kind), IsDefault: copyBool(g.IsDefault)}
	}
	return out
}

// convertAttributes keeps string values as they are and JSON-encodes the others; nil when there
// are none.
func convertAttributes(a attributes.Attributes) map[string]string {
	var out map[string]string
	for k, v := range a {
		if importAttributes[k] {
			continue
		}
		if out == nil {
			out = make(map[string]string, len(a))
		}
		var s string
		if err := json.Unmarshal(v.Raw, &s); err == nil {
			out[k] = s
		} else {
			out[k] = string(v.Raw)
		}
	}
	return out
}

func copyBool(b *bool) *bool {
	if b == nil {
		return nil
	}
	v := *b
	return &v
}

// readManifests reads every kubernetes/openshift uri without variables, concurrently, and
// reports all failures in one ValidationError.
func readManifests(ctx context.Context, d *Devfile, opts LoadOptions) error {
	var comps []*Component
	for i := range d.Components {
		c := &d.Components[i]
		if c.Manifest == nil || c.Manifest.URI == "" {
			continue
		}
		if strings.Contains(c.Manifest.URI, "{{") {
			opts.Logger.Debug("manifest uri uses variables; not read at load time", "component", c.Name, "uri", c.Manifest.URI)
			continue
		}
		comps = append(comps, c)
	}
	return forComponents(ctx, d, comps,
		func(c *Component) string { return componentPath(c.Name) + "." + string(c.Kind) + ".uri" },
		func(c *Component) (err error) {
			m := c.Manifest
			m.Content, m.Source, err = ReadManifestURI(ctx, d.Dir, m.URI, opts)
			return err
		})
}

// forComponents runs do for each of comps concurrently and reports every failure in one
// ValidationError of d, each Problem at path(component); ctx ending first is an error of its own.
func forComponents(ctx context.Context, d *Devfile, comps []*Component, path func(*Component) string, do func(*Component) error) error {
	errs := make([]error, len(comps))
	var wg sync.WaitGroup
	for i, c := range comps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = do(c)
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("loading devfile %s: %w", d.Path, err)
	}
	var ve *ValidationError
	var causes []error
	for i, err := range errs {
		if err == nil {
			continue
		}
		if ve == nil {
			ve = &ValidationError{File: d.Path}
		}
		ve.Problems = append(ve.Problems, Problem{Path: path(comps[i]), Message: err.Error()})
		causes = append(causes, err)
	}
	if ve != nil {
		ve.Err = errors.Join(causes...)
		return ve
	}
	return nil
}

// ReadManifestURI reads a kubernetes/openshift component uri (devfile spec "uri": a path relative
// to the devfile directory dir, or an http(s) URL) and returns its content and source (the
// absolute path, or the URL). An http(s) GET goes through opts.Remote (default: bounded by
// opts.HTTPTimeout, 0 meaning 10 s, and 16 MiB) and ctx; a non-2xx status is an error; offline,
// the copy an earlier online read cached is used. Local content over 16 MiB is refused. Load calls it for uris without
// variables; callers call it for the others once variables are substituted.
func ReadManifestURI(ctx context.Context, dir, uri string, opts LoadOptions) (content, source string, err error) {
	opts = opts.withDefaults()
	if remote.IsHTTP(uri) {
		b, err := opts.Remote.Get(ctx, "manifest uri", uri, "uri\x00"+uri)
		if err != nil {
			return "", uri, err
		}
		return string(b), uri, nil
	}
	if strings.Contains(uri, "://") {
		return "", "", fmt.Errorf("uri %q: unsupported scheme; use an http(s) URL or a path relative to the devfile", uri)
	}
	p := filepath.FromSlash(uri)
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	f, err := os.Open(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", p, &causeError{fmt.Sprintf("manifest file %s does not exist", p), err}
		}
		return "", p, fmt.Errorf("reading manifest: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return "", p, fmt.Errorf("manifest uri %q is a directory (%s); point it at a YAML file", uri, p)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxManifestSize+1))
	if err != nil {
		return "", p, fmt.Errorf("reading manifest: %w", err)
	}
	if len(b) > maxManifestSize {
		return "", p, fmt.Errorf("manifest %s is larger than %d MiB", p, maxManifestSize>>20)
	}
	return string(b), p, nil
}

// causeError is an error with its own text that still unwraps to its cause.
type causeError struct {
	msg   string
	cause error
}

func (e *causeError) Error() string { return e.msg }
func (e *causeError) Unwrap() error { return e.cause }
