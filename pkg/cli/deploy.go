package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/devtool/devtool/pkg/deploy"
	"github.com/devtool/devtool/pkg/run"
)

// deployOptions are `devtool deploy`'s flags and what Complete derives from them
// (cli-runtime's Complete → Validate → Run).
type deployOptions struct {
	g    *globals
	kube *genericclioptions.ConfigFlags
	bf   buildFlags

	command, dryRun, imagesFile string
	force, adopt, prune         bool
	writeIDEState               bool
	createPullSecret            bool
	wait, execTimeout           time.Duration
	waitSet                     bool

	mode deploy.DryRun
}

func newDeployCommand(g *globals) *cobra.Command {
	o := &deployOptions{g: g, kube: genericclioptions.NewConfigFlags(true)}
	c := &cobra.Command{
		Use:   "deploy",
		Short: "Build the images, apply the manifests and install the Helm charts of the deploy command",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Complete(cmd); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	o.bf.add(c)
	f := c.Flags()
	f.StringVar(&o.command, "command", "", "command id to run instead of the default deploy command")
	f.StringVar(&o.dryRun, "dry-run", "none", "none, client (check locally) or server (server-side dry run; images are still built and pushed)")
	f.StringVar(&o.imagesFile, "images", "", "use the images of a `devtool build --push -o json` report instead of building them (CI: build once, deploy many)")
	f.BoolVar(&o.force, "force-conflicts", false, "take ownership of fields other field managers own (server-side apply --force-conflicts)")
	f.BoolVar(&o.adopt, "adopt", false, "take over objects that exist in the cluster but were not created by devtool for this devfile (without it, deploy refuses them before changing anything)")
	f.BoolVar(&o.prune, "prune", false, "after a successful deploy, delete the objects earlier deploys of this devfile created that this one no longer applies (ApplySet inventory)")
	f.DurationVar(&o.wait, "wait", 0, "after applying, wait until every object has rolled out (kstatus Current), at most this long; a bare --wait waits "+deploy.DefaultWaitTimeout.String()+" (give a duration as --wait=10m); on failure, show why (Pods, events)")
	f.Lookup("wait").NoOptDefVal = deploy.DefaultWaitTimeout.String()
	f.DurationVar(&o.execTimeout, "exec-timeout", deploy.DefaultJobTimeout, "how long each exec command of the deploy (run as a Kubernetes Job, as odo does) may take to complete")
	f.BoolVar(&o.createPullSecret, "create-pull-secret", false, "create or update an image pull Secret (devtool-pull-<devfile name>) with the credentials of the registries the images are pushed to, in each namespace the deploy runs workloads in, and list it in their imagePullSecrets (docs/registries.md)")
	f.BoolVar(&o.writeIDEState, "write-ide-state", false, "after a successful deploy, record it in .odo/deploystate.json as the VS Code OpenShift extension reads it (for its Undeploy)")
	o.kube.AddFlags(f)
	return c
}

// Complete derives values from the flags (no I/O).
func (o *deployOptions) Complete(cmd *cobra.Command) error {
	if err := o.g.validateCommon(); err != nil {
		return err
	}
	o.mode = deploy.DryRun(o.dryRun)
	o.waitSet = cmd.Flags().Changed("wait")
	return nil
}

// Validate checks the flags before anything is read or contacted.
func (o *deployOptions) Validate() error {
	if err := o.bf.validate(); err != nil {
		return err
	}
	switch o.mode {
	case deploy.DryRunNone, deploy.DryRunClient, deploy.DryRunServer:
	default:
		return &UsageError{Err: fmt.Errorf("--dry-run %q: must be none, client or server", o.dryRun)}
	}
	if o.waitSet && o.wait <= 0 {
		return &UsageError{Err: fmt.Errorf("--wait=%s: must be a positive duration such as --wait=10m (a bare --wait waits %s)", o.wait, deploy.DefaultWaitTimeout)}
	}
	if o.execTimeout <= 0 {
		return &UsageError{Err: fmt.Errorf("--exec-timeout=%s: must be a positive duration such as 30m", o.execTimeout)}
	}
	return nil
}

// Run loads the project and runs the deploy action; the action decides what a deploy does
// (it pushes, it commits the inventory).
func (o *deployOptions) Run(ctx context.Context) error {
	in, err := o.g.clusterInputs(ctx, o.kube, o.command, o.imagesFile, o.bf.builder, o.bf.kaniko)
	if err != nil {
		return err
	}
	a := run.NewDeploy(in.cfg, in.applier)
	a.Namespace, a.Tag, a.Platforms, a.DryRun = in.ns, o.bf.tag, o.bf.platforms, o.mode
	a.ForceConflicts, a.Adopt, a.Prune, a.Prebuilt = o.force, o.adopt, o.prune, in.prebuilt
	a.Wait, a.ExecTimeout = o.wait, o.execTimeout
	if o.createPullSecret {
		a.PullSecret = o.g.registryPolicy().DockerConfigJSON
	}
	rep, err := a.Run(ctx, in.proj, in.p)
	if err == nil && o.writeIDEState && (o.mode == deploy.DryRunNone || o.mode == "") {
		err = o.g.recordIDEState(o.kube, in.proj.Devfile, in.ns, rep, true)
	}
	return o.g.finish(rep, err)
}
