// Command devtool builds and deploys devfile projects. main only wires signals to a context,
// runs pkg/cli and maps the error to an exit code.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/devtool/devtool/pkg/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.Main(ctx, os.Args[1:], cli.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}, cli.OSGetenv)
	stop()
	switch {
	case err == nil, errors.Is(err, cli.ErrDifferences):
	case errors.Is(err, context.Canceled):
		// One line: what was interrupted is in the progress above; the rest did not run.
		fmt.Fprintln(os.Stderr, "cancelled: devtool stopped what it was doing; steps not started did not run")
	default:
		fmt.Fprintln(os.Stderr, "error:", err)
	}
	_, code := cli.Classify(err)
	os.Exit(code)
}
