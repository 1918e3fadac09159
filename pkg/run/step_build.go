package run

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/devtool/devtool/pkg/build"
	"github.com/devtool/devtool/pkg/devfile"
	"github.com/devtool/devtool/pkg/plan"
	"github.com/devtool/devtool/pkg/vars"
)

// buildKind builds (and pushes) an image component (devfile spec, image component with a
// dockerfile; design.md §4).
type buildKind struct{}

type buildStep struct {
	step     plan.Step
	name     string // substituted imageName as written: the selector for manifests
	req      build.Request
	why      string
	prebuilt *build.Result // from --images: not built
	// inputErr is why the build context or Dockerfile cannot be resolved, for steps prepared
	// without checking inputs (render, diff); req.ContextDir and req.Dockerfile are set otherwise.
	inputErr error
}

func (b *buildStep) plan() plan.Step                                  { return b.step }
func (b *buildStep) imageName() string                                { return b.name }
func (b *buildStep) repository() string                               { return b.req.Repository }
func (b *buildStep) unpinned() string                                 { return unpinnedRef(b.req) }
func (b *buildStep) objects(*prepared, map[string]string) stepObjects { return stepObjects{} }

func (b *buildStep) describe() string {
	msg := fmt.Sprintf("building image component %q → %s", b.step.Component, b.req.Repository)
	if b.why != "" {
		msg += " (" + b.why + ")"
	}
	return msg
}

func (buildKind) prepare(ctx context.Context, pc *prepareContext, s plan.Step, comp *devfile.Component) (step, error) {
	b, err := prepareBuild(ctx, pc, s, comp)
	if err != nil {
		return nil, fmt.Errorf("image component %q: %w", comp.Name, err)
	}
	return b, nil
}

func prepareBuild(ctx context.Context, pc *prepareContext, s plan.Step, comp *devfile.Component) (*buildStep, error) {
	img := comp.Image
	if img == nil || (img.Dockerfile == nil && img.S2I == nil) {
		return nil, errors.New("only dockerfile and s2i image builds are supported")
	}
	res := pc.base.With(pc.attributes(pc.base, s))
	where := func(f string) string { return fmt.Sprintf("components[name=%s].image.%s", comp.Name, f) }
	name := res.Substitute(img.ImageName, where("imageName"), pc.warn)
	if name == "" {
		return nil, errors.New("imageName is empty")
	}
	repo, tag, _ := qualify(name, pc.proj.ImageRegistry, devfileName(pc.d))
	if pc.opts.tag != "" {
		tag = pc.opts.tag
	}
	if pc.opts.checkInputs {
		if err := checkReference(repo, tag); err != nil {
			return nil, fmt.Errorf("imageName %q: %w", name, err)
		}
	}
	req := build.Request{Name: comp.Name, Repository: repo, Tag: tag, Platforms: pc.opts.platforms, Push: pc.opts.push}
	if pb, ok := pc.opts.prebuilt[comp.Name]; ok {
		// deploy --images: the image exists; no registry flag, Dockerfile or builder is needed.
		return &buildStep{step: s, name: name, req: req, prebuilt: &pb}, nil
	}
	if img.S2I != nil {
		return prepareS2I(ctx, pc, s, comp, name, req, res)
	}
	if img.Dockerfile.Remote != "" && img.Dockerfile.Fetched == "" {
		return nil, fmt.Errorf("its Dockerfile comes from %s and was not fetched (a uri with {{variables}} is not fetched); copy the Dockerfile into the project and set dockerfile.uri to its path", img.Dockerfile.Remote)
	}
	if pc.opts.push && isRelativeImage(repo) {
		return nil, fmt.Errorf("imageName %q has no registry to push to; set --image-registry (or DEVTOOL_IMAGE_REGISTRY) or use a full name such as quay.io/you/%s", name, repo)
	}
	uri := res.Substitute(img.Dockerfile.URI, where("dockerfile.uri"), pc.warn)
	bc := res.Substitute(img.Dockerfile.BuildContext, where("dockerfile.buildContext"), pc.warn)
	for _, a := range img.Dockerfile.Args {
		req.Args = append(req.Args, buildArg(res.Substitute(a, where("dockerfile.args"), pc.warn), res.Lookup, pc.proj.BuildArgEnv))
	}
	ctxDir, df, err := resolveBuildPaths(pc.d.Dir, uri, bc, pc.proj.AllowOutsideProject)
	if img.Dockerfile.Fetched != "" {
		ctxDir, df, err = resolveFetched(pc.d.Dir, img.Dockerfile.Fetched, bc, pc.proj.AllowOutsideProject)
	}
	req.ContextDir, req.Dockerfile = ctxDir, df
	if !pc.opts.checkInputs {
		return &buildStep{step: s, name: name, req: req, inputErr: err}, nil
	}
	if err != nil {
		return nil, err
	}
	content, err := os.ReadFile(df)
	if err != nil {
		return nil, err
	}
	if err := checkDockerfile(content); err != nil {
		return nil, fmt.Errorf("dockerfile uri %q: %w", displayURI(uri), err)
	}
	if pc.builder == nil {
		return nil, errors.New("no image builder is configured")
	}
	why, err := build.Explain(ctx, pc.builder, req)
	if err != nil {
		return nil, err
	}
	return &buildStep{step: s, name: name, req: req, why: why}, nil
}

// prepareS2I resolves a source-to-image build (docs/s2i.md): the source is the devfile's
// directory, the builder image and scripts are substituted and checked, and the builder must
// be able to run the generated Dockerfile's RUN (build.Explain through s2i.Builder).
func prepareS2I(ctx context.Context, pc *prepareContext, s plan.Step, comp *devfile.Component, name string, req build.Request, res *vars.Resolver) (*buildStep, error) {
	conf := comp.Image.S2I
	field := func(f string) string { return fmt.Sprintf("components[name=%s].%s.%s", comp.Name, conf.Field, f) }
	if conf.BuilderImageStreamTag != "" {
		ns := conf.BuilderImageNamespace
		if ns == "" {
			ns = "<namespace>"
		}
		return nil, fmt.Errorf("s2i builderImageStreamTag %q: devtool does not resolve OpenShift image streams; set builderImage to the builder image's reference instead (oc get istag -n %s %s -o jsonpath='{.image.dockerImageReference}' prints it)", conf.BuilderImageStreamTag, ns, conf.BuilderImageStreamTag)
	}
	builder := res.Substitute(conf.BuilderImage, field("builderImage"), pc.warn)
	if err := checkImageRef(builder); err != nil {
		return nil, fmt.Errorf("s2i builderImage %q: %w", builder, err)
	}
	if pc.opts.push && isRelativeImage(req.Repository) {
		return nil, fmt.Errorf("imageName %q has no registry to push to; set --image-registry (or DEVTOOL_IMAGE_REGISTRY) or use a full name such as quay.io/you/%s", name, req.Repository)
	}
	req.S2I = &build.S2I{BuilderImage: builder, Incremental: conf.IncrementalBuild == nil || *conf.IncrementalBuild}
	req.ContextDir = pc.d.Dir
	b := &buildStep{step: s, name: name, req: req}
	if loc := res.Substitute(conf.ScriptLocation, field("scriptLocation"), pc.warn); loc != "" {
		if strings.Contains(loc, "://") {
			req.S2I.ScriptsURL = loc
		} else {
			dir, err := resolveScripts(pc.d.Dir, loc, pc.proj.AllowOutsideProject)
			if err != nil {
				if !pc.opts.checkInputs {
					b.inputErr = err
					return b, nil
				}
				return nil, err
			}
			req.S2I.ScriptsURL = "file://" + filepath.ToSlash(dir)
		}
	}
	b.req = req
	if !pc.opts.checkInputs {
		return b, nil
	}
	if pc.builder == nil {
		return nil, errors.New("no image builder is configured")
	}
	why, err := build.Explain(ctx, pc.builder, req)
	if err != nil {
		return nil, err
	}
	b.why = why
	return b, nil
}

// resolveScripts resolves an s2i scriptLocation written as a path: relative to the devfile
// directory, an existing directory, inside the project unless allowOutside.
func resolveScripts(devfileDir, loc string, allowOutside bool) (string, error) {
	dir := loc
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(devfileDir, dir)
	}
	if !allowOutside {
		if err := lexicallyInside(devfileDir, dir, "s2i.scriptLocation", loc); err != nil {
			return "", err
		}
	}
	st, err := os.Stat(dir)
	if err != nil {
		return "", fmt.Errorf("s2i scriptLocation %q: %w; create the directory holding assemble/run or fix scriptLocation (relative paths start at the devfile directory %s)", loc, err, devfileDir)
	}
	if !st.IsDir() {
		return "", fmt.Errorf("s2i scriptLocation %q: %s is not a directory (it should hold assemble, run and optionally save-artifacts)", loc, dir)
	}
	if !allowOutside {
		if err := inside(devfileDir, dir, "s2i.scriptLocation", loc); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// checkImageRef checks an image reference the way registries parse it (host/path:tag@digest).
func checkImageRef(ref string) error {
	if ref == "" {
		return errors.New("is empty")
	}
	if _, err := name.ParseReference(ref); err != nil {
		return fmt.Errorf("%w; write an image reference such as quay.io/org/builder:tag", err)
	}
	return nil
}

var (
	// The path components and tag of docker/distribution's reference grammar.
	pathComponent = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)
	tagPattern    = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
)

// checkReference checks repo (an optional registry host, then path components) and tag
// against docker/distribution's reference grammar, so that a bad name is refused before
// anything runs instead of failing the push.
func checkReference(repo, tag string) error {
	path := repo
	if !isRelativeImage(repo) {
		_, path, _ = strings.Cut(repo, "/")
	}
	for _, c := range strings.Split(path, "/") {
		if !pathComponent.MatchString(c) {
			return fmt.Errorf("%q is not a valid image repository: %q must be lowercase letters and digits, separated by '.', '_', '__' or '-'", repo, c)
		}
	}
	if tag != "" && !tagPattern.MatchString(tag) {
		return fmt.Errorf("tag %q is not a valid image tag (letters, digits, '_', '.', '-'; at most 128)", tag)
	}
	return nil
}

// buildArg resolves a build arg as written in dockerfile.args. "KEY=VALUE" stays as it is. A
// bare "KEY" takes its value from the devfile's variables (devfile, --var-file, --var), else
// from the environment only when the user named KEY with --build-arg-env (env holds those
// values), else stays bare: unset, as docker leaves an ARG without a value. The environment
// of the machine running devtool never reaches an image otherwise (a CI secret must not).
func buildArg(a string, lookup func(string) (string, string, bool), env map[string]string) string {
	if strings.Contains(a, "=") {
		return a
	}
	if v, _, ok := lookup(a); ok {
		return a + "=" + v
	}
	if v, ok := env[a]; ok {
		return a + "=" + v
	}
	return a
}

// checkDockerfile refuses a file that is not a Dockerfile (no FROM instruction, or another
// instruction before it other than ARG) without showing its content: a devfile from someone
// else's repository must not make devtool print a file of the user's.
func checkDockerfile(content []byte) error {
	const notDockerfile = "the file is not a Dockerfile (a Dockerfile starts with FROM, after optional ARG instructions and comments)"
	content = bytes.TrimPrefix(content, []byte("\xef\xbb\xbf")) // a UTF-8 BOM, as docker's parser allows
	for _, line := range bytes.Split(content, []byte("\n")) {
		f := strings.Fields(string(line))
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "FROM":
			return nil
		case "ARG":
			continue
		}
		return errors.New(notDockerfile)
	}
	return errors.New(notDockerfile)
}

func displayURI(uri string) string {
	if uri == "" {
		return "(default) Dockerfile"
	}
	return uri
}

func (b *buildStep) execute(ctx context.Context, x *execution) error {
	var res build.Result
	switch {
	case b.prebuilt != nil:
		res = *b.prebuilt
		x.info(b.step, fmt.Sprintf("using %s from --images (not built)", res.Ref()), nil)
	default:
		var err error
		if res, err = x.cfg.Builder.Build(ctx, b.req, x.logWriter(b.step)); err != nil {
			return err
		}
	}
	x.recordImage(b.step.ID, res)
	if b.prebuilt == nil {
		msg := fmt.Sprintf("built %s with %s", res.Ref(), res.Builder)
		if res.Cached {
			msg = fmt.Sprintf("cached %s: the registry already has this tag, build skipped", res.Ref())
		}
		x.info(b.step, msg, map[string]string{"image": res.Ref(), "cached": strconv.FormatBool(res.Cached)})
	}
	return nil
}

// resolve says which image deploy would pin for b without building it (diff): with a
// builder that is a build.Resolver (the input-digest cache), the input-digest tag and, when
// the registry has it, its digest — exactly what a deploy with nothing changed would reuse.
// Otherwise, or when the build inputs cannot be read, the image stays unpinned and the note
// says why.
func (b *buildStep) resolve(ctx context.Context, builder build.Builder) (*build.Result, string) {
	if b.prebuilt != nil {
		return b.prebuilt, ""
	}
	unpinned := func(why string) (*build.Result, string) {
		return nil, fmt.Sprintf("image component %q is not built by diff: manifests show it as %s, where deploy pins the built image (%s; pass --images with a build report for exact refs)", b.step.Component, b.unpinned(), why)
	}
	rv, ok := builder.(build.Resolver)
	switch {
	case builder == nil:
		return unpinned("no builder to compute its input digest")
	case b.inputErr != nil:
		return unpinned(b.inputErr.Error())
	case !ok:
		return unpinned("its builder cannot compute an input digest")
	}
	req := b.req
	req.Push = true
	got, found, err := rv.Resolve(ctx, req)
	if err != nil {
		return unpinned(err.Error())
	}
	if !found {
		return &got, fmt.Sprintf("image component %q would be built: the registry has no %s yet (its build inputs changed since the last deploy)", b.step.Component, got.Ref())
	}
	return &got, ""
}

// unpinnedRef is how render shows a build's image: repository, and the tag when one is fixed.
func unpinnedRef(req build.Request) string {
	if req.Tag != "" {
		return req.Repository + ":" + req.Tag
	}
	return req.Repository
}
