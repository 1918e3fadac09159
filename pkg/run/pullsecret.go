package run

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/devtool/devtool/pkg/deploy"
)

// PullSecretCredentials returns the ".dockerconfigjson" document ({"auths": {host: …}}) with
// the credentials devtool has for registry host ("host[:port]"); found is false when there
// are none. pkg/cli passes build.RegistryPolicy.DockerConfigJSON. The document is a secret:
// it is never logged or reported.
type PullSecretCredentials func(host string) (doc []byte, found bool, err error)

// PullSecretName is the name of the image pull Secret deploy --create-pull-secret writes for
// project: "devtool-pull-<project>", shortened like the inventory's parent (ApplySetName).
func PullSecretName(project string) string {
	return "devtool-pull-" + strings.TrimPrefix(deploy.ApplySetName(project), "devtool-applyset-")
}

// addPullSecret implements deploy --create-pull-secret on a prepared plan, before the
// preflight: the registries the plan's build steps push to are collected; their credentials
// (every registry must have some) are merged into one dockerconfigjson Secret,
// PullSecretName, added to the apply step that first deploys a workload in each namespace
// (so it is an inventory member: prune and undeploy remove it, server-side apply with the
// project's field manager updates it); every pod spec of the apply steps' workloads lists it
// in imagePullSecrets. ns is the deploy's default namespace. Errors name the registry and
// how to log in.
func (pp *prepared) addPullSecret(ns string, creds PullSecretCredentials) error {
	if ns == "" {
		ns = "default"
	}
	hosts := map[string]bool{}
	for _, st := range pp.steps {
		is, ok := st.(imageStep)
		if !ok || is.repository() == "" {
			continue
		}
		repo, err := name.NewRepository(is.repository())
		if err != nil {
			return fmt.Errorf("--create-pull-secret: image %q: %w", is.repository(), err)
		}
		hosts[repo.RegistryStr()] = true
	}
	if len(hosts) == 0 {
		return fmt.Errorf("--create-pull-secret: the deploy builds no image, so there is no registry to create a pull Secret for")
	}
	sorted := make([]string, 0, len(hosts))
	for h := range hosts {
		sorted = append(sorted, h)
	}
	sort.Strings(sorted)
	auths := map[string]json.RawMessage{}
	for _, h := range sorted {
		doc, found, err := creds(h)
		if err != nil {
			return fmt.Errorf("--create-pull-secret: %w", err)
		}
		if !found {
			return fmt.Errorf("--create-pull-secret: no credentials for registry %s: log in with `docker login %s` or `podman login %s` (devtool reads DOCKER_CONFIG/config.json and REGISTRY_AUTH_FILE/auth.json)", h, h, h)
		}
		var d struct {
			Auths map[string]json.RawMessage `json:"auths"`
		}
		if err := json.Unmarshal(doc, &d); err != nil {
			return fmt.Errorf("--create-pull-secret: registry %s: malformed credentials document", h)
		}
		for k, v := range d.Auths {
			auths[k] = v
		}
	}
	doc, err := json.Marshal(map[string]any{"auths": auths})
	if err != nil {
		return err
	}
	secret := PullSecretName(devfileName(pp.d))
	done := map[string]bool{}
	for _, st := range pp.steps {
		a, ok := st.(*applyStep)
		if !ok {
			continue
		}
		deploy.AddImagePullSecret(a.objs, secret)
		for _, o := range a.objs {
			if len(deploy.PodSpecs(o)) == 0 {
				continue
			}
			ons := o.GetNamespace()
			if ons == "" {
				ons = ns
			}
			if done[ons] {
				continue
			}
			done[ons] = true
			a.objs = append(a.objs, deploy.PullSecret(secret, ons, doc, pp.labels))
			a.sources = append(a.sources, "--create-pull-secret")
		}
	}
	return nil
}

// redactPullSecret returns objs with the Secrets named secret redacted (deploy.Redacted), for
// output.
func redactPullSecret(objs []*unstructured.Unstructured, secret string) []*unstructured.Unstructured {
	out := make([]*unstructured.Unstructured, len(objs))
	for i, o := range objs {
		out[i] = o
		if o.GetName() == secret {
			out[i] = deploy.Redacted(o)
		}
	}
	return out
}
