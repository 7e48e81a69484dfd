// Package capi tests the hub's Cluster API import end to end: a management and a workload
// cluster from the test bed, a hub watching the management cluster, and the real agent run as
// the workload cluster's kubelet would run the imported Deployment's pod.
package capi
