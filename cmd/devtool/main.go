// Command devtool builds and deploys devfile projects. main only wires signals to a context,
// runs pkg/cli and maps the error to an exit code.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/devtool/devtool/pkg/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.Main(ctx, os.Args[1:], cli.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}, cli.OSGetenv)
	stop()
	// cli.Main has written the error (one line, or an NDJSON event with --progress=json).
	_, code := cli.Classify(err)
	os.Exit(code)
}
