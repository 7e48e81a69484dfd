#!/usr/bin/env bash
# Builds the pinned test binaries from the Go module proxy into $TESTBIN (default bin/testbin).
# Each group of binaries is rebuilt only when the inputs that pin it (go.mod, go.sum, this
# script) changed, so a warm run costs a few hashes. Usage: build.sh [kube|kwok|vault|all]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=${TESTBIN:-$here/../../bin/testbin}
mkdir -p "$out"
out=$(cd "$out" && pwd)

K8S_VERSION=v1.37.2
KWOK_VERSION=v0.8.0

log() { printf 'testbin: %s\n' "$*" >&2; }

# stamp NAME FILES... prints the digest of the inputs of one group.
stamp() {
	local name=$1; shift
	{ printf '%s\n' "$name" "$K8S_VERSION" "$KWOK_VERSION"; cat "$here/build.sh" "$@"; } | sha256sum | cut -d' ' -f1
}

# fresh NAME DIGEST BINARIES... succeeds when every binary exists and was built from DIGEST.
fresh() {
	local name=$1 digest=$2; shift 2
	[ -f "$out/.$name.stamp" ] && [ "$(cat "$out/.$name.stamp")" = "$digest" ] || return 1
	for b in "$@"; do [ -x "$out/$b" ] || return 1; done
}

build_kube() {
	local dir=$here/kube digest
	digest=$(stamp kube "$dir/go.mod" "$dir/go.sum")
	if fresh kube "$digest" kube-apiserver kube-controller-manager kube-scheduler etcd; then
		log "kube-apiserver, kube-controller-manager, kube-scheduler, etcd are current"; return
	fi
	local pkg=k8s.io/component-base/version cgo=k8s.io/client-go/pkg/version minor
	minor=$(echo "$K8S_VERSION" | cut -d. -f2)
	local ldflags="-s -w"
	for p in $pkg $cgo; do
		ldflags+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
		ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
	done
	# One go build for all four: it compiles shared packages once and links in parallel.
	log "building kube-apiserver, kube-controller-manager, kube-scheduler $K8S_VERSION and etcd"
	local tmp=$out/.kube-build
	rm -rf "$tmp" && mkdir -p "$tmp"
	(cd "$dir" && go build -mod=mod -trimpath -ldflags="$ldflags" -o "$tmp/" \
		k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
		k8s.io/kubernetes/cmd/kube-scheduler go.etcd.io/etcd/server/v3)
	mv "$tmp/server" "$out/etcd" # go names the etcd main after its directory, server/
	mv "$tmp/kube-apiserver" "$tmp/kube-controller-manager" "$tmp/kube-scheduler" "$out/"
	rmdir "$tmp"
	echo "$digest" >"$out/.kube.stamp"
}

build_kwok() {
	local digest
	digest=$(stamp kwok)
	if fresh kwok "$digest" kwok; then log "kwok is current"; return; fi
	log "building kwok $KWOK_VERSION"
	GOBIN=$out go install -trimpath -ldflags="-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
	echo "$digest" >"$out/.kwok.stamp"
}

build_vault() {
	local dir=$here/vault digest
	digest=$(stamp vault "$dir/go.mod" "$dir/go.sum")
	if fresh vault "$digest" vault; then log "vault is current"; return; fi
	log "building vault (about 8 minutes cold)"
	(cd "$dir" && go build -mod=mod -trimpath -ldflags="-s -w" -o "$out/vault" github.com/hashicorp/vault)
	echo "$digest" >"$out/.vault.stamp"
}

case "${1:-all}" in
kube) build_kube ;;
kwok) build_kwok ;;
vault) build_vault ;;
all)
	# Linking is single-threaded, so the two big builds overlap well on two cores.
	build_kube & kube=$!
	{ build_kwok && build_vault; } & rest=$!
	status=0
	wait "$kube" || status=$?
	wait "$rest" || status=$?
	exit "$status"
	;;
*) echo "usage: $0 [kube|kwok|vault|all]" >&2; exit 2 ;;
esac
