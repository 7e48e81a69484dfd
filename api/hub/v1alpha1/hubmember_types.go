package hubv1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// KindHubMember is the kind of a hub member's address record.
const KindHubMember = "HubMember"

// HubMemberSpec is where a hub member can be reached. Raft itself knows only the Raft
// addresses; members forward writes to the leader's gRPC address found here.
type HubMemberSpec struct {
	// RaftAddress is the member's Raft transport address.
	RaftAddress string `json:"raftAddress"`
	// GRPCAddress is the member's gRPC API address (admin, spokes, member API).
	GRPCAddress string `json:"grpcAddress"`
}

// HubMember records one member of the hub. Cluster-scoped; named by the member id.
//
// +kubebuilder:object:root=true
type HubMember struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec HubMemberSpec `json:"spec"`
}

// HubMemberList is a list of HubMembers.
//
// +kubebuilder:object:root=true
type HubMemberList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []HubMember `json:"items"`
}
