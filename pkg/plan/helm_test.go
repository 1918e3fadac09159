package plan

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/devtool/devtool/pkg/devfile"
)

func helmComponent(name string, deployByDefault *bool) devfile.Component {
	return devfile.Component{Name: name, Kind: devfile.KindHelm, Helm: &devfile.Helm{Chart: "./chart", DeployByDefault: deployByDefault}}
}

// TestCompileHelm: an apply command on a Helm component is a helm step, after the steps
// before it; Helm components follow the deployByDefault rule of kubernetes components (an
// unreferenced one is deployed after the builds, in component order with the manifests).
func TestCompileHelm(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    devfile.Devfile
		want []Step
	}{
		{
			name: "build, manifest, chart",
			d: devfile.Devfile{SchemaVersion: "2.2.0",
				Components: []devfile.Component{image("img", nil), k8s("ns", nil), helmComponent("chart", nil)},
				Commands: []devfile.Command{apply("b", "img"), apply("n", "ns"), apply("c", "chart"),
					composite("deploy", false, deployGroup(nil), "b", "n", "c")},
			},
			want: []Step{
				{ID: "b", Kind: StepBuild, Command: "b", Component: "img"},
				{ID: "n", Kind: StepApply, Command: "n", Component: "ns", DependsOn: []string{"b"}},
				{ID: "c", Kind: StepHelm, Command: "c", Component: "chart", DependsOn: []string{"n"}},
			},
		},
		{
			name: "deployByDefault",
			d: devfile.Devfile{SchemaVersion: "2.2.0",
				Components: []devfile.Component{image("img", nil), k8s("ns", nil), helmComponent("chart", nil), helmComponent("off", ptr(false))},
				Commands:   []devfile.Command{apply("b", "img"), composite("deploy", false, deployGroup(nil), "b")},
			},
			want: []Step{
				{ID: "auto:ns", Kind: StepApply, Component: "ns", Reason: "deployByDefault unset and no apply command references it"},
				{ID: "auto:chart", Kind: StepHelm, Component: "chart", DependsOn: []string{"auto:ns"}, Reason: "deployByDefault unset and no apply command references it"},
				{ID: "b", Kind: StepBuild, Command: "b", Component: "img", DependsOn: []string{"auto:chart", "auto:ns"}},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Compile(&tc.d, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, p.Steps); diff != "" {
				t.Errorf("steps (-want +got):\n%s", diff)
			}
		})
	}
}
