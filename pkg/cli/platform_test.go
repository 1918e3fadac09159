package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestPlatformFlagValues: --platform takes comma-separated and repeated values, trimmed,
// written in canonical form, repeats dropped in order of first appearance.
func TestPlatformFlagValues(t *testing.T) {
	tests := []struct {
		flags []string
		want  []string
	}{
		{nil, nil},
		{[]string{"linux/amd64"}, []string{"linux/amd64"}},
		{[]string{"linux/amd64,linux/arm64"}, []string{"linux/amd64", "linux/arm64"}},
		{[]string{"linux/arm64", "linux/amd64"}, []string{"linux/arm64", "linux/amd64"}},
		{[]string{" linux/amd64 , linux/arm64/v8", "linux/amd64"}, []string{"linux/amd64", "linux/arm64/v8"}},
	}
	for _, tc := range tests {
		b := buildFlags{platforms: tc.flags}
		if err := b.validate(); err != nil {
			t.Errorf("%q: %v", tc.flags, err)
			continue
		}
		if diff := cmp.Diff(tc.want, b.platforms); diff != "" {
			t.Errorf("%q (-want +got):\n%s", tc.flags, diff)
		}
	}
}

// TestPlatformFlagErrors: a value that is not os/arch[/variant] is a usage error naming what
// the user wrote, for build and deploy, before the devfile is read.
func TestPlatformFlagErrors(t *testing.T) {
	tests := []struct{ value, bad string }{
		{"linux", "linux"},
		{"amd64", "amd64"},
		{"linux/amd64,", ""},
		{"linux/amd64,,linux/arm64", ""},
		{"linux/arm64/v8/x", "linux/arm64/v8/x"},
		{"/amd64", "/amd64"},
	}
	for _, verb := range []string{"build", "deploy"} {
		for _, tc := range tests {
			_, _, err := runCLI(t, context.Background(), verb, "--platform", tc.value, "--devfile", "does-not-exist.yaml")
			code, exit := Classify(err)
			msg := ""
			if err != nil {
				msg = err.Error()
			}
			if code != "Usage" || exit != ExitInvalid {
				t.Errorf("%s --platform %q: %s/%d %v, want a usage error", verb, tc.value, code, exit, err)
			}
			for _, want := range []string{`--platform "` + tc.value + `"`, `"` + tc.bad + `" is not a platform`, "e.g. linux/amd64,linux/arm64"} {
				if !strings.Contains(msg, want) {
					t.Errorf("%s --platform %q: error %q does not contain %q", verb, tc.value, msg, want)
				}
			}
		}
	}
}
