package builtin

import (
	"context"
	"fmt"
	"strings"

	"github.com/kubedevaiops/kubedevaiops/hub/ai"
	"github.com/kubedevaiops/kubedevaiops/hub/diagnose"
)

// Models name the built-in engine's rules per task, with their version, in results and traces.
const (
	ModelDiagnose  = diagnose.Engine
	ModelManifests = "builtin-manifests/v1"
	ModelExplain   = "builtin-explain/v1"
	ModelAnswer    = "builtin-answer/v1"
)

// Engine is the built-in engine. The zero value is ready to use; it holds no state.
type Engine struct{}

// New returns the built-in engine.
func New() Engine { return Engine{} }

var _ ai.Engine = Engine{}

// Name is ai.BuiltinName.
func (Engine) Name() string { return ai.BuiltinName }

// Capabilities are every task.
func (Engine) Capabilities() []ai.Task { return ai.AllTasks() }

// Diagnose runs hub/diagnose. A candidate remediation the hub would refuse to execute
// (ai.ValidateRemediation, e.g. a scale to more replicas than allowed) is left out and named in
// the diagnosis' warnings instead.
func (Engine) Diagnose(_ context.Context, req ai.DiagnoseRequest) (ai.DiagnoseAnswer, ai.Meta, error) {
	meta := ai.Meta{Model: ModelDiagnose}
	d, err := diagnose.Diagnose(req.Input)
	if err != nil {
		return ai.DiagnoseAnswer{}, meta, err
	}
	keepValid(&d, ai.RefFromFinding(req.Input).Namespace)
	return ai.DiagnoseAnswer{Diagnosis: d}, meta, nil
}

func keepValid(d *diagnose.Diagnosis, namespace string) {
	kept := make([]diagnose.Remediation, 0, len(d.Remediations))
	for _, r := range d.Remediations {
		if err := ai.ValidateRemediation(r, namespace); err != nil {
			d.Warnings = append(d.Warnings, fmt.Sprintf("candidate %s %s left out: %v", r.Action, r.Target.String(), err))
			continue
		}
		kept = append(kept, r)
	}
	d.Remediations = kept[:min(len(kept), ai.MaxRemediations)]
}

// Plan ranks the remediations of the request's diagnosis, diagnosing first when it has none.
func (e Engine) Plan(ctx context.Context, req ai.PlanRequest) (ai.PlanAnswer, ai.Meta, error) {
	meta := ai.Meta{Model: ModelDiagnose}
	var d diagnose.Diagnosis
	if req.Diagnosis != nil {
		d = *req.Diagnosis
		d.Remediations = append([]diagnose.Remediation(nil), d.Remediations...)
		keepValid(&d, ai.RefFromFinding(req.Input).Namespace)
	} else {
		a, _, err := e.Diagnose(ctx, ai.DiagnoseRequest{Scope: req.Scope, Input: req.Input})
		if err != nil {
			return ai.PlanAnswer{}, meta, err
		}
		d = a.Diagnosis
	}
	return ai.PlanAnswer{Signature: d.Signature, Remediations: d.Remediations, Summary: planSummary(d)}, meta, nil
}

func planSummary(d diagnose.Diagnosis) string {
	var safe []diagnose.Remediation
	for _, r := range d.Remediations {
		if !r.Unsafe {
			safe = append(safe, r)
		}
	}
	if len(safe) == 0 {
		return fmt.Sprintf("No safe remediation for %s on cluster %s (root cause %s).", d.Signature, d.Cluster, d.Category)
	}
	b := &strings.Builder{}
	best := safe[0]
	fmt.Fprintf(b, "%s %s (confidence %.2f) for %s on cluster %s, root cause %s", best.Action, best.Target.String(), best.Confidence, d.Signature, d.Cluster, d.Category)
	if n := len(d.Remediations) - 1; n > 0 {
		fmt.Fprintf(b, "; %d alternative(s)", n)
	}
	b.WriteString(".")
	return b.String()
}

// GenerateManifests runs GenerateManifests.
func (Engine) GenerateManifests(_ context.Context, req ai.ManifestRequest) (ai.ManifestAnswer, ai.Meta, error) {
	meta := ai.Meta{Model: ModelManifests}
	m, err := GenerateManifests(req.Application)
	if err != nil {
		return ai.ManifestAnswer{}, meta, err
	}
	y, err := m.YAML()
	if err != nil {
		return ai.ManifestAnswer{}, meta, err
	}
	return ai.ManifestAnswer{YAML: y, Objects: m.Objects()}, meta, nil
}

// Explain runs Explain.
func (Engine) Explain(_ context.Context, req ai.ExplainRequest) (ai.ExplainAnswer, ai.Meta, error) {
	a, err := Explain(req)
	return a, ai.Meta{Model: ModelExplain}, err
}

// Answer runs Answer.
func (Engine) Answer(_ context.Context, req ai.QuestionRequest) (ai.QuestionAnswer, ai.Meta, error) {
	a, err := Answer(req.Question, req.View)
	return a, ai.Meta{Model: ModelAnswer}, err
}
