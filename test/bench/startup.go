package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"sort"
	"strconv"
	"strings"
)

// startup: `devtool --help` (no cluster, no devfile), with where package initialisation goes
// (GODEBUG=inittrace=1) in the note. devtool only: the target is that verbs without a
// cluster pay nothing for it, not a peer ratio.
func startup(e *env) scenario {
	sc := scenario{ID: "startup", Title: "start-up: devtool --help", Kind: ratio}
	sc.tools = []*tool{e.devtoolTool("devtool --help", nil, func(int) []string { return []string{"--help"} })}
	sc.note = func(ctx context.Context) string {
		tr, err := initTrace(ctx, e.devtool, e.childEnv, 5)
		if err != nil {
			return "inittrace: " + err.Error()
		}
		return tr
	}
	return sc
}

// initTrace runs devtool --help n times with GODEBUG=inittrace=1 and summarises the package
// initialisation: the mean total clock time and the packages that take most of it.
func initTrace(ctx context.Context, devtool string, env []string, n int) (string, error) {
	perPkg := map[string]float64{}
	total := 0.0
	for range n {
		cmd := exec.CommandContext(ctx, devtool, "--help")
		cmd.Env = append(append([]string(nil), env...), "GODEBUG=inittrace=1")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			return "", err
		}
		for pkg, ms := range parseInitTrace(stderr.String()) {
			perPkg[pkg] += ms / float64(n)
			total += ms / float64(n)
		}
	}
	pkgs := make([]string, 0, len(perPkg))
	for p := range perPkg {
		pkgs = append(pkgs, p)
	}
	sort.Slice(pkgs, func(i, j int) bool { return perPkg[pkgs[i]] > perPkg[pkgs[j]] })
	var top []string
	for _, p := range pkgs[:min(6, len(pkgs))] {
		top = append(top, fmt.Sprintf("%s %.1f ms", p, perPkg[p]))
	}
	return fmt.Sprintf("package initialisation (GODEBUG=inittrace=1, mean of %d) %.1f ms in %d packages; most: %s", n, total, len(pkgs), strings.Join(top, ", ")), nil
}

// parseInitTrace returns the clock time in ms of each package's initialisation from the
// runtime's GODEBUG=inittrace=1 lines:
//
//	init <package> @<start> ms, <clock> ms clock, <bytes> bytes, <allocs> allocs
func parseInitTrace(stderr string) map[string]float64 {
	out := map[string]float64{}
	for _, l := range strings.Split(stderr, "\n") {
		f := strings.Fields(l)
		if len(f) < 7 || f[0] != "init" || f[6] != "clock," {
			continue
		}
		if ms, err := strconv.ParseFloat(f[4], 64); err == nil {
			out[f[1]] += ms
		}
	}
	return out
}
