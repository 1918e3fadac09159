package cli

import (
	"context"
	"errors"

	"github.com/devtool/devtool/pkg/build"
	"github.com/devtool/devtool/pkg/deploy"
	"github.com/devtool/devtool/pkg/deploy/helm"
	"github.com/devtool/devtool/pkg/devfile"
	"github.com/devtool/devtool/pkg/plan"
	"github.com/devtool/devtool/pkg/run"
	"github.com/devtool/devtool/pkg/vars"
)

// Exit codes (design.md §2).
const (
	ExitOK        = 0
	ExitInternal  = 1
	ExitInvalid   = 2
	ExitBuild     = 3
	ExitDeploy    = 4
	ExitCancelled = 130
)

// ExitDifferences is `devtool diff`'s exit code when it found differences (kubectl diff's 1).
const ExitDifferences = 1

// ErrDifferences is what `devtool diff` returns after printing differences: not a failure, but
// exit code ExitDifferences. Main writes no Error document for it and cmd/devtool prints no
// "error:" line.
var ErrDifferences = errors.New("differences found")

// Classify maps an error from Main to a stable machine-readable code (the "code" of the JSON
// Error document) and the process exit code. nil is ("", 0); ErrDifferences is
// ("Differences", ExitDifferences).
func Classify(err error) (code string, exit int) {
	if err == nil {
		return "", ExitOK
	}
	if errors.Is(err, ErrDifferences) {
		return "Differences", ExitDifferences
	}
	if errors.Is(err, context.Canceled) {
		return "Cancelled", ExitCancelled
	}
	var (
		usage     *UsageError
		invalid   *devfile.ValidationError
		planErr   *plan.Error
		cycle     *plan.CycleError
		undefined *vars.UndefinedError
		input     *run.InputError
		preflight *run.PreflightError
		step      *run.StepError
		dval      *deploy.ValidationError
		exec      *build.ExecError
		inventory *run.InventoryError
		cluster   *deploy.ClusterError
		wait      *deploy.WaitError
		job       *deploy.JobError
		owner     *deploy.OwnershipError
		release   *helm.OwnershipError
	)
	switch {
	case errors.As(err, &usage):
		return "Usage", ExitInvalid
	case errors.As(err, &invalid):
		return "InvalidDevfile", ExitInvalid
	case errors.As(err, &cycle), errors.As(err, &planErr):
		return "InvalidCommand", ExitInvalid
	case errors.As(err, &undefined):
		return "UndefinedVariable", ExitInvalid
	case errors.As(err, &input):
		return "InvalidInput", ExitInvalid
	case errors.As(err, &preflight):
		if errors.As(err, &owner) || errors.As(err, &release) {
			return "NotOwned", ExitDeploy
		}
		if errors.As(err, &dval) {
			return "InvalidManifest", ExitDeploy
		}
		return "ClusterCheckFailed", ExitDeploy
	case errors.As(err, &wait):
		if wait.TimedOut {
			return "RolloutTimeout", ExitDeploy
		}
		return "RolloutFailed", ExitDeploy
	case errors.As(err, &step):
		if step.Kind == plan.StepExec && errors.As(err, &job) {
			return "ExecFailed", ExitDeploy
		}
		if step.Kind == plan.StepBuild {
			if errors.As(err, &exec) {
				return "BuildFailed", ExitBuild
			}
			return "BuildFailed", ExitBuild
		}
		return "DeployFailed", ExitDeploy
	case errors.As(err, &inventory):
		switch {
		case errors.As(err, &cluster):
			return "ClusterCheckFailed", ExitDeploy
		case inventory.Op == "undeploy":
			return "UndeployFailed", ExitDeploy
		}
		return "DeployFailed", ExitDeploy
	case errors.As(err, &cluster):
		return "ClusterUnreachable", ExitDeploy
	}
	return "Internal", ExitInternal
}
