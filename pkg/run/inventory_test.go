package run

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/devtool/devtool/pkg/build"
	"github.com/devtool/devtool/pkg/deploy"
	"github.com/devtool/devtool/pkg/event"
	"github.com/devtool/devtool/pkg/plan"
)

type recordSink struct {
	mu     sync.Mutex
	events []event.Event
}

func (s *recordSink) Emit(e event.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, e)
}

// TestInventorySpansTheDeploy: the ApplySet is checked in the preflight, written once before
// the first of the parallel apply steps applies anything, carried by every apply, and finished
// (with --prune's choice) after the last one, with every applied object.
func TestInventorySpansTheDeploy(t *testing.T) {
	for _, prune := range []bool{false, true} {
		t.Run(fmt.Sprintf("prune=%v", prune), func(t *testing.T) {
			d, p := twoImageProject(t)
			b := &fakeBuilder{}
			dep := &fakeDeployer{pruned: []deploy.ObjectResult{{APIVersion: "v1", Kind: "Service", Namespace: "shop-ns", Name: "old", Action: deploy.Pruned}}}
			sink := &recordSink{}
			r := &Runner{Choose: func(build.Request, []byte) (build.Builder, string, error) { return b, "", nil }, Deployer: dep, Sink: sink}
			rep, err := r.Deploy(context.Background(), d, p, Options{ImageRegistry: "127.0.0.1:5000/me", Push: true, Namespace: "team", Prune: prune, Version: "v1.2.3"})
			if err != nil {
				t.Fatal(err)
			}
			want := deploy.ApplySet{Name: "devtool-applyset-shop", Namespace: "team", Tooling: "devtool/v1.2.3",
				Labels: map[string]string{"app.kubernetes.io/managed-by": "devtool", "app.kubernetes.io/name": "shop"}}
			if diff := cmp.Diff([]string{"validate", "begin", "apply", "apply", "finish"}, dep.calls); diff != "" {
				t.Errorf("deployer calls (-want +got):\n%s", diff)
			}
			for _, req := range append(append(append([]deploy.Request{}, requestsOf(dep.validated)...), dep.begun...), dep.applied...) {
				if req.ApplySet == nil {
					t.Fatalf("a request without the ApplySet: %+v", req)
				}
				if diff := cmp.Diff(want, *req.ApplySet); diff != "" {
					t.Errorf("ApplySet (-want +got):\n%s", diff)
				}
			}
			if len(dep.begun) != 1 || len(dep.begun[0].Objects) != 2 {
				t.Fatalf("BeginApplySet got %+v, want one call with both steps' objects", dep.begun)
			}
			var kinds []string
			for _, o := range dep.finished[0] {
				kinds = append(kinds, o.Kind)
			}
			sort.Strings(kinds)
			if diff := cmp.Diff([]string{"Deployment", "Pod"}, kinds); diff != "" || dep.prune[0] != prune {
				t.Errorf("FinishApplySet got %v prune=%v, want both applied objects and prune=%v", kinds, dep.prune[0], prune)
			}
			last := rep.Objects[len(rep.Objects)-1]
			if len(rep.Objects) != 3 || last.Action != deploy.Pruned {
				t.Errorf("report objects = %+v, want the two applied and the pruned one", rep.Objects)
			}
			if rep.Inventory == nil || rep.Inventory.Name != "devtool-applyset-shop" || rep.Inventory.Namespace != "team" || rep.Inventory.ID != want.ID() {
				t.Errorf("report inventory = %+v", rep.Inventory)
			}
			found := false
			for _, e := range sink.events {
				if e.Message == "Service shop-ns/old pruned" && e.Fields["action"] == "pruned" {
					found = true
				}
			}
			if !found {
				t.Errorf("no progress event for the pruned Service: %+v", sink.events)
			}
		})
	}
}

// TestInventoryFailures: a failed BeginApplySet applies nothing; a failed step skips the
// prune; a failed prune is an *InventoryError that keeps the report.
func TestInventoryFailures(t *testing.T) {
	d, p := twoImageProject(t)
	choose := func(b *fakeBuilder) ChooseBuilder {
		return func(build.Request, []byte) (build.Builder, string, error) { return b, "", nil }
	}
	opts := Options{ImageRegistry: "127.0.0.1:5000/me", Push: true, Prune: true}

	dep := &fakeDeployer{beginErr: &deploy.ParentError{Parent: "ConfigMap default/devtool-applyset-shop", Reason: "is the ApplySet parent of another tool"}}
	_, err := (&Runner{Choose: choose(&fakeBuilder{}), Deployer: dep}).Deploy(context.Background(), d, p, opts)
	var se *StepError
	var pe *deploy.ParentError
	if !errors.As(err, &se) || se.Kind != plan.StepApply || !errors.As(err, &pe) {
		t.Errorf("err = %v, want an apply *StepError wrapping the *ParentError", err)
	}
	if len(dep.applied) != 0 || len(dep.finished) != 0 {
		t.Errorf("after a failed BeginApplySet: %d applies, %d finishes; want none", len(dep.applied), len(dep.finished))
	}

	dep = &fakeDeployer{}
	_, err = (&Runner{Choose: choose(&fakeBuilder{fail: map[string]error{"back": errors.New("boom")}}), Deployer: dep}).Deploy(context.Background(), d, p, opts)
	if !errors.As(err, &se) || len(dep.finished) != 0 {
		t.Errorf("err = %v, %d finishes; want a StepError and no prune after a failed step", err, len(dep.finished))
	}

	dep = &fakeDeployer{finishErr: errors.New("deleting Service shop-ns/old: forbidden"), pruned: []deploy.ObjectResult{{Kind: "ConfigMap", Name: "gone", Action: deploy.Pruned}}}
	rep, err := (&Runner{Choose: choose(&fakeBuilder{}), Deployer: dep}).Deploy(context.Background(), d, p, opts)
	var ie *InventoryError
	if !errors.As(err, &ie) || ie.Op != "prune" || !strings.Contains(err.Error(), "forbidden") {
		t.Errorf("err = %v, want an *InventoryError for the prune", err)
	}
	if len(rep.Objects) != 3 {
		t.Errorf("report objects = %+v, want the applied ones and the one pruned before the failure", rep.Objects)
	}
}

// TestNoInventoryWithoutApplySteps: build never touches the inventory.
func TestNoInventoryWithoutApplySteps(t *testing.T) {
	d, _ := twoImageProject(t)
	dep := &fakeDeployer{}
	r := &Runner{Choose: func(build.Request, []byte) (build.Builder, string, error) { return &fakeBuilder{}, "", nil }, Deployer: dep}
	rep, err := r.Build(context.Background(), d, nil, Options{ImageRegistry: "127.0.0.1:5000/me"})
	if err != nil {
		t.Fatal(err)
	}
	if len(dep.calls) != 0 || rep.Inventory != nil {
		t.Errorf("build: deployer calls %v, inventory %+v; want none", dep.calls, rep.Inventory)
	}
}

func TestUndeploy(t *testing.T) {
	d, _ := twoImageProject(t)
	dep := &fakeDeployer{undeploy: func(set deploy.ApplySet) ([]deploy.ObjectResult, error) {
		return nil, fmt.Errorf("%w: %s not found", deploy.ErrNotDeployed, set)
	}}
	rep, err := (&Runner{Deployer: dep}).Undeploy(context.Background(), d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Kind != "UndeployReport" || rep.Message != "nothing deployed by devtool for shop in namespace default" || len(rep.Objects) != 0 {
		t.Errorf("report = %+v", rep)
	}
	if len(dep.undeploys) != 1 || dep.undeploys[0].Name != "devtool-applyset-shop" || dep.undeploys[0].Namespace != "default" || dep.undeploys[0].Tooling != "devtool/v0" {
		t.Errorf("Undeploy calls = %+v", dep.undeploys)
	}

	deleted := []deploy.ObjectResult{{APIVersion: "v1", Kind: "Pod", Namespace: "shop-ns", Name: "back", Action: deploy.Deleted}}
	dep = &fakeDeployer{undeploy: func(deploy.ApplySet) ([]deploy.ObjectResult, error) { return deleted, nil }}
	rep, err = (&Runner{Deployer: dep}).Undeploy(context.Background(), d, Options{Namespace: "team"})
	if err != nil || !cmp.Equal(deleted, rep.Objects) || rep.Message != "" || rep.Inventory.Namespace != "team" {
		t.Errorf("Undeploy = %+v, %v", rep, err)
	}

	dep = &fakeDeployer{undeploy: func(deploy.ApplySet) ([]deploy.ObjectResult, error) { return deleted, errors.New("forbidden") }}
	rep, err = (&Runner{Deployer: dep}).Undeploy(context.Background(), d, Options{})
	var ie *InventoryError
	if !errors.As(err, &ie) || ie.Op != "undeploy" || len(rep.Objects) != 1 {
		t.Errorf("Undeploy = %+v, %v; want an *InventoryError and the partial report", rep, err)
	}
}

func TestTooling(t *testing.T) {
	for in, want := range map[string]string{"dev": "devtool/v0", "": "devtool/v0", "0a1b2c3-dirty": "devtool/v0", "v0.3.1": "devtool/v0.3.1", "v1.0.0-2-gabc": "devtool/v1.0.0-2-gabc"} {
		if got := tooling(in); got != want {
			t.Errorf("tooling(%q) = %q, want %q", in, got, want)
		}
	}
}

func requestsOf(pfs []deploy.Preflight) []deploy.Request {
	out := make([]deploy.Request, len(pfs))
	for i, pf := range pfs {
		out[i] = pf.Request
	}
	return out
}
