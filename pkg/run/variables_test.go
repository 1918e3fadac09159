package run

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/devtool/devtool/pkg/vars"
)

// TestCheckVariables: the static check validate and plan use finds the same undefined
// variables, at the same places, as preparing the plan for render (and deploy) does — with the
// scoping of design.md §3: CONTAINER_IMAGE only for a step after exactly one build, command
// attributes only for their own command, --var layers above the devfile's.
func TestCheckVariables(t *testing.T) {
	const dockerfile = "FROM scratch\n"
	tests := []struct {
		name    string
		devfile string
		layers  []vars.Layer
		want    []vars.Warning
	}{
		{"image args and manifest", `schemaVersion: 2.2.0
metadata: {name: a}
variables: {DEFINED: x}
components:
  - name: img
    image: {imageName: "app-{{DEFINED}}", dockerfile: {uri: Dockerfile, args: ["V={{VERSION}}"]}}
  - name: m
    kubernetes:
      inlined: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: "{{NAME}}", labels: {v: "{{ VERSION }}"}}
commands:
  - id: b
    apply: {component: img}
  - id: d
    apply: {component: m}
  - id: all
    composite: {commands: [b, d], group: {kind: deploy, isDefault: true}}
`, nil, []vars.Warning{
			{Name: "NAME", Where: []string{"components[name=m].kubernetes"}},
			{Name: "VERSION", Where: []string{"components[name=img].image.dockerfile.args", "components[name=m].kubernetes"}},
		}},
		{"--var defines them", `schemaVersion: 2.2.0
metadata: {name: a}
components:
  - name: m
    kubernetes: {inlined: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: \"{{NAME}}\"}\n"}
commands:
  - id: d
    apply: {component: m, group: {kind: deploy}}
`, []vars.Layer{{Source: "--var", Values: map[string]string{"NAME": "n"}}}, nil},
		{"CONTAINER_IMAGE after one build, attributes scoped to their command", `schemaVersion: 2.2.0
metadata: {name: a}
components:
  - name: img
    image: {imageName: app, dockerfile: {uri: Dockerfile}}
  - name: m
    kubernetes: {inlined: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: \"{{PREFIX}}-{{CONTAINER_IMAGE}}\"}\n"}
  - name: other
    kubernetes: {inlined: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: \"{{PREFIX}}\"}\n"}
commands:
  - id: b
    apply: {component: img}
  - id: d
    attributes: {PREFIX: p}
    apply: {component: m}
  - id: e
    apply: {component: other}
  - id: all
    composite: {commands: [b, d, e], group: {kind: deploy, isDefault: true}}
`, nil, []vars.Warning{{Name: "PREFIX", Where: []string{"components[name=other].kubernetes"}}}},
		{"CONTAINER_IMAGE with no build before", `schemaVersion: 2.2.0
metadata: {name: a}
components:
  - name: m
    kubernetes: {inlined: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: \"{{CONTAINER_IMAGE}}\"}\n"}
commands:
  - id: d
    apply: {component: m, group: {kind: deploy}}
`, nil, []vars.Warning{{Name: "CONTAINER_IMAGE", Where: []string{"components[name=m].kubernetes"}}}},
		{"exec command and its container", `schemaVersion: 2.2.0
metadata: {name: a}
components:
  - name: tools
    container: {image: "busybox:{{TAG}}", env: [{name: A, value: "{{ENV_A}}"}]}
commands:
  - id: migrate
    exec: {component: tools, commandLine: "echo {{MSG}}", workingDir: "{{WD}}", group: {kind: deploy}}
`, nil, []vars.Warning{
			{Name: "ENV_A", Where: []string{"components[name=tools].container.env"}},
			{Name: "MSG", Where: []string{"commands[id=migrate].exec.commandLine"}},
			{Name: "TAG", Where: []string{"components[name=tools].container.image"}},
			{Name: "WD", Where: []string{"commands[id=migrate].exec.workingDir"}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, p := project(t, map[string]string{"devfile.yaml": tc.devfile, "Dockerfile": dockerfile})
			proj := Project{Devfile: d, Vars: tc.layers, ImageRegistry: "registry.example/me"}
			got := CheckVariables(proj, p)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("CheckVariables (-want +got):\n%s", diff)
			}
			// Render prepares the same plan: its warnings must be the same.
			_, warnings, err := NewRender(&Configuration{}).Run(context.Background(), proj, p)
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			var want []string
			for _, w := range got {
				want = append(want, w.String())
			}
			if diff := cmp.Diff(want, warnings); diff != "" {
				t.Errorf("render's warnings differ from CheckVariables' (-check +render):\n%s", diff)
			}
		})
	}
}
