// Package capi imports clusters that Cluster API provisions: it watches Cluster objects in a
// management cluster and, for each one that reaches phase Provisioned, records a ManagedCluster,
// issues a one-use auto-accepting bootstrap token and installs the agent into the workload cluster.
package capi
