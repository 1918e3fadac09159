package run

import (
	"errors"
	"fmt"
	"strings"

	"github.com/devtool/devtool/pkg/devfile"
	"github.com/devtool/devtool/pkg/plan"
	"github.com/devtool/devtool/pkg/vars"
)

// CheckVariables finds the variables the steps of p use that no layer of proj defines: every
// string field prepare substitutes (image components' imageName and dockerfile fields,
// manifests inlined or read at load, container and exec fields of exec commands, Helm
// components' fields and values, command attributes), with the same scope as a deploy
// (built-ins, devfile variables, --var-file, --var, CONTAINER_IMAGE when exactly one build
// precedes the step, the command's attributes). It reads no file and no cluster, so validate
// and plan can use it; a manifest uri holding a variable is checked, the file it names is
// not (render and deploy read it and report what it uses). The warnings are sorted by name,
// each naming where the variable is used in prepare's spelling
// (`components[name=app].image.imageName`). With Strict the caller turns them into a
// *vars.UndefinedError (see Project.Strict).
func CheckVariables(proj Project, p *plan.Plan) []vars.Warning {
	d := proj.Devfile
	base := vars.New(append([]vars.Layer{
		{Source: "built-in", Values: builtins(d)},
		{Source: "devfile", Values: d.Variables},
	}, proj.Vars...)...)
	c := &vars.Collector{}
	for _, s := range p.Steps {
		comp, ok := d.Component(s.Component)
		if !ok {
			continue // plan.Compile reports it
		}
		lower := base
		if s.Kind != plan.StepBuild {
			builds := 0
			for _, id := range p.Ancestors(s.ID) {
				if a, ok := p.Step(id); ok && a.Kind == plan.StepBuild {
					builds++
				}
			}
			if builds == 1 {
				lower = vars.New(vars.Layer{Source: "built-in", Values: map[string]string{"CONTAINER_IMAGE": "built"}}).With(base.Layers()...)
			}
		}
		attrs := vars.Layer{Source: "command attributes", Values: map[string]string{}}
		for k, v := range s.Attributes {
			attrs.Values[k] = lower.Substitute(v, fmt.Sprintf("commands[id=%s].attributes.%s", s.Command, k), c)
		}
		res := lower.With(attrs)
		sub := func(where string, values ...string) {
			for _, v := range values {
				res.Substitute(v, where, c)
			}
		}
		switch s.Kind {
		case plan.StepBuild:
			if img := comp.Image; img != nil {
				where := func(f string) string { return fmt.Sprintf("components[name=%s].image.%s", comp.Name, f) }
				sub(where("imageName"), img.ImageName)
				if df := img.Dockerfile; df != nil {
					sub(where("dockerfile.uri"), df.URI)
					sub(where("dockerfile.buildContext"), df.BuildContext)
					sub(where("dockerfile.args"), df.Args...)
				}
			}
		case plan.StepApply:
			if m := comp.Manifest; m != nil {
				kind := "kubernetes"
				if comp.Kind == devfile.KindOpenShift {
					kind = "openshift"
				}
				where := fmt.Sprintf("components[name=%s].%s", comp.Name, kind)
				if text := m.YAML(); text != "" {
					sub(where, text)
				} else if strings.Contains(m.URI, "{{") {
					sub(where+".uri", m.URI)
				}
			}
		case plan.StepExec:
			if ct := comp.Container; ct != nil {
				cw := func(f string) string { return fmt.Sprintf("components[name=%s].container.%s", comp.Name, f) }
				sub(cw("image"), ct.Image)
				for _, e := range ct.Env {
					sub(cw("env"), e.Value)
				}
				sub(cw("memoryLimit"), ct.MemoryLimit)
				sub(cw("cpuLimit"), ct.CPULimit)
				sub(cw("memoryRequest"), ct.MemoryRequest)
				sub(cw("cpuRequest"), ct.CPURequest)
			}
			if cmd, ok := d.Command(s.Command); ok && cmd.Exec != nil {
				xw := func(f string) string { return fmt.Sprintf("commands[id=%s].exec.%s", cmd.ID, f) }
				sub(xw("commandLine"), cmd.Exec.CommandLine)
				for _, e := range cmd.Exec.Env {
					sub(xw("env"), e.Value)
				}
				sub(xw("workingDir"), cmd.Exec.WorkingDir)
			}
		case plan.StepHelm:
			if hc := comp.Helm; hc != nil {
				where := func(f string) string { return fmt.Sprintf("components[name=%s].%s.%s", comp.Name, hc.Field, f) }
				sub(where("chart"), hc.Chart)
				sub(where("repo"), hc.Repo)
				sub(where("version"), hc.Version)
				for i, f := range hc.ValuesFiles {
					sub(where(fmt.Sprintf("valuesFiles[%d]", i)), f)
				}
				substituteValues(hc.Values, res, where("values"), c)
				sub(where("releaseName"), hc.ReleaseName)
				sub(where("namespace"), hc.Namespace)
			}
		}
	}
	return c.Warnings()
}

// CheckDockerfiles finds the image components of proj whose local Dockerfile or build
// context is missing, as deploy and build would refuse them (a path outside the project is
// left to them, since --allow-outside-project decides it): one
// devfile.Problem per component, at `components[name=…].image.dockerfile.uri`, in devfile
// order. Paths are resolved as a build resolves them (relative to the devfile directory,
// variables substituted); a uri or buildContext that still holds an undefined variable, and
// Dockerfiles that come from elsewhere (http(s), git, a devfile registry), are not checked
// here. validate reports these beside a missing manifest uri, which devfile.Load reports.
func CheckDockerfiles(proj Project) []devfile.Problem {
	d := proj.Devfile
	base := vars.New(append([]vars.Layer{
		{Source: "built-in", Values: builtins(d)},
		{Source: "devfile", Values: d.Variables},
	}, proj.Vars...)...)
	var out []devfile.Problem
	for _, c := range d.Components {
		if c.Image == nil || c.Image.Dockerfile == nil || c.Image.Dockerfile.Remote != "" {
			continue
		}
		df := c.Image.Dockerfile
		uri, bc := base.Substitute(df.URI, "", nil), base.Substitute(df.BuildContext, "", nil)
		if strings.Contains(uri+bc, "{{") || strings.HasPrefix(uri, "http://") || strings.HasPrefix(uri, "https://") {
			continue
		}
		var outside *OutsideProjectError
		if _, _, err := resolveBuildPaths(d.Dir, uri, bc, proj.AllowOutsideProject); err != nil && !errors.As(err, &outside) {
			out = append(out, devfile.Problem{Path: fmt.Sprintf("components[name=%s].image.dockerfile.uri", c.Name), Message: err.Error()})
		}
	}
	return out
}
