package openai

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/ai"
	"github.com/kubedevaiops/kubedevaiops/hub/ai/anonymize"
)

// maxContextIncidents bounds the incidents a question's context carries.
const maxContextIncidents = 50

// Engine is the provider behind the hub's engine interface, for the tasks it does:
// explanations and questions. Everything it sends is anonymised by the provider.
type Engine struct {
	ai.Unsupported
	Provider *Provider
}

// Name is the provider's configured name, the one routes name.
func (e Engine) Name() string { return e.Provider.Name() }

// Capabilities are explain and answer.
func (e Engine) Capabilities() []ai.Task { return []ai.Task{ai.TaskExplain, ai.TaskAnswer} }

// Explain explains a plan, an incident or a diagnosis.
func (e Engine) Explain(ctx context.Context, req ai.ExplainRequest) (ai.ExplainAnswer, ai.Meta, error) {
	subject, material := "diagnosis", any(req.Diagnosis)
	known := anonymize.Known{Clusters: req.Scope.Clusters}
	switch {
	case req.Plan != nil:
		subject, material = "plan", req.Plan
		for _, a := range req.Plan.Spec.Actions {
			known.Clusters = append(known.Clusters, a.Cluster)
			known.Namespaces, known.Workloads = appendNonEmpty(known.Namespaces, a.Target.Namespace), appendNonEmpty(known.Workloads, a.Target.Name)
		}
	case req.Incident != nil:
		subject, material = "incident", req.Incident
		known = knownOf(known, *req.Incident)
	}
	b, err := json.Marshal(material)
	if err != nil {
		return ai.ExplainAnswer{}, ai.Meta{}, fmt.Errorf("encode the %s to explain: %w", subject, err)
	}
	ex, info, err := e.Provider.Explain(ctx, ExplainRequest{Subject: subject, Material: string(b), Known: known})
	if err != nil {
		return ai.ExplainAnswer{}, meta(info), err
	}
	return ai.ExplainAnswer{Summary: ex.Summary, Points: append([]string{}, sentences(ex.Details)...)}, meta(info), nil
}

// Answer answers a question from the incidents of the clusters in scope.
func (e Engine) Answer(ctx context.Context, req ai.QuestionRequest) (ai.QuestionAnswer, ai.Meta, error) {
	known := anonymize.Known{Clusters: req.Scope.Clusters}
	var incidents []hubv1alpha1.Incident
	if req.View != nil {
		for _, c := range req.Scope.Clusters {
			for _, inc := range req.View.Incidents(c) {
				if len(incidents) == maxContextIncidents {
					break
				}
				incidents = append(incidents, inc)
				known = knownOf(known, inc)
			}
		}
	}
	facts := make([]map[string]string, 0, len(incidents))
	for _, inc := range incidents {
		facts = append(facts, map[string]string{"cluster": inc.Spec.Cluster, "namespace": inc.Spec.Object.Namespace, "kind": inc.Spec.Object.Kind,
			"name": inc.Spec.Object.Name, "signature": inc.Spec.Signature, "phase": string(inc.Status.Phase), "rootCause": inc.Status.RootCause,
			"plan": inc.Status.PlanRef, "summary": inc.Spec.Summary})
	}
	b, err := json.Marshal(map[string]any{"clusters": req.Scope.Clusters, "incidents": facts})
	if err != nil {
		return ai.QuestionAnswer{}, ai.Meta{}, err
	}
	ans, info, err := e.Provider.Ask(ctx, QuestionRequest{Question: req.Question, Context: string(b), Known: known})
	if err != nil {
		return ai.QuestionAnswer{}, meta(info), err
	}
	out := ai.QuestionAnswer{Answer: ans.Text, Facts: []string{}}
	for _, r := range ans.References {
		out.Facts = append(out.Facts, strings.TrimSpace(fmt.Sprintf("%s %s %s/%s", r.Cluster, r.Kind, r.Namespace, r.Name)))
	}
	return out, meta(info), nil
}

func knownOf(k anonymize.Known, inc hubv1alpha1.Incident) anonymize.Known {
	k.Clusters = appendNonEmpty(k.Clusters, inc.Spec.Cluster)
	k.Namespaces = appendNonEmpty(k.Namespaces, inc.Spec.Object.Namespace)
	k.Workloads = appendNonEmpty(k.Workloads, inc.Spec.Object.Name)
	return k
}

func appendNonEmpty(s []string, v string) []string {
	if v == "" {
		return s
	}
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}

func meta(info CallInfo) ai.Meta {
	return ai.Meta{Model: info.Model, Usage: ai.Usage{InputTokens: info.InputTokens, OutputTokens: info.OutputTokens}}
}

// sentences splits an explanation's details into points.
func sentences(s string) []string {
	var out []string
	for _, p := range strings.Split(s, "\n") {
		if p = strings.TrimSpace(strings.TrimLeft(p, "-* ")); p != "" {
			out = append(out, p)
		}
	}
	return out
}
