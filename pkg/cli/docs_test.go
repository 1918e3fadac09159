package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// TestCommandReference: docs/commands holds the command reference generated from the cobra
// commands (cobra/doc, markdown), and is current; -update rewrites it.
func TestCommandReference(t *testing.T) {
	t.Setenv("HOME", "$HOME") // kubectl's flags show defaults under the home directory
	root := NewRootCommand(Streams{}, func(string) (string, bool) { return "", false })
	root.DisableAutoGenTag = true
	dir := t.TempDir()
	var all []*cobra.Command
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.DisableAutoGenTag = true
		all = append(all, c)
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
	if err := doc.GenMarkdownTree(root, dir); err != nil {
		t.Fatal(err)
	}
	docs := filepath.Join("..", "..", "docs", "commands")
	got, _ := filepath.Glob(filepath.Join(dir, "*.md"))
	if len(got) < 10 {
		t.Fatalf("only %d pages generated", len(got))
	}
	if *update {
		if err := os.RemoveAll(docs); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(docs, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range got {
		b, _ := os.ReadFile(f)
		path := filepath.Join(docs, filepath.Base(f))
		if *update {
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%v (run go test ./pkg/cli -run TestCommandReference -update)", err)
			continue
		}
		if diff := cmp.Diff(string(want), string(b)); diff != "" {
			t.Errorf("%s is out of date (run go test ./pkg/cli -run TestCommandReference -update):\n%s", path, diff)
		}
	}
	have, _ := filepath.Glob(filepath.Join(docs, "*.md"))
	if !*update && len(have) != len(got) {
		t.Errorf("docs/commands has %d pages, the commands %d", len(have), len(got))
	}
}

// TestCompletion: --command completes with the devfile's command ids, --component with its
// image components (cobra's hidden __complete, what the shell scripts call).
func TestCompletion(t *testing.T) {
	hello := sampleDir("hello")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"__complete", "--devfile", hello, "deploy", "--command", ""}, "build-image\ndeploy-k8s\ndeploy\n:4\n"},
		{[]string{"__complete", "--devfile", hello, "build", "--component", "h"}, "hello-image\n:4\n"},
	} {
		out, _, err := runCLI(t, t.Context(), tc.args...)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(out, tc.want) {
			t.Errorf("%v: %q, want %q", tc.args, out, tc.want)
		}
	}
}
