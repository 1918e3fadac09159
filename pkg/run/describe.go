package run

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/devtool/devtool/pkg/build"
	"github.com/devtool/devtool/pkg/deploy"
	"github.com/devtool/devtool/pkg/plan"
	"github.com/devtool/devtool/pkg/vars"
)

// Description is the `devtool describe -o json` document: what an IDE tree view needs, in one
// call, without a cluster or network (issue: "the tool an IDE wants to call").
type Description struct {
	APIVersion    string `json:"apiVersion"`
	Kind          string `json:"kind"`
	Devfile       string `json:"devfile"`
	Name          string `json:"name"`
	SchemaVersion string `json:"schemaVersion"`
	// DeployCommand is the default deploy command ("" when there is none).
	DeployCommand string          `json:"deployCommand,omitempty"`
	Components    []ComponentInfo `json:"components"`
	Commands      []CommandInfo   `json:"commands"`
	Variables     []VariableInfo  `json:"variables"`
	// Steps are what the deploy command expands to (as `devtool plan`).
	Steps    []plan.Step `json:"steps"`
	Warnings []string    `json:"warnings,omitempty"`
}

// ComponentInfo is one component. InDeploy says whether the deploy command's plan acts on it.
type ComponentInfo struct {
	Name      string         `json:"name"`
	Kind      string         `json:"kind"`
	InDeploy  bool           `json:"inDeploy"`
	Image     *ImageInfo     `json:"image,omitempty"`
	Manifest  *ManifestInfo  `json:"manifest,omitempty"`
	Container *ContainerInfo `json:"container,omitempty"`
}

// ImageInfo is an image component: its imageName as written, the repository it is built and
// pushed to (relative names qualified with --image-registry), and its build inputs relative to
// the project directory.
type ImageInfo struct {
	ImageName    string   `json:"imageName"`
	Repository   string   `json:"repository"`
	BuildContext string   `json:"buildContext,omitempty"`
	Dockerfile   string   `json:"dockerfile,omitempty"`
	Args         []string `json:"args,omitempty"`
	// Remote names a Dockerfile fetched from an http(s) uri, git or a devfile registry.
	Remote string `json:"remote,omitempty"`
	// S2I is set for a source-to-image build (docs/s2i.md).
	S2I *S2IInfo `json:"s2i,omitempty"`
}

// S2IInfo is a source-to-image build: values substituted; Incremental is the effective flag
// (unset means true).
type S2IInfo struct {
	BuilderImage          string `json:"builderImage,omitempty"`
	BuilderImageNamespace string `json:"builderImageNamespace,omitempty"`
	BuilderImageStreamTag string `json:"builderImageStreamTag,omitempty"`
	ScriptLocation        string `json:"scriptLocation,omitempty"`
	Incremental           bool   `json:"incremental"`
}

// ManifestInfo is a kubernetes or openshift component.
type ManifestInfo struct {
	URI     string `json:"uri,omitempty"`
	Inlined bool   `json:"inlined"`
	// Objects are "Kind name" of each object, when it can be decoded without a cluster.
	Objects []string `json:"objects,omitempty"`
}

// ContainerInfo is a container component (exec commands of a deploy run in its image).
type ContainerInfo struct {
	Image string `json:"image"`
}

// CommandInfo is one command: its group kind and default flag, the component it acts on, and
// a composite's children.
type CommandInfo struct {
	ID          string   `json:"id"`
	Kind        string   `json:"kind"`
	Group       string   `json:"group,omitempty"`
	IsDefault   bool     `json:"isDefault,omitempty"`
	Component   string   `json:"component,omitempty"`
	CommandLine string   `json:"commandLine,omitempty"`
	Commands    []string `json:"commands,omitempty"`
	Parallel    bool     `json:"parallel,omitempty"`
}

// VariableInfo is one variable: its source (devfile, --var-file …, --var, built-in) and every
// place that references it. Values set on the command line are not shown (they may be
// secrets); devfile and built-in values are.
type VariableInfo struct {
	Name   string   `json:"name"`
	Value  string   `json:"value,omitempty"`
	Source string   `json:"source"`
	UsedIn []string `json:"usedIn,omitempty"`
}

// Describe is `devtool describe`: no cluster, registry or builder is needed.
type Describe struct{ cfg *Configuration }

// NewDescribe returns the describe action over cfg.
func NewDescribe(cfg *Configuration) *Describe { return &Describe{cfg: cfg} }

// Run describes proj; p is its deploy plan (nil: none could be compiled, whose error is then
// a warning). Errors: none today (problems are warnings); the signature leaves room.
func (a *Describe) Run(ctx context.Context, proj Project, p *plan.Plan) (*Description, error) {
	d := proj.Devfile
	desc := &Description{APIVersion: APIVersion, Kind: "Description", Devfile: d.Path, Name: d.Name, SchemaVersion: d.SchemaVersion,
		Components: []ComponentInfo{}, Commands: []CommandInfo{}, Variables: []VariableInfo{}, Steps: []plan.Step{}}
	inDeploy := map[string]bool{}
	if p != nil {
		desc.DeployCommand, desc.Steps = p.Command, append(desc.Steps, p.Steps...)
		for _, s := range p.Steps {
			inDeploy[s.Component] = true
		}
	}
	base := vars.New(append([]vars.Layer{{Source: "built-in", Values: builtins(d)}, {Source: "devfile", Values: d.Variables}}, proj.Vars...)...)
	used := map[string][]string{}
	note := func(text, where string) string {
		for _, n := range vars.References(text) {
			n = strings.TrimPrefix(n, ".")
			used[n] = append(used[n], where)
		}
		return base.Substitute(text, where, nil)
	}
	for _, c := range d.Components {
		ci := ComponentInfo{Name: c.Name, Kind: string(c.Kind), InDeploy: inDeploy[c.Name]}
		where := func(f string) string { return fmt.Sprintf("components[name=%s].%s", c.Name, f) }
		switch {
		case c.Image != nil:
			name := note(c.Image.ImageName, where("image.imageName"))
			repo, _, _ := qualify(name, proj.ImageRegistry, devfileName(d))
			ii := &ImageInfo{ImageName: name, Repository: repo}
			if df := c.Image.Dockerfile; df != nil {
				ii.Remote = df.Remote
				for _, arg := range df.Args {
					ii.Args = append(ii.Args, note(arg, where("image.dockerfile.args")))
				}
				uri, bc := note(df.URI, where("image.dockerfile.uri")), note(df.BuildContext, where("image.dockerfile.buildContext"))
				if df.Remote == "" {
					ctxDir, dockerfile, err := resolveBuildPaths(d.Dir, uri, bc, proj.AllowOutsideProject)
					if err != nil {
						desc.Warnings = append(desc.Warnings, fmt.Sprintf("image component %q: %v", c.Name, err))
					} else {
						ii.BuildContext, ii.Dockerfile = relTo(d.Dir, ctxDir), relTo(d.Dir, dockerfile)
					}
				}
			}
			if s2 := c.Image.S2I; s2 != nil {
				f := s2.Field
				ii.S2I = &S2IInfo{
					BuilderImage:          note(s2.BuilderImage, where(f+".builderImage")),
					BuilderImageNamespace: s2.BuilderImageNamespace,
					BuilderImageStreamTag: s2.BuilderImageStreamTag,
					ScriptLocation:        note(s2.ScriptLocation, where(f+".scriptLocation")),
					Incremental:           s2.IncrementalBuild == nil || *s2.IncrementalBuild,
				}
				ii.BuildContext = "."
			}
			ci.Image = ii
		case c.Manifest != nil:
			kind := string(c.Kind)
			mi := &ManifestInfo{URI: c.Manifest.URI, Inlined: c.Manifest.Inlined != ""}
			note(c.Manifest.URI, where(kind+".uri"))
			if text := c.Manifest.YAML(); text != "" {
				if objs, err := deploy.Decode(note(text, where(kind)), c.Name); err == nil {
					for _, o := range objs {
						mi.Objects = append(mi.Objects, o.GetKind()+" "+o.GetName())
					}
				}
			}
			ci.Manifest = mi
		case c.Container != nil:
			ci.Container = &ContainerInfo{Image: note(c.Container.Image, where("container.image"))}
			for _, e := range c.Container.Env {
				note(e.Value, where("container.env"))
			}
		}
		desc.Components = append(desc.Components, ci)
	}
	for _, c := range d.Commands {
		ci := CommandInfo{ID: c.ID, Kind: string(c.Kind)}
		if c.Group != nil {
			ci.Group = c.Group.Kind
			ci.IsDefault = c.Group.IsDefault != nil && *c.Group.IsDefault
		}
		switch {
		case c.Apply != nil:
			ci.Component = c.Apply.Component
		case c.Exec != nil:
			ci.Component = c.Exec.Component
			ci.CommandLine = note(c.Exec.CommandLine, fmt.Sprintf("commands[id=%s].exec.commandLine", c.ID))
		case c.Composite != nil:
			ci.Commands, ci.Parallel = c.Composite.Commands, c.Composite.Parallel
		}
		for k, v := range c.Attributes {
			note(v, fmt.Sprintf("commands[id=%s].attributes.%s", c.ID, k))
		}
		desc.Commands = append(desc.Commands, ci)
	}
	names := map[string]bool{}
	for _, l := range base.Layers() {
		for n := range l.Values {
			names[n] = true
		}
	}
	for n := range used {
		names[n] = true
	}
	for _, n := range sortedKeys(names) {
		v, src, ok := base.Lookup(n)
		vi := VariableInfo{Name: n, Source: src, UsedIn: uniq(used[n])}
		switch {
		case !ok:
			vi.Source = "undefined"
			desc.Warnings = append(desc.Warnings, fmt.Sprintf("variable %s is not defined (used in %s)", n, strings.Join(vi.UsedIn, ", ")))
		case src == "devfile" || src == "built-in":
			vi.Value = v
		}
		desc.Variables = append(desc.Variables, vi)
	}
	return desc, nil
}

func relTo(root, path string) string {
	if rel, err := filepath.Rel(root, path); err == nil {
		return rel
	}
	return path
}

func uniq(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// ImageList is the `devtool images -o json` document: every image a deploy would run.
type ImageList struct {
	APIVersion string     `json:"apiVersion"`
	Kind       string     `json:"kind"`
	Images     []ImageUse `json:"images"`
	Warnings   []string   `json:"warnings,omitempty"`
}

// ImageUse is one image and where it comes from. Built images are those of the deploy's
// image components, with the input-digest tag deploy would push (not pinned by digest: no
// registry is asked); the others are referenced by manifests and exec Jobs as written.
type ImageUse struct {
	Ref       string `json:"ref"`
	Built     bool   `json:"built"`
	Component string `json:"component"`
	// Source says where: "image component", the manifest file, or the exec command's Job.
	Source string `json:"source"`
}

// Images is `devtool images` (seed 001: the image list from manifests and charts).
type Images struct{ cfg *Configuration }

// NewImages returns the images action over cfg (cfg.Builder, when a build.Tagger, gives the
// input-digest tags; no registry or cluster is contacted).
func NewImages(cfg *Configuration) *Images { return &Images{cfg: cfg} }

// Run lists the images of p's steps: built ones first (plan order), then every other image
// the rendered objects and Jobs reference, once each. Errors: *InputError as render.
func (a *Images) Run(ctx context.Context, proj Project, p *plan.Plan) (*ImageList, error) {
	list := &ImageList{APIVersion: APIVersion, Kind: "ImageList", Images: []ImageUse{}}
	pp, err := prepare(ctx, a.cfg, proj, p, prepareOptions{push: true})
	if pp != nil {
		list.Warnings = pp.warningStrings()
	}
	if err != nil {
		return list, err
	}
	refs := pp.unpinnedRefs()
	tagger, _ := a.cfg.Builder.(build.Tagger)
	built := map[string]bool{}
	for _, st := range pp.steps {
		b, ok := st.(*buildStep)
		if !ok {
			continue
		}
		ref := refs[b.step.ID]
		switch {
		case b.prebuilt != nil:
			ref = b.prebuilt.Ref()
		case tagger != nil && b.inputErr == nil:
			if tag, err := tagger.Tag(ctx, b.req); err == nil {
				ref = b.req.Repository + ":" + tag
			} else {
				list.Warnings = append(list.Warnings, err.Error())
			}
		case b.inputErr != nil:
			list.Warnings = append(list.Warnings, fmt.Sprintf("image component %q: %v", b.step.Component, b.inputErr))
		}
		refs[b.step.ID] = ref
		built[ref] = true
		list.Images = append(list.Images, ImageUse{Ref: ref, Built: true, Component: b.step.Component, Source: "image component"})
	}
	seen := map[string]bool{}
	for _, st := range pp.steps {
		so := st.objects(pp, refs)
		for i, o := range so.Members {
			for _, img := range deploy.ImagesOf(so.Members[i : i+1]) {
				if built[img] || seen[img] {
					continue
				}
				seen[img] = true
				list.Images = append(list.Images, ImageUse{Ref: img, Component: st.plan().Component, Source: so.MemberSources[i] + ": " + o.GetKind() + " " + o.GetName()})
			}
		}
		for i, j := range so.Jobs {
			for _, img := range deploy.ImagesOf(so.Jobs[i : i+1]) {
				if built[img] || seen[img] {
					continue
				}
				seen[img] = true
				list.Images = append(list.Images, ImageUse{Ref: img, Component: st.plan().Component, Source: so.JobSources[i] + ": Job " + j.GetName()})
			}
		}
		for _, r := range so.Releases {
			objs, srcs := r.rendered.All()
			for i, o := range objs {
				for _, img := range deploy.ImagesOf(objs[i : i+1]) {
					if built[img] || seen[img] {
						continue
					}
					seen[img] = true
					list.Images = append(list.Images, ImageUse{Ref: img, Component: st.plan().Component, Source: srcs[i] + ": " + o.GetKind() + " " + o.GetName()})
				}
			}
		}
	}
	sort.SliceStable(list.Images, func(i, j int) bool { return list.Images[i].Built && !list.Images[j].Built })
	return list, nil
}
