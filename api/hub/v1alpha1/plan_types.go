package hubv1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
)

// PlanType says what a plan is about.
type PlanType string

// The plan types.
const (
	PlanCost        PlanType = "cost"
	PlanSecurity    PlanType = "security"
	PlanRollout     PlanType = "rollout"
	PlanScaling     PlanType = "scaling"
	PlanRemediation PlanType = "remediation"
	// PlanOnboarding reviews the plan Jules proposes for onboarding a ManagedApplication's
	// repository; approving it approves the Jules plan, and its one action is a dry-run of the
	// manifests Jules proposed (hub/onboard runs it, not the incident loop).
	PlanOnboarding PlanType = "onboarding"
	// PlanCodeFix reviews the plan Jules proposes for a code-level fix of an incident whose
	// root cause the diagnosis places in the application; approving it approves the Jules plan,
	// and the patch or pull request Jules makes is stored. It has no actions: nothing runs on a
	// cluster (hub/codefix follows it, not the incident loop).
	PlanCodeFix PlanType = "codefix"
)

// PlanPhase is where a plan stands.
type PlanPhase string

// The plan phases. A plan starts Proposed; nothing in it runs before it is Approved.
const (
	PlanProposed  PlanPhase = "Proposed"
	PlanApproved  PlanPhase = "Approved"
	PlanRejected  PlanPhase = "Rejected"
	PlanExecuting PlanPhase = "Executing"
	PlanSucceeded PlanPhase = "Succeeded"
	PlanFailed    PlanPhase = "Failed"
	PlanCancelled PlanPhase = "Cancelled"
)

// PlanTargets names the clusters a plan concerns. The fields add up.
type PlanTargets struct {
	// ClusterSet is a ManagedClusterSet whose members are targets.
	// +optional
	ClusterSet string `json:"clusterSet,omitempty"`

	// Placement names a Placement whose decisions are targets.
	// +optional
	Placement *aiopsv1alpha1.PlacementReference `json:"placement,omitempty"`

	// Clusters are ManagedCluster names that are targets.
	// +optional
	Clusters []string `json:"clusters,omitempty"`
}

// PlannedAction is one step of a plan; approving the plan creates an Action from it.
type PlannedAction struct {
	// Cluster is the ManagedCluster the action runs on.
	Cluster string `json:"cluster"`

	// Type is the action type.
	Type aiopsv1alpha1.ActionType `json:"type"`

	// Target is the object in the cluster the action changes.
	Target ObjectReference `json:"target"`

	// Parameters are the action type's parameters, e.g. "replicas" for ScaleWorkload.
	// +optional
	Parameters map[string]string `json:"parameters,omitempty"`

	// Risk is how much harm the action can do if it goes wrong.
	Risk aiopsv1alpha1.RiskLevel `json:"risk"`
}

// PlanSpec is what a plan proposes, and why.
type PlanSpec struct {
	// Type is what the plan is about.
	Type PlanType `json:"type"`

	// Summary is a one-line description for lists.
	// +optional
	Summary string `json:"summary,omitempty"`

	// PolicyRef names the AIOpsPolicy the plan is made under, if any.
	// +optional
	PolicyRef string `json:"policyRef,omitempty"`

	// Targets are the clusters the plan concerns.
	Targets PlanTargets `json:"targets"`

	// Actions are the proposed changes, in the order they would run.
	// +optional
	Actions []PlannedAction `json:"actions,omitempty"`

	// Rationale explains the plan: evidence, expected effect, what was considered.
	// +optional
	Rationale string `json:"rationale,omitempty"`

	// IncidentRef names the Incident a remediation plan answers.
	// +optional
	IncidentRef string `json:"incidentRef,omitempty"`

	// ProposedBy is who proposed the plan: an engine ("builtin") or a person. Under the
	// four-eyes rule the proposer cannot approve.
	// +optional
	ProposedBy string `json:"proposedBy,omitempty"`

	// Engine is the AI engine that produced the plan, e.g. "builtin".
	// +optional
	Engine string `json:"engine,omitempty"`

	// InputDigest is the SHA-256 of the engine's canonical input, for audit.
	// +optional
	InputDigest string `json:"inputDigest,omitempty"`

	// Confidence is the engine's confidence in the plan, from 0 to 1, as a decimal string.
	// +optional
	Confidence string `json:"confidence,omitempty"`

	// Alternatives are the other candidate actions, best first, with their confidence.
	// +optional
	Alternatives []string `json:"alternatives,omitempty"`

	// RequiredApprovals is how many distinct people must approve before anything runs;
	// 0 when the policy lets the plan through on its own.
	// +optional
	RequiredApprovals int32 `json:"requiredApprovals,omitempty"`

	// DryRun makes every action of the plan a server-side dry-run only.
	// +optional
	DryRun bool `json:"dryRun,omitempty"`

	// TraceParent is the W3C traceparent the plan's spans continue.
	// +optional
	TraceParent string `json:"traceParent,omitempty"`
}

// Approval is one person's decision on a plan.
type Approval struct {
	// By is the approver's identity, from their admin certificate.
	By string `json:"by"`

	// Time is when the decision was made.
	Time metav1.Time `json:"time"`

	// Approved is true for an approval, false for a rejection.
	Approved bool `json:"approved"`

	// Comment is the approver's note.
	// +optional
	Comment string `json:"comment,omitempty"`
}

// PlanStatus is how a plan stands.
type PlanStatus struct {
	// Phase is where the plan stands.
	// +optional
	Phase PlanPhase `json:"phase,omitempty"`

	// Approvals are the decisions recorded so far.
	// +optional
	Approvals []Approval `json:"approvals,omitempty"`

	// Conditions give detail on the phase.
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// ObservedGeneration is the spec generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// Plan is a reviewable set of changes for a group of clusters: cost, security,
// rollout, scaling or remediation. Cluster-scoped: plans concern cluster groups.
//
// +kubebuilder:object:root=true
type Plan struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   PlanSpec   `json:"spec"`
	Status PlanStatus `json:"status,omitempty"`
}

// PlanList is a list of Plans.
//
// +kubebuilder:object:root=true
type PlanList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Plan `json:"items"`
}
