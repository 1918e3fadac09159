package run

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/devtool/devtool/pkg/build"
	"github.com/devtool/devtool/pkg/deploy"
	"github.com/devtool/devtool/pkg/event"
)

// waitingDeployer is a fakeDeployer that can also wait (run.Waiter): every waited-for object
// gets status, and Wait returns err after reporting progress once.
type waitingDeployer struct {
	*fakeDeployer
	status deploy.Status
	err    error
	reqs   []deploy.WaitRequest
}

func (d *waitingDeployer) Wait(ctx context.Context, req deploy.WaitRequest) ([]deploy.ObjectStatus, error) {
	d.mu.Lock()
	d.calls = append(d.calls, "wait")
	d.reqs = append(d.reqs, req)
	d.mu.Unlock()
	var out []deploy.ObjectStatus
	for _, o := range req.Objects {
		if o.Action == deploy.Pruned {
			continue
		}
		out = append(out, deploy.ObjectStatus{APIVersion: o.APIVersion, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name, Status: d.status, Message: "msg " + o.Name})
	}
	if req.Progress != nil && d.status != deploy.StatusCurrent {
		req.Progress(out)
	}
	return out, d.err
}

func TestDeployWait(t *testing.T) {
	pruned := deploy.ObjectResult{APIVersion: "v1", Kind: "Service", Namespace: "shop-ns", Name: "old", Action: deploy.Pruned}
	choose := func(build.Request, []byte) (build.Builder, string, error) { return &fakeBuilder{}, "", nil }
	base := Options{ImageRegistry: "127.0.0.1:5000/me", Push: true, Namespace: "team", Prune: true}

	t.Run("rolled out", func(t *testing.T) {
		d, p := twoImageProject(t)
		dep := &waitingDeployer{fakeDeployer: &fakeDeployer{pruned: []deploy.ObjectResult{pruned}}, status: deploy.StatusCurrent}
		sink := &recordSink{}
		opts := base
		opts.Wait = 90 * time.Second
		rep, err := (&Runner{Choose: choose, Deployer: dep, Sink: sink}).Deploy(context.Background(), d, p, opts)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"validate", "begin", "apply", "apply", "finish", "wait"}, dep.calls); diff != "" {
			t.Errorf("deployer calls (-want +got):\n%s", diff)
		}
		if len(dep.reqs) != 1 || dep.reqs[0].Timeout != 90*time.Second || len(dep.reqs[0].Objects) != 3 {
			t.Fatalf("wait requests = %+v, want one with the timeout and the report's objects", dep.reqs)
		}
		for _, o := range rep.Objects {
			want := deploy.StatusCurrent
			if o.Action == deploy.Pruned {
				want = ""
			}
			if o.Status != want || (want != "" && o.StatusMessage != "msg "+o.Name) {
				t.Errorf("%s %s: status %q %q, want %q", o.Kind, o.Name, o.Status, o.StatusMessage, want)
			}
		}
		if !hasEvent(sink, "waiting up to 1m30s for 2 objects to roll out") || !hasEvent(sink, "all 2 objects rolled out") {
			t.Errorf("events do not say what was waited for:\n%s", eventText(sink))
		}
	})

	t.Run("timed out", func(t *testing.T) {
		d, p := twoImageProject(t)
		werr := &deploy.WaitError{Timeout: time.Second, TimedOut: true, Total: 2}
		dep := &waitingDeployer{fakeDeployer: &fakeDeployer{}, status: deploy.StatusInProgress, err: werr}
		sink := &recordSink{}
		opts := base
		opts.Wait = time.Second
		rep, err := (&Runner{Choose: choose, Deployer: dep, Sink: sink}).Deploy(context.Background(), d, p, opts)
		var got *deploy.WaitError
		if !errors.As(err, &got) || got != werr {
			t.Fatalf("err = %v, want the WaitError", err)
		}
		if len(rep.Objects) != 2 || rep.Objects[0].Status != deploy.StatusInProgress {
			t.Errorf("report objects = %+v, want their statuses", rep.Objects)
		}
		// Progress: one event per pending object, naming it and its status.
		n := 0
		for _, e := range sink.events {
			if strings.HasPrefix(e.Message, "waiting for ") && e.Fields["status"] == "InProgress" && e.Fields["object"] != "" {
				n++
			}
		}
		if n != 2 {
			t.Errorf("%d progress events for pending objects, want 2:\n%s", n, eventText(sink))
		}
	})

	t.Run("not without --wait or in a dry run", func(t *testing.T) {
		for _, opts := range []Options{base, {ImageRegistry: "127.0.0.1:5000/me", Push: true, Wait: time.Minute, DryRun: deploy.DryRunServer}} {
			d, p := twoImageProject(t)
			dep := &waitingDeployer{fakeDeployer: &fakeDeployer{}, status: deploy.StatusFailed, err: errors.New("must not wait")}
			rep, err := (&Runner{Choose: choose, Deployer: dep}).Deploy(context.Background(), d, p, opts)
			if err != nil {
				t.Fatalf("Deploy(wait %s, dry run %q): %v", opts.Wait, opts.DryRun, err)
			}
			if len(dep.reqs) != 0 {
				t.Errorf("Deploy(wait %s, dry run %q) waited", opts.Wait, opts.DryRun)
			}
			for _, o := range rep.Objects {
				if o.Status != "" {
					t.Errorf("%s %s has status %q without a wait", o.Kind, o.Name, o.Status)
				}
			}
		}
	})

	t.Run("deployer cannot wait", func(t *testing.T) {
		d, p := twoImageProject(t)
		opts := base
		opts.Wait = time.Minute
		_, err := (&Runner{Choose: choose, Deployer: &fakeDeployer{}}).Deploy(context.Background(), d, p, opts)
		if err == nil || !strings.Contains(err.Error(), "cannot wait") {
			t.Errorf("err = %v, want an internal error", err)
		}
	})
}

func hasEvent(s *recordSink, prefix string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.events {
		if e.Type == event.Info && strings.HasPrefix(e.Message, prefix) {
			return true
		}
	}
	return false
}

func eventText(s *recordSink) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for _, e := range s.events {
		b.WriteString(string(e.Type) + " " + e.Message + "\n")
	}
	return b.String()
}
