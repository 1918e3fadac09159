package build

import (
	"fmt"
	"path/filepath"
	"strings"
)

// ExecError is returned by backends that run an external program (buildah, podman, docker,
// s2i) when that program fails: it exits non-zero, is killed, or cannot be started. pkg/cli
// maps it to exit code 3 ("BuildFailed") with errors.As.
type ExecError struct {
	// Name is the image component being built (Request.Name).
	Name string
	// Argv is the command line that ran, argv[0] (the program's path) first. It may contain
	// build-argument values, so Error shows only the program's name and subcommand.
	Argv []string
	// ExitCode is the program's exit status, or -1 when it did not exit normally (killed by a
	// signal, or never started).
	ExitCode int
	// Output is the last lines (about 20) of the program's combined stdout and stderr, without
	// a trailing newline. The full output went to the build's log writer.
	Output string
	// Err is the underlying error (*exec.ExitError, a start error, or context.Canceled when
	// the build was cancelled).
	Err error
}

// Error reads like `image "backend": buildah build … exited 1: <last lines>`.
func (e *ExecError) Error() string {
	var b strings.Builder
	if e.Name != "" {
		fmt.Fprintf(&b, "image %q: ", e.Name)
	}
	b.WriteString(shortCommand(e.Argv))
	switch {
	case e.ExitCode >= 0:
		fmt.Fprintf(&b, " exited %d", e.ExitCode)
	case e.Err != nil:
		fmt.Fprintf(&b, " failed: %v", e.Err)
	default:
		b.WriteString(" failed")
	}
	if out := strings.TrimSpace(e.Output); out != "" {
		b.WriteString(":\n")
		b.WriteString(out)
	}
	return b.String()
}

// Unwrap returns Err, so errors.Is(err, context.Canceled) holds for a cancelled build.
func (e *ExecError) Unwrap() error { return e.Err }

// shortCommand renders "buildah build …": the program and its subcommand, because the full
// argv is long and may carry build-argument values.
func shortCommand(argv []string) string {
	if len(argv) == 0 {
		return "command"
	}
	prog := filepath.Base(argv[0]) // "/usr/bin/buildah" reads better as "buildah"
	if len(argv) <= 2 {
		return strings.Join(append([]string{prog}, argv[1:]...), " ")
	}
	// Global flags may come first (buildah --root DIR build …): name the subcommand.
	words := []string{prog}
	for _, a := range argv[1:] {
		switch a {
		case "build", "bud", "push", "image", "inspect", "version", "info":
			words = append(words, a)
			return strings.Join(words, " ") + " …"
		}
	}
	words = append(words, argv[1])
	return strings.Join(words, " ") + " …"
}
