// Package depcheck enforces devtool's dependency direction (design.md §6, after
// go-containerregistry's depcheck_test.go): cli → run → plan, build, deploy → devfile, vars,
// event. build and deploy never see a devfile; the model packages never see backends or the CLI.
package depcheck

import (
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/devtool/devtool/"

func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", mod+pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	var own []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.HasPrefix(l, mod) {
			own = append(own, strings.TrimPrefix(l, mod))
		}
	}
	return own
}

func TestDependencyDirection(t *testing.T) {
	forbidden := map[string][]string{
		"pkg/build/...":   {"pkg/devfile", "pkg/plan", "pkg/run", "pkg/cli", "pkg/deploy", "pkg/vars"},
		"pkg/deploy":      {"pkg/devfile", "pkg/plan", "pkg/run", "pkg/cli", "pkg/build", "pkg/vars", "pkg/deploy/helm"},
		"pkg/deploy/helm": {"pkg/devfile", "pkg/plan", "pkg/run", "pkg/cli", "pkg/build", "pkg/vars"},
		"pkg/plan":        {"pkg/run", "pkg/cli", "pkg/build", "pkg/deploy"},
		"pkg/devfile":     {"pkg/plan", "pkg/run", "pkg/cli", "pkg/build", "pkg/deploy", "pkg/vars"},
		"pkg/vars":        {"pkg/devfile", "pkg/plan", "pkg/run", "pkg/cli", "pkg/build", "pkg/deploy"},
		"pkg/event":       {"pkg/devfile", "pkg/plan", "pkg/run", "pkg/cli", "pkg/build", "pkg/deploy", "pkg/vars"},
		"pkg/run":         {"pkg/cli"},
		// remote fetches bytes; it knows nothing of devfiles or of what is built from them.
		"pkg/remote": {"pkg/devfile", "pkg/plan", "pkg/run", "pkg/cli", "pkg/build", "pkg/deploy", "pkg/vars", "pkg/event"},
	}
	for pkg, bad := range forbidden {
		pkgs := []string{pkg}
		if strings.HasSuffix(pkg, "/...") {
			base := strings.TrimSuffix(pkg, "/...")
			out, err := exec.Command("go", "list", mod+pkg).Output()
			if err != nil {
				t.Fatalf("go list %s: %v", pkg, err)
			}
			pkgs = nil
			for _, l := range strings.Fields(string(out)) {
				if p := strings.TrimPrefix(l, mod); strings.HasPrefix(p, base) {
					pkgs = append(pkgs, p)
				}
			}
		}
		for _, p := range pkgs {
			for _, d := range deps(t, p) {
				for _, b := range bad {
					if d == b || strings.HasPrefix(d, b+"/") {
						t.Errorf("%s imports %s (directly or not); the dependency direction is cli → run → plan, build, deploy → devfile, vars, event", p, d)
					}
				}
			}
		}
	}
}
