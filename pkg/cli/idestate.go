package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/devtool/devtool/pkg/deploy"
	"github.com/devtool/devtool/pkg/devfile"
	"github.com/devtool/devtool/pkg/run"
)

// ideStateFile is where the VS Code OpenShift extension keeps what a deploy of the component
// at a path created, for its Undeploy action: <project>/.odo/deploystate.json.
const ideStateFile = ".odo/deploystate.json"

// ideState is that file, version 2: one deployment per "<cluster server>/<namespace>" (the
// extension's deployContextKey). devtool's ApplySet in the cluster stays the source of truth;
// this file only lets the extension show and undo a deploy made by devtool.
type ideState struct {
	Version     int                       `json:"version"`
	Deployments map[string]ideDeployState `json:"deployments"`
}

type ideDeployState struct {
	Version       int           `json:"version"`
	ComponentName string        `json:"componentName"`
	DeployedAt    string        `json:"deployedAt"`
	Platform      string        `json:"platform"`
	Cluster       string        `json:"cluster"`
	Namespace     string        `json:"namespace"`
	Resources     []ideResource `json:"resources"`
}

type ideResource struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Name       string            `json:"name"`
	Namespace  string            `json:"namespace,omitempty"`
	Labels     map[string]string `json:"labels"`
	AppliedAt  string            `json:"appliedAt"`
}

// writeIDEState records a successful deploy (deployed true) of component, the project in
// dir, to server
// and namespace, or removes the record after an undeploy (deployed false); the file is removed
// when no deployment is left. Other deployments in the file are kept. now is the deploy time.
func writeIDEState(dir, component, server, namespace string, rep *run.Report, deployed bool, now time.Time) error {
	if namespace == "" {
		namespace = "default"
	}
	path := filepath.Join(dir, ideStateFile)
	st := ideState{Version: 2, Deployments: map[string]ideDeployState{}}
	if b, err := os.ReadFile(path); err == nil {
		var cur ideState
		if json.Unmarshal(b, &cur) == nil && cur.Deployments != nil {
			st.Deployments = cur.Deployments
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	key := server + "/" + namespace
	if !deployed {
		delete(st.Deployments, key)
		if len(st.Deployments) == 0 {
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			return nil
		}
	} else {
		at := now.UTC().Format(time.RFC3339)
		d := ideDeployState{Version: 1, ComponentName: component, DeployedAt: at, Platform: "kubernetes", Cluster: server, Namespace: namespace, Resources: []ideResource{}}
		for _, o := range rep.Objects {
			switch o.Action {
			case deploy.Created, deploy.Configured, deploy.Unchanged:
				d.Resources = append(d.Resources, ideResource{APIVersion: o.APIVersion, Kind: o.Kind, Name: o.Name, Namespace: o.Namespace, Labels: map[string]string{}, AppliedAt: at})
			}
		}
		st.Deployments[key] = d
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// recordIDEState writes (deployed) or clears the IDE state of d for the cluster kube points at.
func (g *globals) recordIDEState(kube *genericclioptions.ConfigFlags, d *devfile.Devfile, namespace string, rep *run.Report, deployed bool) error {
	cfg, err := kube.ToRESTConfig()
	if err != nil {
		return &UsageError{Err: fmt.Errorf("reading kubeconfig: %w", err)}
	}
	name := d.Name
	if name == "" {
		name = filepath.Base(d.Dir)
	}
	if err := writeIDEState(d.Dir, name, cfg.Host, namespace, rep, deployed, time.Now()); err != nil {
		return fmt.Errorf("--write-ide-state: %w", err)
	}
	return nil
}
