#!/usr/bin/env bash
# build-kaniko.sh -> test/testenv/bin/kaniko-executor: the kaniko executor of the maintained
# Chainguard fork (github.com/chainguard-dev/kaniko; upstream GoogleContainerTools/kaniko was
# archived in June 2025), built from the Go module proxy. `go install mod@version` fails here
# (the proxy refuses the module's version list, which go install reads for deprecation
# notices), so the module is downloaded and built in place. Static (CGO_ENABLED=0): the tests
# run it in a scratch image on the test node and in a chroot (docs/kaniko.md). ~1.5 min cold.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
V="${KANIKO_VERSION:-v1.25.11}"
export GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0
DIR="$(go mod download -json "github.com/chainguard-dev/kaniko@$V" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
[ -d "$DIR" ] || { echo "build-kaniko.sh: downloading github.com/chainguard-dev/kaniko@$V failed" >&2; exit 1; }
mkdir -p "$HERE/bin"
(cd "$DIR" && go build -trimpath -ldflags "-s -w -X github.com/chainguard-dev/kaniko/pkg/version.version=$V" -o "$HERE/bin/kaniko-executor.tmp" ./cmd/executor)
mv "$HERE/bin/kaniko-executor.tmp" "$HERE/bin/kaniko-executor"
echo "build-kaniko.sh: built kaniko executor $V" >&2
