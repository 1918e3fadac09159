package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/devtool/devtool/pkg/deploy"
	"github.com/devtool/devtool/pkg/run"
)

// TestIDEState: deploys are recorded per "<server>/<namespace>" in the VS Code OpenShift
// extension's .odo/deploystate.json (version 2), other entries kept; undeploy removes its
// entry, and the file when it was the last.
func TestIDEState(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	rep := &run.Report{Objects: []deploy.ObjectResult{
		{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "ns1", Name: "web", Action: deploy.Created},
		{APIVersion: "v1", Kind: "ConfigMap", Namespace: "ns1", Name: "old", Action: deploy.Pruned},
	}}
	if err := writeIDEState(dir, "shop", "https://a:6443", "ns1", rep, true, now); err != nil {
		t.Fatal(err)
	}
	if err := writeIDEState(dir, "shop", "https://b:6443", "", &run.Report{}, true, now); err != nil {
		t.Fatal(err)
	}
	read := func() ideState {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, ".odo", "deploystate.json"))
		if err != nil {
			t.Fatal(err)
		}
		var st ideState
		if err := json.Unmarshal(b, &st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	want := ideState{Version: 2, Deployments: map[string]ideDeployState{
		"https://a:6443/ns1": {Version: 1, ComponentName: "shop", DeployedAt: "2026-12-02T10:00:00Z", Platform: "kubernetes", Cluster: "https://a:6443", Namespace: "ns1",
			Resources: []ideResource{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", Namespace: "ns1", Labels: map[string]string{}, AppliedAt: "2026-12-02T10:00:00Z"}}},
		"https://b:6443/default": {Version: 1, ComponentName: "shop", DeployedAt: "2026-12-02T10:00:00Z", Platform: "kubernetes", Cluster: "https://b:6443", Namespace: "default", Resources: []ideResource{}},
	}}
	if diff := cmp.Diff(want, read()); diff != "" {
		t.Errorf("state (-want +got):\n%s", diff)
	}
	if err := writeIDEState(dir, "shop", "https://a:6443", "ns1", nil, false, now); err != nil {
		t.Fatal(err)
	}
	if got := read(); len(got.Deployments) != 1 || got.Deployments["https://b:6443/default"].Cluster == "" {
		t.Errorf("after undeploy of a/ns1: %+v", got)
	}
	if err := writeIDEState(dir, "shop", "https://b:6443", "default", nil, false, now); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".odo", "deploystate.json")); !os.IsNotExist(err) {
		t.Errorf("the state file remains after the last undeploy: %v", err)
	}
}
