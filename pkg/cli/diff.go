package cli

import (
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/devtool/devtool/pkg/run"
)

func newDiffCommand(g *globals) *cobra.Command {
	var command, imagesFile, builderFlag string
	var force, adopt, prune, pullSecret bool
	kube := genericclioptions.NewConfigFlags(true)
	c := &cobra.Command{
		Use:   "diff",
		Short: "Show what deploy would change in the cluster (like kubectl diff --server-side)",
		Long: `Compare what deploy would apply with the live objects in the cluster, like
kubectl diff --server-side, without building anything or changing the cluster: every object
is read and sent as a server-side dry-run apply (field manager devtool), and the live object
(LIVE) is compared with the result (MERGED). stdout holds a unified diff per object that
differs; -o json prints a DiffReport instead.

Images are not built: for each image component, diff computes the input-digest tag deploy
would use (with the builder --builder picks, as deploy) and asks the registry for it; when the
registry has it (nothing changed since the last deploy), manifests are compared with exactly
the reference deploy would pin, else with repo:<new tag> (deploy would build it). Pass --images
with the report of ` + "`devtool build --push -o json`" + ` to compare with exactly the images
deploy --images would pin.

Objects in a namespace the deploy creates, and custom resources of a CRD it creates, cannot
be dry-run and are shown as rendered. With --prune, the objects deploy --prune would delete
(members of this devfile's inventory that it no longer has) are shown as deleted.

Exit codes (kubectl diff's): 0 no differences, 1 differences found; otherwise 2 invalid
devfile or usage, 4 the cluster check failed (unreachable cluster, invalid object, field
manager conflict), 130 cancelled.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := g.validateCommon(); err != nil {
				return err
			}
			in, err := g.clusterInputs(cmd.Context(), kube, command, imagesFile, builderFlag, kanikoFlags{})
			if err != nil {
				return err
			}
			a := run.NewDiff(in.cfg, in.applier)
			a.Namespace, a.ForceConflicts, a.Adopt, a.Prune, a.Prebuilt = in.ns, force, adopt, prune, in.prebuilt
			if pullSecret {
				a.PullSecret = g.registryPolicy().DockerConfigJSON
			}
			rep, err := a.Run(cmd.Context(), in.proj, in.p)
			g.warn(rep.Warnings, err)
			if err != nil {
				return err
			}
			if g.output != "text" {
				if err := g.print(rep); err != nil {
					return err
				}
			} else {
				for _, o := range rep.Objects {
					fmt.Fprint(g.streams.Out, o.Diff)
				}
			}
			if rep.Differences {
				return ErrDifferences
			}
			return nil
		},
	}
	c.Flags().StringVar(&command, "command", "", "command id to diff instead of the default deploy command")
	c.Flags().StringVar(&imagesFile, "images", "", "compare with the images of a `devtool build --push -o json` report (what deploy --images would pin)")
	c.Flags().StringVar(&builderFlag, "builder", "auto", "image builder deploy would use (it is part of the input-digest tag): auto, native, buildah, podman, docker or kaniko")
	c.Flags().BoolVar(&force, "force-conflicts", false, "diff as deploy --force-conflicts would apply: take over fields other field managers own")
	c.Flags().BoolVar(&adopt, "adopt", false, "diff as deploy --adopt would apply: take over objects devtool did not create")
	c.Flags().BoolVar(&pullSecret, "create-pull-secret", false, "diff as deploy --create-pull-secret would apply: include the image pull Secret (values masked) and imagePullSecrets")
	c.Flags().BoolVar(&prune, "prune", false, "also show the objects deploy --prune would delete (ApplySet inventory)")
	kube.AddFlags(c.Flags())
	return c
}
