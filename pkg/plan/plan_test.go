package plan

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/devtool/devtool/pkg/devfile"
)

func ptr[T any](v T) *T { return &v }

func image(name string, autoBuild *bool) devfile.Component {
	return devfile.Component{Name: name, Kind: devfile.KindImage, Image: &devfile.Image{ImageName: name, AutoBuild: autoBuild, Dockerfile: &devfile.Dockerfile{URI: "Dockerfile"}}}
}

func k8s(name string, deployByDefault *bool) devfile.Component {
	return devfile.Component{Name: name, Kind: devfile.KindKubernetes, Manifest: &devfile.Manifest{Inlined: "kind: ConfigMap", DeployByDefault: deployByDefault}}
}

func apply(id, comp string) devfile.Command {
	return devfile.Command{ID: id, Kind: devfile.CommandApply, Apply: &devfile.Apply{Component: comp}}
}

func composite(id string, parallel bool, group *devfile.Group, subs ...string) devfile.Command {
	return devfile.Command{ID: id, Kind: devfile.CommandComposite, Group: group, Composite: &devfile.Composite{Commands: subs, Parallel: parallel}}
}

func deployGroup(def *bool) *devfile.Group { return &devfile.Group{Kind: "deploy", IsDefault: def} }

func TestCompile(t *testing.T) {
	tests := []struct {
		name string
		d    devfile.Devfile
		opts Options
		want []Step
		cmd  string
	}{
		{
			name: "sequential build then apply",
			d: devfile.Devfile{SchemaVersion: "2.2.0",
				Components: []devfile.Component{image("img", nil), k8s("deploy", nil)},
				Commands:   []devfile.Command{apply("build-image", "img"), apply("deployk8s", "deploy"), composite("deploy", false, deployGroup(ptr(true)), "build-image", "deployk8s")},
			},
			cmd: "deploy",
			want: []Step{
				{ID: "build-image", Kind: StepBuild, Command: "build-image", Component: "img"},
				{ID: "deployk8s", Kind: StepApply, Command: "deployk8s", Component: "deploy", DependsOn: []string{"build-image"}},
			},
		},
		{
			name: "parallel builds, then apply waits for both",
			d: devfile.Devfile{SchemaVersion: "2.2.0",
				Components: []devfile.Component{image("a", nil), image("b", nil), k8s("m", nil)},
				Commands: []devfile.Command{apply("ba", "a"), apply("bb", "b"), apply("am", "m"),
					composite("builds", true, nil, "ba", "bb"), composite("deploy", false, deployGroup(nil), "builds", "am")},
			},
			cmd: "deploy",
			want: []Step{
				{ID: "ba", Kind: StepBuild, Command: "ba", Component: "a"},
				{ID: "bb", Kind: StepBuild, Command: "bb", Component: "b"},
				{ID: "am", Kind: StepApply, Command: "am", Component: "m", DependsOn: []string{"ba", "bb"}},
			},
		},
		{
			name: "autoBuild and deployByDefault matrix (odo v3)",
			d: devfile.Devfile{SchemaVersion: "2.2.0",
				Components: []devfile.Component{
					image("auto-true", ptr(true)), image("auto-false", ptr(false)), image("auto-unset-unref", nil), image("auto-unset-ref", nil),
					k8s("dbd-true", ptr(true)), k8s("dbd-false", ptr(false)), k8s("dbd-unset-unref", nil), k8s("dbd-unset-ref", nil),
				},
				Commands: []devfile.Command{apply("b", "auto-unset-ref"), apply("a", "dbd-unset-ref"), composite("deploy", false, deployGroup(nil), "b", "a")},
			},
			cmd: "deploy",
			want: []Step{
				{ID: "auto:auto-true", Kind: StepBuild, Component: "auto-true", Reason: "autoBuild: true"},
				{ID: "auto:auto-unset-unref", Kind: StepBuild, Component: "auto-unset-unref", Reason: "autoBuild unset and no apply command references it"},
				{ID: "auto:dbd-true", Kind: StepApply, Component: "dbd-true", DependsOn: []string{"auto:auto-true", "auto:auto-unset-unref"}, Reason: "deployByDefault: true"},
				// odo v3 applies these one after another, in component order (an earlier one may
				// create the Namespace or CRD a later one needs).
				{ID: "auto:dbd-unset-unref", Kind: StepApply, Component: "dbd-unset-unref", DependsOn: []string{"auto:auto-true", "auto:auto-unset-unref", "auto:dbd-true"}, Reason: "deployByDefault unset and no apply command references it"},
				{ID: "b", Kind: StepBuild, Command: "b", Component: "auto-unset-ref", DependsOn: []string{"auto:auto-true", "auto:auto-unset-unref", "auto:dbd-true", "auto:dbd-unset-unref"}},
				{ID: "a", Kind: StepApply, Command: "a", Component: "dbd-unset-ref", DependsOn: []string{"b"}},
			},
		},
		{
			name: "no auto steps before schema 2.2.0",
			d: devfile.Devfile{SchemaVersion: "2.1.0",
				Components: []devfile.Component{k8s("m", nil)},
				Commands:   []devfile.Command{apply("x", "m")},
			},
			opts: Options{Command: "x"},
			cmd:  "x",
			want: []Step{{ID: "x", Kind: StepApply, Command: "x", Component: "m"}},
		},
		{
			name: "--command skips auto steps",
			d: devfile.Devfile{SchemaVersion: "2.2.0",
				Components: []devfile.Component{image("img", ptr(true)), k8s("m", nil)},
				Commands:   []devfile.Command{apply("x", "m")},
			},
			opts: Options{Command: "x"},
			cmd:  "x",
			want: []Step{{ID: "x", Kind: StepApply, Command: "x", Component: "m"}},
		},
		{
			name: "default among two deploy commands",
			d: devfile.Devfile{SchemaVersion: "2.2.0",
				Components: []devfile.Component{k8s("m", ptr(false)), k8s("n", ptr(false))},
				Commands: []devfile.Command{
					{ID: "one", Kind: devfile.CommandApply, Apply: &devfile.Apply{Component: "m"}, Group: deployGroup(nil)},
					{ID: "two", Kind: devfile.CommandApply, Apply: &devfile.Apply{Component: "n"}, Group: deployGroup(ptr(true))},
				},
			},
			cmd:  "two",
			want: []Step{{ID: "two", Kind: StepApply, Command: "two", Component: "n"}},
		},
		{
			name: "command used twice runs once",
			d: devfile.Devfile{SchemaVersion: "2.2.0",
				Components: []devfile.Component{k8s("m", ptr(false))},
				Commands:   []devfile.Command{apply("x", "m"), composite("deploy", false, deployGroup(nil), "x", "x")},
			},
			cmd:  "deploy",
			want: []Step{{ID: "x", Kind: StepApply, Command: "x", Component: "m"}},
		},
		{
			// devfile/api validation resolves composite sub-commands case-insensitively.
			name: "sub-command referenced in another case",
			d: devfile.Devfile{SchemaVersion: "2.2.0",
				Components: []devfile.Component{k8s("m", ptr(false))},
				Commands:   []devfile.Command{apply("apply-m", "m"), composite("deploy", false, deployGroup(nil), "Apply-M")},
			},
			cmd:  "deploy",
			want: []Step{{ID: "apply-m", Kind: StepApply, Command: "apply-m", Component: "m"}},
		},
		{
			name: "no deploy command: empty plan",
			d:    devfile.Devfile{SchemaVersion: "2.2.0"},
			want: nil,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Compile(&tc.d, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if p.Command != tc.cmd {
				t.Errorf("command = %q, want %q", p.Command, tc.cmd)
			}
			if diff := cmp.Diff(tc.want, p.Steps); diff != "" {
				t.Errorf("steps (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name string
		d    devfile.Devfile
		opts Options
		want []string // substrings of the error
	}{
		{
			name: "self reference",
			d:    devfile.Devfile{Commands: []devfile.Command{composite("c", false, nil, "c")}},
			want: []string{`composite command "c" references itself: c → c`},
		},
		{
			name: "indirect cycle reported once",
			d: devfile.Devfile{Commands: []devfile.Command{
				composite("command4", false, nil, "command5"), composite("command5", false, nil, "command4")}},
			want: []string{"command4 → command5 → command4"},
		},
		{
			name: "missing sub-command",
			d:    devfile.Devfile{Commands: []devfile.Command{composite("c", false, nil, "nope")}},
			want: []string{`command "c": composite sub-command "nope" is not defined`},
		},
		{
			name: "apply of missing component",
			d:    devfile.Devfile{Commands: []devfile.Command{apply("a", "ghost")}},
			want: []string{`command "a": applies component "ghost", which is not defined`},
		},
		{
			name: "apply of a container",
			d: devfile.Devfile{Components: []devfile.Component{{Name: "runtime", Kind: devfile.KindContainer, Container: &devfile.Container{Image: "x"}}},
				Commands: []devfile.Command{{ID: "a", Kind: devfile.CommandApply, Apply: &devfile.Apply{Component: "runtime"}, Group: deployGroup(nil)}}},
			want: []string{`applies component "runtime" of type container in the deploy command "a"`},
		},
		{
			name: "exec in a kubernetes component",
			d: devfile.Devfile{Components: []devfile.Component{k8s("m", nil)},
				Commands: []devfile.Command{{ID: "x", Kind: devfile.CommandExec, Exec: &devfile.Exec{Component: "m", CommandLine: "true"}, Group: deployGroup(nil)}}},
			want: []string{`command "x": runs in component "m" of type kubernetes in the deploy command "x"`, "container component"},
		},
		{
			name: "two deploy commands, no default",
			d: devfile.Devfile{Components: []devfile.Component{k8s("m", nil)}, Commands: []devfile.Command{
				{ID: "one", Kind: devfile.CommandApply, Apply: &devfile.Apply{Component: "m"}, Group: deployGroup(nil)},
				{ID: "two", Kind: devfile.CommandApply, Apply: &devfile.Apply{Component: "m"}, Group: deployGroup(ptr(false))}}},
			want: []string{"2 deploy commands (one, two)", "isDefault"},
		},
		{
			name: "unknown --command",
			d:    devfile.Devfile{Components: []devfile.Component{k8s("m", nil)}, Commands: []devfile.Command{apply("a", "m")}},
			opts: Options{Command: "zzz"},
			want: []string{`command "zzz": is not defined in the devfile (commands: a)`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(&tc.d, tc.opts)
			if err == nil {
				t.Fatal("want error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	var ce *CycleError
	_, err := Compile(&devfile.Devfile{Commands: []devfile.Command{composite("c", false, nil, "c")}}, Options{})
	if !errors.As(err, &ce) {
		t.Errorf("errors.As(CycleError) failed for %v", err)
	}
}

func TestAncestors(t *testing.T) {
	p := &Plan{Steps: []Step{{ID: "a"}, {ID: "b", DependsOn: []string{"a"}}, {ID: "c"}, {ID: "d", DependsOn: []string{"b"}}}}
	if diff := cmp.Diff([]string{"a", "b"}, p.Ancestors("d")); diff != "" {
		t.Error(diff)
	}
}
