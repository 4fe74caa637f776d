#!/usr/bin/env bash
# Jaeger v2 (the `jaeger` binary) for the trace tests, built once per machine from the Go module proxy
# with the wrapper module in tests/deps/jaeger/ and cached under
# ${XDG_CACHE_HOME:-~/.cache}/trainctl/jaeger/<version>/jaeger. Idempotent: a second run only checks
# the marker. About 6 minutes of CPU on 2 cores the first time (some 500 modules).
set -euo pipefail

JAEGER_VERSION=1.76.0 # the tool version in tests/deps/jaeger/go.mod
PACKAGE=github.com/jaegertracing/jaeger/cmd/jaeger
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root="${XDG_CACHE_HOME:-$HOME/.cache}/trainctl/jaeger"
dest="$root/$JAEGER_VERSION"
marker="$dest/installed.json"

if [ -x "$dest/jaeger" ] && [ -f "$marker" ]; then
    echo "jaeger v$JAEGER_VERSION already built: $dest/jaeger"
    exit 0
fi

if ! command -v go >/dev/null 2>&1; then
    echo "jaeger.sh: cannot build Jaeger v$JAEGER_VERSION: the Go toolchain (go 1.24 or newer) is not on PATH" >&2
    exit 1
fi

mkdir -p "$root"
exec 9>"$root/.build.lock"
if ! flock -n 9; then
    echo "jaeger.sh: another build of Jaeger is running; waiting for it"
    flock 9
fi
if [ -x "$dest/jaeger" ] && [ -f "$marker" ]; then # built while we waited
    echo "jaeger v$JAEGER_VERSION already built: $dest/jaeger"
    exit 0
fi

work=$(mktemp -d "$root/.build-$JAEGER_VERSION-XXXXXX")
trap 'rm -rf "$work"' EXIT
cp "$here/jaeger/go.mod" "$here/jaeger/go.sum" "$work/"
mkdir "$work/out"
echo "building jaeger v$JAEGER_VERSION from the Go module proxy (once per machine; about 6 minutes on 2 cores)"
started=$(date +%s)
(cd "$work" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w" -o "$work/out/jaeger" "$PACKAGE")
printf '{"version": "%s", "package": "%s", "built_at": %s}\n' "$JAEGER_VERSION" "$PACKAGE" "$(date +%s)" >"$work/out/installed.json"
rm -rf "$dest"
mv "$work/out" "$dest"
echo "jaeger v$JAEGER_VERSION built in $(($(date +%s) - started)) s: $dest/jaeger"
