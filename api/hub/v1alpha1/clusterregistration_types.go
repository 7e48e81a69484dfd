package hubv1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RegistrationState is where a cluster's registration request stands.
type RegistrationState string

// The registration states.
const (
	RegistrationPending  RegistrationState = "Pending"
	RegistrationAccepted RegistrationState = "Accepted"
	RegistrationDenied   RegistrationState = "Denied"
)

// ClusterRegistrationSpec is one request of a spoke to join the hub: its certificate signing
// request and what it claimed, admitted by a bootstrap token. The hub's counterpart of an OCM
// CertificateSigningRequest.
type ClusterRegistrationSpec struct {
	// ClusterName is the ManagedCluster the request is bound to.
	ClusterName string `json:"clusterName"`

	// CSR is the PEM-encoded PKCS#10 request; its subject common name is ClusterName.
	CSR []byte `json:"csr"`

	// PublicKeySHA256 is the hex SHA-256 of the CSR's public key (DER SubjectPublicKeyInfo),
	// so a retry with the same key is recognised as the same request.
	PublicKeySHA256 string `json:"publicKeySHA256"`

	// PollSecretHash is the hex SHA-256 of the secret the spoke polls the request with.
	PollSecretHash string `json:"pollSecretHash"`

	// TokenID is the bootstrap token that admitted the request.
	TokenID string `json:"tokenID"`

	// ClusterID is the cluster's id.k8s.io claim.
	// +optional
	ClusterID string `json:"clusterID,omitempty"`
}

// ClusterRegistrationStatus is the hub's answer.
type ClusterRegistrationStatus struct {
	// State is Pending until an admin or an auto-accepting token decides.
	State RegistrationState `json:"state"`

	// Reason says why the request was denied, or what it waits for.
	// +optional
	Reason string `json:"reason,omitempty"`

	// Certificate is the PEM client certificate issued for the request, once accepted.
	// +optional
	Certificate []byte `json:"certificate,omitempty"`

	// NotAfter is the certificate's expiry.
	// +optional
	NotAfter *metav1.Time `json:"notAfter,omitempty"`

	// DecidedBy is who accepted or denied the request: an admin, or "token/<id>".
	// +optional
	DecidedBy string `json:"decidedBy,omitempty"`

	// DecidedTime is when it was accepted or denied; the hub forgets decided requests a while
	// after it.
	// +optional
	DecidedTime *metav1.Time `json:"decidedTime,omitempty"`
}

// ClusterRegistration is a spoke's request to join. Cluster-scoped; named by its registration id.
//
// +kubebuilder:object:root=true
type ClusterRegistration struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ClusterRegistrationSpec   `json:"spec"`
	Status ClusterRegistrationStatus `json:"status,omitempty"`
}

// ClusterRegistrationList is a list of ClusterRegistrations.
//
// +kubebuilder:object:root=true
type ClusterRegistrationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterRegistration `json:"items"`
}

// Labels and annotations the hub puts on ManagedClusters and ClusterRegistrations.
const (
	// AnnotationClusterID records the id.k8s.io claim a cluster first registered with; a
	// registration under the same name from another cluster is refused.
	AnnotationClusterID = Group + "/cluster-id"
	// AnnotationCertificateSerials lists, comma-separated in hex, the serials of the client
	// certificates the hub accepts from the cluster: the current one and, during rotation,
	// the one before. Deny clears it, which revokes them.
	AnnotationCertificateSerials = Group + "/client-certificate-serials"
	// AnnotationDeniedReason is set while an admin's denial stands.
	AnnotationDeniedReason = Group + "/denied-reason"
	// AnnotationBootstrapToken is the id of the token the cluster last registered with.
	AnnotationBootstrapToken = Group + "/bootstrap-token"
	// LabelCluster names the cluster a ClusterRegistration is for.
	LabelCluster = Group + "/cluster"
)
