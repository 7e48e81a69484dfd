package ai_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/ai"
	"github.com/kubedevaiops/kubedevaiops/hub/ai/builtin"
	"github.com/kubedevaiops/kubedevaiops/hub/diagnose"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// crashInput is a crash-looping pod of Deployment shop/web with its logs and a rollout 4 minutes
// before the failure: the built-in engine blames the rollout and proposes a rollback.
func crashInput() diagnose.Input {
	change := fmt.Sprintf(`{"owner":{"apiVersion":"apps/v1","kind":"Deployment","namespace":"shop","name":"web"},"fromRevision":3,"toRevision":4,"changedAt":%q,"changes":[{"field":"image","container":"app","from":"web:v1","to":"web:v2"}]}`,
		t0.Add(-4*time.Minute).Format(time.RFC3339))
	return diagnose.Input{
		Cluster: "east", Now: t0.Add(5 * time.Minute),
		Finding: &fleetv1.Finding{
			Analyzer: "pod", Signature: "pod/CrashLoopBackOff/Error", Severity: fleetv1.Severity_SEVERITY_HIGH,
			Object:          &fleetv1.ObjectRef{Version: "v1", Kind: "Pod", Namespace: "shop", Name: "web-7d9f8b6c5d-x2k9p"},
			ObservedAt:      timestamppb.New(t0.Add(2 * time.Minute)),
			FirstObservedAt: timestamppb.New(t0),
			Evidence: []*fleetv1.Evidence{
				{Type: "status", Summary: "container app restarted 5 times", Detail: "CrashLoopBackOff"},
				{Type: "log", Summary: "last log lines", Detail: strings.Repeat("panic: connection to db 10.0.0.7:5432 refused\n", 3)},
				{Type: "change", Summary: "rollout 3 -> 4", Detail: change},
			},
		},
	}
}

func diagnoseRequest() ai.DiagnoseRequest {
	return ai.DiagnoseRequest{Scope: ai.Scope{Clusters: []string{"east"}, ClusterSets: []string{"prod"}}, Input: crashInput()}
}

// goodDiagnosis is what a well-behaved external provider answers for crashInput.
const goodDiagnosis = `{"category":"BadRollout","symptom":"DependencyFailure","confidence":0.8,
 "hypothesis":"Revision 4 of web cannot reach its database.",
 "remediations":[{"action":"RollbackWorkload","target":{"kind":"Deployment","namespace":"shop","name":"web"},
   "parameters":[{"name":"toRevision","value":"3"}],"rationale":"Revision 3 ran fine.","confidence":0.9}]}`

// provider is an external provider for the registry's tests: it answers each task with what
// its backend "said" (raw JSON run through the package's parsers, as a real provider does), or
// with a prepared answer, error or panic.
type provider struct {
	ai.Unsupported
	name  string
	caps  []ai.Task
	raw   string // backend answer, parsed with the ai parsers
	err   error
	panic bool
	dx    *ai.DiagnoseAnswer // returned as is, bypassing the parser
	calls int
}

func (p *provider) Name() string            { return p.name }
func (p *provider) Capabilities() []ai.Task { return p.caps }

func (p *provider) meta() ai.Meta {
	return ai.Meta{Model: p.name + "-model", Usage: ai.Usage{InputTokens: 100, OutputTokens: 20}}
}

func (p *provider) Diagnose(_ context.Context, req ai.DiagnoseRequest) (ai.DiagnoseAnswer, ai.Meta, error) {
	p.calls++
	switch {
	case p.panic:
		panic("backend returned nonsense")
	case p.err != nil:
		return ai.DiagnoseAnswer{}, p.meta(), p.err
	case p.dx != nil:
		return *p.dx, p.meta(), nil
	}
	a, err := ai.ParseDiagnosis([]byte(p.raw), req, p.name+"/"+p.name+"-model")
	return a, p.meta(), err
}

func (p *provider) Explain(_ context.Context, _ ai.ExplainRequest) (ai.ExplainAnswer, ai.Meta, error) {
	p.calls++
	if p.err != nil {
		return ai.ExplainAnswer{}, p.meta(), p.err
	}
	a, err := ai.ParseExplanation([]byte(p.raw))
	return a, p.meta(), err
}

func (p *provider) Answer(_ context.Context, _ ai.QuestionRequest) (ai.QuestionAnswer, ai.Meta, error) {
	p.calls++
	if p.err != nil {
		return ai.QuestionAnswer{}, p.meta(), p.err
	}
	a, err := ai.ParseQuestionAnswer([]byte(p.raw))
	return a, p.meta(), err
}

var errBackend = errors.New("backend: 503 Service Unavailable")

// emptyView is a fleet with one cluster and nothing else.
type emptyView struct{}

func (emptyView) Plan(string) (*hubv1alpha1.Plan, bool)         { return nil, false }
func (emptyView) Incident(string) (*hubv1alpha1.Incident, bool) { return nil, false }
func (emptyView) Actions(string) []hubv1alpha1.Action           { return nil }
func (emptyView) ClusterKnown(c string) bool                    { return c == "east" }
func (emptyView) Incidents(string) []hubv1alpha1.Incident       { return nil }
func (emptyView) Knowledge(string) []hubv1alpha1.KnowledgeEntry { return nil }
func (emptyView) ImageUses(string) []ai.ImageUse                { return nil }

func newBuiltin() ai.Engine { return builtin.New() }

func replace(s, old, new string) string {
	if !strings.Contains(s, old) {
		panic("fixture does not contain " + old)
	}
	return strings.Replace(s, old, new, 1)
}

func knowledgeEntries(sig string, a aiopsv1alpha1.ActionType, successes, failures int64) []hubv1alpha1.KnowledgeEntry {
	e := hubv1alpha1.KnowledgeEntry{Spec: hubv1alpha1.KnowledgeEntrySpec{Signature: sig, ActionType: a, Successes: successes, Failures: failures}}
	e.Name = "k-" + string(a)
	return []hubv1alpha1.KnowledgeEntry{e}
}
