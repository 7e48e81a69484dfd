// Package v1alpha1 is the Kubernetes API contract that the hub and every spoke share:
// the ManagedApplication and AIOpsPolicy custom resources of the aiops.kubedevaiops.io group,
// with the validation rules the kube-apiserver itself enforces on them.
package v1alpha1
