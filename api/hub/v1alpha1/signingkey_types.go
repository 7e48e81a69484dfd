package hubv1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// KindSigningKey is the kind of a directive-signing key kept in the hub's replicated state.
const KindSigningKey = "SigningKey"

// SigningKeySpec is one directive-signing key, its private half sealed. Every member holds the
// same key-encryption key (KEK), outside the replicated state, and unseals the key with it; the
// state alone, its snapshots and its backups never reveal the private key.
type SigningKeySpec struct {
	// Algorithm is the signature algorithm, "ed25519".
	Algorithm string `json:"algorithm"`
	// KeyID is the key's id, derived from PublicKey (api/directive.KeyID).
	KeyID string `json:"keyID"`
	// PublicKey is the raw 32-byte ed25519 public key.
	PublicKey []byte `json:"publicKey"`
	// SealedPrivateKey is the 32-byte ed25519 seed sealed with AES-256-GCM under the KEK:
	// the 12-byte nonce, then the ciphertext and its tag. The additional data binds it to KeyID.
	SealedPrivateKey []byte `json:"sealedPrivateKey"`
	// KEKID names the KEK the key is sealed under (a digest of it, which reveals nothing of
	// it), so a member given another KEK says so rather than failing to decrypt.
	KEKID string `json:"kekID"`
}

// SigningKey is a hub key that signs directives to spokes. Cluster-scoped.
//
// +kubebuilder:object:root=true
type SigningKey struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec SigningKeySpec `json:"spec"`
}

// SigningKeyList is a list of SigningKeys.
//
// +kubebuilder:object:root=true
type SigningKeyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SigningKey `json:"items"`
}

func init() {
	SchemeBuilder.Register(func(s *runtime.Scheme) error {
		s.AddKnownTypes(GroupVersion, &SigningKey{}, &SigningKeyList{})
		return nil
	})
}
