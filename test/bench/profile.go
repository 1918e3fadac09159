package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/pprof"
	"strings"

	"github.com/devtool/devtool/pkg/cli"
)

// profileRuns is how many in-process runs a profile covers.
const profileRuns = 3

// profileCLI runs devtool in process (cli.Main, what cmd/devtool runs) profileRuns times with
// argsFor(i) under the CPU profiler, writes the profile to path and returns its top functions
// (go tool pprof -top). It shows devtool's own CPU; the API server's is in the breakdown table.
func (e *env) profileCLI(ctx context.Context, path string, argsFor func(i int) []string) (string, error) {
	env := map[string]string{}
	for _, kv := range e.childEnv {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	getenv := func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
	return profile(path, func() error {
		for i := range profileRuns {
			args := argsFor(i)
			if args == nil {
				return fmt.Errorf("preparing in-process run %d failed", i)
			}
			var errOut bytes.Buffer
			if err := cli.Main(ctx, args, cli.Streams{In: strings.NewReader(""), Out: io.Discard, Err: &errOut}, getenv); err != nil {
				return fmt.Errorf("devtool %s: %v\n%s", strings.Join(args, " "), err, tail(errOut.String(), 2000))
			}
		}
		return nil
	})
}

// profile runs f under the CPU profiler, writes the profile to path and returns what
// `go tool pprof` shows of it with each of views (default: -top -flat and -top -cum, 15 nodes).
func profile(path string, f func() error, views ...[]string) (string, error) {
	if err := record(path, f); err != nil {
		return "", err
	}
	if len(views) == 0 {
		views = [][]string{{"-top", "-flat", "-nodecount=15"}, {"-top", "-cum", "-nodecount=15"}}
	}
	var b strings.Builder
	for _, v := range views {
		if err := pprofView(&b, path, v...); err != nil {
			return "", err
		}
	}
	return b.String(), nil
}

func record(path string, f func() error) error {
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.StartCPUProfile(out); err != nil {
		out.Close()
		return err
	}
	ferr := f()
	pprof.StopCPUProfile()
	if err := out.Close(); err != nil {
		return err
	}
	return ferr
}

// pprofView appends `go tool pprof <args…> <path>` and its output to b.
func pprofView(b *strings.Builder, path string, args ...string) error {
	argv := append(append([]string{"tool", "pprof"}, args...), path)
	out, err := exec.Command("go", argv...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("go tool pprof: %v: %s", err, out)
	}
	fmt.Fprintf(b, "$ go %s\n%s\n", strings.Join(argv, " "), trimPprof(out))
	return nil
}

// trimPprof drops the header lines of go tool pprof -top that say nothing about the profile.
func trimPprof(out []byte) string {
	var keep []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.HasPrefix(l, "File:") || strings.HasPrefix(l, "Build ID:") || strings.HasPrefix(l, "Type:") || strings.HasPrefix(l, "Time:") {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}
