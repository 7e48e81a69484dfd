// Package spokeapi serves the Spoke stream on every hub member: it authenticates a spoke by its
// cluster certificate alone, keeps the cluster's live inventory as soft state on the member
// holding the stream, and turns heartbeats into durable lease renewals and conditions at a
// bounded rate — at most one Raft write per cluster per lease, never one per heartbeat.
//
// The leader's health loop (Health) turns leases that stopped into Unknown availability and
// the OCM taints placements tolerate or avoid.
package spokeapi
