#!/usr/bin/env bash
# install-deps.sh: everything the tests and the demo need on a fresh Debian 12 machine.
#  - Debian packages: buildah (engine backend tests, RUN builds), git (loopback git server), busybox-static (the base
#    image the tests and the demo push to their loopback registry).
#  - test/testenv/bin/testapiserver: etcd + kube-apiserver v1.33 built from the Go module proxy
#    (~5 min cold on 2 cores, seconds when the Go build cache is warm).
#  - with --with-kcm (make demo): also test/testenv/bin/kube-controller-manager (~1 min more).
# Idempotent: skips what is already there.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
need=()
command -v buildah >/dev/null 2>&1 || need+=(buildah)
command -v git >/dev/null 2>&1 || need+=(git)  # git-http-backend: the loopback git server (remote Dockerfiles)
[ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -qx httpd || need+=(busybox-static)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-deps: need root to apt-get install ${need[*]}" >&2; exit 1
  fi
  echo "install-deps: apt-get install ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [ ! -x "$HERE/bin/testapiserver" ] || { [ "${1:-}" = "--with-kcm" ] && [ ! -x "$HERE/bin/kube-controller-manager" ]; }; then
  echo "install-deps: building test/testenv/bin/testapiserver ${1:-} (etcd + kube-apiserver; ~5 min cold)" >&2
  "$HERE/build.sh" "$@"
fi
echo "install-deps: ok (buildah $(buildah --version 2>/dev/null | awk '{print $3}'), testapiserver built)" >&2
