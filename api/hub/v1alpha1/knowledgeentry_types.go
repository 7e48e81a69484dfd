package hubv1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
)

// KnowledgeEntrySpec is what the fleet has learned about one remediation for one kind
// of failure: the counts of a Beta(1+successes, 1+failures) posterior of its success rate.
type KnowledgeEntrySpec struct {
	// Signature identifies the kind of failure, e.g. a normalised finding fingerprint.
	Signature string `json:"signature"`

	// ActionType is the remediation tried against it.
	ActionType aiopsv1alpha1.ActionType `json:"actionType"`

	// Successes counts verified successes.
	// +optional
	Successes int64 `json:"successes,omitempty"`

	// Failures counts failures and rollbacks.
	// +optional
	Failures int64 `json:"failures,omitempty"`

	// LastOutcomeTime is when the last outcome was counted.
	// +optional
	LastOutcomeTime *metav1.Time `json:"lastOutcomeTime,omitempty"`
}

// KnowledgeEntry is one (failure signature, action type) pair and its track record
// across the fleet. Cluster-scoped.
//
// +kubebuilder:object:root=true
type KnowledgeEntry struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec KnowledgeEntrySpec `json:"spec"`
}

// KnowledgeEntryList is a list of KnowledgeEntries.
//
// +kubebuilder:object:root=true
type KnowledgeEntryList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []KnowledgeEntry `json:"items"`
}

// SuccessRate is the posterior mean success rate under a uniform prior:
// (successes+1) / (successes+failures+2).
func (k *KnowledgeEntry) SuccessRate() float64 {
	return float64(k.Spec.Successes+1) / float64(k.Spec.Successes+k.Spec.Failures+2)
}
