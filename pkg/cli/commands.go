package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"sigs.k8s.io/yaml"

	"github.com/devtool/devtool/pkg/build"
	"github.com/devtool/devtool/pkg/deploy"
	"github.com/devtool/devtool/pkg/devfile"
	"github.com/devtool/devtool/pkg/plan"
	"github.com/devtool/devtool/pkg/run"
	"github.com/devtool/devtool/pkg/vars"
)

func newValidateCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "validate",
		Short: "Parse and validate the devfile and its commands",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := g.validateCommon(); err != nil {
				return err
			}
			proj, p, err := g.loadPlan(cmd.Context(), "")
			if err != nil {
				return err
			}
			d := proj.Devfile
			if problems := run.CheckDockerfiles(proj); len(problems) > 0 {
				return &devfile.ValidationError{File: d.Path, Problems: problems}
			}
			warnings, err := g.checkVariables(proj, p)
			if err != nil {
				return err
			}
			doc := ValidationReport{
				APIVersion: run.APIVersion, Kind: "ValidationReport", Valid: true,
				Devfile: d.Path, SchemaVersion: d.SchemaVersion, Name: d.Name,
				Components: len(d.Components), Commands: len(d.Commands), DeployCommand: p.Command,
				Warnings: warnings,
			}
			if g.output != "text" {
				return g.print(doc)
			}
			def := p.Command
			if def == "" {
				def = "none"
			}
			fmt.Fprintf(g.streams.Out, "%s is valid: schemaVersion %s, %d components, %d commands, deploy command: %s\n",
				d.Path, d.SchemaVersion, len(d.Components), len(d.Commands), def)
			return nil
		},
	}
}

func newPlanCommand(g *globals) *cobra.Command {
	var command, format string
	c := &cobra.Command{
		Use:   "plan",
		Short: "Show the steps the deploy command expands to",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := g.validateCommon(); err != nil {
				return err
			}
			if format == "" {
				format = g.output
			}
			proj, p, err := g.loadPlan(cmd.Context(), command)
			if err != nil {
				return err
			}
			if _, err := g.checkVariables(proj, p); err != nil {
				return err
			}
			switch format {
			case "json", "yaml":
				g.output = format
				return g.print(PlanDocument{run.APIVersion, "Plan", p})
			case "text":
				writePlanText(g.streams.Out, p)
				return nil
			case "dot":
				writePlanDot(g.streams.Out, p)
				return nil
			case "mermaid":
				writePlanMermaid(g.streams.Out, p)
				return nil
			}
			return &UsageError{Err: fmt.Errorf("--format %q: must be text, json, yaml, dot or mermaid", format)}
		},
	}
	c.Flags().StringVar(&command, "command", "", "command id to plan instead of the default deploy command")
	c.Flags().StringVar(&format, "format", "", "text, json, yaml, dot (Graphviz) or mermaid (default: the --output format)")
	return c
}

// writePlanDot writes the step graph in Graphviz dot: one node per step (shape box for builds,
// folder for Helm releases, ellipse for applies and exec Jobs), an edge from each dependency
// to the step that waits for it.
func writePlanDot(w io.Writer, p *plan.Plan) {
	fmt.Fprintf(w, "digraph %q {\n  rankdir=LR;\n", "devtool plan: "+p.Command)
	for _, s := range p.Steps {
		shape := "ellipse"
		switch s.Kind {
		case plan.StepBuild:
			shape = "box"
		case plan.StepHelm:
			shape = "folder"
		}
		fmt.Fprintf(w, "  %q [shape=%s, label=%q];\n", s.ID, shape, fmt.Sprintf("%s %s\n(%s)", s.Kind, s.ID, s.Component))
	}
	for _, s := range p.Steps {
		for _, d := range s.DependsOn {
			fmt.Fprintf(w, "  %q -> %q;\n", d, s.ID)
		}
	}
	fmt.Fprintln(w, "}")
}

// writePlanMermaid writes the step graph as a Mermaid flowchart (renders in GitHub markdown).
func writePlanMermaid(w io.Writer, p *plan.Plan) {
	fmt.Fprintln(w, "flowchart LR")
	ids := map[string]string{}
	for i, s := range p.Steps {
		ids[s.ID] = fmt.Sprintf("s%d", i)
		open, closing := "(", ")"
		switch s.Kind {
		case plan.StepBuild:
			open, closing = "[", "]"
		case plan.StepHelm:
			open, closing = "[[", "]]"
		}
		fmt.Fprintf(w, "  %s%s\"%s %s<br/>%s\"%s\n", ids[s.ID], open, s.Kind, s.ID, s.Component, closing)
	}
	for _, s := range p.Steps {
		for _, d := range s.DependsOn {
			fmt.Fprintf(w, "  %s --> %s\n", ids[d], ids[s.ID])
		}
	}
}

func writePlanText(w io.Writer, p *plan.Plan) {
	if p.Command != "" {
		fmt.Fprintf(w, "command: %s\n", p.Command)
	}
	for _, n := range p.Notes {
		fmt.Fprintf(w, "# %s\n", n)
	}
	for i, s := range p.Steps {
		line := fmt.Sprintf("%d. %-5s %s (component %s)", i+1, s.Kind, s.ID, s.Component)
		if len(s.DependsOn) > 0 {
			line += " after " + strings.Join(s.DependsOn, ", ")
		}
		fmt.Fprintln(w, line)
	}
	if len(p.Steps) == 0 {
		fmt.Fprintln(w, "no steps")
	}
}

func newRenderCommand(g *globals) *cobra.Command {
	var command string
	var pullSecret bool
	c := &cobra.Command{
		Use:   "render",
		Short: "Print the fully resolved manifests, Jobs of exec commands and templated Helm charts without touching the cluster",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := g.validateCommon(); err != nil {
				return err
			}
			proj, p, err := g.loadPlan(cmd.Context(), command)
			if err != nil {
				return err
			}
			r := run.NewRender(&run.Configuration{Version: Version, Charts: g.chartLoader()})
			if pullSecret {
				r.PullSecret = g.registryPolicy().DockerConfigJSON
			}
			rendered, warnings, err := r.Run(cmd.Context(), proj, p)
			g.warn(warnings, err)
			if err != nil {
				return err
			}
			var objs []any
			for _, rd := range rendered {
				for _, o := range rd.Objects {
					objs = append(objs, o.Object)
				}
			}
			if len(objs) == 0 {
				fmt.Fprintln(g.streams.Err, noManifestsNote(p))
			}
			if g.output == "json" {
				return g.print(map[string]any{"apiVersion": "v1", "kind": "List", "items": objs})
			}
			for i, o := range objs {
				b, err := yaml.Marshal(o)
				if err != nil {
					return err
				}
				if i > 0 {
					fmt.Fprintln(g.streams.Out, "---")
				}
				g.streams.Out.Write(b)
			}
			return nil
		},
	}
	c.Flags().StringVar(&command, "command", "", "command id to render instead of the default deploy command")
	c.Flags().BoolVar(&pullSecret, "create-pull-secret", false, "also render the image pull Secret deploy --create-pull-secret applies (its data shown as REDACTED) and the imagePullSecrets it adds")
	return c
}

// noManifestsNote says why render printed no objects: the command of p applies no manifest,
// runs no exec command and installs no Helm chart (only builds, or no steps at all).
func noManifestsNote(p *plan.Plan) string {
	if len(p.Steps) == 0 {
		return "note: nothing to render: the devfile has no deploy command (add a command in group deploy, or pass --command ID)"
	}
	var builds []string
	for _, s := range p.Steps {
		if s.Kind == plan.StepBuild {
			builds = append(builds, s.Component)
		}
	}
	msg := fmt.Sprintf("note: nothing to render: command %q applies no kubernetes or openshift manifest, runs no exec command and installs no Helm chart", p.Command)
	if len(builds) > 0 {
		msg += fmt.Sprintf(" (it only builds %s; `devtool build` builds images)", strings.Join(builds, ", "))
	}
	return msg
}

// checkVariables reports the undefined variables the steps of p use (run.CheckVariables):
// warnings printed on stderr and returned, or with --strict an *run.InputError holding a
// *vars.UndefinedError, the error render and deploy give for the same devfile.
func (g *globals) checkVariables(proj run.Project, p *plan.Plan) ([]string, error) {
	ws := run.CheckVariables(proj, p)
	if len(ws) == 0 {
		return nil, nil
	}
	if g.strict {
		return nil, &run.InputError{Err: &vars.UndefinedError{Warnings: ws}}
	}
	msgs := make([]string, len(ws))
	for i, w := range ws {
		msgs[i] = w.String()
	}
	g.warn(msgs, nil)
	return msgs, nil
}

// buildFlags are shared by build and deploy.
type buildFlags struct {
	builder   string
	tag       string
	platforms []string
	kaniko    kanikoFlags
}

func (b *buildFlags) add(c *cobra.Command) {
	c.Flags().StringVar(&b.builder, "builder", "auto", "image builder: auto, native, buildah, podman, docker or kaniko (auto: native when the Dockerfile has no RUN, else the first engine that works, else kaniko in the cluster)")
	c.Flags().StringVar(&b.tag, "tag", "", "tag for built images (default: a digest of the build inputs, which lets unchanged images skip the build)")
	b.kaniko.add(c)
	c.Flags().StringArrayVar(&b.platforms, "platform", nil, "target platforms, comma-separated or repeated, e.g. linux/amd64,linux/arm64 (default: the host's); several build one multi-platform image index (native, buildah, podman; see docs/platforms.md)")
}

// validate checks and normalises --platform: each comma-separated entry must be os/arch or
// os/arch/variant (go-containerregistry's v1.ParsePlatform); entries are trimmed, written in
// canonical form and repeats dropped, the first occurrence keeping its place (the order of the
// index's entries).
func (b *buildFlags) validate() error {
	if err := b.kaniko.validate(); err != nil {
		return err
	}
	var out []string
	for _, flag := range b.platforms {
		for _, s := range strings.Split(flag, ",") {
			s = strings.TrimSpace(s)
			p, err := v1.ParsePlatform(s)
			if s == "" || err != nil || p.OS == "" || p.Architecture == "" || strings.Count(s, "/") > 2 {
				return &UsageError{Err: fmt.Errorf("--platform %q: %q is not a platform; want os/arch or os/arch/variant, e.g. linux/amd64,linux/arm64", flag, s)}
			}
			if c := p.String(); !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	b.platforms = out
	return nil
}

func newBuildCommand(g *globals) *cobra.Command {
	var bf buildFlags
	var components []string
	var push bool
	kube := genericclioptions.NewConfigFlags(true)
	bf.kaniko.kube = kube
	c := &cobra.Command{
		Use:   "build",
		Short: "Build the devfile's image components (all, or those named with --component)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := g.validateCommon(); err != nil {
				return err
			}
			if err := bf.validate(); err != nil {
				return err
			}
			builder, err := newBuilder(bf.builder, g, bf.kaniko)
			if err != nil {
				return err
			}
			proj, err := g.project(cmd.Context())
			if err != nil {
				return err
			}
			p, err := plan.CompileBuild(proj.Devfile, components)
			if err != nil {
				return &run.InputError{Err: err}
			}
			a := run.NewBuild(&run.Configuration{Builder: builder, Sink: g.sink(), Version: Version})
			a.Push, a.Tag, a.Platforms = push, bf.tag, bf.platforms
			rep, err := a.Run(cmd.Context(), proj, p)
			return g.finish(rep, err)
		},
	}
	bf.add(c)
	c.Flags().StringArrayVar(&components, "component", nil, "image component to build (repeatable; default: all)")
	c.Flags().BoolVar(&push, "push", false, "push the images to their registry")
	kube.AddFlags(c.Flags()) // the cluster of --builder kaniko
	return c
}

func newUndeployCommand(g *globals) *cobra.Command {
	var dryRun string
	var writeIDE bool
	kube := genericclioptions.NewConfigFlags(true)
	c := &cobra.Command{
		Use:   "undeploy",
		Short: "Delete everything devtool deployed for this devfile in the namespace (its inventory)",
		Long: `Delete everything the deploys of this devfile created in the namespace (-n, the
kubeconfig's, or "default"): first the Helm releases of its Helm components (found by their
release labels, devtool.dev/inventory), then the objects its inventory lists (the ApplySet
parent ConfigMap devtool-applyset-<devfile name>) — namespaced ones first, then cluster-scoped
ones, Namespaces and CustomResourceDefinitions last — then the inventory itself. Without
releases or an inventory there is nothing to do (exit 0).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := g.validateCommon(); err != nil {
				return err
			}
			mode := deploy.DryRun(dryRun)
			switch mode {
			case deploy.DryRunNone, deploy.DryRunServer:
			default:
				return &UsageError{Err: fmt.Errorf("--dry-run %q: must be none or server", dryRun)}
			}
			d, err := g.load(cmd.Context())
			if err != nil {
				return err
			}
			ns, err := kubeNamespace(kube)
			if err != nil {
				return err
			}
			applier, err := g.newCluster(kube)
			if err != nil {
				return err
			}
			a := run.NewUndeploy(&run.Configuration{Sink: g.sink(), Version: Version}, applier)
			a.Namespace, a.DryRun = ns, mode
			rep, err := a.Run(cmd.Context(), d)
			if err == nil && writeIDE && mode == deploy.DryRunNone {
				err = g.recordIDEState(kube, d, ns, rep, false)
			}
			return g.finish(rep, err)
		},
	}
	c.Flags().StringVar(&dryRun, "dry-run", "none", "none, or server (list what would be deleted and send the deletes as server-side dry runs)")
	c.Flags().BoolVar(&writeIDE, "write-ide-state", false, "remove this cluster and namespace from .odo/deploystate.json (the VS Code OpenShift extension's deploy state)")
	kube.AddFlags(c.Flags())
	return c
}

func newVersionCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the devtool version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if err := g.validateCommon(); err != nil {
				return err
			}
			if g.output != "text" {
				return g.print(VersionDocument{APIVersion: run.APIVersion, Kind: "Version", Version: Version})
			}
			fmt.Fprintln(g.streams.Out, "devtool", Version)
			return nil
		},
	}
}

// printReport writes a build/deploy report: JSON/YAML document, or in text mode one line per
// image ref, per object and per exec command's Job.
func (g *globals) printReport(rep *run.Report) error {
	if rep == nil {
		return nil
	}
	if g.output != "text" {
		return g.print(rep)
	}
	for _, im := range rep.Images {
		fmt.Fprintln(g.streams.Out, im.Ref())
	}
	for _, o := range rep.Objects {
		name := strings.ToLower(o.Kind) + "/" + o.Name
		if o.Namespace != "" {
			name = o.Namespace + " " + name
		}
		if o.Note != "" {
			fmt.Fprintf(g.streams.Out, "%s %s (%s)\n", name, o.Action, o.Note)
			continue
		}
		fmt.Fprintf(g.streams.Out, "%s %s\n", name, o.Action)
	}
	for _, e := range rep.Execs {
		fmt.Fprintf(g.streams.Out, "%s job/%s %s (exec command %s)\n", e.Namespace, e.Name, e.Outcome, e.Command)
	}
	for _, r := range rep.Releases {
		line := fmt.Sprintf("%s release/%s %s", r.Namespace, r.Name, r.Action)
		if r.Revision > 0 {
			line += fmt.Sprintf(" (revision %d, %s", r.Revision, r.Status)
			if r.Chart != "" {
				line += ", chart " + r.Chart
			}
			line += ")"
		}
		if r.Note != "" {
			line += " (" + r.Note + ")"
		}
		fmt.Fprintln(g.streams.Out, line)
	}
	if rep.Message != "" {
		fmt.Fprintln(g.streams.Out, rep.Message)
	}
	return nil
}

func (g *globals) print(doc any) error {
	switch g.output {
	case "yaml":
		b, err := yaml.Marshal(doc)
		if err != nil {
			return err
		}
		_, err = g.streams.Out.Write(b)
		return err
	default:
		enc := json.NewEncoder(g.streams.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(doc)
	}
}

// finish prints rep and returns err. In json/yaml mode a failed command prints no report:
// Main writes one Error document instead, which carries the partial report (what was built
// and applied before the failure), so stdout always holds exactly one document.
func (g *globals) finish(rep *run.Report, err error) error {
	if rep != nil {
		g.warn(rep.Warnings, err)
	}
	if err != nil && g.output != "text" {
		return &reportedError{err: err, report: rep}
	}
	if perr := g.printReport(rep); perr != nil && err == nil {
		err = perr
	}
	return err
}

// reportedError carries the partial report of a failed build or deploy to the Error document.
type reportedError struct {
	err    error
	report *run.Report
}

func (e *reportedError) Error() string { return e.err.Error() }
func (e *reportedError) Unwrap() error { return e.err }

// ErrorDocument is the `-o json|yaml` document of a failed command: a stable Code (see
// Classify), the exit code, the message, structured Problems when the error is a devfile or
// manifest validation error (for a failed deploy --wait: the objects that did not roll out, as
// deploy.ObjectStatus; for a failed exec command: its Job, likewise), and the partial Report of
// a failed build or deploy.
type ErrorDocument struct {
	APIVersion string      `json:"apiVersion"`
	Kind       string      `json:"kind"`
	Code       string      `json:"code"`
	ExitCode   int         `json:"exitCode"`
	Message    string      `json:"message"`
	File       string      `json:"file,omitempty"`
	Problems   any         `json:"problems,omitempty"`
	Report     *run.Report `json:"report,omitempty"`
}

func errorDocument(err error) ErrorDocument {
	code, exit := Classify(err)
	doc := ErrorDocument{APIVersion: run.APIVersion, Kind: "Error", Code: code, ExitCode: exit, Message: err.Error()}
	var (
		re  *reportedError
		dve *devfile.ValidationError
		mve *deploy.ValidationError
		we  *deploy.WaitError
		je  *deploy.JobError
	)
	if errors.As(err, &re) {
		doc.Report = re.report
	}
	switch {
	case errors.As(err, &dve):
		doc.File, doc.Problems = dve.File, dve.Problems
	case errors.As(err, &mve):
		doc.Problems = mve.Problems
	case errors.As(err, &we):
		doc.Problems = we.Objects
	case errors.As(err, &je):
		doc.Problems = []deploy.ObjectStatus{je.Job}
	}
	return doc
}

func writeErrorDocument(w io.Writer, format string, err error) {
	doc := errorDocument(err)
	if format == "yaml" {
		if b, merr := yaml.Marshal(doc); merr == nil {
			_, _ = w.Write(b)
		}
		return
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(doc)
}

// loadPlan loads the project (devfile, --var-file/--var layers, policies) and compiles the
// deploy command (or command, when not empty): what render, diff and deploy start from.
func (g *globals) loadPlan(ctx context.Context, command string) (run.Project, *plan.Plan, error) {
	proj, err := g.project(ctx)
	if err != nil {
		return run.Project{}, nil, err
	}
	p, err := plan.Compile(proj.Devfile, plan.Options{Command: command})
	if err != nil {
		return run.Project{}, nil, err
	}
	return proj, p, nil
}

// readImages reads deploy --images: a BuildReport (or DeployReport) JSON document as written by
// `devtool build --push -o json`, and returns its images by image component name. "" is none.
func readImages(path string) (map[string]build.Result, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, &run.InputError{Err: fmt.Errorf("--images: %w", err)}
	}
	var rep run.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, &run.InputError{Err: fmt.Errorf("--images %s: not a devtool JSON report (write one with `devtool build --push -o json > %s`): %w", path, path, err)}
	}
	if rep.APIVersion != run.APIVersion || (rep.Kind != "BuildReport" && rep.Kind != "DeployReport") {
		return nil, &run.InputError{Err: fmt.Errorf("--images %s: apiVersion %q kind %q; want a %s BuildReport from `devtool build --push -o json`", path, rep.APIVersion, rep.Kind, run.APIVersion)}
	}
	out := make(map[string]build.Result, len(rep.Images))
	for i, im := range rep.Images {
		if msg := imageEntryProblem(im); msg != "" {
			return nil, &run.InputError{Err: fmt.Errorf("--images %s: images[%d] (%q): %s; use the report of `devtool build --push -o json`", path, i, im.Name, msg)}
		}
		out[im.Name] = im
	}
	return out, nil
}

var digestPattern = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)

// imageEntryProblem says what is wrong with one image of a build report, "" if nothing.
func imageEntryProblem(im build.Result) string {
	switch {
	case im.Name == "":
		return "no name (the image component it belongs to)"
	case im.Repository == "":
		return "no repository"
	case strings.ContainsAny(im.Repository, "@: ") && !validRepository(im.Repository):
		return fmt.Sprintf("repository %q is not a repository name", im.Repository)
	case im.Digest == "":
		return "no digest (was it pushed? build with --push)"
	case !digestPattern.MatchString(im.Digest):
		return fmt.Sprintf("digest %q is not sha256:<64 hex digits>", im.Digest)
	case strings.ContainsAny(im.Tag, "@:/ "):
		return fmt.Sprintf("tag %q is not a tag", im.Tag)
	}
	return ""
}

// validRepository accepts host:port/path repositories (a colon only in the first component).
func validRepository(repo string) bool {
	if strings.ContainsAny(repo, "@ ") {
		return false
	}
	first, rest, ok := strings.Cut(repo, "/")
	return ok && !strings.Contains(rest, ":") && first != ""
}

// clusterInputs is what deploy and diff start from: the project and plan, the namespace (-n
// or the kubeconfig's), the --images entries, the shared action configuration (the --builder
// backend, the sink) and an Applier on the kubectl connection flags.
type clusterInputs struct {
	proj     run.Project
	p        *plan.Plan
	ns       string
	prebuilt map[string]build.Result
	cfg      *run.Configuration
	applier  cluster
}

func (g *globals) clusterInputs(ctx context.Context, kube *genericclioptions.ConfigFlags, command, imagesFile, builderFlag string, kf kanikoFlags) (*clusterInputs, error) {
	kf.kube = kube
	builder, err := newBuilder(builderFlag, g, kf)
	if err != nil {
		return nil, err
	}
	proj, p, err := g.loadPlan(ctx, command)
	if err != nil {
		return nil, err
	}
	ns, err := kubeNamespace(kube)
	if err != nil {
		return nil, err
	}
	prebuilt, err := readImages(imagesFile)
	if err != nil {
		return nil, err
	}
	applier, err := g.newCluster(kube)
	if err != nil {
		return nil, err
	}
	return &clusterInputs{proj: proj, p: p, ns: ns, prebuilt: prebuilt, applier: applier,
		cfg: &run.Configuration{Builder: builder, Registry: build.RemoteRegistry(g.registryPolicy()), Sink: g.sink(), Version: Version, Charts: g.chartLoader()}}, nil
}

// kubeNamespace is -n, or the kubeconfig context's namespace. A kubeconfig that cannot be
// read, or a --context it does not have, is a usage error (exit 2), never an internal one.
func kubeNamespace(kube *genericclioptions.ConfigFlags) (string, error) {
	ns, _, err := kube.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return "", &UsageError{Err: fmt.Errorf("reading kubeconfig: %w; check --kubeconfig, KUBECONFIG and --context", err)}
	}
	return ns, nil
}
