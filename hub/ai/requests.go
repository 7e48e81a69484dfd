package ai

import (
	"errors"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/diagnose"
)

// Scope names whose data a request carries: the clusters and the cluster sets they belong to.
// The Registry keeps requests whose scope is forbidden external providers away from them.
type Scope struct {
	Clusters    []string `json:"clusters,omitempty"`
	ClusterSets []string `json:"clusterSets,omitempty"`
	// ExternalForbiddenBy names what forbids external providers for these clusters, e.g. the
	// AIOpsPolicy "regulated" with externalAI: Forbidden; empty when nothing does.
	ExternalForbiddenBy string `json:"externalForbiddenBy,omitempty"`
}

// DiagnoseRequest asks for the root cause of one incident.
type DiagnoseRequest struct {
	Scope Scope `json:"scope"`
	// Input is what the built-in diagnosis reads: cluster, finding, time and fleet knowledge.
	Input diagnose.Input `json:"input"`
}

// Validate says what is missing from the request.
func (r DiagnoseRequest) Validate() error { return validateInput(r.Input) }

func validateInput(in diagnose.Input) error {
	switch {
	case in.Finding == nil:
		return errors.New("no finding")
	case in.Finding.GetSignature() == "":
		return errors.New("the finding has no signature")
	case in.Cluster == "":
		return errors.New("no cluster name")
	case in.Now.IsZero():
		return errors.New("input.Now is not set")
	}
	return nil
}

// DiagnoseAnswer is a diagnosis, in the form the incident loop records.
type DiagnoseAnswer struct {
	Diagnosis diagnose.Diagnosis `json:"diagnosis"`
}

// PlanRequest asks for the remediations of one incident, best first.
type PlanRequest struct {
	Scope Scope          `json:"scope"`
	Input diagnose.Input `json:"input"`
	// Diagnosis, when set, is the diagnosis already made for Input; an engine may plan from it.
	Diagnosis *diagnose.Diagnosis `json:"diagnosis,omitempty"`
}

// Validate says what is missing from the request.
func (r PlanRequest) Validate() error {
	if err := validateInput(r.Input); err != nil {
		return err
	}
	if d := r.Diagnosis; d != nil && (d.Cluster != r.Input.Cluster || d.FindingSignature != r.Input.Finding.GetSignature()) {
		return fmt.Errorf("the diagnosis is of %s/%s, not of the input's %s/%s", d.Cluster, d.FindingSignature, r.Input.Cluster, r.Input.Finding.GetSignature())
	}
	return nil
}

// PlanAnswer is the remediations for an incident, best first, ranked by the fleet's knowledge.
type PlanAnswer struct {
	// Signature is the incident signature the remediations were ranked for.
	Signature    string                 `json:"signature"`
	Remediations []diagnose.Remediation `json:"remediations"`
	// Summary says in a sentence or two what is proposed and why (or why nothing is).
	Summary string `json:"summary"`
}

// ManifestRequest asks for the Kubernetes manifests that run a ManagedApplication.
type ManifestRequest struct {
	Scope       Scope                             `json:"scope"`
	Application *aiopsv1alpha1.ManagedApplication `json:"application"`
}

// Validate says what is missing from the request.
func (r ManifestRequest) Validate() error {
	a := r.Application
	switch {
	case a == nil:
		return errors.New("no application")
	case a.Name == "":
		return errors.New("the application has no name")
	case a.Namespace == "":
		return fmt.Errorf("application %s has no namespace", a.Name)
	}
	return nil
}

// ManifestAnswer is the manifests of an application: YAML documents separated by "---" (what
// is applied) and the same objects decoded (typed ones from the built-in engine, unstructured
// ones from external providers), in the same order.
type ManifestAnswer struct {
	YAML    []byte          `json:"yaml"`
	Objects []client.Object `json:"-"`
}

// ExplainRequest asks for a summary of a plan, an incident or a diagnosis; at least one is set,
// and the engine explains all that are, in that order.
type ExplainRequest struct {
	Scope     Scope                 `json:"scope"`
	Plan      *hubv1alpha1.Plan     `json:"plan,omitempty"`
	Incident  *hubv1alpha1.Incident `json:"incident,omitempty"`
	Diagnosis *diagnose.Diagnosis   `json:"diagnosis,omitempty"`
}

// Validate says what is missing from the request.
func (r ExplainRequest) Validate() error {
	if r.Plan == nil && r.Incident == nil && r.Diagnosis == nil {
		return errors.New("nothing to explain: set a plan, an incident or a diagnosis")
	}
	return nil
}

// ExplainAnswer is a summary for people. It is also the JSON external providers return
// (ExplainSchema).
type ExplainAnswer struct {
	// Summary is a short paragraph.
	Summary string `json:"summary"`
	// Points are the facts behind it, one sentence each.
	Points []string `json:"points"`
}

// QuestionRequest asks a question about the fleet. View is the hub's state the answer is read
// from; it is never encoded.
type QuestionRequest struct {
	Scope    Scope     `json:"scope"`
	Question string    `json:"question"`
	View     FleetView `json:"-"`
}

// Validate says what is missing from the request.
func (r QuestionRequest) Validate() error {
	switch {
	case r.Question == "":
		return errors.New("no question")
	case len(r.Question) > MaxQuestionBytes:
		return fmt.Errorf("the question is %d bytes long, more than %d", len(r.Question), MaxQuestionBytes)
	case r.View == nil:
		return errors.New("no fleet view to answer from")
	}
	return nil
}

// QuestionAnswer answers a question. Answer and Facts are also the JSON external providers
// return (AnswerSchema); Form is set by the built-in engine only.
type QuestionAnswer struct {
	// Form is the question form the built-in engine recognised.
	Form QuestionForm `json:"-"`
	// Answer in a few sentences.
	Answer string `json:"answer"`
	// Facts the answer rests on, one per line.
	Facts []string `json:"facts"`
}
