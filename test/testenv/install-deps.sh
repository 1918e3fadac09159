#!/usr/bin/env bash
# install-deps.sh: everything the tests and the demo need on a fresh Debian 12 machine.
#  - Debian packages: buildah (engine backend tests, RUN builds), git (the loopback git server), busybox-static (the base
#    image the tests and the demo push to their loopback registry), and the other two engines
#    the engine tests and `make bench` run for real (docs/engines.md): podman with runc and
#    conmon (crun, podman's default runtime, fails on cgroup v1/v2 hybrid hosts), docker.io
#    (dockerd + containerd; test/testenv starts dockerd itself on a private socket).
#    Package post-install scripts must not start daemons (there may be no init system, and a
#    system dockerd would change the host's iptables): a policy-rc.d that refuses every start
#    is put in place for the install, and removed again unless the machine already had one.
#  - the test node (docs/node.md): containerd (CRI) + runc run its pods, containernetworking-plugins
#    (bridge, host-local, loopback) its pod network, iproute2 removes its bridge afterwards.
#  - test/testenv/bin/{testapiserver,kube-controller-manager,kube-scheduler,kubelet}: etcd +
#    kube-apiserver v1.33 and the rest of the node, built from the Go module proxy by build.sh
#    (~6 min cold on 2 cores, seconds when the Go build cache is warm). --with-kcm is accepted
#    for compatibility (the node binaries are always built).
#  - test/testenv/bin/kaniko-executor: the kaniko executor (Chainguard's maintained fork) that
#    the kaniko build Pods and the in-container tests run, built by build-kaniko.sh (docs/kaniko.md).
# Idempotent: skips what is already there.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
need=()
command -v buildah >/dev/null 2>&1 || need+=(buildah)
command -v git >/dev/null 2>&1 || need+=(git)  # git-http-backend: the loopback git server (remote Dockerfiles)
[ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -qx httpd || need+=(busybox-static)
# podman build with --runtime runc: podman, runc, conmon (container monitor), uidmap
# (newuidmap for user namespaces), containernetworking-plugins (network of RUN steps under the
# oci isolation), catatonit (podman's init); docker.io brings dockerd, containerd and runc.
for p in podman runc conmon uidmap containernetworking-plugins catatonit docker.io containerd iproute2; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-deps: need root to apt-get install ${need[*]}" >&2; exit 1
  fi
  echo "install-deps: apt-get install ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  # Keep post-install scripts (docker.io, containerd) from starting daemons: invoke-rc.d asks
  # policy-rc.d, and exit status 101 means "action forbidden".
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
built=1
for b in testapiserver kube-controller-manager kube-scheduler kubelet; do [ -x "$HERE/bin/$b" ] || built=0; done
if [ "$built" = 0 ]; then
  echo "install-deps: building test/testenv/bin: testapiserver (etcd + kube-apiserver), kube-controller-manager, kube-scheduler, kubelet (~6 min cold)" >&2
  "$HERE/build.sh" "$@"
fi
if [ ! -x "$HERE/bin/kaniko-executor" ]; then
  echo "install-deps: building test/testenv/bin/kaniko-executor (the kaniko build Pods' executor, ~1.5 min cold)" >&2
  "$HERE/build-kaniko.sh"
fi
echo "install-deps: ok (buildah $(buildah --version 2>/dev/null | awk '{print $3}'), podman $(podman --version 2>/dev/null | awk '{print $3}'), dockerd $(dockerd --version 2>/dev/null | awk '{print $3}' | tr -d ,), containerd $(containerd --version 2>/dev/null | awk '{print $3}'), test API server and node binaries built)" >&2
