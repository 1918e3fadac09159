package devfile

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestLoadS2ISpellings: the proposal's `image.s2i` block and the `custom` component with
// componentClass s2i load into the same model (only Field differs); imageName, autoBuild and
// attributes stay; apply commands may reference either; a Dockerfile image is unchanged.
func TestLoadS2ISpellings(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "devfile.yaml"), `schemaVersion: 2.2.0
metadata: {name: s2i}
components:
- name: proposal
  attributes: {team: web}
  image:
    imageName: "{{IMG}}"
    autoBuild: true
    s2i:
      builderImage: 127.0.0.1:5000/s2i/builder:latest
      scriptLocation: .s2i/bin
      incrementalBuild: false
- name: custom
  attributes: {team: web}
  custom:
    componentClass: S2I
    embeddedResource:
      imageName: "{{IMG}}"
      autoBuild: true
      builderImage: 127.0.0.1:5000/s2i/builder:latest
      scriptLocation: .s2i/bin
      incrementalBuild: false
- name: openshift
  image:
    imageName: app2
    s2i: {builderImageNamespace: openshift, builderImageStreamTag: "python:3.11"}
- name: plain
  image: {imageName: plain, dockerfile: {uri: Dockerfile}}
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
	no, yes := false, true
	for _, tc := range []struct{ name, field string }{{"proposal", "image.s2i"}, {"custom", "custom.embeddedResource"}} {
		c := mustComponent(t, d, tc.name)
		want := Component{Name: tc.name, Kind: KindImage, Attributes: map[string]string{"team": "web"}, Image: &Image{
			ImageName: "{{IMG}}", AutoBuild: &yes,
			S2I: &S2I{BuilderImage: "127.0.0.1:5000/s2i/builder:latest", ScriptLocation: ".s2i/bin", IncrementalBuild: &no, Field: tc.field},
		}}
		if diff := cmp.Diff(want, *c); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
	os := mustComponent(t, d, "openshift")
	if diff := cmp.Diff(&S2I{BuilderImageNamespace: "openshift", BuilderImageStreamTag: "python:3.11", Field: "image.s2i"}, os.Image.S2I); diff != "" {
		t.Errorf("openshift (-want +got):\n%s", diff)
	}
	plain := mustComponent(t, d, "plain")
	if plain.Image.S2I != nil || plain.Image.Dockerfile == nil || plain.Image.Dockerfile.URI != "Dockerfile" {
		t.Errorf("plain image changed: %+v", plain.Image)
	}
}

// TestLoadS2IErrors: bad settings are one ValidationError naming the component and field,
// and saying how to fix it.
func TestLoadS2IErrors(t *testing.T) {
	for _, tc := range []struct {
		name, comp string
		want       []string
	}{
		{"no builder", `image: {imageName: a, s2i: {incrementalBuild: true}}`, []string{"components[name=c].image.s2i.builderImage", "is required"}},
		{"both builders", `image: {imageName: a, s2i: {builderImage: b, builderImageStreamTag: "x:1"}}`, []string{"set either builderImage or builderImageStreamTag"}},
		{"namespace alone", `image: {imageName: a, s2i: {builderImage: b, builderImageNamespace: ns}}`, []string{"builderImageNamespace", "only means something with builderImageStreamTag"}},
		{"dockerfile and s2i", `image: {imageName: a, dockerfile: {uri: Dockerfile}, s2i: {builderImage: b}}`, []string{"components[name=c].image", "exactly one of dockerfile and s2i"}},
		{"unknown field", `image: {imageName: a, s2i: {builderImage: b, bulderImage: c}}`, []string{`unknown field "bulderImage"`, "builderImage, builderImageNamespace"}},
		{"incremental not bool", `image: {imageName: a, s2i: {builderImage: b, incrementalBuild: "yes"}}`, []string{"incrementalBuild", "must be true or false"}},
		{"git remotes", `image: {imageName: a, s2i: {builderImage: b, scriptLocation: {remotes: {origin: "https://github.com/x/y.git"}}}}`, []string{"scriptLocation", "git remotes are not fetched"}},
		{"file url", `image: {imageName: a, s2i: {builderImage: b, scriptLocation: "file:///etc"}}`, []string{"scriptLocation", "relative to the devfile"}},
		{"not a mapping", `image: {imageName: a, s2i: builder}`, []string{"image.s2i", "must be a mapping", "not a scalar (builder)"}},
		{"custom without imageName", `custom: {componentClass: s2i, embeddedResource: {builderImage: b}}`, []string{"custom.embeddedResource.imageName", "is required"}},
		{"custom without resource", `custom: {componentClass: s2i}`, []string{"needs an embeddedResource"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "devfile.yaml"), "schemaVersion: 2.2.0\nmetadata: {name: x}\ncomponents:\n- name: c\n  "+tc.comp+"\n")
			_, err := Load(context.Background(), dir, LoadOptions{})
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("want a *ValidationError, got %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}
