// Package cli is devtool's command-line surface: cobra commands, flag parsing, output
// formatting, and the only place where concrete build and deploy backends are chosen. Commands
// follow cli-runtime's Complete → Validate → Run shape; results go to stdout, progress to
// stderr (design.md §2).
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"golang.org/x/term"
	"k8s.io/klog/v2"

	"github.com/devtool/devtool/pkg/devfile"
	"github.com/devtool/devtool/pkg/event"
	"github.com/devtool/devtool/pkg/remote"
	"github.com/devtool/devtool/pkg/run"
	"github.com/devtool/devtool/pkg/vars"
)

// Version is set at link time (-X github.com/devtool/devtool/pkg/cli.Version=…).
var Version = "dev"

// Streams are the process's standard streams.
type Streams struct {
	In       io.Reader
	Out, Err io.Writer
}

// UsageError is a command-line mistake (unknown flag value, bad combination). Exit code 2.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// globals are the flags every command shares.
type globals struct {
	streams       Streams
	devfile       string
	vars          []string
	varFile       string
	output        string
	progress      string
	verbose       bool
	strict        bool
	imageRegistry string
	buildArgEnv   []string
	allowOutside  bool
	registryURL   string
	offline       bool
	remote        *remote.Client // the client load used, for reads after substitution
	getenv        func(string) (string, bool)
	registries    registryFlags
	closers       []func()
}

// NewRootCommand returns the devtool command tree. getenv is os.LookupEnv in production (tests
// pass a map), so no command reads process state directly.
func NewRootCommand(s Streams, getenv func(string) (string, bool)) *cobra.Command {
	return newRootCommand(&globals{streams: s, getenv: getenv})
}

func newRootCommand(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "devtool",
		Short: "Build and deploy devfile projects (the devfile outer loop)",
		Long: `devtool builds the container images a devfile declares and deploys the application to
Kubernetes with server-side apply, following the devfile's deploy command.

Results go to stdout, progress to stderr. Exit codes: 0 ok, 1 internal error (diff: differences
found, as kubectl diff), 2 invalid devfile or usage, 3 build failed, 4 deploy failed (cluster
check, apply, rollout), 130 cancelled.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(g.streams.In)
	root.SetOut(g.streams.Out)
	root.SetErr(g.streams.Err)
	// A flag value that does not parse (--wait=soon, --prune=maybe) is a usage error (exit 2).
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &UsageError{Err: err} })
	pf := root.PersistentFlags()
	pf.StringVar(&g.devfile, "devfile", ".", "devfile path, or the project directory that holds it")
	pf.StringArrayVar(&g.vars, "var", nil, "set a devfile variable: KEY=VALUE, or KEY to read the environment (repeatable; wins over --var-file and the devfile)")
	pf.StringVar(&g.varFile, "var-file", "", "file of KEY=VALUE lines setting devfile variables (wins over the devfile)")
	pf.StringVarP(&g.output, "output", "o", "text", "result format: text, json or yaml")
	pf.StringVar(&g.progress, "progress", "auto", "progress on stderr: auto, text or json (NDJSON events)")
	pf.BoolVarP(&g.verbose, "verbose", "v", false, "show builder output and debug logs")
	pf.BoolVar(&g.strict, "strict", false, "treat undefined {{variables}} as errors")
	pf.StringArrayVar(&g.buildArgEnv, "build-arg-env", nil, "let the build arg NAME, given without a value in dockerfile.args, take its value from the environment (repeatable; otherwise only --var/--var-file/devfile variables fill it)")
	pf.BoolVar(&g.allowOutside, "allow-outside-project", false, "let build contexts and Dockerfiles resolve outside the project directory")
	addRegistryFlags(pf, &g.registries)
	pf.StringVar(&g.imageRegistry, "image-registry", "", "registry for relative image names, e.g. 127.0.0.1:5000/me (env DEVTOOL_IMAGE_REGISTRY)")
	pf.StringVar(&g.registryURL, "registry-url", "", "devfile registry for every registry parent and dockerfile.devfileRegistry, replacing the registryUrl the devfile names (a mirror; env DEVTOOL_REGISTRY_URL; default: the devfile's, else "+remote.PublicRegistry+")")
	pf.BoolVar(&g.offline, "offline", false, "fetch nothing over the network: registry parents, http(s) uris and remote Dockerfiles come from the cache an earlier run filled (env DEVTOOL_CACHE_DIR, default <user cache dir>/devtool)")

	root.AddCommand(
		newValidateCommand(g),
		newPlanCommand(g),
		newRenderCommand(g),
		newBuildCommand(g),
		newDeployCommand(g),
		newDiffCommand(g),
		newUndeployCommand(g),
		newDescribeCommand(g),
		newImagesCommand(g),
		newVersionCommand(g),
	)
	registerCompletions(g, root)
	return root
}

// Main runs the command line args (without the program name) and returns the error to map to
// an exit code with Classify. In -o json mode a failed command also writes an Error document to
// stdout.
func Main(ctx context.Context, args []string, s Streams, getenv func(string) (string, bool)) error {
	if _, ok := s.Err.(*os.File); !ok && s.Err != nil {
		// The progress sink and -v's logger write stderr from several goroutines: one Write
		// at a time (an *os.File is safe as it is, and the terminal view needs the file).
		s.Err = &lockedWriter{w: s.Err}
	}
	// client-go reports some failures it handles itself (a pods/attach stream cut by Ctrl-C)
	// through klog straight to stderr; devtool reports what matters in its own words.
	klogOnce.Do(func() { klog.SetLogger(logr.Discard()) })
	g := &globals{streams: s, getenv: getenv}
	root := newRootCommand(g)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	g.close()
	if err == nil || errors.Is(err, ErrDifferences) {
		return err
	}
	// cobra's own argument errors ("unknown command", "accepts 0 arg(s)") are usage errors.
	var usage *UsageError
	if msg := err.Error(); !errors.As(err, &usage) && (strings.HasPrefix(msg, "unknown command") || strings.Contains(msg, " arg(s), received ")) {
		err = &UsageError{Err: err}
	}
	if cmd != nil && cmd.Flags().Lookup("output") != nil {
		if o, _ := cmd.Flags().GetString("output"); o == "json" || o == "yaml" {
			writeErrorDocument(s.Out, o, err)
		}
	}
	writeErrorLine(s.Err, g.progress == "json", err)
	return err
}

// klogOnce silences klog once per process.
var klogOnce sync.Once

// writeErrorLine ends stderr with what went wrong: one line ("error: …", or for a cancelled
// run "cancelled: …"), or with --progress=json one NDJSON event of type "error" (fields code
// and exitCode), so that the stream stays machine-readable to the end.
func writeErrorLine(w io.Writer, progressJSON bool, err error) {
	code, exit := Classify(err)
	msg := "error: " + err.Error()
	if errors.Is(err, context.Canceled) {
		msg = "cancelled: devtool stopped what it was doing; steps not started did not run"
	}
	if progressJSON {
		event.NewJSONSink(w).Emit(event.Event{Time: time.Now(), Type: event.Error, Message: strings.TrimPrefix(msg, "error: "),
			Fields: map[string]string{"code": code, "exitCode": strconv.Itoa(exit)}})
		return
	}
	fmt.Fprintln(w, msg)
}

func (g *globals) validateCommon() error {
	switch g.output {
	case "text", "json", "yaml":
	default:
		return &UsageError{Err: fmt.Errorf("--output %q: must be text, json or yaml", g.output)}
	}
	switch g.progress {
	case "auto", "text", "json":
	default:
		return &UsageError{Err: fmt.Errorf("--progress %q: must be auto, text or json", g.progress)}
	}
	if g.imageRegistry == "" {
		if v, ok := g.getenv("DEVTOOL_IMAGE_REGISTRY"); ok {
			g.imageRegistry = v
		}
	}
	if _, err := g.resolveRegistries(); err != nil {
		return err
	}
	return g.validateRemote()
}

func (g *globals) logger() *slog.Logger {
	if !g.verbose {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(g.streams.Err, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// sink is the progress sink --progress asks for: NDJSON events, plain ordered lines, or, with
// auto on a terminal (and not under CI or TERM=dumb), the live view (colour unless NO_COLOR).
func (g *globals) sink() event.Sink {
	switch g.progress {
	case "json":
		return event.NewJSONSink(g.streams.Err)
	case "auto":
		if f, ok := g.streams.Err.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			_, ci := g.getenv("CI")
			t, _ := g.getenv("TERM")
			if !ci && t != "dumb" {
				width, _, _ := term.GetSize(int(f.Fd()))
				_, noColor := g.getenv("NO_COLOR")
				s := event.NewTTYSink(f, width, !noColor, g.verbose)
				g.closers = append(g.closers, s.Close)
				return s
			}
		}
	}
	return event.NewTextSink(g.streams.Err, g.verbose)
}

// close ends what the command started (the live progress view).
func (g *globals) close() {
	for _, c := range g.closers {
		c()
	}
	g.closers = nil
}

func (g *globals) load(ctx context.Context) (*devfile.Devfile, error) {
	path := g.devfile
	if !filepath.IsAbs(path) {
		if abs, err := filepath.Abs(path); err == nil {
			path = abs
		}
	}
	client, err := g.remoteClient()
	if err != nil {
		return nil, err
	}
	g.remote = client
	return devfile.Load(ctx, path, devfile.LoadOptions{Logger: g.logger(), Remote: client, RegistryURL: g.registryURL})
}

// varLayers returns the --var-file and --var layers, lowest first.
func (g *globals) varLayers() ([]vars.Layer, error) {
	var layers []vars.Layer
	if g.varFile != "" {
		m, err := vars.ParseFile(g.varFile)
		if err != nil {
			return nil, &UsageError{Err: err}
		}
		layers = append(layers, vars.Layer{Source: "--var-file " + g.varFile, Values: m})
	}
	if len(g.vars) > 0 {
		m, err := vars.ParseFlags(g.vars, g.getenv)
		if err != nil {
			return nil, &UsageError{Err: err}
		}
		layers = append(layers, vars.Layer{Source: "--var", Values: m})
	}
	return layers, nil
}

// project loads the devfile and reads what the command line adds to it: the variable layers,
// the build args allowed from the environment, the path policy.
func (g *globals) project(ctx context.Context) (run.Project, error) {
	d, err := g.load(ctx)
	if err != nil {
		return run.Project{}, err
	}
	layers, err := g.varLayers()
	if err != nil {
		return run.Project{}, err
	}
	env := map[string]string{}
	for _, n := range g.buildArgEnv {
		if v, ok := g.getenv(n); ok {
			env[n] = v
		}
	}
	return run.Project{Devfile: d, Vars: layers, Strict: g.strict, ImageRegistry: g.imageRegistry, BuildArgEnv: env, AllowOutsideProject: g.allowOutside, Remote: g.remote}, nil
}

// warn prints each warning once on stderr, unless err already reports them (--strict makes
// undefined variables the error).
func (g *globals) warn(msgs []string, err error) {
	var undefined *vars.UndefinedError
	if errors.As(err, &undefined) {
		return
	}
	for _, m := range msgs {
		fmt.Fprintln(g.streams.Err, "warning: "+m)
	}
}

// OSGetenv is os.LookupEnv, for cmd/devtool.
func OSGetenv(k string) (string, bool) { return os.LookupEnv(k) }

// lockedWriter serialises Writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
