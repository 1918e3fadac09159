// Package devfile loads and validates devfiles (devfile spec 2.0.0–2.3.0) with
// github.com/devfile/library/v2 and converts them into devtool's own typed model. devfile/api
// types stop at this package: everything downstream (plan, run) sees only the types below.
//
// Variables ({{name}}) are NOT substituted here: the model keeps the text the user wrote, and
// pkg/vars substitutes with devtool's precedence (devfile < --var-file < --var) and built-ins.
package devfile

// Devfile is a loaded, flattened (parent merged) devfile.
type Devfile struct {
	// Path is the absolute path of the devfile.yaml that was loaded; Dir is its directory (the
	// project directory: relative paths in the devfile resolve against it).
	Path string
	Dir  string
	// SchemaVersion is the declared schemaVersion ("2.2.0").
	SchemaVersion string
	// Name is metadata.name ("" when unset; callers fall back to the directory name).
	Name string
	// Variables are the top-level devfile variables, unsubstituted.
	Variables map[string]string
	// Components and Commands keep the devfile's order.
	Components []Component
	Commands   []Command
}

// ComponentKind is the type of a component.
type ComponentKind string

// Component kinds. Unsupported marks kinds devtool parses but cannot deploy (e.g. volume,
// custom with an unknown componentClass); plan reports them only if a deploy step uses them.
const (
	KindImage       ComponentKind = "image"
	KindKubernetes  ComponentKind = "kubernetes"
	KindOpenShift   ComponentKind = "openshift"
	KindContainer   ComponentKind = "container"
	KindVolume      ComponentKind = "volume"
	KindHelm        ComponentKind = "helm"
	KindUnsupported ComponentKind = "unsupported"
)

// Component is one devfile component. Exactly one of Image, Manifest, Container, Helm is set,
// according to Kind.
type Component struct {
	Name      string
	Kind      ComponentKind
	Image     *Image
	Manifest  *Manifest
	Container *Container
	Helm      *Helm
	// Attributes are the component's free-form attributes (string values only; others are
	// JSON-encoded).
	Attributes map[string]string
}

// Image is an image component (devfile spec 2.2.0 "image").
type Image struct {
	// ImageName is the name to build (unsubstituted): a full reference or a relative name.
	ImageName string
	// AutoBuild is the schema ≥ 2.2.0 autoBuild flag; nil when unset.
	AutoBuild *bool
	// Dockerfile is set for Dockerfile builds; S2I for source-to-image builds (exactly one).
	Dockerfile *Dockerfile
	S2I        *S2I
}

// S2I is a source-to-image build of an image component, devtool's extension of the devfile
// schema (the outer-loop proposal's `s2i:` image; docs/s2i.md). It is written either as
//
//   - name: app-image
//     image: {imageName: app, s2i: {builderImage: registry/ubi9/python-311, incrementalBuild: true}}
//
// or as a `custom` component with `componentClass: s2i` whose `embeddedResource` holds
// imageName, autoBuild and the same fields. The source is the devfile's directory (odo's
// ${PROJECT_SOURCE}). Values are unsubstituted.
type S2I struct {
	// BuilderImage is the builder image reference (devtool's addition for clusters without
	// image streams). Either it or BuilderImageStreamTag is set.
	BuilderImage string
	// BuilderImageNamespace and BuilderImageStreamTag name an OpenShift image stream tag
	// ("name:tag") holding the builder image (the proposal's fields). devtool does not resolve
	// image streams yet: pkg/run refuses them with a hint to use BuilderImage.
	BuilderImageNamespace string
	BuilderImageStreamTag string
	// ScriptLocation overrides the builder's assemble/run/save-artifacts scripts: a directory
	// relative to the devfile, an image:///dir inside the builder image, or an http(s) URL
	// (s2i's --scripts-url). "" means the builder image's io.openshift.s2i.scripts-url label.
	ScriptLocation string
	// IncrementalBuild reuses the previous image's artifacts (s2i's save-artifacts); nil when
	// unset, which means true (the proposal's default).
	IncrementalBuild *bool
	// Field is where the settings were written, for messages: "image.s2i" or
	// "custom.embeddedResource".
	Field string
}

// Dockerfile is the dockerfile build of an image component.
type Dockerfile struct {
	// URI is the Dockerfile location as written (a path relative to the devfile directory, or
	// an http(s) URL). Empty means "Dockerfile" in the build context.
	URI string
	// BuildContext is the build context as written; "" and "${PROJECTS_ROOT}"/"${PROJECT_SOURCE}"
	// mean the devfile directory (odo's behaviour).
	BuildContext string
	// Args are build args as written ("KEY=VALUE").
	Args []string
	// RootRequired is the rootRequired flag; nil when unset.
	RootRequired *bool
	// Remote is non-empty when the Dockerfile comes from elsewhere than the project:
	// dockerfile.git ("git <remote url>"), dockerfile.devfileRegistry ("registry <id>"), an
	// http(s) uri ("uri <url>") or a registry parent's stack ("stack <registry> <id>").
	Remote string
	// Git is dockerfile.git (devfile spec 2.2.0), Registry dockerfile.devfileRegistry; nil when
	// not used.
	Git      *GitSource
	Registry *RegistrySource
	// Fetched is the absolute path of the remote Dockerfile's fetched copy (in devtool's cache,
	// named by its SHA-256, never in the project), set by Load when Remote is; builders read it
	// instead of URI. The build context stays BuildContext in the project (devfile spec: the
	// context is the project's unless said otherwise).
	Fetched string
}

// GitSource is dockerfile.git: the repository's remotes (name → URL), the checkoutFrom
// remote and revision, and fileLocation (the Dockerfile's path in the repository, "" meaning
// "Dockerfile").
type GitSource struct {
	Remotes      map[string]string
	Remote       string
	Revision     string
	FileLocation string
}

// RegistrySource is dockerfile.devfileRegistry: a stack id and the registry URL ("" means the
// default registry).
type RegistrySource struct {
	ID          string
	RegistryURL string
}

// Manifest is a kubernetes or openshift component.
type Manifest struct {
	// Inlined is the inline YAML (possibly several documents), unsubstituted.
	Inlined string
	// URI is the uri as written; when set, Content holds what was read from it (local file
	// relative to the devfile directory, or http(s), read by Load with a timeout) and Source the
	// absolute path or URL. A URI containing "{{" is not read by Load (Content and Source are
	// ""): read it with ReadManifestURI once variables are substituted.
	URI     string
	Content string
	Source  string
	// DeployByDefault is the schema ≥ 2.2.0 deployByDefault flag; nil when unset.
	DeployByDefault *bool
}

// YAML returns the manifest text: Inlined, or the content read from URI.
func (m *Manifest) YAML() string {
	if m.Inlined != "" {
		return m.Inlined
	}
	return m.Content
}

// Container is a container component (inner loop; in a deploy, the container an exec step's
// Job runs). Values are unsubstituted.
type Container struct {
	Image     string
	Endpoints []Endpoint
	// Env are the container's environment variables, in the devfile's order.
	Env []EnvVar
	// MemoryLimit, MemoryRequest, CPULimit and CPURequest are Kubernetes quantities as written
	// ("" when unset).
	MemoryLimit, MemoryRequest, CPULimit, CPURequest string
}

// EnvVar is an environment variable of a container component or an exec command.
type EnvVar struct {
	Name  string
	Value string
}

// Endpoint is a container endpoint.
type Endpoint struct {
	Name       string
	TargetPort int
}

// CommandKind is the type of a command.
type CommandKind string

// Command kinds.
const (
	CommandApply       CommandKind = "apply"
	CommandComposite   CommandKind = "composite"
	CommandExec        CommandKind = "exec"
	CommandUnsupported CommandKind = "unsupported"
)

// Command is one devfile command. Exactly one of Apply, Composite, Exec is set, per Kind.
type Command struct {
	ID         string
	Kind       CommandKind
	Group      *Group
	Apply      *Apply
	Composite  *Composite
	Exec       *Exec
	Attributes map[string]string
}

// Group is a command group.
type Group struct {
	// Kind is the group kind: build, run, test, debug, deploy.
	Kind string
	// IsDefault is nil when unset.
	IsDefault *bool
}

// Apply is an apply command: it names the component to apply.
type Apply struct {
	Component string
}

// Composite is a composite command.
type Composite struct {
	Commands []string
	Parallel bool
}

// Exec is an exec command. Values are unsubstituted.
type Exec struct {
	Component   string
	CommandLine string
	WorkingDir  string
	// Env are the command's environment variables, in the devfile's order.
	Env []EnvVar
}

// Helm is a Helm chart component, devtool's extension of the devfile schema (design.md §3,
// the outer-loop proposal's Helm component). It is written either in the proposal's syntax
//
//   - name: chart
//     helm: {chart: ./chart, releaseName: app, namespace: demo, values: {...}}
//
// or as a `custom` component with `componentClass: helm` whose `embeddedResource` holds the
// same fields; both load into this one model. Values are unsubstituted.
type Helm struct {
	// Chart is where the chart comes from: a path relative to the devfile directory (a chart
	// directory or a packaged .tgz), an oci:// reference (oci://host/repo/name), or, with Repo,
	// a chart name in that repository.
	Chart string
	// Version is the chart version (a semver constraint for oci:// and repository charts; empty
	// means the latest), or, for a local chart, the version its Chart.yaml must declare.
	Version string
	// Repo is a chart repository URL (http(s), the directory holding index.yaml); Chart is then
	// a chart name in it.
	Repo string
	// ReleaseName is the Helm release name ("" means the component's name); Namespace the
	// release's namespace ("" means the deploy's namespace).
	ReleaseName string
	Namespace   string
	// Values are the chart values given in the devfile (decoded YAML: maps, lists, strings,
	// numbers, booleans), above the chart's own values and the ValuesFiles. Devfile variables
	// are substituted in their strings, never in the chart's templates.
	Values map[string]any
	// ValuesFiles are values files relative to the devfile directory, lowest precedence
	// first (helm's -f order); Values override them.
	ValuesFiles []string
	// DeployByDefault is deployByDefault as for kubernetes components (schema ≥ 2.2.0
	// semantics); nil when unset.
	DeployByDefault *bool
	// Field is where the settings were written, for messages: "helm" or
	// "custom.embeddedResource".
	Field string
}
