package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Decode parses yamlText, a multi-document YAML stream ("---" separated) of Kubernetes
// objects, into unstructured objects in the order written. Empty and null documents are
// skipped; a document whose kind ends in "List" and that has an "items" array (v1 List,
// ConfigMapList, …, as kubectl accepts them) is expanded into its items. source names the
// text in errors (a file path or a devfile location).
//
// Every object must have a non-empty string kind, apiVersion and metadata.name (server-side
// apply needs a name; generateName is not supported). Errors are *DecodeError naming source,
// the 1-based document index and what is wrong.
func Decode(yamlText, source string) ([]*unstructured.Unstructured, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(yamlText)))
	var out []*unstructured.Unstructured
	for doc := 1; ; doc++ {
		raw, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, &DecodeError{Source: source, Document: doc, Msg: "reading YAML: " + err.Error(), Err: err}
		}
		if len(bytes.TrimSpace(stripComments(raw))) == 0 {
			continue
		}
		js, err := yaml.YAMLToJSON(raw)
		if err != nil {
			return nil, &DecodeError{Source: source, Document: doc, Msg: "invalid YAML: " + err.Error(), Err: err}
		}
		if string(bytes.TrimSpace(js)) == "null" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(js, &m); err != nil {
			return nil, &DecodeError{Source: source, Document: doc, Msg: "not a Kubernetes object (a YAML mapping with kind, apiVersion and metadata)", Err: err}
		}
		if items, ok := m["items"]; ok && isListKind(m["kind"]) {
			list, ok := items.([]any)
			if !ok && items != nil {
				return nil, &DecodeError{Source: source, Document: doc, Msg: fmt.Sprintf("%v: items is not a list", m["kind"])}
			}
			for i, it := range list {
				im, ok := it.(map[string]any)
				if !ok {
					return nil, &DecodeError{Source: source, Document: doc, Msg: fmt.Sprintf("%v item %d is not an object", m["kind"], i)}
				}
				u := &unstructured.Unstructured{Object: im}
				if msg := checkObject(u); msg != "" {
					return nil, &DecodeError{Source: source, Document: doc, Msg: fmt.Sprintf("%v item %d: %s", m["kind"], i, msg)}
				}
				out = append(out, u)
			}
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if msg := checkObject(u); msg != "" {
			return nil, &DecodeError{Source: source, Document: doc, Msg: msg}
		}
		out = append(out, u)
	}
}

func isListKind(kind any) bool {
	s, ok := kind.(string)
	return ok && strings.HasSuffix(s, "List")
}

// stripComments drops full-line YAML comments, so a document of only comments counts as empty.
func stripComments(b []byte) []byte {
	var out [][]byte
	for _, line := range bytes.Split(b, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] == '#' {
			continue
		}
		out = append(out, line)
	}
	return bytes.Join(out, []byte("\n"))
}

// checkObject returns what is missing from u, or "".
func checkObject(u *unstructured.Unstructured) string {
	var missing []string
	if s, ok := u.Object["kind"].(string); !ok || s == "" {
		missing = append(missing, "kind")
	}
	if s, ok := u.Object["apiVersion"].(string); !ok || s == "" {
		missing = append(missing, "apiVersion")
	}
	md, ok := u.Object["metadata"].(map[string]any)
	if !ok {
		if _, present := u.Object["metadata"]; present && u.Object["metadata"] != nil {
			return "metadata is not a mapping"
		}
	}
	if name, _ := md["name"].(string); name == "" {
		missing = append(missing, "metadata.name")
	}
	if len(missing) == 0 {
		return ""
	}
	what := "object"
	if k, ok := u.Object["kind"].(string); ok && k != "" {
		what = k
	}
	return fmt.Sprintf("%s has no %s", what, strings.Join(missing, ", no "))
}
