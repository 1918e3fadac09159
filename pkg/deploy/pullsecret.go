package deploy

import (
	"encoding/base64"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// PodSpecs returns the pod specs of a workload object, as maps into o (changes to them change
// o): spec.template.spec of Deployment, StatefulSet, DaemonSet, ReplicaSet, Job and
// ReplicationController, spec.jobTemplate.spec.template.spec of CronJob, spec of Pod; none
// for other kinds.
func PodSpecs(o *unstructured.Unstructured) []map[string]any {
	var path []string
	switch o.GetKind() {
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "ReplicationController":
		path = []string{"spec", "template", "spec"}
	case "CronJob":
		path = []string{"spec", "jobTemplate", "spec", "template", "spec"}
	case "Pod":
		path = []string{"spec"}
	default:
		return nil
	}
	v := any(o.Object)
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	if m, ok := v.(map[string]any); ok {
		return []map[string]any{m}
	}
	return nil
}

// AddImagePullSecret adds {name: secret} to imagePullSecrets of every pod spec (PodSpecs) of
// objs that does not list it yet, and returns the objects changed.
func AddImagePullSecret(objs []*unstructured.Unstructured, secret string) []*unstructured.Unstructured {
	var changed []*unstructured.Unstructured
	for _, o := range objs {
		touched := false
		for _, spec := range PodSpecs(o) {
			list, _ := spec["imagePullSecrets"].([]any)
			found := false
			for _, e := range list {
				if m, ok := e.(map[string]any); ok && m["name"] == secret {
					found = true
				}
			}
			if !found {
				spec["imagePullSecrets"] = append(list, map[string]any{"name": secret})
				touched = true
			}
		}
		if touched {
			changed = append(changed, o)
		}
	}
	return changed
}

// PullSecret returns a kubernetes.io/dockerconfigjson Secret named name in namespace holding
// dockerConfigJSON (a {"auths": …} document) under ".dockerconfigjson", with labels.
func PullSecret(name, namespace string, dockerConfigJSON []byte, labels map[string]string) *unstructured.Unstructured {
	s := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1",
		"kind":       "Secret",
		"type":       "kubernetes.io/dockerconfigjson",
		"data":       map[string]any{".dockerconfigjson": base64.StdEncoding.EncodeToString(dockerConfigJSON)},
	}}
	s.SetName(name)
	s.SetNamespace(namespace)
	if len(labels) > 0 {
		s.SetLabels(labels)
	}
	return s
}

// Redacted returns o, or for a Secret a copy whose data and stringData values are replaced
// by "REDACTED" (what render and diff show instead of credentials).
func Redacted(o *unstructured.Unstructured) *unstructured.Unstructured {
	if o.GetKind() != "Secret" || o.GetAPIVersion() != "v1" {
		return o
	}
	c := o.DeepCopy()
	for _, field := range []string{"data", "stringData"} {
		if m, ok := c.Object[field].(map[string]any); ok {
			for k := range m {
				m[k] = "REDACTED"
			}
		}
	}
	return c
}
