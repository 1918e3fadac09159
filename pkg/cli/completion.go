package cli

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/devtool/devtool/pkg/devfile"
)

// registerCompletions adds dynamic shell completion (cobra's `devtool completion bash|zsh|
// fish|powershell`) of --command with the devfile's command ids and --component with its image
// component names, on every command that has those flags. The devfile is the one --devfile
// names (default "."); completion prints nothing when it cannot be loaded.
func registerCompletions(g *globals, root *cobra.Command) {
	complete := func(pick func(d *devfile.Devfile) []string) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return func(cmd *cobra.Command, _ []string, prefix string) ([]string, cobra.ShellCompDirective) {
			d, err := g.load(cmd.Context())
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var out []string
			for _, v := range pick(d) {
				if strings.HasPrefix(v, prefix) {
					out = append(out, v)
				}
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		}
	}
	commands := complete(func(d *devfile.Devfile) []string {
		var ids []string
		for _, c := range d.Commands {
			ids = append(ids, c.ID)
		}
		return ids
	})
	images := complete(func(d *devfile.Devfile) []string {
		var names []string
		for _, c := range d.Components {
			if c.Kind == devfile.KindImage {
				names = append(names, c.Name)
			}
		}
		return names
	})
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Flags().Lookup("command") != nil {
			_ = c.RegisterFlagCompletionFunc("command", commands)
		}
		if c.Flags().Lookup("component") != nil {
			_ = c.RegisterFlagCompletionFunc("component", images)
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}
