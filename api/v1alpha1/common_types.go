package v1alpha1

// AutonomyLevel says how far the AI may act on its own.
//
//   - observe: findings and diagnoses only, nothing is proposed for execution.
//   - recommend: remediation plans are proposed and wait for a human approval.
//   - autonomous: allowed actions run without approval unless the approval rules say otherwise.
//
// +kubebuilder:validation:Enum=observe;recommend;autonomous
type AutonomyLevel string

// The autonomy levels.
const (
	AutonomyObserve    AutonomyLevel = "observe"
	AutonomyRecommend  AutonomyLevel = "recommend"
	AutonomyAutonomous AutonomyLevel = "autonomous"
)

// RiskLevel grades how much harm an action can do if it goes wrong.
//
// +kubebuilder:validation:Enum=Low;Medium;High;Critical
type RiskLevel string

// The risk levels, from least to most dangerous.
const (
	RiskLow      RiskLevel = "Low"
	RiskMedium   RiskLevel = "Medium"
	RiskHigh     RiskLevel = "High"
	RiskCritical RiskLevel = "Critical"
)

// ActionType names a remediation the spoke knows how to execute.
//
// +kubebuilder:validation:Enum=RestartWorkload;RollbackWorkload;ScaleWorkload;SetResources;DeletePod;ApplyManifests;PatchHPA
type ActionType string

// The action types a spoke can execute.
const (
	ActionRestartWorkload  ActionType = "RestartWorkload"
	ActionRollbackWorkload ActionType = "RollbackWorkload"
	ActionScaleWorkload    ActionType = "ScaleWorkload"
	ActionSetResources     ActionType = "SetResources"
	ActionDeletePod        ActionType = "DeletePod"
	ActionApplyManifests   ActionType = "ApplyManifests"
	ActionPatchHPA         ActionType = "PatchHPA"
)

// AllActionTypes lists every ActionType, in a stable order.
var AllActionTypes = []ActionType{
	ActionRestartWorkload, ActionRollbackWorkload, ActionScaleWorkload, ActionSetResources,
	ActionDeletePod, ActionApplyManifests, ActionPatchHPA,
}

// Condition types used in the status of both kinds.
const (
	// ConditionReady is True when the object is accepted and in effect on the cluster.
	ConditionReady = "Ready"
	// ConditionProgressing is True while a rollout or a policy rollout is under way.
	ConditionProgressing = "Progressing"
	// ConditionDegraded is True when the object's service level objectives or health checks are failing.
	ConditionDegraded = "Degraded"
)
