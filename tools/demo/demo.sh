#!/usr/bin/env bash
# make demo: a single-member dev hub, driven with the CLI the way an operator would, then
# stopped. What exists so far is the hub itself; clusters, policies rollout and the AI loop
# join this script as they land.
set -euo pipefail
bin=${BIN:-bin}
work=$(mktemp -d)
trap 'kill "$hub" 2>/dev/null || true; wait "$hub" 2>/dev/null || true; rm -rf "$work"' EXIT

"$bin/kubedevaiops-hub" --dev --id demo --log-level warn \
	--raft-addr 127.0.0.1:17400 --grpc-addr 127.0.0.1:17401 >"$work/hub.out" 2>"$work/hub.log" &
hub=$!
for _ in $(seq 100); do
	grep -q KUBEDEVAIOPS_CONFIG "$work/hub.out" 2>/dev/null && break
	kill -0 "$hub" 2>/dev/null || { echo "the dev hub exited:"; cat "$work/hub.log"; exit 1; }
	sleep 0.1
done
export KUBEDEVAIOPS_CONFIG=$(sed -n 's/.*export KUBEDEVAIOPS_CONFIG=//p' "$work/hub.out")
cli() { echo "\$ kubectl aiops $*"; "$bin/kubectl-aiops" "$@"; echo; }

# Wait until the member leads and has recorded its own addresses.
for _ in $(seq 100); do
	"$bin/kubectl-aiops" hub members -o json 2>/dev/null | grep -q '"grpcAddress"' && break
	sleep 0.1
done
cli hub members
for f in fleet-examples/policies/*.yaml; do cli policies apply -f "$f"; done
cli policies list
cli policies get observe-only
cli hub snapshot save "$work/backup.snap"
cli audit list
cli audit verify
echo "demo: stopping the dev hub (its temp dir is removed)"
