package deploy

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func names(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.GetKind()+"/"+o.GetName())
	}
	return out
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		want    []string
		wantErr string // substring; "" = success
	}{
		{
			name: "multi-document with empty, comment-only and null documents",
			text: "---\n# only a comment\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n\n---\nnull\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: b\n",
			want: []string{"ConfigMap/a", "Deployment/b"},
		},
		{
			name: "v1 List is expanded in order",
			text: "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Service, metadata: {name: s}}\n- {apiVersion: v1, kind: Secret, metadata: {name: t}}\n",
			want: []string{"Service/s", "Secret/t"},
		},
		{
			name:    "missing name names the document",
			text:    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {generateName: x-}\n",
			wantErr: "document 2: ConfigMap has no metadata.name",
		},
		{
			name:    "missing kind and apiVersion",
			text:    "metadata: {name: a}\n",
			wantErr: "object has no kind, no apiVersion",
		},
		{
			name:    "invalid YAML",
			text:    "apiVersion: v1\nkind: [unclosed\n",
			wantErr: "invalid YAML",
		},
		{
			name:    "a scalar is not an object",
			text:    "just a string\n",
			wantErr: "not a Kubernetes object",
		},
		{
			name:    "list item without kind",
			text:    "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, metadata: {name: s}}\n",
			wantErr: "List item 0: object has no kind",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(tt.text, "components[name=web].kubernetes.inlined")
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("Decode succeeded with %v, want error containing %q", names(got), tt.wantErr)
				}
				var de *DecodeError
				if !errors.As(err, &de) {
					t.Fatalf("error %T is not a *DecodeError: %v", err, err)
				}
				if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "components[name=web]") {
					t.Fatalf("error %q does not contain %q and the source", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, names(got)); diff != "" {
				t.Errorf("objects (-want +got):\n%s", diff)
			}
		})
	}
}
