package hubv1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ClusterLeaseSpec is the durable trace of a spoke's heartbeats. The hub member holding the
// cluster's stream renews it at most once per lease duration, however often heartbeats come,
// so Raft carries one small write per cluster per lease, not one per heartbeat.
type ClusterLeaseSpec struct {
	// HolderMember is the hub member that holds the cluster's stream.
	// +optional
	HolderMember string `json:"holderMember,omitempty"`

	// RenewTime is when the holder last saw a heartbeat, as recorded.
	RenewTime metav1.MicroTime `json:"renewTime"`

	// LeaseDurationSeconds is the lease the spoke was given.
	LeaseDurationSeconds int32 `json:"leaseDurationSeconds"`
}

// InventorySummary counts what the cluster runs, from its latest inventory.
type InventorySummary struct {
	// Sequence is the inventory sequence the counts were taken at.
	Sequence uint64 `json:"sequence"`

	// Counts is the number of objects per kind, e.g. "Pod": 12.
	// +optional
	Counts map[string]int64 `json:"counts,omitempty"`

	// ObservedTime is when the holder took the counts.
	ObservedTime metav1.Time `json:"observedTime"`
}

// ClusterLeaseStatus is what the holder last recorded of the cluster's inventory.
type ClusterLeaseStatus struct {
	// Inventory summarises the cluster's inventory.
	// +optional
	Inventory *InventorySummary `json:"inventory,omitempty"`
}

// ClusterLease records a cluster's liveness. Cluster-scoped; named by the ManagedCluster.
//
// +kubebuilder:object:root=true
type ClusterLease struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ClusterLeaseSpec   `json:"spec"`
	Status ClusterLeaseStatus `json:"status,omitempty"`
}

// ClusterLeaseList is a list of ClusterLeases.
//
// +kubebuilder:object:root=true
type ClusterLeaseList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterLease `json:"items"`
}
