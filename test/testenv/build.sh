#!/usr/bin/env bash
# build.sh [--with-kcm] -> test/testenv/bin/testapiserver: single-process etcd + kube-apiserver
# v1.33 for integration tests, and the rest of a real single node from the same module:
# bin/kube-controller-manager, bin/kube-scheduler and bin/kubelet (docs/node.md; the node
# runs them with Debian containerd + runc). --with-kcm is accepted for compatibility: the node
# binaries are always built now (~6 min cold on 2 cores, seconds with a warm Go build cache). A separate module (GOWORK=off) so its replace block cannot drag the
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
for t in kube-controller-manager kube-scheduler kubelet; do
  s=$(date +%s)
  go build -ldflags "$LDF" -o "$HERE/bin/$t.tmp" "k8s.io/kubernetes/cmd/$t"
  mv "$HERE/bin/$t.tmp" "$HERE/bin/$t"
  echo "build.sh: built $t in $(( $(date +%s) - s ))s" >&2
done
