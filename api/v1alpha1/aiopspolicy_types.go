package v1alpha1

import (
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AIOpsPolicySpec says what the AI may do on a cluster, when, how much of it at once,
// and which cost, security and scaling plans apply.
//
// +kubebuilder:validation:XValidation:rule="self.autonomy != 'autonomous' || (has(self.allowedActions) && size(self.allowedActions) > 0)",message="autonomy autonomous requires at least one allowedActions entry"
// +kubebuilder:validation:XValidation:rule="self.autonomy != 'autonomous' || has(self.blastRadius)",message="autonomy autonomous requires blastRadius"
// +kubebuilder:validation:XValidation:rule="!has(self.selfHealing) || !has(self.selfHealing.actions) || self.selfHealing.actions.all(a, has(self.allowedActions) && self.allowedActions.exists(x, x.type == a))",message="every selfHealing action must also be listed in allowedActions",fieldPath=".selfHealing.actions"
// +kubebuilder:validation:XValidation:rule="!has(self.selfHealing) || !has(self.selfHealing.enabled) || !self.selfHealing.enabled || self.autonomy != 'observe'",message="selfHealing cannot be enabled when autonomy is observe",fieldPath=".selfHealing.enabled"
type AIOpsPolicySpec struct {
	// Autonomy is how far the AI may act on its own.
	// +required
	Autonomy AutonomyLevel `json:"autonomy"`

	// AllowedActions are the only action types a spoke will execute under this policy,
	// each with the risk it is treated as. Types are unique.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	AllowedActions []AllowedAction `json:"allowedActions,omitempty"`

	// Approval says which actions wait for people.
	// +optional
	Approval *ApprovalPolicy `json:"approval,omitempty"`

	// BlastRadius bounds how much changes at once. Required when autonomy is autonomous.
	// +optional
	BlastRadius *BlastRadius `json:"blastRadius,omitempty"`

	// MaintenanceWindows are the only times disruptive actions may run. Empty means any time.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	MaintenanceWindows []MaintenanceWindow `json:"maintenanceWindows,omitempty"`

	// Autoscaling configures reactive and predictive scaling of governed workloads.
	// +optional
	Autoscaling *AutoscalingPolicy `json:"autoscaling,omitempty"`

	// SelfHealing lets the spoke remediate known failures on its own, within allowedActions.
	// +optional
	SelfHealing *SelfHealingPolicy `json:"selfHealing,omitempty"`

	// Security configures posture checks and whether they only warn or also block.
	// +optional
	Security *SecurityPolicy `json:"security,omitempty"`

	// Cost configures budgets, right-sizing and the prices savings are computed with.
	// +optional
	Cost *CostPolicy `json:"cost,omitempty"`

	// ExternalAI says whether the data of the clusters under this policy may be sent, anonymised,
	// to external AI providers (Google Jules, OpenAI-compatible servers). Forbidden keeps every
	// task on the hub's built-in engine.
	// +optional
	// +kubebuilder:default=Allowed
	ExternalAI ExternalAIMode `json:"externalAI,omitempty"`

	// Targets says which clusters the hub rolls this policy out to.
	// +optional
	Targets *PolicyTargets `json:"targets,omitempty"`

	// DryRun makes every action under this policy only run a server-side dry-run: the spoke
	// checks and reports what the action would change, and changes nothing.
	// +optional
	DryRun bool `json:"dryRun,omitempty"`
}

// ExternalAIMode says whether external AI providers may see a cluster's data.
//
// +kubebuilder:validation:Enum=Allowed;Forbidden
type ExternalAIMode string

// The external AI modes.
const (
	ExternalAIAllowed   ExternalAIMode = "Allowed"
	ExternalAIForbidden ExternalAIMode = "Forbidden"
)

// AllowedAction permits one action type and grades its risk.
type AllowedAction struct {
	// Type of the action.
	// +required
	Type ActionType `json:"type"`

	// Risk the action is treated as when deciding on approval.
	// +required
	Risk RiskLevel `json:"risk"`
}

// ApprovalPolicy says which actions need a human decision.
//
// +kubebuilder:validation:XValidation:rule="!has(self.fourEyes) || !self.fourEyes || (has(self.requireHumanFor) && size(self.requireHumanFor) > 0)",message="fourEyes requires at least one risk level in requireHumanFor"
type ApprovalPolicy struct {
	// RequireHumanFor lists the risk levels whose actions always wait for a human approval,
	// whatever the autonomy level.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=4
	RequireHumanFor []RiskLevel `json:"requireHumanFor,omitempty"`

	// FourEyes requires two different people to approve the actions of requireHumanFor.
	// +optional
	FourEyes bool `json:"fourEyes,omitempty"`
}

// BlastRadius bounds how much the AI changes at once.
type BlastRadius struct {
	// MaxConcurrentClusters is how many clusters may be changed at the same time.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	MaxConcurrentClusters int32 `json:"maxConcurrentClusters,omitempty"`

	// MaxActionsPerClusterPerHour caps the actions executed on one cluster in any rolling hour.
	// 0 stops all actions on the cluster.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10000
	MaxActionsPerClusterPerHour *int32 `json:"maxActionsPerClusterPerHour,omitempty"`
}

// MaintenanceWindow is a recurring period in which disruptive actions may run.
type MaintenanceWindow struct {
	// Schedule is a five-field cron expression (minute hour day-of-month month day-of-week)
	// for the start of the window, e.g. "0 2 * * 6".
	// +required
	// +kubebuilder:validation:MinLength=9
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[0-9A-Za-z*?/,#-]+( +[0-9A-Za-z*?/,#-]+){4}$`
	Schedule string `json:"schedule"`

	// Duration of the window, from 1m to 168h, e.g. 4h.
	// +required
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') || (duration(self) >= duration('1m') && duration(self) <= duration('168h'))",message="maintenance window duration must be between 1m and 168h"
	Duration metav1.Duration `json:"duration"`

	// TimeZone is the IANA time zone the schedule is read in, e.g. Europe/Berlin.
	// +optional
	// +kubebuilder:default=UTC
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$`
	TimeZone string `json:"timeZone,omitempty"`
}

// AutoscalingPolicy configures scaling of governed workloads.
//
// +kubebuilder:validation:XValidation:rule="!has(self.minReplicas) || !has(self.maxReplicas) || self.minReplicas <= self.maxReplicas",message="autoscaling.minReplicas must be less than or equal to autoscaling.maxReplicas"
type AutoscalingPolicy struct {
	// Predictive scales ahead of forecast peaks instead of only reacting to load.
	// +optional
	Predictive bool `json:"predictive,omitempty"`

	// MinReplicas is the lower bound of any workload's replicas.
	// +optional
	// +kubebuilder:validation:Minimum=0
	MinReplicas *int32 `json:"minReplicas,omitempty"`

	// MaxReplicas is the upper bound of any workload's replicas.
	// +optional
	// +kubebuilder:validation:Minimum=1
	MaxReplicas *int32 `json:"maxReplicas,omitempty"`

	// TargetUtilizationPercent is the CPU utilisation scaling aims for, 1 to 100.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	TargetUtilizationPercent *int32 `json:"targetUtilizationPercent,omitempty"`

	// ForecastHorizon is how far ahead predictive scaling looks, e.g. 30m.
	// +optional
	// +kubebuilder:default="30m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$`
	ForecastHorizon *metav1.Duration `json:"forecastHorizon,omitempty"`
}

// SelfHealingPolicy lets the spoke remediate known failures without a round trip to a person.
type SelfHealingPolicy struct {
	// Enabled turns self-healing on.
	// +optional
	Enabled bool `json:"enabled,omitempty"`

	// Actions self-healing may take; each must also be in the policy's allowedActions.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	Actions []ActionType `json:"actions,omitempty"`
}

// SecurityMode says what a failed security check does.
//
// +kubebuilder:validation:Enum=warn;enforce
type SecurityMode string

// The security modes.
const (
	// SecurityWarn reports failed checks and proposes hardening patches.
	SecurityWarn SecurityMode = "warn"
	// SecurityEnforce also refuses the project's own actions that would leave a check failing.
	SecurityEnforce SecurityMode = "enforce"
)

// SecurityCheck names a posture check.
//
// +kubebuilder:validation:Enum=RunAsNonRoot;ReadOnlyRootFilesystem;NoPrivileged;NoPrivilegeEscalation;DropAllCapabilities;NoHostNamespaces;SeccompProfile;ResourceLimits;NoLatestTag;ImageDigest;ImageVulnerabilities;NetworkPolicy
type SecurityCheck string

// The security checks.
const (
	CheckRunAsNonRoot           SecurityCheck = "RunAsNonRoot"
	CheckReadOnlyRootFilesystem SecurityCheck = "ReadOnlyRootFilesystem"
	CheckNoPrivileged           SecurityCheck = "NoPrivileged"
	CheckNoPrivilegeEscalation  SecurityCheck = "NoPrivilegeEscalation"
	CheckDropAllCapabilities    SecurityCheck = "DropAllCapabilities"
	CheckNoHostNamespaces       SecurityCheck = "NoHostNamespaces"
	CheckSeccompProfile         SecurityCheck = "SeccompProfile"
	CheckResourceLimits         SecurityCheck = "ResourceLimits"
	CheckNoLatestTag            SecurityCheck = "NoLatestTag"
	CheckImageDigest            SecurityCheck = "ImageDigest"
	CheckImageVulnerabilities   SecurityCheck = "ImageVulnerabilities"
	CheckNetworkPolicy          SecurityCheck = "NetworkPolicy"
)

// SecurityPolicy configures posture checks.
//
// +kubebuilder:validation:XValidation:rule="self.mode != 'enforce' || (has(self.checks) && size(self.checks) > 0)",message="security mode enforce requires at least one check"
type SecurityPolicy struct {
	// Mode says whether failed checks only warn or are enforced.
	// +optional
	// +kubebuilder:default=warn
	Mode SecurityMode `json:"mode,omitempty"`

	// Checks to run.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	Checks []SecurityCheck `json:"checks,omitempty"`
}

// CostPolicy configures cost plans.
type CostPolicy struct {
	// MonthlyBudget is the cluster's spending limit per month in currency units, e.g. "2500" or "1999.99".
	// +optional
	// +kubebuilder:validation:XValidation:rule="!isQuantity(string(self)) || !quantity(string(self)).isLessThan(quantity('0'))",message="cost.monthlyBudget must not be negative"
	MonthlyBudget *resource.Quantity `json:"monthlyBudget,omitempty"`

	// Currency is the ISO 4217 code the budget and the price book are in, e.g. EUR.
	// +optional
	// +kubebuilder:default=USD
	// +kubebuilder:validation:Pattern=`^[A-Z]{3}$`
	Currency string `json:"currency,omitempty"`

	// RightSizing proposes requests and limits from observed usage.
	// +optional
	RightSizing bool `json:"rightSizing,omitempty"`

	// PriceBook holds the unit prices savings are computed with.
	// +optional
	PriceBook *PriceBook `json:"priceBook,omitempty"`
}

// PriceBook holds unit prices in the policy's currency. Every price is non-negative.
type PriceBook struct {
	// CPUCoreHour is the price of one CPU core for one hour.
	// +optional
	// +kubebuilder:validation:XValidation:rule="!isQuantity(string(self)) || !quantity(string(self)).isLessThan(quantity('0'))",message="priceBook.cpuCoreHour must not be negative"
	CPUCoreHour *resource.Quantity `json:"cpuCoreHour,omitempty"`

	// MemoryGiBHour is the price of one GiB of memory for one hour.
	// +optional
	// +kubebuilder:validation:XValidation:rule="!isQuantity(string(self)) || !quantity(string(self)).isLessThan(quantity('0'))",message="priceBook.memoryGiBHour must not be negative"
	MemoryGiBHour *resource.Quantity `json:"memoryGiBHour,omitempty"`

	// GPUHour is the price of one GPU for one hour.
	// +optional
	// +kubebuilder:validation:XValidation:rule="!isQuantity(string(self)) || !quantity(string(self)).isLessThan(quantity('0'))",message="priceBook.gpuHour must not be negative"
	GPUHour *resource.Quantity `json:"gpuHour,omitempty"`

	// StorageGiBMonth is the price of one GiB of persistent storage for one month.
	// +optional
	// +kubebuilder:validation:XValidation:rule="!isQuantity(string(self)) || !quantity(string(self)).isLessThan(quantity('0'))",message="priceBook.storageGiBMonth must not be negative"
	StorageGiBMonth *resource.Quantity `json:"storageGiBMonth,omitempty"`

	// EgressGiB is the price of one GiB of network egress.
	// +optional
	// +kubebuilder:validation:XValidation:rule="!isQuantity(string(self)) || !quantity(string(self)).isLessThan(quantity('0'))",message="priceBook.egressGiB must not be negative"
	EgressGiB *resource.Quantity `json:"egressGiB,omitempty"`
}

// PolicyTargets selects the clusters a policy is rolled out to.
type PolicyTargets struct {
	// PlacementRef names the hub Placement whose decisions are the target clusters.
	// +required
	PlacementRef PlacementReference `json:"placementRef"`
}

// PlacementReference names a Placement at the hub.
type PlacementReference struct {
	// Name of the Placement.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`

	// Namespace of the Placement at the hub.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Namespace string `json:"namespace"`
}

// AIOpsPolicyStatus is how the policy stands on this cluster.
type AIOpsPolicyStatus struct {
	// Conditions: Ready, Progressing.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// ObservedGeneration is the spec generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// HubVersion is the resource version of the policy at the hub this copy was made from.
	// +optional
	HubVersion string `json:"hubVersion,omitempty"`

	// LastAppliedTime is when the spoke last put this policy into effect.
	// +optional
	LastAppliedTime *metav1.Time `json:"lastAppliedTime,omitempty"`
}

// AIOpsPolicy governs what the AI may do on a cluster. The hub rolls it out by cluster group;
// each spoke holds its copy and refuses directives outside it.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=aiop,categories=aiops
// +kubebuilder:printcolumn:name="Autonomy",type=string,JSONPath=`.spec.autonomy`
// +kubebuilder:printcolumn:name="Security",type=string,JSONPath=`.spec.security.mode`
// +kubebuilder:printcolumn:name="Hub-Version",type=string,JSONPath=`.status.hubVersion`,priority=1
// +kubebuilder:printcolumn:name="Applied",type=date,JSONPath=`.status.lastAppliedTime`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type AIOpsPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired policy.
	// +required
	Spec AIOpsPolicySpec `json:"spec"`

	// Status is how the policy stands on this cluster.
	// +optional
	Status AIOpsPolicyStatus `json:"status,omitempty"`
}

// AIOpsPolicyList is a list of AIOpsPolicies.
//
// +kubebuilder:object:root=true
type AIOpsPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AIOpsPolicy `json:"items"`
}

func init() {
	SchemeBuilder.Register(&AIOpsPolicy{}, &AIOpsPolicyList{})
}
