package hubv1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
)

// ObjectReference names one object inside a managed cluster.
type ObjectReference struct {
	// APIVersion of the object, e.g. "apps/v1".
	APIVersion string `json:"apiVersion"`

	// Kind of the object, e.g. "Deployment".
	Kind string `json:"kind"`

	// Namespace of the object; empty for cluster-scoped objects.
	// +optional
	Namespace string `json:"namespace,omitempty"`

	// Name of the object.
	Name string `json:"name"`
}

// ActionPhase is where an action stands.
type ActionPhase string

// The action phases.
const (
	ActionPending          ActionPhase = "Pending"
	ActionAwaitingApproval ActionPhase = "AwaitingApproval"
	ActionApproved         ActionPhase = "Approved"
	ActionDispatched       ActionPhase = "Dispatched"
	ActionRunning          ActionPhase = "Running"
	ActionSucceeded        ActionPhase = "Succeeded"
	ActionFailed           ActionPhase = "Failed"
	ActionRolledBack       ActionPhase = "RolledBack"
	ActionRejected         ActionPhase = "Rejected"
)

// ActionSpec is one change to one object on one cluster.
type ActionSpec struct {
	// Cluster is the ManagedCluster the action runs on.
	Cluster string `json:"cluster"`

	// Type is the action type; the spoke executes only types its policy allows.
	Type aiopsv1alpha1.ActionType `json:"type"`

	// Target is the object the action changes.
	Target ObjectReference `json:"target"`

	// Parameters are the action type's parameters.
	// +optional
	Parameters map[string]string `json:"parameters,omitempty"`

	// Risk is how much harm the action can do if it goes wrong.
	Risk aiopsv1alpha1.RiskLevel `json:"risk"`

	// PlanRef names the Plan the action comes from, if any.
	// +optional
	PlanRef string `json:"planRef,omitempty"`

	// PolicyRef names the AIOpsPolicy the action is allowed under.
	// +optional
	PolicyRef string `json:"policyRef,omitempty"`

	// Signature is the incident signature the action remediates; its outcome is learned under it.
	// +optional
	Signature string `json:"signature,omitempty"`

	// DryRun makes the spoke only run a server-side dry-run.
	// +optional
	DryRun bool `json:"dryRun,omitempty"`
}

// ActionResult is what the spoke reported after executing an action.
type ActionResult struct {
	// Succeeded is true when the change was applied and verified.
	Succeeded bool `json:"succeeded"`

	// RolledBack is true when the change was undone after failing verification.
	// +optional
	RolledBack bool `json:"rolledBack,omitempty"`

	// Message explains the outcome.
	// +optional
	Message string `json:"message,omitempty"`

	// CompletionTime is when the spoke finished.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`

	// Reason is the spoke's machine-readable reason, e.g. "VerificationFailed" or "Replayed".
	// +optional
	Reason string `json:"reason,omitempty"`

	// Before is the target object before the change, as JSON.
	// +optional
	Before string `json:"before,omitempty"`

	// After is the target object after the change (or the dry-run result), as JSON.
	// +optional
	After string `json:"after,omitempty"`
}

// ActionStatus is how an action stands.
type ActionStatus struct {
	// Phase is where the action stands.
	// +optional
	Phase ActionPhase `json:"phase,omitempty"`

	// Attempts counts dispatches to the spoke.
	// +optional
	Attempts int32 `json:"attempts,omitempty"`

	// StartTime is when the action was first dispatched.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`

	// Result is the spoke's report, once there is one.
	// +optional
	Result *ActionResult `json:"result,omitempty"`

	// Directive is the signed directive (a serialized SignedDirective) the hub sends the spoke;
	// the member holding the cluster's stream delivers it.
	// +optional
	Directive []byte `json:"directive,omitempty"`

	// ExpiresTime is when the directive expires; the spoke refuses it afterwards.
	// +optional
	ExpiresTime *metav1.Time `json:"expiresTime,omitempty"`

	// SpokePhase is the last phase the spoke reported, e.g. "DRY_RUN" or "VERIFYING".
	// +optional
	SpokePhase string `json:"spokePhase,omitempty"`
}

// Action is one change for one cluster, from proposal to verified result.
// Cluster-scoped; the cluster it concerns is in the spec.
//
// +kubebuilder:object:root=true
type Action struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ActionSpec   `json:"spec"`
	Status ActionStatus `json:"status,omitempty"`
}

// ActionList is a list of Actions.
//
// +kubebuilder:object:root=true
type ActionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Action `json:"items"`
}
