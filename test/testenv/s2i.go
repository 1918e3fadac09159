package testenv

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// S2IBuilderRepo is the repository, relative to a registry host, that PushS2IBuilder pushes to.
const S2IBuilderRepo = "s2i/builder:latest"

// S2IScripts are the fake builder's source-to-image scripts, installed in /usr/libexec/s2i
// (docs/testenv-builders.md §8, with save-artifacts added). assemble copies the sources from
// /tmp/src (the destination label) to /opt/app-root/src, writes ASSEMBLED, and counts builds
// in build-count: 1 + the count save-artifacts saved from the previous image (restored by s2i
// into /tmp/artifacts), copying that file to PREVIOUS when there was one. run prints
// ASSEMBLED and index.txt.
var S2IScripts = map[string]string{
	"assemble": `#!/bin/sh
set -e
echo "---> assemble: copying sources from /tmp/src"
mkdir -p /opt/app-root/src
cp -Rf /tmp/src/. /opt/app-root/src/
n=0
if [ -f /tmp/artifacts/build-count ]; then
  echo "---> assemble: restoring build artifacts"
  n=$(cat /tmp/artifacts/build-count)
  cp /tmp/artifacts/build-count /opt/app-root/src/PREVIOUS
fi
echo $((n + 1)) > /opt/app-root/src/build-count
echo "assembled by the fake s2i builder" > /opt/app-root/src/ASSEMBLED
`,
	"run": `#!/bin/sh
cat /opt/app-root/src/ASSEMBLED
exec cat /opt/app-root/src/index.txt
`,
	"save-artifacts": `#!/bin/sh
cd /opt/app-root/src && tar -cf - build-count
`,
	"usage": `#!/bin/sh
echo "fake s2i builder: s2i build <source> <this image> <app image>"
`,
}

// PushS2IBuilder pushes a fake source-to-image builder image to host/S2IBuilderRepo over plain
// HTTP and returns its reference: the PushBusybox base (pushed too) plus one layer with
// S2IScripts (mode 0755) and /opt/app-root/src owned by 1001:0; labels
// io.openshift.s2i.scripts-url=image:///usr/libexec/s2i and io.openshift.s2i.destination=/tmp;
// WorkingDir /opt/app-root/src, User 1001, Cmd the usage script. Built with go-containerregistry
// only, so no engine is needed for it. extra is added to the labels (tests change it to get a
// builder with another digest).
func PushS2IBuilder(ctx context.Context, host string, extra map[string]string) (string, error) {
	base, err := PushBusybox(ctx, host)
	if err != nil {
		return "", err
	}
	baseRef, err := name.ParseReference(base, name.Insecure)
	if err != nil {
		return "", err
	}
	img, err := remote.Image(baseRef, remote.WithContext(ctx))
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", base, err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	var werr error
	add := func(h *tar.Header, body string) {
		if werr != nil {
			return
		}
		h.ModTime = busyboxEpoch
		h.Size = int64(len(body))
		if werr = tw.WriteHeader(h); werr == nil && body != "" {
			_, werr = io.WriteString(tw, body)
		}
	}
	for _, d := range []string{"opt/", "opt/app-root/", "opt/app-root/src/"} {
		add(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o775, Uid: 1001}, "")
	}
	for _, d := range []string{"usr/", "usr/libexec/", "usr/libexec/s2i/"} {
		add(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755}, "")
	}
	for _, s := range []string{"assemble", "run", "save-artifacts", "usage"} {
		add(&tar.Header{Typeflag: tar.TypeReg, Name: "usr/libexec/s2i/" + s, Mode: 0o755}, S2IScripts[s])
	}
	if werr == nil {
		werr = tw.Close()
	}
	if werr != nil {
		return "", fmt.Errorf("writing the s2i scripts layer: %w", werr)
	}
	layer, err := tarLayer(buf.Bytes())
	if err != nil {
		return "", err
	}
	img, err = mutate.AppendLayers(img, layer)
	if err != nil {
		return "", err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return "", err
	}
	cf = cf.DeepCopy()
	cf.Config.Labels = map[string]string{
		"io.openshift.s2i.scripts-url": "image:///usr/libexec/s2i",
		"io.openshift.s2i.destination": "/tmp",
		"io.k8s.description":           "fake s2i builder for tests",
	}
	for k, v := range extra {
		cf.Config.Labels[k] = v
	}
	cf.Config.WorkingDir = "/opt/app-root/src"
	cf.Config.User = "1001"
	cf.Config.Cmd = []string{"/usr/libexec/s2i/usage"}
	// mutate.AppendLayers added one history entry for the layer: describe it (one entry per
	// non-empty layer, or buildah refuses the image).
	if n := len(cf.History); n > 0 {
		cf.History[n-1] = v1.History{Created: v1.Time{Time: busyboxEpoch}, CreatedBy: "testenv.PushS2IBuilder: s2i scripts"}
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return "", err
	}
	ref := host + "/" + S2IBuilderRepo
	if err := pushImage(ctx, img, ref, "the s2i builder image"); err != nil {
		return "", err
	}
	return ref, nil
}
