package testenv

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestServeRegistryAndBusybox: the long-running registry serves the OCI distribution API, the
// busybox base image lands in it with a shell, and pushing it twice gives the same digest.
func TestServeRegistryAndBusybox(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srvCtx, stop := context.WithCancel(ctx)
	r, err := ServeRegistry(srvCtx, "127.0.0.1:0", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + r.Host + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v2/: %s", resp.Status)
	}
	ref, err := PushBusybox(ctx, r.Host)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(tag, remote.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	first, _ := img.Digest()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if len(cf.Config.Cmd) != 1 || cf.Config.Cmd[0] != "/bin/sh" {
		t.Errorf("Cmd = %v, want [/bin/sh]", cf.Config.Cmd)
	}
	if _, err := PushBusybox(ctx, r.Host); err != nil {
		t.Fatal(err)
	}
	img2, err := remote.Image(tag, remote.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if second, _ := img2.Digest(); second != first {
		t.Errorf("busybox image is not reproducible: %s then %s", first, second)
	}
	stop()
	if err := r.Wait(); err != nil {
		t.Errorf("registry stopped with %v", err)
	}
}
