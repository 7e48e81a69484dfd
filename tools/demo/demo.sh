#!/usr/bin/env bash
# make demo: a single-member dev hub, driven with the CLI the way an operator would, with a
# dozen simulated clusters (fleetsim: each its own key, certificate and mTLS stream) joining it,
# then stopped. Policy rollout and the AI loop join this script as they land.
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

# A dozen clusters register with one auto-accepting token and stream their inventories.
echo "\$ kubectl aiops token create --auto-accept --cluster-set demo --label env=demo -o json"
"$bin/kubectl-aiops" token create --auto-accept --cluster-set demo --label env=demo -o json >"$work/token.json"
sed -e 's/"token": *"[^"]*"/"token": "<secret, shown once>"/' "$work/token.json"
token=$(sed -n 's/.*"token": *"\([^"]*\)".*/\1/p' "$work/token.json")
cahash=$(sed -n 's/.*"hubCAHash": *"\([^"]*\)".*/\1/p' "$work/token.json")
echo "\$ fleetsim --hub 127.0.0.1:17401 --spokes 12 --token <token> --ca-hash $cahash --duration 10s &"
"$bin/fleetsim" --hub 127.0.0.1:17401 --spokes 12 --prefix edge --objects 8 --token "$token" --ca-hash "$cahash" \
	--duration 10s >"$work/fleetsim.log" 2>&1 &
sim=$!
for _ in $(seq 100); do
	[ "$("$bin/kubectl-aiops" clusters list 2>/dev/null | grep -c ' True ' || true)" -ge 12 ] && break
	sleep 0.2
done
cli clusters list
cat >"$work/set.yaml" <<'YAML'
apiVersion: cluster.open-cluster-management.io/v1beta2
kind: ManagedClusterSet
metadata:
  name: demo
spec: {}
YAML
cat >"$work/placement.yaml" <<'YAML'
apiVersion: cluster.open-cluster-management.io/v1beta1
kind: Placement
metadata:
  name: canary
  namespace: default
spec:
  clusterSets: [demo]
  numberOfClusters: 4
  decisionStrategy:
    groupStrategy:
      clustersPerDecisionGroup: 2
YAML
cli sets apply -f "$work/set.yaml"
cli sets list
cli placements apply -f "$work/placement.yaml"
for _ in $(seq 50); do
	"$bin/kubectl-aiops" placements decisions canary 2>/dev/null | grep -q edge- && break
	sleep 0.2
done
cli placements decisions canary
cli clusters inventory edge-0
wait "$sim" || { echo "fleetsim failed:"; cat "$work/fleetsim.log"; exit 1; }
cat "$work/fleetsim.log"
echo
cli hub snapshot save "$work/backup.snap"
cli audit list
cli audit verify
echo "demo: stopping the dev hub (its temp dir is removed)"
