package ai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/diagnose"
	"github.com/kubedevaiops/kubedevaiops/hub/knowledge"
)

// MaxAnswerBytes bounds the JSON of one external answer.
const MaxAnswerBytes = 1 << 20

// The JSON external providers return, one type per task (see Schema). Every field is required;
// a list with nothing in it is written [].

// RemediationProposal is one fix as an external provider proposes it.
type RemediationProposal struct {
	// Action is one of api/v1alpha1's ActionTypes.
	Action aiopsv1alpha1.ActionType `json:"action"`
	// Target is the object to act on, in the incident's namespace.
	Target ProposedTarget `json:"target"`
	// Parameters of the action (docs/remediation.md), as name and string value pairs.
	Parameters []ProposedParameter `json:"parameters"`
	// Rationale says why this fix, in a sentence or two.
	Rationale string `json:"rationale"`
	// Confidence is the provider's own success probability for the fix, 0 to 1. The hub
	// uses it as the prior that the fleet's outcomes then update.
	Confidence *float64 `json:"confidence"`
}

// ProposedTarget names the object a proposed fix acts on.
type ProposedTarget struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// ProposedParameter is one action parameter.
type ProposedParameter struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// DiagnosisProposal is a diagnosis as an external provider returns it.
type DiagnosisProposal struct {
	// Category is the root cause, Symptom what failed (the same unless the cause is BadRollout).
	Category diagnose.Category `json:"category"`
	Symptom  diagnose.Category `json:"symptom"`
	// Confidence in the root cause, 0 to 1.
	Confidence *float64 `json:"confidence"`
	// Hypothesis says it in one or two sentences.
	Hypothesis   string                `json:"hypothesis"`
	Remediations []RemediationProposal `json:"remediations"`
}

// PlanProposal is a remediation plan as an external provider returns it.
type PlanProposal struct {
	Summary      string                `json:"summary"`
	Remediations []RemediationProposal `json:"remediations"`
}

// ManifestsProposal is an application's manifests as an external provider returns them.
type ManifestsProposal struct {
	// Manifests are YAML documents separated by "---".
	Manifests string `json:"manifests"`
}

// decodeStrict decodes one JSON value into v: unknown fields, trailing data, truncation and
// anything over MaxAnswerBytes are refused.
func decodeStrict(data []byte, v any) error {
	if len(data) > MaxAnswerBytes {
		return invalid("answer is %d bytes, at most %d", len(data), MaxAnswerBytes)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return invalid("answer is empty")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return invalid("answer JSON is truncated")
		}
		return invalid("answer is not the expected JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return invalid("answer has data after its JSON value")
	}
	return nil
}

// defaultAPIVersion is the served API version of the kinds remediations act on.
func defaultAPIVersion(kind string) (group, version string) {
	switch kind {
	case "Deployment", "StatefulSet", "DaemonSet":
		return "apps", "v1"
	case "HorizontalPodAutoscaler":
		return "autoscaling", "v2"
	}
	return "", "v1"
}

// remediations converts proposals to remediations ranked for signature by the fleet's
// knowledge, each proposal's confidence as its prior; invalid ones are refused.
func remediations(ps []RemediationProposal, signature, namespace string, entries []hubv1alpha1.KnowledgeEntry, opts knowledge.Options) ([]diagnose.Remediation, error) {
	if ps == nil {
		return nil, invalid("remediations missing (an empty list says there are none)")
	}
	if len(ps) > MaxRemediations {
		return nil, invalid("%d remediations, at most %d", len(ps), MaxRemediations)
	}
	cands := make([]diagnose.Remediation, 0, len(ps))
	for i, p := range ps {
		if p.Confidence == nil {
			return nil, invalid("remediation %d: confidence missing", i)
		}
		if p.Parameters == nil {
			return nil, invalid("remediation %d: parameters missing (an empty list says there are none)", i)
		}
		group, version := defaultAPIVersion(p.Target.Kind)
		r := diagnose.Remediation{
			Action:    p.Action,
			Target:    diagnose.ObjectRef{Group: group, Version: version, Kind: p.Target.Kind, Namespace: p.Target.Namespace, Name: p.Target.Name},
			Rationale: p.Rationale, Prior: *p.Confidence,
		}
		for _, kv := range p.Parameters {
			if r.Parameters == nil {
				r.Parameters = map[string]string{}
			}
			if _, dup := r.Parameters[kv.Name]; dup {
				return nil, invalid("remediation %d: parameter %q given twice", i, kv.Name)
			}
			r.Parameters[kv.Name] = kv.Value
		}
		if err := ValidateRemediation(r, namespace); err != nil {
			return nil, fmt.Errorf("remediation %d: %w", i, err)
		}
		cands = append(cands, r)
	}
	kc := make([]knowledge.Candidate, len(cands))
	for i, c := range cands {
		kc[i] = knowledge.Candidate{ActionType: c.Action, Prior: c.Prior}
	}
	out := make([]diagnose.Remediation, 0, len(cands))
	for _, k := range knowledge.Rank(signature, kc, entries, opts) {
		c := cands[k.Index]
		c.Confidence, c.LowerBound = round4(k.Confidence), round4(k.LowerBound)
		c.Successes, c.Failures, c.Unsafe = k.Successes, k.Failures, k.Unsafe
		out = append(out, c)
	}
	return out, nil
}

func round4(x float64) float64 { return math.Round(min(max(x, 0), 1)*1e4) / 1e4 }

// ParseDiagnosis reads an external provider's DiagnosisProposal answering req into a
// diagnosis, strictly (DiagnosisSchema): engine names the provider and model in the diagnosis.
// The diagnosis keeps the finding's signature (an external engine mines no log templates), its
// remediations are ranked by the fleet's knowledge, and it must pass ValidateDiagnosis.
func ParseDiagnosis(data []byte, req DiagnoseRequest, engine string) (DiagnoseAnswer, error) {
	if err := req.Validate(); err != nil {
		return DiagnoseAnswer{}, fmt.Errorf("diagnose request: %w", err)
	}
	var p DiagnosisProposal
	if err := decodeStrict(data, &p); err != nil {
		return DiagnoseAnswer{}, fmt.Errorf("diagnosis: %w", err)
	}
	if p.Confidence == nil {
		return DiagnoseAnswer{}, invalid("diagnosis: confidence missing")
	}
	in := req.Input
	obj := RefFromFinding(in)
	sig := in.Finding.GetSignature()
	rs, err := remediations(p.Remediations, sig, obj.Namespace, in.Knowledge, in.Options.Knowledge)
	if err != nil {
		return DiagnoseAnswer{}, fmt.Errorf("diagnosis: %w", err)
	}
	d := diagnose.Diagnosis{
		Engine: engine, Cluster: in.Cluster, Signature: sig, FindingSignature: sig, Object: obj,
		Category: p.Category, Symptom: p.Symptom, Confidence: *p.Confidence, Hypothesis: p.Hypothesis,
		FailureStartedAt: failureStart(in), Evidence: []diagnose.EvidenceUse{}, Remediations: rs,
	}
	for _, r := range rs {
		if slices.Contains([]string{"Deployment", "StatefulSet", "DaemonSet"}, r.Target.Kind) {
			w := r.Target
			d.Workload = &w
			break
		}
	}
	a := DiagnoseAnswer{Diagnosis: d}
	if err := ValidateDiagnosis(req, a); err != nil {
		return DiagnoseAnswer{}, err
	}
	return a, nil
}

func failureStart(in diagnose.Input) time.Time {
	f := in.Finding
	if ts := f.GetFirstObservedAt(); ts != nil && ts.IsValid() && ts.AsTime().Unix() > 0 {
		return ts.AsTime().UTC()
	}
	if ts := f.GetObservedAt(); ts != nil && ts.IsValid() && ts.AsTime().Unix() > 0 {
		return ts.AsTime().UTC()
	}
	return in.Now.UTC()
}

// ParsePlan reads an external provider's PlanProposal answering req, strictly (PlanSchema):
// the remediations are ranked by the fleet's knowledge for the request's incident signature
// (the diagnosis' when the request has one) and must pass ValidatePlan.
func ParsePlan(data []byte, req PlanRequest) (PlanAnswer, error) {
	if err := req.Validate(); err != nil {
		return PlanAnswer{}, fmt.Errorf("plan request: %w", err)
	}
	var p PlanProposal
	if err := decodeStrict(data, &p); err != nil {
		return PlanAnswer{}, fmt.Errorf("plan: %w", err)
	}
	sig := req.Input.Finding.GetSignature()
	if req.Diagnosis != nil && req.Diagnosis.Signature != "" {
		sig = req.Diagnosis.Signature
	}
	rs, err := remediations(p.Remediations, sig, RefFromFinding(req.Input).Namespace, req.Input.Knowledge, req.Input.Options.Knowledge)
	if err != nil {
		return PlanAnswer{}, fmt.Errorf("plan: %w", err)
	}
	a := PlanAnswer{Signature: sig, Remediations: rs, Summary: p.Summary}
	if err := ValidatePlan(req, a); err != nil {
		return PlanAnswer{}, err
	}
	return a, nil
}

// ParseExplanation reads an external provider's explanation, strictly (ExplainSchema), and
// checks it with ValidateExplanation.
func ParseExplanation(data []byte) (ExplainAnswer, error) {
	var a ExplainAnswer
	if err := decodeStrict(data, &a); err != nil {
		return ExplainAnswer{}, fmt.Errorf("explanation: %w", err)
	}
	if err := ValidateExplanation(a); err != nil {
		return ExplainAnswer{}, err
	}
	return a, nil
}

// ParseQuestionAnswer reads an external provider's answer to a question, strictly
// (AnswerSchema), and checks it with ValidateQuestionAnswer.
func ParseQuestionAnswer(data []byte) (QuestionAnswer, error) {
	var w struct {
		Answer string   `json:"answer"`
		Facts  []string `json:"facts"`
	}
	if err := decodeStrict(data, &w); err != nil {
		return QuestionAnswer{}, fmt.Errorf("answer: %w", err)
	}
	a := QuestionAnswer{Answer: w.Answer, Facts: w.Facts}
	if err := ValidateQuestionAnswer(a); err != nil {
		return QuestionAnswer{}, err
	}
	return a, nil
}

// ParseManifestsAnswer reads an external provider's ManifestsProposal for req, strictly
// (ManifestsSchema): its YAML must pass ValidateManifests; Objects are the decoded documents.
func ParseManifestsAnswer(data []byte, req ManifestRequest) (ManifestAnswer, error) {
	if err := req.Validate(); err != nil {
		return ManifestAnswer{}, fmt.Errorf("manifests request: %w", err)
	}
	var p ManifestsProposal
	if err := decodeStrict(data, &p); err != nil {
		return ManifestAnswer{}, fmt.Errorf("manifests: %w", err)
	}
	a := ManifestAnswer{YAML: []byte(p.Manifests)}
	if err := ValidateManifests(req, a); err != nil {
		return ManifestAnswer{}, err
	}
	objs, _ := ParseManifests(a.YAML, req.Application.Namespace)
	for _, o := range objs {
		a.Objects = append(a.Objects, o)
	}
	return a, nil
}
