// Package hubv1alpha1 holds the hub's own Kubernetes-style resource types (group
// hub.kubedevaiops.io): bootstrap tokens, plans, actions, knowledge entries and hub members. They
// live only in the hub's replicated store, never as CRDs in a cluster.
package hubv1alpha1
