// Package testbed starts real components for the project's tests: a Kubernetes cluster made of
// etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok-managed fake nodes, and a
// Vault dev server. Everything runs as child processes in a temp dir on free loopback ports.
package testbed
