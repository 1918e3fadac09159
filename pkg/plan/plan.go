// Package plan compiles a devfile's deploy command into a step graph. It is pure: a devfile in,
// a Plan out, no I/O. Printing (`devtool plan`), dry runs, rendering and the runner all use the
// same Plan.
//
// Rules (design.md §3):
//   - Default deploy command: the only command of group kind "deploy", else the one of them
//     with isDefault: true; several deploy commands without exactly one default is an error
//     that lists them (odo v3 behaviour).
//   - apply on an image component is a build step; on a kubernetes/openshift component an apply
//     step; on a Helm component (devtool's extension, design.md §3) a helm step; exec (on a
//     container component) is an exec step, run as a Kubernetes Job.
//   - composite with parallel: false runs its sub-commands in order (each waits for the previous
//     one's last steps); parallel: true runs them concurrently (devfile spec 2.x, "composite").
//   - Schema ≥ 2.2.0, odo v3's autoBuild/deployByDefault: image components with autoBuild: true,
//     or unset and not referenced by any apply command, are built first; kubernetes/openshift
//     components with deployByDefault: true, or unset and not referenced by any apply command,
//     are applied after those builds, one after another in component order (as odo v3 does;
//     Helm components follow the same rule with their own deployByDefault);
//     the deploy command's first steps wait for both.
//   - Unknown sub-commands, cycles, apply commands naming a missing component, and apply on a
//     component that cannot be applied are errors found before anything runs, for every command
//     in the devfile (Check), not only the deploy command.
package plan

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/devtool/devtool/pkg/devfile"
)

// StepKind is what a step does.
type StepKind string

// Step kinds.
const (
	StepBuild StepKind = "build" // build (and push) an image component
	StepApply StepKind = "apply" // server-side apply a kubernetes/openshift component
	StepExec  StepKind = "exec"  // run an exec command in a Kubernetes Job (odo v3)
	StepHelm  StepKind = "helm"  // install or upgrade the Helm release of a Helm component
)

// Step is one node of the plan.
type Step struct {
	// ID is unique in the plan: the apply/exec command id, or "auto:<component>" for steps
	// added by autoBuild/deployByDefault.
	ID string `json:"id"`
	// Kind is what the step does.
	Kind StepKind `json:"kind"`
	// Command is the devfile command id the step comes from ("" for auto steps).
	Command string `json:"command,omitempty"`
	// Component is the devfile component the step acts on.
	Component string `json:"component"`
	// DependsOn lists step IDs that must succeed before this one starts, sorted.
	DependsOn []string `json:"dependsOn,omitempty"`
	// Attributes are the command's attributes, used as variables scoped to this step.
	Attributes map[string]string `json:"attributes,omitempty"`
	// Reason says why an auto step is in the plan.
	Reason string `json:"reason,omitempty"`
}

// Plan is the compiled step graph, in a topological order (every step after its dependencies).
type Plan struct {
	// Command is the command that was compiled ("" when the devfile has no deploy command and
	// the plan only holds autoBuild/deployByDefault steps).
	Command string `json:"command,omitempty"`
	Steps   []Step `json:"steps"`
	// Notes explain choices (which default command, which components are auto steps).
	Notes []string `json:"notes,omitempty"`
}

// Step returns the step with the given ID.
func (p *Plan) Step(id string) (Step, bool) {
	for _, s := range p.Steps {
		if s.ID == id {
			return s, true
		}
	}
	return Step{}, false
}

// Ancestors returns the IDs of every step s transitively depends on, in plan order.
func (p *Plan) Ancestors(id string) []string {
	seen := map[string]bool{}
	var visit func(string)
	visit = func(id string) {
		s, ok := p.Step(id)
		if !ok {
			return
		}
		for _, d := range s.DependsOn {
			if !seen[d] {
				seen[d] = true
				visit(d)
			}
		}
	}
	visit(id)
	var out []string
	for _, s := range p.Steps {
		if seen[s.ID] {
			out = append(out, s.ID)
		}
	}
	return out
}

// Options select what to compile.
type Options struct {
	// Command is a command id to run instead of the default deploy command (--command).
	Command string
}

// Error is a problem with the devfile's commands, naming the command (and component) the user
// wrote. Callers use errors.As.
type Error struct {
	Command string
	Msg     string
}

func (e *Error) Error() string {
	if e.Command == "" {
		return e.Msg
	}
	return fmt.Sprintf("command %q: %s", e.Command, e.Msg)
}

// CycleError reports composite commands that reference themselves, directly or indirectly.
// Path starts and ends with the same command id.
type CycleError struct {
	Path []string
}

func (e *CycleError) Error() string {
	return fmt.Sprintf("composite command %q references itself: %s; remove one of these references", e.Path[0], strings.Join(e.Path, " → "))
}

// NoDeployCommandError says there is nothing to deploy.
type NoDeployCommandError struct{}

func (NoDeployCommandError) Error() string {
	return "the devfile has no command of group kind deploy and no component to build or apply by default; add a command with `group: {kind: deploy}` or pass --command"
}

// Check validates every command of d: sub-commands exist, no cycles, apply/exec commands name
// existing components of a suitable kind. It returns all problems joined (errors.Join), each an
// *Error or *CycleError.
func Check(d *devfile.Devfile) error {
	var errs []error
	// Keyed by lowercased id: devfile/api validation (and devfile.Command) resolve composite
	// sub-commands case-insensitively.
	ids := map[string]*devfile.Command{}
	for i := range d.Commands {
		c := &d.Commands[i]
		if _, dup := ids[strings.ToLower(c.ID)]; dup {
			errs = append(errs, &Error{Command: c.ID, Msg: "is defined more than once; command ids must be unique"})
		}
		ids[strings.ToLower(c.ID)] = c
	}
	for i := range d.Commands {
		c := &d.Commands[i]
		switch c.Kind {
		case devfile.CommandApply:
			comp, ok := d.Component(c.Apply.Component)
			if !ok {
				errs = append(errs, &Error{Command: c.ID, Msg: fmt.Sprintf("applies component %q, which is not defined in the devfile; add it under `components:` or fix the name", c.Apply.Component)})
				continue
			}
			// Applying a container or volume component is valid devfile (an inner-loop event such
			// as preStart); Compile rejects it only when the deploy plan reaches it.
			_ = comp
		case devfile.CommandExec:
			if _, ok := d.Component(c.Exec.Component); !ok {
				errs = append(errs, &Error{Command: c.ID, Msg: fmt.Sprintf("runs in component %q, which is not defined in the devfile", c.Exec.Component)})
			}
		case devfile.CommandComposite:
			for _, sub := range c.Composite.Commands {
				if _, ok := ids[strings.ToLower(sub)]; !ok {
					errs = append(errs, &Error{Command: c.ID, Msg: fmt.Sprintf("composite sub-command %q is not defined in the devfile", sub)})
				}
			}
		}
	}
	// Cycles: DFS over composite edges, reporting each cycle once (by its smallest rotation).
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	reported := map[string]bool{}
	var stack []string
	var visit func(id string)
	visit = func(id string) {
		color[id] = grey
		stack = append(stack, id)
		if c := ids[id]; c != nil && c.Kind == devfile.CommandComposite {
			for _, sub := range c.Composite.Commands {
				sub = strings.ToLower(sub)
				if _, ok := ids[sub]; !ok {
					continue
				}
				switch color[sub] {
				case white:
					visit(sub)
				case grey:
					start := 0
					for i, s := range stack {
						if s == sub {
							start = i
						}
					}
					cyc := append(append([]string{}, stack[start:]...), sub)
					key := canonicalCycle(cyc)
					if !reported[key] {
						reported[key] = true
						errs = append(errs, &CycleError{Path: cyc})
					}
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[id] = black
	}
	for _, c := range d.Commands {
		if id := strings.ToLower(c.ID); color[id] == white {
			visit(id)
		}
	}
	return errors.Join(errs...)
}

func canonicalCycle(path []string) string {
	nodes := path[:len(path)-1]
	min := 0
	for i := range nodes {
		if nodes[i] < nodes[min] {
			min = i
		}
	}
	rot := append(append([]string{}, nodes[min:]...), nodes[:min]...)
	return strings.Join(rot, "\x00")
}

// DefaultCommand returns the id of the default deploy command, or ("", nil) when the devfile has
// none. Several deploy commands without exactly one isDefault is an *Error listing them.
func DefaultCommand(d *devfile.Devfile) (string, error) {
	var deploy, defaults []string
	for _, c := range d.Commands {
		if c.Group == nil || c.Group.Kind != "deploy" {
			continue
		}
		deploy = append(deploy, c.ID)
		if c.Group.IsDefault != nil && *c.Group.IsDefault {
			defaults = append(defaults, c.ID)
		}
	}
	switch {
	case len(deploy) == 0:
		return "", nil
	case len(deploy) == 1:
		return deploy[0], nil
	case len(defaults) == 1:
		return defaults[0], nil
	case len(defaults) == 0:
		return "", &Error{Msg: fmt.Sprintf("the devfile has %d deploy commands (%s) and none is marked `isDefault: true`; mark one as default or pass --command", len(deploy), strings.Join(deploy, ", "))}
	default:
		return "", &Error{Msg: fmt.Sprintf("several deploy commands are marked `isDefault: true` (%s); keep one default or pass --command", strings.Join(defaults, ", "))}
	}
}

// Compile checks d and compiles the deploy command (or opts.Command) into a Plan. Errors: the
// joined errors of Check, an *Error for an unknown --command or ambiguous default, and
// NoDeployCommandError when there is nothing at all to run.
func Compile(d *devfile.Devfile, opts Options) (*Plan, error) {
	if err := Check(d); err != nil {
		return nil, err
	}
	p := &Plan{}
	cmdID := opts.Command
	if cmdID != "" {
		c, ok := d.Command(cmdID)
		if !ok {
			return nil, &Error{Command: cmdID, Msg: fmt.Sprintf("is not defined in the devfile (commands: %s)", strings.Join(commandIDs(d), ", "))}
		}
		if c.Kind == devfile.CommandUnsupported {
			return nil, &Error{Command: cmdID, Msg: "is not an apply, exec or composite command"}
		}
	} else {
		id, err := DefaultCommand(d)
		if err != nil {
			return nil, err
		}
		cmdID = id
		if id != "" {
			p.Notes = append(p.Notes, fmt.Sprintf("default deploy command: %s", id))
		}
	}
	p.Command = cmdID

	b := &builder{d: d, plan: p, index: map[string]int{}}
	// Auto steps (schema ≥ 2.2.0) only for the deploy command, not for an arbitrary --command
	// (odo runs them for `odo deploy` only).
	var autoTerminals []string
	if opts.Command == "" && schemaAtLeast(d.SchemaVersion, 2, 2) {
		autoTerminals = b.autoSteps()
	}
	if cmdID != "" {
		c, _ := d.Command(cmdID)
		b.expand(c, autoTerminals)
	}
	if len(b.errs) > 0 {
		return nil, errors.Join(b.errs...)
	}
	if len(p.Steps) == 0 && cmdID == "" {
		p.Notes = append(p.Notes, NoDeployCommandError{}.Error())
	}
	return p, nil
}

type builder struct {
	d     *devfile.Devfile
	plan  *Plan
	index map[string]int // step ID → index in plan.Steps
	errs  []error        // problems found while expanding (apply of a non-deployable component)
}

func (b *builder) add(s Step) string {
	if i, ok := b.index[s.ID]; ok {
		return b.plan.Steps[i].ID // a command used twice runs once
	}
	s.DependsOn = uniqSorted(s.DependsOn)
	b.index[s.ID] = len(b.plan.Steps)
	b.plan.Steps = append(b.plan.Steps, s)
	return s.ID
}

// expand adds the steps of command c, all depending on deps, and returns the step IDs that
// finish c (what a following sequential sibling must wait for).
func (b *builder) expand(c *devfile.Command, deps []string) []string {
	switch c.Kind {
	case devfile.CommandApply:
		comp, _ := b.d.Component(c.Apply.Component)
		kind := StepApply
		switch comp.Kind {
		case devfile.KindImage:
			kind = StepBuild
		case devfile.KindKubernetes, devfile.KindOpenShift:
		case devfile.KindHelm:
			kind = StepHelm
		default:
			b.errs = append(b.errs, &Error{Command: c.ID, Msg: fmt.Sprintf("applies component %q of type %s in the deploy command %q; a deploy applies image, kubernetes, openshift and Helm components only (odo deploy does the same, without Helm)", comp.Name, comp.Kind, b.plan.Command)})
		}
		return []string{b.add(Step{ID: c.ID, Kind: kind, Command: c.ID, Component: comp.Name, DependsOn: deps, Attributes: c.Attributes})}
	case devfile.CommandExec:
		comp, _ := b.d.Component(c.Exec.Component)
		if comp.Kind != devfile.KindContainer {
			b.errs = append(b.errs, &Error{Command: c.ID, Msg: fmt.Sprintf("runs in component %q of type %s in the deploy command %q; a deploy runs exec commands in a Kubernetes Job from a container component's image (odo v3 does the same)", comp.Name, comp.Kind, b.plan.Command)})
		}
		return []string{b.add(Step{ID: c.ID, Kind: StepExec, Command: c.ID, Component: comp.Name, DependsOn: deps, Attributes: c.Attributes})}
	case devfile.CommandComposite:
		if c.Composite.Parallel {
			var terms []string
			for _, sub := range c.Composite.Commands {
				sc, _ := b.d.Command(sub)
				terms = append(terms, b.expand(sc, deps)...)
			}
			return uniqSorted(terms)
		}
		cur := deps
		for _, sub := range c.Composite.Commands {
			sc, _ := b.d.Command(sub)
			cur = b.expand(sc, cur)
		}
		return cur
	}
	return deps
}

// autoSteps adds odo v3's autoBuild / deployByDefault steps and returns their IDs.
func (b *builder) autoSteps() []string {
	referenced := map[string]bool{}
	for _, c := range b.d.Commands {
		if c.Kind == devfile.CommandApply {
			referenced[c.Apply.Component] = true
		}
	}
	var builds, applies []string
	for _, comp := range b.d.Components {
		switch comp.Kind {
		case devfile.KindImage:
			reason := ""
			switch {
			case comp.Image.AutoBuild != nil && *comp.Image.AutoBuild:
				reason = "autoBuild: true"
			case comp.Image.AutoBuild == nil && !referenced[comp.Name]:
				reason = "autoBuild unset and no apply command references it"
			}
			if reason != "" {
				builds = append(builds, b.add(Step{ID: "auto:" + comp.Name, Kind: StepBuild, Component: comp.Name, Reason: reason}))
			}
		}
	}
	for _, comp := range b.d.Components {
		var byDefault *bool
		kind := StepApply
		switch comp.Kind {
		case devfile.KindKubernetes, devfile.KindOpenShift:
			byDefault = comp.Manifest.DeployByDefault
		case devfile.KindHelm:
			byDefault, kind = comp.Helm.DeployByDefault, StepHelm
		default:
			continue
		}
		reason := ""
		switch {
		case byDefault != nil && *byDefault:
			reason = "deployByDefault: true"
		case byDefault == nil && !referenced[comp.Name]:
			reason = "deployByDefault unset and no apply command references it"
		}
		if reason != "" {
			// One after another, in component order, as odo v3 applies them: an earlier
			// component may create the Namespace or CRD a later one needs, and each apply
			// step validates its own objects against the cluster.
			deps := builds
			if len(applies) > 0 {
				deps = append(append([]string{}, builds...), applies[len(applies)-1])
			}
			applies = append(applies, b.add(Step{ID: "auto:" + comp.Name, Kind: kind, Component: comp.Name, DependsOn: deps, Reason: reason}))
		}
	}
	for _, id := range append(append([]string{}, builds...), applies...) {
		s := b.plan.Steps[b.index[id]]
		b.plan.Notes = append(b.plan.Notes, fmt.Sprintf("%s component %q: %s", s.Kind, s.Component, s.Reason))
	}
	return append(builds, applies...)
}

func commandIDs(d *devfile.Devfile) []string {
	ids := make([]string, 0, len(d.Commands))
	for _, c := range d.Commands {
		ids = append(ids, c.ID)
	}
	return ids
}

func uniqSorted(in []string) []string {
	if len(in) == 0 {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// schemaAtLeast reports whether version "X.Y.Z" is ≥ major.minor. Unparsable versions count as
// new (the library has already rejected unknown ones).
func schemaAtLeast(version string, major, minor int) bool {
	var ma, mi int
	if _, err := fmt.Sscanf(version, "%d.%d", &ma, &mi); err != nil {
		return true
	}
	return ma > major || (ma == major && mi >= minor)
}

// CompileBuild compiles `devtool build`: one build step per image component named in
// components (every image component when empty), in devfile order, without dependencies
// (they run in parallel). Errors: an *Error naming a component that is not an image component
// of d (the message lists the image components), or one when d has no image component.
func CompileBuild(d *devfile.Devfile, components []string) (*Plan, error) {
	var images []string
	for _, c := range d.Components {
		if c.Kind == devfile.KindImage {
			images = append(images, c.Name)
		}
	}
	want := map[string]bool{}
	for _, n := range components {
		c, ok := d.Component(n)
		if !ok || c.Kind != devfile.KindImage {
			return nil, &ComponentError{Component: n, Msg: fmt.Sprintf("no image component of that name in %s (image components: %v)", d.Path, images)}
		}
		want[n] = true
	}
	p := &Plan{}
	for _, n := range images {
		if len(want) == 0 || want[n] {
			p.Steps = append(p.Steps, Step{ID: n, Kind: StepBuild, Component: n})
		}
	}
	if len(p.Steps) == 0 {
		return nil, &ComponentError{Msg: fmt.Sprintf("%s has no image components to build", d.Path)}
	}
	return p, nil
}

// ComponentError is a --component that names no image component, or a devfile without any.
type ComponentError struct {
	Component string
	Msg       string
}

func (e *ComponentError) Error() string {
	if e.Component == "" {
		return e.Msg
	}
	return fmt.Sprintf("--component %q: %s", e.Component, e.Msg)
}
