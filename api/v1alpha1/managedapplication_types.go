package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// ManagedApplicationSpec describes an application the operator delivers and watches over:
// where it comes from, how it rolls out, and the service level it must keep.
//
// +kubebuilder:validation:XValidation:rule="!has(self.ports) || self.ports.all(p, self.ports.exists_one(q, q.containerPort == p.containerPort && q.protocol == p.protocol))",message="each containerPort and protocol pair must be unique across ports",fieldPath=".ports"
// +kubebuilder:validation:XValidation:rule="!has(self.ingress) || (has(self.ports) && size(self.ports) > 0 && (has(self.ingress.port) ? self.ports.exists(p, p.name == self.ingress.port && (!has(p.protocol) || p.protocol == 'TCP')) : (!has(self.ports[0].protocol) || self.ports[0].protocol == 'TCP')))",message="ingress.port must name a TCP entry of ports (when omitted, the first port must be TCP)",fieldPath=".ingress"
// +kubebuilder:validation:XValidation:rule="!has(self.healthCheck) || !has(self.healthCheck.path) || (has(self.ports) && self.ports.exists(p, !has(p.protocol) || p.protocol == 'TCP'))",message="healthCheck.path needs a TCP entry in ports to probe",fieldPath=".healthCheck"
type ManagedApplicationSpec struct {
	// Source is where the application's workload comes from: exactly one of git or image.
	// +required
	Source ApplicationSource `json:"source"`

	// Cluster names the ManagedCluster the hub onboards the application to: for a Git source,
	// the manifests Jules proposes are dry-run there. Read by the hub; the spoke ignores it.
	// Without it the hub does not onboard the application.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="cluster is immutable: delete and re-create the application to onboard it elsewhere"
	Cluster string `json:"cluster,omitempty"`

	// Replicas is the desired number of pods when no autoscaling policy applies.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10000
	Replicas *int32 `json:"replicas,omitempty"`

	// Ports the application's containers listen on. Names are unique.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	Ports []ApplicationPort `json:"ports,omitempty"`

	// Resources are the compute requests and limits of the application's main container.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`

	// Strategy says how a new revision replaces the running one.
	// +optional
	// +kubebuilder:default={type: Rolling}
	Strategy *DeliveryStrategy `json:"strategy,omitempty"`

	// SLOs are the service level objectives the AI judges health and canaries against.
	// +optional
	SLOs *ServiceLevelObjectives `json:"slos,omitempty"`

	// AutonomyOverride, when set, replaces the autonomy level of the governing AIOpsPolicy
	// for this application only.
	// +optional
	AutonomyOverride AutonomyLevel `json:"autonomyOverride,omitempty"`

	// PolicyRef names the cluster-scoped AIOpsPolicy that governs this application.
	// When empty, the cluster's default policy applies.
	// +optional
	PolicyRef *PolicyReference `json:"policyRef,omitempty"`

	// HealthCheck tunes the liveness and readiness probes of the manifests the hub generates.
	// Probes go to the first TCP port: an HTTP GET of path when set, a TCP connect otherwise.
	// +optional
	HealthCheck *HealthCheck `json:"healthCheck,omitempty"`

	// Ingress, when set, exposes the application through an Ingress.
	// +optional
	Ingress *ApplicationIngress `json:"ingress,omitempty"`

	// Autoscaling, when set, scales the application with a HorizontalPodAutoscaler on CPU
	// utilisation; replicas is then left to the autoscaler.
	// +optional
	Autoscaling *ApplicationAutoscaling `json:"autoscaling,omitempty"`

	// DisruptionBudget, when set, bounds voluntary disruptions (drains) with a PodDisruptionBudget.
	// +optional
	DisruptionBudget *DisruptionBudget `json:"disruptionBudget,omitempty"`

	// NetworkPolicy, when set, admits traffic to the application's ports only from the peers it names.
	// +optional
	NetworkPolicy *ApplicationNetworkPolicy `json:"networkPolicy,omitempty"`
}

// HealthCheck says how the application reports that it is alive and ready.
type HealthCheck struct {
	// Path of an HTTP endpoint answering 2xx or 3xx while the application is healthy, e.g. /healthz.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:Pattern=`^/[^\s]*$`
	Path string `json:"path,omitempty"`

	// InitialDelaySeconds before the first probe, 0 to 600.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=600
	InitialDelaySeconds *int32 `json:"initialDelaySeconds,omitempty"`
}

// ApplicationIngress routes external HTTP(S) traffic for one host to one of the application's ports.
type ApplicationIngress struct {
	// Host is the fully qualified DNS name the Ingress answers for, e.g. shop.example.com.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$`
	Host string `json:"host"`

	// Path prefix routed to the application.
	// +optional
	// +kubebuilder:default="/"
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:Pattern=`^/[^\s]*$`
	Path string `json:"path,omitempty"`

	// Port names the entry of ports that receives the traffic; it must be TCP.
	// When omitted, the first port, which must then be TCP.
	// +optional
	// +kubebuilder:validation:MaxLength=15
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`
	Port string `json:"port,omitempty"`

	// ClassName is the IngressClass to use; the cluster's default class when omitted.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	ClassName string `json:"className,omitempty"`

	// TLSSecretName names a Secret of type kubernetes.io/tls in the application's namespace
	// holding the host's certificate; plain HTTP when omitted.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	TLSSecretName string `json:"tlsSecretName,omitempty"`
}

// ApplicationAutoscaling bounds the replicas a HorizontalPodAutoscaler may choose.
//
// +kubebuilder:validation:XValidation:rule="!has(self.minReplicas) || self.minReplicas <= self.maxReplicas",message="autoscaling.minReplicas must be less than or equal to autoscaling.maxReplicas"
type ApplicationAutoscaling struct {
	// MinReplicas is the fewest pods, 1 to 10000.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	MinReplicas *int32 `json:"minReplicas,omitempty"`

	// MaxReplicas is the most pods, 1 to 10000.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	MaxReplicas int32 `json:"maxReplicas"`

	// TargetCPUUtilization is the average CPU use, in percent of the request, the autoscaler aims for.
	// +optional
	// +kubebuilder:default=80
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	TargetCPUUtilization *int32 `json:"targetCPUUtilization,omitempty"`
}

// DisruptionBudget says how many pods must stay up during voluntary disruptions: exactly one
// of minAvailable or maxUnavailable, each a count or a percentage.
//
// +kubebuilder:validation:XValidation:rule="has(self.minAvailable) != has(self.maxUnavailable)",message="exactly one of disruptionBudget.minAvailable or disruptionBudget.maxUnavailable must be set"
type DisruptionBudget struct {
	// MinAvailable pods, as a count or a percentage, that must stay available.
	// +optional
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 0 : self.matches('^(100|[1-9]?[0-9])%$')",message="minAvailable must be a non-negative integer or a percentage from 0% to 100%"
	MinAvailable *intstr.IntOrString `json:"minAvailable,omitempty"`

	// MaxUnavailable pods, as a count or a percentage, that may be down at once.
	// +optional
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 0 : self.matches('^(100|[1-9]?[0-9])%$')",message="maxUnavailable must be a non-negative integer or a percentage from 0% to 100%"
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`
}

// ApplicationNetworkPolicy admits ingress traffic to the application's ports from its own
// namespace (unless turned off) and from the namespaces it lists; all other ingress is denied.
// Egress is not restricted.
type ApplicationNetworkPolicy struct {
	// AllowSameNamespace admits traffic from every pod in the application's namespace.
	// +optional
	// +kubebuilder:default=true
	AllowSameNamespace *bool `json:"allowSameNamespace,omitempty"`

	// AllowFromNamespaces names further namespaces whose pods are admitted, e.g. the ingress
	// controller's. Matched on the kubernetes.io/metadata.name label.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	AllowFromNamespaces []string `json:"allowFromNamespaces,omitempty"`
}

// ApplicationSource is where an application comes from. Exactly one member is set.
//
// +kubebuilder:validation:XValidation:rule="has(self.git) != has(self.image)",message="exactly one of source.git or source.image must be set"
type ApplicationSource struct {
	// Git takes the application's manifests from a Git repository.
	// +optional
	Git *GitSource `json:"git,omitempty"`

	// Image runs the application from a container image.
	// +optional
	Image *ImageSource `json:"image,omitempty"`
}

// GitSource is a path in a Git repository at a revision.
type GitSource struct {
	// URL of the repository: https://host/path, ssh://[user@]host/path or user@host:path.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^(https://[A-Za-z0-9.-]+(:[0-9]+)?/[^\s]+|ssh://([A-Za-z0-9._-]+@)?[A-Za-z0-9.-]+(:[0-9]+)?/[^\s]+|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^\s]+)$`
	URL string `json:"url"`

	// Revision is a branch, tag or commit.
	// +optional
	// +kubebuilder:default=HEAD
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:Pattern=`^[^\s]+$`
	Revision string `json:"revision,omitempty"`

	// Path is the directory inside the repository that holds the manifests, relative to its root.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('/') && self != '..' && !self.startsWith('../') && !self.contains('/../') && !self.endsWith('/..')",message="path must be relative to the repository root and must not contain '..'"
	Path string `json:"path,omitempty"`
}

// ImageSource is a container image, pinned by tag or by digest.
//
// +kubebuilder:validation:XValidation:rule="has(self.tag) != has(self.digest)",message="exactly one of image.tag or image.digest must be set"
type ImageSource struct {
	// Repository is the image name without tag or digest, e.g. registry.example.com/team/app.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:Pattern=`^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)*$`
	Repository string `json:"repository"`

	// Tag of the image, e.g. 1.4.2.
	// +optional
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`
	Tag string `json:"tag,omitempty"`

	// Digest of the image, e.g. sha256:<64 hex digits>.
	// +optional
	// +kubebuilder:validation:Pattern=`^sha256:[a-f0-9]{64}$`
	Digest string `json:"digest,omitempty"`
}

// Protocol is a network protocol of an application port.
//
// +kubebuilder:validation:Enum=TCP;UDP
type Protocol string

// The supported port protocols.
const (
	ProtocolTCP Protocol = "TCP"
	ProtocolUDP Protocol = "UDP"
)

// ApplicationPort is a named port the application listens on.
type ApplicationPort struct {
	// Name of the port, an IANA service name (lower case, at most 15 characters).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=15
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`
	Name string `json:"name"`

	// ContainerPort is the port number, 1 to 65535.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	ContainerPort int32 `json:"containerPort"`

	// Protocol of the port.
	// +optional
	// +kubebuilder:default=TCP
	Protocol Protocol `json:"protocol,omitempty"`
}

// StrategyType names a delivery strategy.
//
// +kubebuilder:validation:Enum=Rolling;Canary
type StrategyType string

// The delivery strategies.
const (
	StrategyRolling StrategyType = "Rolling"
	StrategyCanary  StrategyType = "Canary"
)

// DeliveryStrategy says how a new revision replaces the running one.
//
// +kubebuilder:validation:XValidation:rule="self.type == 'Canary' ? has(self.canary) : !has(self.canary)",message="strategy.canary is required when strategy.type is Canary and must be omitted otherwise"
// +kubebuilder:validation:XValidation:rule="self.type == 'Rolling' || !has(self.rolling)",message="strategy.rolling may only be set when strategy.type is Rolling"
type DeliveryStrategy struct {
	// Type of the strategy.
	// +optional
	// +kubebuilder:default=Rolling
	Type StrategyType `json:"type,omitempty"`

	// Rolling tunes a rolling update.
	// +optional
	Rolling *RollingStrategy `json:"rolling,omitempty"`

	// Canary describes an AI-judged canary rollout. Required when type is Canary.
	// +optional
	Canary *CanaryStrategy `json:"canary,omitempty"`
}

// RollingStrategy tunes a rolling update, like a Deployment's.
//
// +kubebuilder:validation:XValidation:rule="!(has(self.maxSurge) && has(self.maxUnavailable) && string(self.maxSurge) in ['0', '0%'] && string(self.maxUnavailable) in ['0', '0%'])",message="maxSurge and maxUnavailable must not both be zero"
type RollingStrategy struct {
	// MaxSurge is how many pods, as a count or a percentage, may exist above the desired number.
	// +optional
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 0 : self.matches('^(100|[1-9]?[0-9])%$')",message="maxSurge must be a non-negative integer or a percentage from 0% to 100%"
	MaxSurge *intstr.IntOrString `json:"maxSurge,omitempty"`

	// MaxUnavailable is how many pods, as a count or a percentage, may be unavailable during the update.
	// +optional
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 0 : self.matches('^(100|[1-9]?[0-9])%$')",message="maxUnavailable must be a non-negative integer or a percentage from 0% to 100%"
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`
}

// CanaryStrategy shifts traffic to the new revision step by step while an analysis judges it.
type CanaryStrategy struct {
	// Steps of the rollout, in order. Their weights strictly increase.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=20
	// +kubebuilder:validation:XValidation:rule="self.all(i, s, i == 0 || self[i - 1].setWeight < s.setWeight)",message="canary steps must have strictly increasing setWeight"
	Steps []CanaryStep `json:"steps"`

	// Analysis judges the canary between and during steps.
	// +optional
	Analysis *CanaryAnalysis `json:"analysis,omitempty"`
}

// CanaryStep sends a share of traffic to the new revision, then waits.
type CanaryStep struct {
	// SetWeight is the percentage of traffic the new revision receives in this step, 1 to 100.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	SetWeight int32 `json:"setWeight"`

	// Pause is how long to hold this step before the next one, e.g. 5m.
	// When omitted the step waits for the analysis verdict or a promotion by hand.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$`
	Pause *metav1.Duration `json:"pause,omitempty"`
}

// CanaryAnalysis is the statistical judgment applied to a canary.
type CanaryAnalysis struct {
	// Interval between two measurements, e.g. 1m.
	// +optional
	// +kubebuilder:default="1m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$`
	Interval *metav1.Duration `json:"interval,omitempty"`

	// FailureLimit is how many failed measurements are tolerated before the canary is rolled back.
	// +optional
	// +kubebuilder:default=0
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	FailureLimit int32 `json:"failureLimit"`

	// Metrics measured at each interval. Names are unique.
	// +required
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	Metrics []AnalysisMetric `json:"metrics"`
}

// MetricProvider is where an analysis metric is measured.
//
// +kubebuilder:validation:Enum=Prometheus;Builtin
type MetricProvider string

// The metric providers.
const (
	// MetricProviderPrometheus runs a PromQL query against the cluster's Prometheus.
	MetricProviderPrometheus MetricProvider = "Prometheus"
	// MetricProviderBuiltin uses a signal the spoke computes itself (restarts, readiness, error logs).
	MetricProviderBuiltin MetricProvider = "Builtin"
)

// AnalysisMetric is one measurement of a canary analysis and its acceptable range.
//
// +kubebuilder:validation:XValidation:rule="self.provider != 'Prometheus' || (has(self.query) && size(self.query) > 0)",message="a Prometheus metric requires a query"
type AnalysisMetric struct {
	// Name of the metric, unique within the analysis.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`
	Name string `json:"name"`

	// Provider that measures the metric.
	// +required
	Provider MetricProvider `json:"provider"`

	// Query is the provider's query: PromQL for Prometheus, a signal name for Builtin
	// (e.g. restarts, ready-ratio, error-log-rate).
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	Query string `json:"query,omitempty"`

	// ThresholdRange is the range a measurement must fall in to pass.
	// +required
	ThresholdRange ThresholdRange `json:"thresholdRange"`
}

// ThresholdRange bounds a measurement. At least one bound is set; min does not exceed max.
//
// +kubebuilder:validation:XValidation:rule="has(self.min) || has(self.max)",message="thresholdRange needs at least one of min or max"
// +kubebuilder:validation:XValidation:rule="!has(self.min) || !has(self.max) || !isQuantity(self.min) || !isQuantity(self.max) || quantity(self.min).compareTo(quantity(self.max)) <= 0",message="thresholdRange.min must be less than or equal to thresholdRange.max"
type ThresholdRange struct {
	// Min is the smallest passing value, a quantity written as a string, e.g. "0.99".
	// +optional
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$`
	Min *resource.Quantity `json:"min,omitempty"`

	// Max is the largest passing value, a quantity written as a string, e.g. "0.5".
	// +optional
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$`
	Max *resource.Quantity `json:"max,omitempty"`
}

// Percent is a percentage written as a decimal string, e.g. "99.95".
//
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=12
// +kubebuilder:validation:Pattern=`^[0-9]{1,3}([.][0-9]{1,8})?$`
type Percent string

// ServiceLevelObjectives are the targets the application must meet.
type ServiceLevelObjectives struct {
	// Availability is the share of successful requests to keep, in percent, strictly between 0 and 100, e.g. "99.9".
	// +optional
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[0-9]{1,3}([.][0-9]{1,8})?$') || (double(self) > 0.0 && double(self) < 100.0)",message="slos.availability must be a percentage strictly between 0 and 100"
	Availability Percent `json:"availability,omitempty"`

	// P99Latency is the 99th-percentile latency not to exceed, e.g. 300ms.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$`
	P99Latency *metav1.Duration `json:"p99Latency,omitempty"`

	// ErrorRate is the share of failed requests not to exceed, in percent, strictly between 0 and 100, e.g. "0.5".
	// +optional
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[0-9]{1,3}([.][0-9]{1,8})?$') || (double(self) > 0.0 && double(self) < 100.0)",message="slos.errorRate must be a percentage strictly between 0 and 100"
	ErrorRate Percent `json:"errorRate,omitempty"`
}

// PolicyReference names a cluster-scoped AIOpsPolicy.
type PolicyReference struct {
	// Name of the AIOpsPolicy.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`
}

// AnalysisVerdict is the outcome of an analysis.
//
// +kubebuilder:validation:Enum=Pass;Fail;Inconclusive
type AnalysisVerdict string

// The analysis verdicts.
const (
	VerdictPass         AnalysisVerdict = "Pass"
	VerdictFail         AnalysisVerdict = "Fail"
	VerdictInconclusive AnalysisVerdict = "Inconclusive"
)

// AnalysisResult is the latest judgment of the application's health or canary.
type AnalysisResult struct {
	// Time the analysis finished.
	// +required
	Time metav1.Time `json:"time"`

	// Verdict of the analysis.
	// +required
	Verdict AnalysisVerdict `json:"verdict"`

	// Score from 0 (certainly bad) to 100 (certainly good).
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Score *int32 `json:"score,omitempty"`

	// Summary in a few human-readable sentences.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	Summary string `json:"summary,omitempty"`
}

// Recommendation is an action the AI proposes for this application.
type Recommendation struct {
	// ID identifies the recommendation at the hub, where it is approved or rejected.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	ID string `json:"id"`

	// Type of the proposed action.
	// +required
	Type ActionType `json:"type"`

	// Summary of what the action does and why.
	// +required
	// +kubebuilder:validation:MaxLength=4096
	Summary string `json:"summary"`

	// Risk of the action.
	// +required
	Risk RiskLevel `json:"risk"`

	// CreatedAt is when the recommendation was made.
	// +required
	CreatedAt metav1.Time `json:"createdAt"`
}

// ManagedApplicationStatus is what the spoke observed and the AI concluded about the application.
type ManagedApplicationStatus struct {
	// Conditions: Ready, Progressing, Degraded.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// ObservedGeneration is the spec generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// CurrentRevision is the revision running now: a commit, a tag or a digest.
	// +optional
	CurrentRevision string `json:"currentRevision,omitempty"`

	// LastAnalysis is the most recent health or canary judgment.
	// +optional
	LastAnalysis *AnalysisResult `json:"lastAnalysis,omitempty"`

	// Recommendations are the AI's open proposals for this application.
	// +optional
	// +listType=map
	// +listMapKey=id
	// +kubebuilder:validation:MaxItems=64
	Recommendations []Recommendation `json:"recommendations,omitempty"`
}

// ManagedApplication is an application the operator delivers, watches and heals on one cluster.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,shortName=mapp,categories=aiops
// +kubebuilder:printcolumn:name="Strategy",type=string,JSONPath=`.spec.strategy.type`
// +kubebuilder:printcolumn:name="Autonomy",type=string,JSONPath=`.spec.autonomyOverride`
// +kubebuilder:printcolumn:name="Revision",type=string,JSONPath=`.status.currentRevision`
// +kubebuilder:printcolumn:name="Verdict",type=string,JSONPath=`.status.lastAnalysis.verdict`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ManagedApplication struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired application.
	// +required
	Spec ManagedApplicationSpec `json:"spec"`

	// Status is what was observed.
	// +optional
	Status ManagedApplicationStatus `json:"status,omitempty"`
}

// ManagedApplicationList is a list of ManagedApplications.
//
// +kubebuilder:object:root=true
type ManagedApplicationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ManagedApplication `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ManagedApplication{}, &ManagedApplicationList{})
}
