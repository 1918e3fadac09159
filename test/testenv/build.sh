#!/usr/bin/env bash
# build.sh [--with-kcm] -> test/testenv/bin/testapiserver: single-process etcd + kube-apiserver
# v1.33 for integration tests (+ bin/kube-controller-manager, from the same module: `make demo`
# runs it so deleted namespaces finish and Deployments get ReplicaSets; tests do without). A separate module (GOWORK=off) so its replace block cannot drag the
# project's own k8s.io modules down. Version info is injected with -X: without it the server
# reports v0.0.0-master+$Format:%H$ and clients (kubectl, Helm) fail to parse it.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
cd "$HERE/apiserver"
export GOWORK=off
V="$(go list -m -f '{{.Version}}' k8s.io/kubernetes)"
MAJ="${V#v}"; MAJ="${MAJ%%.*}"; MIN="${V#v*.}"; MIN="${MIN%%.*}"
P=k8s.io/component-base/version
LDF="-s -w -X $P.gitVersion=$V -X $P.gitMajor=$MAJ -X $P.gitMinor=$MIN -X $P.gitTreeState=clean -X $P.gitCommit=$V -X $P.buildDate=1970-01-01T00:00:00Z"
mkdir -p "$HERE/bin"
go build -ldflags "$LDF" -o "$HERE/bin/testapiserver.tmp" .
mv "$HERE/bin/testapiserver.tmp" "$HERE/bin/testapiserver"
if [ "${1:-}" = "--with-kcm" ]; then
  go build -ldflags "$LDF" -o "$HERE/bin/kube-controller-manager.tmp" k8s.io/kubernetes/cmd/kube-controller-manager
  mv "$HERE/bin/kube-controller-manager.tmp" "$HERE/bin/kube-controller-manager"
fi
