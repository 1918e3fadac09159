package devfile

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestLoadHelmSpellings: the outer-loop proposal's `helm:` block and the `custom` component
// with componentClass helm load into the same model (only Field, where it was written,
// differs); attributes stay; an apply command may reference either; nothing else changes.
func TestLoadHelmSpellings(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "devfile.yaml"), `schemaVersion: 2.2.0
metadata: {name: charts}
components:
- name: proposal
  attributes: {team: web}
  helm:
    chart: ./chart
    version: "1.2.3"
    releaseName: app
    namespace: "{{NS}}"
    valuesFiles: [values.yaml]
    values: {image: "{{CONTAINER_IMAGE}}", replicas: 2, nested: {list: [a, b]}}
    deployByDefault: false
- name: custom
  attributes: {team: web}
  custom:
    componentClass: helm
    embeddedResource:
      chart: ./chart
      version: "1.2.3"
      releaseName: app
      namespace: "{{NS}}"
      valuesFiles: [values.yaml]
      values: {image: "{{CONTAINER_IMAGE}}", replicas: 2, nested: {list: [a, b]}}
      deployByDefault: false
- name: k8s
  kubernetes: {inlined: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"}
commands:
- id: one
  apply: {component: proposal}
- id: two
  apply: {component: custom, group: {kind: deploy, isDefault: true}}
`)
	d, err := Load(context.Background(), dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p, c := mustComponent(t, d, "proposal"), mustComponent(t, d, "custom")
	no := false
	want := &Helm{
		Chart: "./chart", Version: "1.2.3", ReleaseName: "app", Namespace: "{{NS}}", ValuesFiles: []string{"values.yaml"},
		Values:          map[string]any{"image": "{{CONTAINER_IMAGE}}", "replicas": float64(2), "nested": map[string]any{"list": []any{"a", "b"}}},
		DeployByDefault: &no, Field: "helm",
	}
	if diff := cmp.Diff(want, p.Helm); diff != "" || p.Kind != KindHelm || p.Manifest != nil {
		t.Errorf("helm: spelling (-want +got):\n%s (kind %s)", diff, p.Kind)
	}
	want.Field = "custom.embeddedResource"
	if diff := cmp.Diff(want, c.Helm); diff != "" || c.Kind != KindHelm {
		t.Errorf("custom spelling (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"team": "web"}, c.Attributes); diff != "" {
		t.Errorf("attributes (-want +got):\n%s", diff)
	}
	if k := mustComponent(t, d, "k8s"); k.Kind != KindKubernetes || k.Helm != nil {
		t.Errorf("kubernetes component = %+v", k)
	}
}

// TestLoadHelmInParent: Helm components of a parent devfile are merged like others.
func TestLoadHelmInParent(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "parent.yaml"), `schemaVersion: 2.2.0
metadata: {name: base}
components:
- name: chart
  helm: {chart: ./chart}
`)
	writeFile(t, filepath.Join(dir, "devfile.yaml"), `schemaVersion: 2.2.0
metadata: {name: child}
parent: {uri: ./parent.yaml}
components:
- name: other
  custom: {componentClass: helm, embeddedResource: {chart: oci://registry.example/charts/other, version: "^1"}}
commands:
- id: deploy
  apply: {component: chart, group: {kind: deploy}}
`)
	d, err := Load(context.Background(), dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if h := mustComponent(t, d, "chart").Helm; h == nil || h.Chart != "./chart" {
		t.Errorf("parent's Helm component = %+v", h)
	}
	if h := mustComponent(t, d, "other").Helm; h == nil || h.Chart != "oci://registry.example/charts/other" {
		t.Errorf("child's Helm component = %+v", h)
	}
}

// TestLoadHelmErrors: mistakes in a Helm component are validation errors naming it and the
// field.
func TestLoadHelmErrors(t *testing.T) {
	for _, tc := range []struct {
		name, component, want string
	}{
		{"unknown field", "helm: {chart: ./c, valeus: {a: 1}}", `components[name=c].helm: unknown field "valeus"`},
		{"no chart", "helm: {values: {a: 1}}", "components[name=c].helm.chart: is required"},
		{"values not a map", "helm: {chart: ./c, values: [a]}", "components[name=c].helm.values: must be a mapping"},
		{"values files not a list", "helm: {chart: ./c, valuesFiles: a.yaml}", "components[name=c].helm.valuesFiles: must be a list"},
		{"repo with a path", "helm: {chart: ./c, repo: https://charts.example}", "with repo, chart is the chart's name"},
		{"repo not http", "helm: {chart: c, repo: oci://r.example/charts}", "must be an http(s) chart repository URL"},
		{"both spellings", "helm: {chart: ./c}\n  custom: {componentClass: helm, embeddedResource: {chart: ./c}}", "components[name=c]: set exactly one component type"},
		{"custom without resource", "custom: {componentClass: helm}", "componentClass helm needs an embeddedResource"},
		{"custom unknown field", "custom: {componentClass: helm, embeddedResource: {chart: ./c}, extra: 1}", `components[name=c].custom: unknown field "extra"`},
		{"not a mapping", "helm: ./c", "components[name=c].helm: must be a mapping"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "devfile.yaml"), "schemaVersion: 2.2.0\nmetadata: {name: x}\ncomponents:\n- name: c\n  "+tc.component+"\n")
			_, err := Load(context.Background(), dir, LoadOptions{})
			var ve *ValidationError
			if !errors.As(err, &ve) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want a *ValidationError containing %q", err, tc.want)
			}
		})
	}
	// A custom component of another class is not Devtool's: the library refuses it as before
	// (the published schema has no custom components).
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "devfile.yaml"), "schemaVersion: 2.2.0\nmetadata: {name: x}\ncomponents:\n- name: c\n  custom: {componentClass: other, embeddedResource: {}}\n")
	if _, err := Load(context.Background(), dir, LoadOptions{}); err == nil {
		t.Error("a custom component of class other loaded")
	}
}
