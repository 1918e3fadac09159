package build

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestInputDigestHostPlatform: a Request without Platforms builds for the host, so the host's
// platform is an input; an arm64 laptop and an amd64 CI runner must not share a tag.
func TestInputDigestHostPlatform(t *testing.T) {
	dir := t.TempDir()
	df := filepath.Join(dir, "Dockerfile")
	if err := os.WriteFile(df, []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	req := Request{ContextDir: dir, Dockerfile: df}
	amd, err := inputDigest(context.Background(), req, "native", "linux/amd64")
	if err != nil {
		t.Fatal(err)
	}
	arm, err := inputDigest(context.Background(), req, "native", "linux/arm64")
	if err != nil {
		t.Fatal(err)
	}
	if amd == arm {
		t.Errorf("same input digest %s on linux/amd64 and linux/arm64 hosts", amd)
	}
	req.Platforms = []string{"linux/arm64"}
	a, _ := inputDigest(context.Background(), req, "native", "linux/amd64")
	b, _ := inputDigest(context.Background(), req, "native", "linux/arm64")
	if a != b {
		t.Errorf("explicit platform: digest depends on the host (%s, %s)", a, b)
	}
}
