package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/devtool/devtool/test/testenv"
)

const s2iDevfile = `schemaVersion: 2.2.0
metadata: {name: s2ibench}
variables: {BUILDER_IMAGE: "builder:latest"}
components:
  - name: image
    image:
      imageName: app
      s2i: {builderImage: "{{BUILDER_IMAGE}}", incrementalBuild: false}
commands:
  - id: build
    apply: {component: image, group: {kind: build, isDefault: true}}
`

// s2iProject writes a source-to-image project (a devfile, index.txt and a new nonce.txt)
// into a fresh directory and makes sure the fake builder image is in the registry.
func (e *env) s2iProject(ctx context.Context, name string) (dir, builder string, err error) {
	if builder, err = testenv.PushS2IBuilder(ctx, e.registry, nil); err != nil {
		return "", "", err
	}
	dir = filepath.Join(e.dir, "projects", name)
	if err := os.RemoveAll(dir); err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	for p, c := range map[string]string{"devfile.yaml": s2iDevfile, "index.txt": "hello from s2i\n"} {
		if err := os.WriteFile(filepath.Join(dir, p), []byte(c), 0o644); err != nil {
			return "", "", err
		}
	}
	return dir, builder, nonce(filepath.Join(dir, "nonce.txt"))
}

// buildS2I: a source-to-image build after a source change, through devtool --builder buildah
// and through the s2i CLI's --as-dockerfile plus the buildah commands devtool runs: devtool's
// overhead over the tools it replaces (issue 9 asks for the comparison, without a target).
func buildS2I(e *env, o *options) scenario {
	sc := scenario{ID: "build-s2i", Title: "source-to-image build through devtool --builder buildah vs s2i build --as-dockerfile + buildah build + push", Kind: overhead,
		Note: "fake builder image (test/testenv) in the loopback registry, one buildah store (vfs), a new nonce file per run, not incremental; the s2i CLI cannot read the builder's labels over plain HTTP and uses its defaults (the same values here)"}
	var dev, raw, builder string
	skip := skipIfMissing(e.buildah, "buildah not installed")
	sc.tools = []*tool{
		e.devtoolTool("devtool build --builder buildah (s2i)", func(ctx context.Context, _ int) error {
			var err error
			dev, builder, err = e.s2iProject(ctx, "s2i-devtool")
			return err
		}, func(int) []string {
			return []string{"build", "--devfile", dev, "--builder", "buildah", "--push", "--image-registry", e.registry + "/devtool-s2i", "--var", "BUILDER_IMAGE=" + builder}
		}),
		{Name: "s2i --as-dockerfile + buildah build + push (raw)", Skip: skipIfMissing(o.s2i, "S2I_BIN not set and no s2i on PATH (docs/s2i.md: build it from github.com/openshift/source-to-image v1.6.1)"),
			prepare: func(ctx context.Context, _ int) error {
				var err error
				raw, builder, err = e.s2iProject(ctx, "s2i-raw")
				return err
			},
			run: func(ctx context.Context, i int) (sample, error) {
				// Not next to the source: s2i refuses an output path that shares the source path as a
				// string prefix ("recursive copy requested").
				out := filepath.Join(e.dir, "s2i-out", fmt.Sprintf("r%d", i+1))
				if err := os.RemoveAll(out); err != nil {
					return sample{}, err
				}
				ref := fmt.Sprintf("%s/raw-s2i/app:r%d", e.registry, i+2)
				cmds := e.buildahBud(out, ref)
				cmds[0].argv = []string{e.buildah, "build", "--isolation", "chroot", "--tls-verify=false", "-f", filepath.Join(out, "Dockerfile"), "-t", ref, out}
				return e.exec(ctx, append([]command{{argv: []string{o.s2i, "build", raw, builder, ref, "--as-dockerfile", filepath.Join(out, "Dockerfile")}}}, cmds...)...)
			}},
	}
	if skip != "" {
		sc.tools[0].Skip = skip
	}
	return sc
}
