// Command bench is devtool's `make bench` harness (issue 12): it starts the local environment
// once — the test kube-apiserver + etcd (test/testenv), an in-process OCI registry with the
// busybox base image pushed to it — and then measures devtool side by side with its peers, in
// one run, alternating devtool and each peer (ABBA order, after one untimed warm-up each), and
// reports the median of -runs runs (5 by default) and the ratio peer/devtool:
//
//   - no-op redeploy of testdata/samples/hello: devtool deploy vs kubectl apply --server-side of
//     the same rendered manifests, odo deploy ($ODO_BIN) and skaffold run ($SKAFFOLD_BIN);
//   - 200 mixed objects (50 each of ConfigMap, Secret, Service, Deployment), cold (a new
//     namespace per run) and with nothing changed, vs kubectl apply --server-side;
//   - the hello Dockerfile (RUN-free) after a source change: devtool's native builder vs
//     buildah bud + buildah push; and with nothing changed (devtool's input-digest cache vs
//     buildah bud --layers + push);
//   - a Dockerfile with RUN through devtool --builder buildah vs the same buildah commands run
//     directly (devtool's overhead in %); the same for podman (runc) and docker (a dockerd the
//     bench starts on a private socket, testenv.StartDockerd), each skipped when not installed;
//   - a source-to-image build after a source change: devtool build --builder buildah of an s2i
//     image vs the s2i CLI (s2i build --as-dockerfile, $S2I_BIN) + buildah build + push
//     (docs/s2i.md; overhead in %);
//   - a Dockerfile with RUN through a kaniko Pod (devtool --builder kaniko on a test node,
//     testenv.StartNode, started only when the scenario is selected) vs the same build through
//     devtool --builder buildah on the host (informational, in %);
//   - every devfile of testdata/corpus: devfile.Load vs the bare devfile/library calls
//     (parser.ParseDevfileAndValidate, GetComponents, GetCommands), in process (overhead in %);
//   - describe -o json vs odo describe component -o json ($ODO_BIN);
//   - the peak RSS of a deploy (the 200-object cold deploy) vs kubectl's.
//
// Each run also records the client's CPU time (user+sys, from rusage), its peak RSS and the
// API server's CPU time (from /proc), which show where the wall time goes. When devtool misses
// a target, the scenario is run again in process under the CPU profiler and the profile's top
// functions are printed (profiles in -out).
//
// Output: a markdown table on stdout, progress on stderr, the raw numbers as JSON in
// -out/results.json. A peer whose binary is missing is skipped with a note, never faked.
// Everything runs under a temporary directory; the API server is stopped by PID at the end.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"syscall"
	"time"

	"github.com/devtool/devtool/test/testenv"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// options are the command-line flags and the peers found in the environment.
type options struct {
	devtool  string
	runs     int
	out      string
	only     *regexp.Regexp
	keep     bool
	profile  bool
	kubectl  string
	buildah  string
	s2i      string // $S2I_BIN, else s2i on PATH
	odo      string // $ODO_BIN
	skaffold string // $SKAFFOLD_BIN
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var only string
	fs.StringVar(&o.devtool, "devtool", "", "devtool binary to measure (default: built from this module into the work directory)")
	fs.IntVar(&o.runs, "runs", 5, "timed runs per tool and scenario (the median is reported; the issue asks for at least 5)")
	fs.StringVar(&o.out, "out", "", "directory for results.json and profiles (default: <module root>/bench/out)")
	fs.StringVar(&only, "only", "", "run only the scenarios whose id matches this regular expression")
	fs.BoolVar(&o.keep, "keep", false, "keep the work directory (projects, logs, the API server's data)")
	fs.BoolVar(&o.profile, "profile", true, "profile devtool in process where it misses a target")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.runs < 1 {
		return errors.New("-runs must be at least 1")
	}
	if only != "" {
		re, err := regexp.Compile(only)
		if err != nil {
			return fmt.Errorf("-only: %w", err)
		}
		o.only = re
	}
	root, err := testenv.ModuleRoot()
	if err != nil {
		return err
	}
	if o.out == "" {
		o.out = filepath.Join(root, "bench", "out")
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	o.kubectl, _ = exec.LookPath("kubectl")
	o.buildah, _ = exec.LookPath("buildah")
	if o.s2i = os.Getenv("S2I_BIN"); o.s2i == "" {
		o.s2i, _ = exec.LookPath("s2i")
	}
	o.odo = os.Getenv("ODO_BIN")
	o.skaffold = os.Getenv("SKAFFOLD_BIN")

	start := time.Now()
	logf := func(format string, a ...any) {
		fmt.Fprintf(stderr, "[%5.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, a...))
	}
	e, err := setup(ctx, root, &o, logf)
	if e != nil {
		defer func() {
			if err := e.close(o.keep); err != nil {
				logf("stopping the environment: %v", err)
			}
			if o.keep {
				logf("work directory kept: %s", e.dir)
			}
		}()
	}
	if err != nil {
		return err
	}
	rep := &report{APIVersion: "devtool.dev/bench/v1", Kind: "BenchReport", Started: start.UTC(), Runs: o.runs, Host: hostInfo(), Devtool: o.devtool}
	for _, sc := range scenarios(e, &o) {
		if o.only != nil && !o.only.MatchString(sc.ID) {
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		logf("scenario %s: %s", sc.ID, sc.Title)
		res, err := measure(ctx, sc, o.runs, logf)
		if err != nil {
			return fmt.Errorf("scenario %s: %w", sc.ID, err)
		}
		if o.profile && res.missed() && sc.profile != nil {
			logf("scenario %s: target missed; profiling devtool in process", sc.ID)
			p, err := sc.profile(ctx, filepath.Join(o.out, sc.ID+".cpu.pprof"))
			if err != nil {
				logf("profiling %s: %v", sc.ID, err)
			}
			res.Profile = p
		}
		rep.Scenarios = append(rep.Scenarios, res)
	}
	rep.Elapsed = time.Since(start).Seconds()
	rep.addRSS()
	if err := rep.writeJSON(filepath.Join(o.out, "results.json")); err != nil {
		return err
	}
	rep.markdown(stdout)
	logf("raw numbers: %s", filepath.Join(o.out, "results.json"))
	return nil
}
