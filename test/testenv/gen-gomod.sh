#!/usr/bin/env bash
# Generate go.mod for a module that imports k8s.io/kubernetes@v1.X.Y as a library.
# Every k8s.io staging module that k8s.io/kubernetes replaces with ./staging/... is
# pinned to the matching published v0.X.Y tag.
set -euo pipefail
K8S_VERSION="${1:-v1.33.13}"          # k8s.io/kubernetes version
MODULE="${2:-example.com/testcluster/apiserver}"
STAGING_VERSION="v0.${K8S_VERSION#v1.}" # v1.33.13 -> v0.33.13
PROXY="$(go env GOPROXY)"; PROXY="${PROXY%%,*}"; PROXY="${PROXY:-https://proxy.golang.org}"
[ "$PROXY" = "direct" ] && PROXY=https://proxy.golang.org
modfile=$(curl -fsSL "$PROXY/k8s.io/kubernetes/@v/${K8S_VERSION}.mod")
gover=$(printf '%s\n' "$modfile" | awk '$1=="go"{print $2; exit}')
echo "module ${MODULE}"
echo
echo "go ${gover}"
echo
echo "require k8s.io/kubernetes ${K8S_VERSION}"
echo
echo "replace ("
printf '%s\n' "$modfile" | awk -v v="$STAGING_VERSION" '
  /^replace \(/ {inblk=1; next}
  inblk && /^\)/ {inblk=0}
  inblk && $2=="=>" && $3 ~ /^\.\/staging\// {printf "\t%s => %s %s\n", $1, $1, v}'
echo ")"
