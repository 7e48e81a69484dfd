package hubv1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// IncidentPhase is where an incident stands.
type IncidentPhase string

// The incident phases.
const (
	// IncidentOpen: a spoke reported the problem; the hub has not planned a fix yet.
	IncidentOpen IncidentPhase = "Open"
	// IncidentPlanned: a remediation plan exists for it.
	IncidentPlanned IncidentPhase = "Planned"
	// IncidentResolved: the spoke reported the problem gone.
	IncidentResolved IncidentPhase = "Resolved"
)

// Evidence is one item backing a finding, as the spoke reported it.
type Evidence struct {
	// Type is "event", "log", "status", "metric" or "change".
	Type string `json:"type"`

	// Summary is a short description.
	// +optional
	Summary string `json:"summary,omitempty"`

	// Detail is e.g. a log excerpt, or the structured change record.
	// +optional
	Detail string `json:"detail,omitempty"`

	// Source is the object the evidence comes from, when not the finding's object.
	// +optional
	Source *ObjectReference `json:"source,omitempty"`

	// ObservedTime is when the spoke observed it.
	// +optional
	ObservedTime *metav1.Time `json:"observedTime,omitempty"`
}

// IncidentSpec is a problem one spoke analyzer saw on one object: the finding as reported.
type IncidentSpec struct {
	// Cluster is the ManagedCluster that reported it (from its certificate).
	Cluster string `json:"cluster"`

	// Analyzer is the spoke analyzer that found it, e.g. "pod".
	Analyzer string `json:"analyzer"`

	// Signature is the finding's stable signature, e.g. "pod/CrashLoopBackOff".
	Signature string `json:"signature"`

	// Severity is the finding's severity.
	// +optional
	Severity string `json:"severity,omitempty"`

	// Object is what the finding is about.
	Object ObjectReference `json:"object"`

	// ObjectUID is the object's uid in its cluster.
	// +optional
	ObjectUID string `json:"objectUID,omitempty"`

	// Summary is the spoke's one-line description.
	// +optional
	Summary string `json:"summary,omitempty"`

	// Evidence is what the spoke sent with the finding.
	// +optional
	Evidence []Evidence `json:"evidence,omitempty"`

	// FirstObservedTime is when the spoke first saw the problem on this object.
	FirstObservedTime metav1.Time `json:"firstObservedTime"`

	// LastObservedTime is when the spoke last saw it.
	LastObservedTime metav1.Time `json:"lastObservedTime"`

	// TraceParent is the W3C traceparent of the spoke's finding span: the incident's trace.
	// +optional
	TraceParent string `json:"traceParent,omitempty"`
}

// IncidentStatus is what the hub made of the incident.
type IncidentStatus struct {
	// Phase is where the incident stands.
	// +optional
	Phase IncidentPhase `json:"phase,omitempty"`

	// IncidentSignature is the finding signature refined by the diagnosis (log template),
	// the key fleet learning is recorded under.
	// +optional
	IncidentSignature string `json:"incidentSignature,omitempty"`

	// FleetIncident groups the same incident across clusters after the same change.
	// +optional
	FleetIncident string `json:"fleetIncident,omitempty"`

	// RootCause is the diagnosis' hypothesis category, e.g. "BadRollout".
	// +optional
	RootCause string `json:"rootCause,omitempty"`

	// PlanRef names the remediation plan made for it.
	// +optional
	PlanRef string `json:"planRef,omitempty"`

	// Message says why no plan was made, when none was.
	// +optional
	Message string `json:"message,omitempty"`

	// ResolvedTime is when the spoke reported the problem gone.
	// +optional
	ResolvedTime *metav1.Time `json:"resolvedTime,omitempty"`

	// ObservedGeneration is the spec generation the hub last diagnosed.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// Incident is one problem on one object of one cluster, from its first finding until it is
// resolved. Cluster-scoped; named by a digest of cluster, object and signature, so a finding
// resent after a reconnect lands on the same incident.
//
// +kubebuilder:object:root=true
type Incident struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   IncidentSpec   `json:"spec"`
	Status IncidentStatus `json:"status,omitempty"`
}

// IncidentList is a list of Incidents.
//
// +kubebuilder:object:root=true
type IncidentList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Incident `json:"items"`
}
