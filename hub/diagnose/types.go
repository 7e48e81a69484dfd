package diagnose

import (
	"strings"
	"time"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/knowledge"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// Engine names this engine and its rules' version in diagnoses and audit records.
const Engine = "builtin-diagnose/v1"

// Category is a root-cause (or symptom) class.
type Category string

// The categories. A diagnosis' Category is the root cause; its Symptom is what failed. They
// differ only for BadRollout, whose symptom is any of the others.
const (
	// CategoryBadRollout: a rollout of the owner workload shortly before the failure caused it.
	CategoryBadRollout Category = "BadRollout"
	// CategoryOutOfMemory: containers killed for exceeding their memory limit (OOMKilled).
	CategoryOutOfMemory Category = "OutOfMemory"
	// CategoryImageUnavailable: the image cannot be pulled (ImagePullBackOff, ErrImagePull, bad name).
	CategoryImageUnavailable Category = "ImageUnavailable"
	// CategoryConfigError: the pod's configuration is wrong or missing (CreateContainerConfigError,
	// missing ConfigMap or Secret key, the app reporting bad configuration).
	CategoryConfigError Category = "ConfigError"
	// CategoryUnschedulable: no node can take the pod (FailedScheduling, insufficient resources).
	CategoryUnschedulable Category = "Unschedulable"
	// CategoryNodeFailure: the node is NotReady, lost or under pressure, or pods are stuck on one.
	CategoryNodeFailure Category = "NodeFailure"
	// CategoryProbeFailure: liveness or readiness probes fail while the process runs.
	CategoryProbeFailure Category = "ProbeFailure"
	// CategoryDependencyFailure: the app fails because something it calls is unreachable.
	CategoryDependencyFailure Category = "DependencyFailure"
	// CategoryApplicationError: the app itself exits or crashes (no more specific cause seen).
	CategoryApplicationError Category = "ApplicationError"
	// CategoryCapacityLimit: a limit on scale is reached (HPA pinned at maxReplicas, quota).
	CategoryCapacityLimit Category = "CapacityLimit"
	// CategoryStorageUnavailable: a volume cannot be provisioned, attached or mounted.
	CategoryStorageUnavailable Category = "StorageUnavailable"
	// CategoryUnknown: nothing recognisable.
	CategoryUnknown Category = "Unknown"
)

// Defaults of Options; a zero field takes its default.
const (
	// DefaultChangeWindow: a rollout at most this long before the failure started is the suspect.
	DefaultChangeWindow = 30 * time.Minute
	// DefaultStaleChangeWindow: an older rollout up to this age is still offered as a low-prior
	// rollback candidate, without being blamed.
	DefaultStaleChangeWindow = 24 * time.Hour
	// DefaultMaxLogLines: only the last this many log lines of a finding are mined.
	DefaultMaxLogLines = 500
)

// Options tunes Diagnose. The zero value gives the documented defaults.
type Options struct {
	ChangeWindow      time.Duration     `json:"changeWindow,omitempty"`
	StaleChangeWindow time.Duration     `json:"staleChangeWindow,omitempty"`
	MaxLogLines       int               `json:"maxLogLines,omitempty"`
	Miner             MinerConfig       `json:"miner"`
	Knowledge         knowledge.Options `json:"knowledge"`
}

func (o Options) withDefaults() Options {
	if o.ChangeWindow <= 0 {
		o.ChangeWindow = DefaultChangeWindow
	}
	if o.StaleChangeWindow <= 0 {
		o.StaleChangeWindow = DefaultStaleChangeWindow
	}
	o.StaleChangeWindow = max(o.StaleChangeWindow, o.ChangeWindow)
	if o.MaxLogLines <= 0 {
		o.MaxLogLines = DefaultMaxLogLines
	}
	o.Miner = o.Miner.withDefaults()
	return o
}

// Input is everything one diagnosis depends on.
type Input struct {
	// Cluster is the ManagedCluster the finding came from. Required.
	Cluster string
	// Finding is the spoke's finding. Required, with a signature.
	Finding *fleetv1.Finding
	// Now is the hub's time of the diagnosis; it stands in for the failure start when the finding
	// carries neither first_observed_at nor observed_at. Required.
	Now time.Time
	// Knowledge is what the fleet has learned; entries for other signatures are ignored.
	Knowledge []hubv1alpha1.KnowledgeEntry
	// Options tunes the rules.
	Options Options
}

// ObjectRef names a Kubernetes object (a plain copy of fleetv1.ObjectRef, so diagnoses compare
// and encode as values).
type ObjectRef struct {
	Group           string `json:"group,omitempty"`
	Version         string `json:"version,omitempty"`
	Kind            string `json:"kind,omitempty"`
	Namespace       string `json:"namespace,omitempty"`
	Name            string `json:"name,omitempty"`
	UID             string `json:"uid,omitempty"`
	ResourceVersion string `json:"resourceVersion,omitempty"`
}

// RefFromProto copies a protocol object reference; nil gives the zero ref.
func RefFromProto(r *fleetv1.ObjectRef) ObjectRef {
	if r == nil {
		return ObjectRef{}
	}
	return ObjectRef{Group: r.GetGroup(), Version: r.GetVersion(), Kind: r.GetKind(), Namespace: r.GetNamespace(),
		Name: r.GetName(), UID: r.GetUid(), ResourceVersion: r.GetResourceVersion()}
}

// Proto is the protocol form, e.g. for a directive target.
func (r ObjectRef) Proto() *fleetv1.ObjectRef {
	return &fleetv1.ObjectRef{Group: r.Group, Version: r.Version, Kind: r.Kind, Namespace: r.Namespace,
		Name: r.Name, Uid: r.UID, ResourceVersion: r.ResourceVersion}
}

// IsZero says whether the ref names nothing.
func (r ObjectRef) IsZero() bool { return r.Kind == "" && r.Name == "" }

// String is "Kind namespace/name" (or "Kind name" when cluster-scoped).
func (r ObjectRef) String() string {
	if r.Namespace == "" {
		return r.Kind + " " + r.Name
	}
	return r.Kind + " " + r.Namespace + "/" + r.Name
}

// refFromAPIVersion builds a ref from an apiVersion such as "apps/v1" or "v1".
func refFromAPIVersion(apiVersion, kind, namespace, name string) ObjectRef {
	group, version, found := strings.Cut(apiVersion, "/")
	if !found {
		group, version = "", apiVersion
	}
	return ObjectRef{Group: group, Version: version, Kind: kind, Namespace: namespace, Name: name}
}

// EvidenceRole says what an evidence item did in a diagnosis.
type EvidenceRole string

// The evidence roles.
const (
	// RoleSuspectChange: the rollout blamed for the failure.
	RoleSuspectChange EvidenceRole = "suspect-change"
	// RoleOlderChange: a rollout too long before the failure to blame.
	RoleOlderChange EvidenceRole = "older-change"
	// RoleLaterChange: a rollout after the failure started; not its cause.
	RoleLaterChange EvidenceRole = "later-change"
	// RoleUnrelatedChange: a rollout of a kind that cannot cause this symptom (e.g. replicas for a crash).
	RoleUnrelatedChange EvidenceRole = "unrelated-change"
	// RoleMalformedChange: a change item whose JSON was refused; the diagnosis ignores it.
	RoleMalformedChange EvidenceRole = "malformed-change"
	// RoleSymptom: an event or status that identified the symptom.
	RoleSymptom EvidenceRole = "symptom"
	// RoleLogs: log lines mined for templates.
	RoleLogs EvidenceRole = "logs"
	// RoleLimit: where a current limit (memory, maxReplicas) was read from.
	RoleLimit EvidenceRole = "limit"
	// RoleContext: read, but decided nothing.
	RoleContext EvidenceRole = "context"
)

// EvidenceUse is what the diagnosis made of one evidence item of the finding.
type EvidenceUse struct {
	// Index of the item in Finding.Evidence.
	Index   int          `json:"index"`
	Type    string       `json:"type"`
	Summary string       `json:"summary,omitempty"`
	Role    EvidenceRole `json:"role"`
	// Note says why, e.g. "rollout 4m0s before the failure started".
	Note string `json:"note,omitempty"`
}

// SuspectChange is the rollout blamed for the failure.
type SuspectChange struct {
	// Key is Change.Key: what was rolled out, the same in every cluster that got it.
	Key          string        `json:"key"`
	Owner        ObjectRef     `json:"owner"`
	FromRevision int64         `json:"fromRevision"`
	ToRevision   int64         `json:"toRevision"`
	ChangedAt    time.Time     `json:"changedAt"`
	Changes      []FieldChange `json:"changes"`
	// Lead is how long before the failure started the rollout happened.
	Lead time.Duration `json:"lead"`
	// EvidenceIndex is the change's index in Finding.Evidence.
	EvidenceIndex int `json:"evidenceIndex"`
}

// Remediation is one candidate fix.
type Remediation struct {
	Action aiopsv1alpha1.ActionType `json:"action"`
	// Target is the object to act on: the owner workload for workload actions, the pod for
	// DeletePod, the HPA for PatchHPA.
	Target ObjectRef `json:"target"`
	// Parameters of the action: RollbackWorkload {"toRevision"}, SetResources {"container",
	// "memoryLimit"}, ScaleWorkload {"replicas"}, PatchHPA {"maxReplicas"}; none for
	// RestartWorkload and DeletePod.
	Parameters map[string]string `json:"parameters,omitempty"`
	Rationale  string            `json:"rationale"`
	// Prior is the engine's own success probability for the fix, before fleet knowledge.
	Prior float64 `json:"prior"`
	// Confidence is the posterior mean success probability given the fleet's knowledge for
	// (Diagnosis.Signature, Action): the proposal's confidence.
	Confidence float64 `json:"confidence"`
	// LowerBound is the lower credible bound of the same posterior (knowledge.Options.Credibility).
	LowerBound float64 `json:"lowerBound"`
	// Successes and Failures the fleet counted for (Diagnosis.Signature, Action).
	Successes int64 `json:"successes"`
	Failures  int64 `json:"failures"`
	// Unsafe: the fleet has seen it fail too often for this signature (knowledge safety floor).
	Unsafe bool `json:"unsafe,omitempty"`
}

// Diagnosis is the engine's verdict on one finding.
type Diagnosis struct {
	Engine  string `json:"engine"`
	Cluster string `json:"cluster"`
	// Signature is the incident signature: the finding's signature, plus ":" and the dominant
	// log template's id when the finding has log lines. Knowledge is keyed by it.
	Signature        string    `json:"signature"`
	FindingSignature string    `json:"findingSignature"`
	Object           ObjectRef `json:"object"`
	// Workload is the owner workload of the object, when known (or the object itself).
	Workload *ObjectRef `json:"workload,omitempty"`
	// Category is the root-cause hypothesis; Symptom what failed.
	Category   Category `json:"category"`
	Symptom    Category `json:"symptom"`
	Confidence float64  `json:"confidence"`
	// Hypothesis says it in one sentence.
	Hypothesis string `json:"hypothesis"`
	// FailureStartedAt is the finding's first_observed_at (else observed_at, else Input.Now).
	FailureStartedAt time.Time `json:"failureStartedAt"`
	// LogTemplate is the dominant template of the finding's log lines (nil without logs);
	// Templates the five most frequent.
	LogTemplate   *Template      `json:"logTemplate,omitempty"`
	Templates     []Template     `json:"templates,omitempty"`
	SuspectChange *SuspectChange `json:"suspectChange,omitempty"`
	Evidence      []EvidenceUse  `json:"evidence"`
	// Remediations come best first (knowledge.Rank); unsafe ones last, marked.
	Remediations []Remediation `json:"remediations"`
	// Warnings: evidence that could not be used, e.g. malformed change JSON.
	Warnings []string `json:"warnings,omitempty"`
}
