package run

import (
	"context"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/devtool/devtool/pkg/devfile"
	"github.com/devtool/devtool/pkg/plan"
)

// kind is one kind of plan step (design.md §6): it prepares a step of its kind once, before
// anything runs — variables substituted, manifests read and decoded, build requests made —
// changing nothing. A new kind of step is one file holding a kind and its step type, plus one
// entry in kinds (and one StepKind value in pkg/plan).
type kind interface {
	prepare(ctx context.Context, pc *prepareContext, s plan.Step, c *devfile.Component) (step, error)
}

// kinds is the one table of step kinds, keyed by the plan's StepKind.
var kinds = map[plan.StepKind]kind{
	plan.StepBuild: buildKind{},
	plan.StepApply: applyKind{},
	plan.StepExec:  execKind{},
	plan.StepHelm:  helmKind{},
}

// step is a prepared step: immutable after prepare, so every verb (deploy, render, diff)
// reads the same data.
type step interface {
	plan() plan.Step
	// describe is the step's StepStarted message.
	describe() string
	// objects are what the step changes in the cluster, with the image placeholders replaced by
	// refs (see prepared.pin): the objects it applies (members of the project's inventory) and
	// the Jobs it runs. Steps that change no object return the zero value.
	objects(pp *prepared, refs map[string]string) stepObjects
	// execute runs the step in a deploy or build; x holds the run's shared state.
	execute(ctx context.Context, x *execution) error
}

// stepObjects are the objects of one step, each with where it was written.
type stepObjects struct {
	Members       []*unstructured.Unstructured
	MemberSources []string
	Jobs          []*unstructured.Unstructured
	JobSources    []string
	// DiffNote, when set, says why diff does not compare the step's objects.
	DiffNote string
	// Releases are the Helm releases the step installs or upgrades, their objects rendered:
	// checked, rendered and diffed with the members, but owned by Helm's release records,
	// not by the inventory.
	Releases []releaseObjects
}

// imageStep is a step that produces an image (a build step): steps that depend on it pin
// its image.
type imageStep interface {
	step
	// imageName is the image component's imageName as written (substituted): the selector
	// for workload containers; repository is what it was qualified to.
	imageName() string
	repository() string
	// unpinned is how the image shows before it is built: repository, and the tag when one is
	// fixed.
	unpinned() string
}
