package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/devtool/devtool/pkg/plan"
	"github.com/devtool/devtool/pkg/run"
)

func newDescribeCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "describe",
		Short: "Describe the devfile: components, commands, variables and the deploy plan (no cluster, no network)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := g.validateCommon(); err != nil {
				return err
			}
			proj, err := g.project(cmd.Context())
			if err != nil {
				return err
			}
			p, perr := plan.Compile(proj.Devfile, plan.Options{})
			desc, err := run.NewDescribe(&run.Configuration{Version: Version}).Run(cmd.Context(), proj, p)
			if err != nil {
				return err
			}
			if perr != nil {
				desc.Warnings = append(desc.Warnings, "deploy command: "+perr.Error())
			}
			g.warn(desc.Warnings, nil)
			if g.output != "text" {
				return g.print(desc)
			}
			w := g.streams.Out
			fmt.Fprintf(w, "%s (%s), schemaVersion %s\n", desc.Name, desc.Devfile, desc.SchemaVersion)
			fmt.Fprintln(w, "components:")
			for _, c := range desc.Components {
				line := fmt.Sprintf("  %s (%s)", c.Name, c.Kind)
				switch {
				case c.Image != nil:
					line += " → " + c.Image.Repository
					if c.Image.Dockerfile != "" {
						line += fmt.Sprintf(" from %s, context %s", c.Image.Dockerfile, c.Image.BuildContext)
					}
					if s := c.Image.S2I; s != nil {
						builder := s.BuilderImage
						if builder == "" {
							builder = "image stream " + s.BuilderImageNamespace + "/" + s.BuilderImageStreamTag
						}
						line += fmt.Sprintf(" with source-to-image, builder %s, source %s", builder, c.Image.BuildContext)
						if s.Incremental {
							line += ", incremental"
						}
					}
				case c.Manifest != nil && len(c.Manifest.Objects) > 0:
					line += ": " + strings.Join(c.Manifest.Objects, ", ")
				case c.Container != nil:
					line += ": " + c.Container.Image
				}
				if c.InDeploy {
					line += " [deploy]"
				}
				fmt.Fprintln(w, line)
			}
			fmt.Fprintln(w, "commands:")
			for _, c := range desc.Commands {
				line := fmt.Sprintf("  %s (%s)", c.ID, c.Kind)
				if c.Group != "" {
					line += " group " + c.Group
					if c.IsDefault {
						line += " (default)"
					}
				}
				if c.Component != "" {
					line += " → " + c.Component
				}
				if len(c.Commands) > 0 {
					line += " → " + strings.Join(c.Commands, ", ")
					if c.Parallel {
						line += " (parallel)"
					}
				}
				fmt.Fprintln(w, line)
			}
			if len(desc.Variables) > 0 {
				fmt.Fprintln(w, "variables:")
				for _, v := range desc.Variables {
					val := v.Value
					if val == "" && v.Source != "undefined" {
						val = "(set by " + v.Source + ")"
					}
					fmt.Fprintf(w, "  %s = %s [%s]\n", v.Name, val, v.Source)
				}
			}
			def := desc.DeployCommand
			if def == "" {
				def = "none"
			}
			fmt.Fprintf(w, "deploy command: %s (%d steps)\n", def, len(desc.Steps))
			return nil
		},
	}
}

func newImagesCommand(g *globals) *cobra.Command {
	var command, builderFlag string
	var pullList bool
	c := &cobra.Command{
		Use:   "images",
		Short: "List every image a deploy would run: the ones devtool builds and the ones manifests and Jobs reference",
		Long: `List every image the deploy command would run, with where each comes from: the images of
its image components (with the input-digest tag deploy would push; no registry is asked, so
they are not pinned by digest) and every image its manifests and exec Jobs reference.
--pull-list prints one reference per line, for mirroring or air-gapped installs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := g.validateCommon(); err != nil {
				return err
			}
			builder, err := newBuilder(builderFlag, g, kanikoFlags{})
			if err != nil {
				return err
			}
			proj, p, err := g.loadPlan(cmd.Context(), command)
			if err != nil {
				return err
			}
			list, err := run.NewImages(&run.Configuration{Builder: builder, Version: Version}).Run(cmd.Context(), proj, p)
			g.warn(list.Warnings, err)
			if err != nil {
				return err
			}
			switch {
			case pullList:
				for _, im := range list.Images {
					fmt.Fprintln(g.streams.Out, im.Ref)
				}
			case g.output != "text":
				return g.print(list)
			default:
				for _, im := range list.Images {
					what := "referenced by " + im.Source
					if im.Built {
						what = fmt.Sprintf("built from image component %s", im.Component)
					}
					fmt.Fprintf(g.streams.Out, "%s\t%s\n", im.Ref, what)
				}
			}
			return nil
		},
	}
	c.Flags().StringVar(&command, "command", "", "command id to list instead of the default deploy command")
	c.Flags().StringVar(&builderFlag, "builder", "auto", "image builder deploy would use (part of the input-digest tag)")
	c.Flags().BoolVar(&pullList, "pull-list", false, "print one image reference per line (for mirroring)")
	return c
}
