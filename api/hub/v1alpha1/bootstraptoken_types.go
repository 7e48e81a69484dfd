package hubv1alpha1

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BootstrapTokenSpec is what a bootstrap token allows. The secret half of the token is
// shown to the operator once, at creation; the hub keeps only its SHA-256 hash.
type BootstrapTokenSpec struct {
	// TokenID is the public half of the token, the part before the dot. It is also the
	// resource name.
	TokenID string `json:"tokenID"`

	// SecretHash is the lower-case hex SHA-256 of the secret half (see HashTokenSecret).
	// The secret itself is never stored, logged or audited.
	SecretHash string `json:"secretHash"`

	// Expiration is when the token stops working. Unset means it does not expire.
	// +optional
	Expiration *metav1.Time `json:"expiration,omitempty"`

	// UsageLimit is how many registrations the token may admit. 0 means no limit.
	// +optional
	UsageLimit int32 `json:"usageLimit,omitempty"`

	// ClusterSet is the ManagedClusterSet that clusters registered with this token join.
	// +optional
	ClusterSet string `json:"clusterSet,omitempty"`

	// AutoAccept accepts clusters registered with this token without a human.
	// +optional
	AutoAccept bool `json:"autoAccept,omitempty"`

	// Revoked makes the token unusable from now on.
	// +optional
	Revoked bool `json:"revoked,omitempty"`

	// Description says what the token is for.
	// +optional
	Description string `json:"description,omitempty"`

	// ClusterLabels are put on the ManagedClusters registered with this token.
	// +optional
	ClusterLabels map[string]string `json:"clusterLabels,omitempty"`

	// CreatedBy is the identity of the admin who created the token.
	// +optional
	CreatedBy string `json:"createdBy,omitempty"`
}

// BootstrapTokenStatus counts how the token has been used.
type BootstrapTokenStatus struct {
	// Uses is how many registrations the token has admitted.
	// +optional
	Uses int32 `json:"uses,omitempty"`

	// LastUsedTime is when the token last admitted a registration.
	// +optional
	LastUsedTime *metav1.Time `json:"lastUsedTime,omitempty"`
}

// BootstrapToken lets a spoke register with the hub. Cluster-scoped; named by its token id.
//
// +kubebuilder:object:root=true
type BootstrapToken struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   BootstrapTokenSpec   `json:"spec"`
	Status BootstrapTokenStatus `json:"status,omitempty"`
}

// BootstrapTokenList is a list of BootstrapTokens.
//
// +kubebuilder:object:root=true
type BootstrapTokenList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BootstrapToken `json:"items"`
}

// HashTokenSecret returns the lower-case hex SHA-256 of a token secret, the form kept
// in BootstrapTokenSpec.SecretHash.
func HashTokenSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// SecretMatches reports whether secret hashes to the token's SecretHash. The comparison
// takes the same time wherever the hashes differ.
func (t *BootstrapToken) SecretMatches(secret string) bool {
	want, err := hex.DecodeString(t.Spec.SecretHash)
	if err != nil || len(want) != sha256.Size {
		return false
	}
	got := sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(got[:], want) == 1
}

// Usable reports whether the token may admit one more registration at now: not
// revoked, not expired and under its usage limit. It does not check the secret.
func (t *BootstrapToken) Usable(now time.Time) bool {
	if t.Spec.Revoked {
		return false
	}
	if t.Spec.Expiration != nil && !now.Before(t.Spec.Expiration.Time) {
		return false
	}
	return t.Spec.UsageLimit == 0 || t.Status.Uses < t.Spec.UsageLimit
}
