package builtin_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/ai"
	"github.com/kubedevaiops/kubedevaiops/hub/ai/builtin"
	"github.com/kubedevaiops/kubedevaiops/hub/diagnose"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func crashInput(knowledge ...hubv1alpha1.KnowledgeEntry) diagnose.Input {
	change := fmt.Sprintf(`{"owner":{"apiVersion":"apps/v1","kind":"Deployment","namespace":"shop","name":"web"},"fromRevision":3,"toRevision":4,"changedAt":%q,"changes":[{"field":"image","container":"app","from":"web:v1","to":"web:v2"}]}`,
		t0.Add(-4*time.Minute).Format(time.RFC3339))
	return diagnose.Input{
		Cluster: "east", Now: t0.Add(5 * time.Minute), Knowledge: knowledge,
		Finding: &fleetv1.Finding{
			Analyzer: "pod", Signature: "pod/CrashLoopBackOff/Error",
			Object:          &fleetv1.ObjectRef{Version: "v1", Kind: "Pod", Namespace: "shop", Name: "web-7d9f8b6c5d-x2k9p"},
			FirstObservedAt: timestamppb.New(t0),
			Evidence: []*fleetv1.Evidence{
				{Type: "log", Summary: "last log lines", Detail: strings.Repeat("panic: nil map\n", 3)},
				{Type: "change", Summary: "rollout 3 -> 4", Detail: change},
			},
		},
	}
}

func TestDiagnoseAndPlan(t *testing.T) {
	ctx := context.Background()
	e := builtin.New()
	assert.ElementsMatch(t, ai.AllTasks(), e.Capabilities())
	req := ai.DiagnoseRequest{Input: crashInput()}
	a, meta, err := e.Diagnose(ctx, req)
	require.NoError(t, err)
	assert.Equal(t, diagnose.Engine, meta.Model)
	require.NoError(t, ai.ValidateDiagnosis(req, a))
	d := a.Diagnosis
	assert.Equal(t, diagnose.CategoryBadRollout, d.Category)
	require.NotEmpty(t, d.Remediations)
	assert.Equal(t, aiopsv1alpha1.ActionRollbackWorkload, d.Remediations[0].Action)
	assert.Equal(t, "3", d.Remediations[0].Parameters["toRevision"])

	// The same as hub/diagnose, byte for byte.
	direct, err := diagnose.Diagnose(req.Input)
	require.NoError(t, err)
	want, _ := diagnose.DiagnosisDigest(direct)
	got, _ := diagnose.DiagnosisDigest(d)
	assert.Equal(t, want, got)

	// Plan from the input, and from the diagnosis already made: the same ranking.
	p1, _, err := e.Plan(ctx, ai.PlanRequest{Input: req.Input})
	require.NoError(t, err)
	p2, _, err := e.Plan(ctx, ai.PlanRequest{Input: req.Input, Diagnosis: &d})
	require.NoError(t, err)
	assert.Equal(t, p1, p2)
	require.NoError(t, ai.ValidatePlan(ai.PlanRequest{Input: req.Input}, p1))
	assert.Equal(t, d.Signature, p1.Signature)
	assert.Contains(t, p1.Summary, "RollbackWorkload Deployment shop/web")
}

func TestDiagnoseLeavesOutWhatTheHubWouldRefuse(t *testing.T) {
	// A scale-up from 0 that cannot be placed: scaling back to 0 is in range, but an HPA
	// at 9000 replicas gets a proposal above the 10000 the validators allow.
	in := diagnose.Input{Cluster: "east", Now: t0, Finding: &fleetv1.Finding{
		Analyzer: "hpa", Signature: "hpa/ScalingLimited",
		Object:   &fleetv1.ObjectRef{Group: "autoscaling", Version: "v2", Kind: "HorizontalPodAutoscaler", Namespace: "shop", Name: "web"},
		Evidence: []*fleetv1.Evidence{{Type: "status", Summary: "pinned at maxReplicas", Detail: "maxReplicas: 9000 ScalingLimited"}},
	}}
	a, _, err := builtin.New().Diagnose(context.Background(), ai.DiagnoseRequest{Input: in})
	require.NoError(t, err)
	for _, r := range a.Diagnosis.Remediations {
		assert.NotEqual(t, aiopsv1alpha1.ActionPatchHPA, r.Action)
	}
	assert.Contains(t, strings.Join(a.Diagnosis.Warnings, "\n"), "candidate PatchHPA HorizontalPodAutoscaler shop/web left out")
	require.NoError(t, ai.ValidateDiagnosis(ai.DiagnoseRequest{Input: in}, a))
}

func plan() *hubv1alpha1.Plan {
	return &hubv1alpha1.Plan{
		ObjectMeta: metav1.ObjectMeta{Name: "inc-4f2a-1"},
		Spec: hubv1alpha1.PlanSpec{
			Type: hubv1alpha1.PlanRemediation, Engine: diagnose.Engine, Confidence: "0.850", RequiredApprovals: 1, IncidentRef: "inc-4f2a", PolicyRef: "recommend",
			Rationale: "The rollout of Deployment shop/web to revision 4 caused the crash loop.",
			Actions: []hubv1alpha1.PlannedAction{{Cluster: "east", Type: aiopsv1alpha1.ActionRollbackWorkload, Risk: aiopsv1alpha1.RiskMedium,
				Target:     hubv1alpha1.ObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "shop", Name: "web"},
				Parameters: map[string]string{"toRevision": "3"}}},
			Alternatives: []string{"RestartWorkload Deployment shop/web (confidence 0.30)"},
		},
		Status: hubv1alpha1.PlanStatus{Phase: hubv1alpha1.PlanSucceeded, Approvals: []hubv1alpha1.Approval{{By: "alice", Approved: true, Time: metav1.NewTime(t0), Comment: "go"}}},
	}
}

func incident(name, cluster, sig string, phase hubv1alpha1.IncidentPhase, seen time.Time) hubv1alpha1.Incident {
	return hubv1alpha1.Incident{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: hubv1alpha1.IncidentSpec{Cluster: cluster, Signature: sig, Summary: "container app keeps crashing",
			Object:            hubv1alpha1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: "shop", Name: "web-7d9f8b6c5d-x2k9p"},
			FirstObservedTime: metav1.NewTime(seen.Add(-time.Minute)), LastObservedTime: metav1.NewTime(seen)},
		Status: hubv1alpha1.IncidentStatus{Phase: phase, RootCause: "BadRollout", PlanRef: name + "-1"},
	}
}

func TestExplain(t *testing.T) {
	inc := incident("inc-4f2a", "east", "pod/CrashLoopBackOff/Error", hubv1alpha1.IncidentPlanned, t0)
	d, err := diagnose.Diagnose(crashInput())
	require.NoError(t, err)
	a, _, err := builtin.New().Explain(context.Background(), ai.ExplainRequest{Plan: plan(), Incident: &inc, Diagnosis: &d})
	require.NoError(t, err)
	require.NoError(t, ai.ValidateExplanation(a))
	assert.Contains(t, a.Summary, "Plan inc-4f2a-1 (remediation) is Succeeded: it holds RollbackWorkload on Deployment shop/web in cluster east, by builtin-diagnose/v1 with confidence 0.850.")
	assert.Contains(t, a.Summary, "Incident inc-4f2a on cluster east: pod/CrashLoopBackOff/Error on Pod shop/web-7d9f8b6c5d-x2k9p, Planned")
	assert.Contains(t, a.Summary, "Diagnosis of pod/CrashLoopBackOff/Error")
	joined := strings.Join(a.Points, "\n")
	assert.Contains(t, joined, "Action RollbackWorkload on Deployment shop/web in cluster east, risk Medium with toRevision=3.")
	assert.Contains(t, joined, "alice approved it at 2026-12-01T10:00:00Z: go.")
	assert.Contains(t, joined, "Suspect change: Deployment shop/web from revision 3 to 4, 4m0s before the failure started.")
	assert.LessOrEqual(t, len(a.Points), ai.MaxPoints)

	again, _, _ := builtin.New().Explain(context.Background(), ai.ExplainRequest{Plan: plan(), Incident: &inc, Diagnosis: &d})
	assert.Equal(t, a, again, "deterministic")

	_, _, err = builtin.New().Explain(context.Background(), ai.ExplainRequest{})
	assert.ErrorContains(t, err, "nothing to explain")
}

// view is a fleet held in maps, the shape the hub gives its store.
type view struct {
	plans     map[string]*hubv1alpha1.Plan
	incidents []hubv1alpha1.Incident
	actions   map[string][]hubv1alpha1.Action
	clusters  []string
	knowledge []hubv1alpha1.KnowledgeEntry
	images    []ai.ImageUse
}

func (v view) Plan(n string) (*hubv1alpha1.Plan, bool) { p, ok := v.plans[n]; return p, ok }
func (v view) Incident(n string) (*hubv1alpha1.Incident, bool) {
	for i := range v.incidents {
		if v.incidents[i].Name == n {
			return &v.incidents[i], true
		}
	}
	return nil, false
}
func (v view) Actions(p string) []hubv1alpha1.Action { return v.actions[p] }
func (v view) ClusterKnown(c string) bool {
	for _, k := range v.clusters {
		if k == c {
			return true
		}
	}
	return false
}
func (v view) Incidents(c string) []hubv1alpha1.Incident {
	var out []hubv1alpha1.Incident
	for _, i := range v.incidents {
		if i.Spec.Cluster == c {
			out = append(out, i)
		}
	}
	return out
}
func (v view) Knowledge(string) []hubv1alpha1.KnowledgeEntry { return v.knowledge }
func (v view) ImageUses(string) []ai.ImageUse                { return v.images }

func entry(sig string, a aiopsv1alpha1.ActionType, s, f int64) hubv1alpha1.KnowledgeEntry {
	return hubv1alpha1.KnowledgeEntry{ObjectMeta: metav1.ObjectMeta{Name: sig + string(a)}, Spec: hubv1alpha1.KnowledgeEntrySpec{Signature: sig, ActionType: a, Successes: s, Failures: f}}
}

func TestAnswer(t *testing.T) {
	fleet := view{
		plans:    map[string]*hubv1alpha1.Plan{"inc-4f2a-1": plan()},
		clusters: []string{"east", "west"},
		incidents: []hubv1alpha1.Incident{
			incident("inc-4f2a", "east", "pod/CrashLoopBackOff/Error", hubv1alpha1.IncidentPlanned, t0),
			incident("inc-9b1c", "east", "pod/OOMKilled", hubv1alpha1.IncidentOpen, t0.Add(time.Hour)),
			incident("inc-0000", "east", "pod/ImagePullBackOff", hubv1alpha1.IncidentResolved, t0),
		},
		actions: map[string][]hubv1alpha1.Action{"inc-4f2a-1": {{ObjectMeta: metav1.ObjectMeta{Name: "inc-4f2a-1-0"},
			Spec:   hubv1alpha1.ActionSpec{Cluster: "east", Type: aiopsv1alpha1.ActionRollbackWorkload, Target: hubv1alpha1.ObjectReference{Kind: "Deployment", Namespace: "shop", Name: "web"}},
			Status: hubv1alpha1.ActionStatus{Phase: "Succeeded", Result: &hubv1alpha1.ActionResult{Succeeded: true, Reason: "Verified"}}}}},
		knowledge: []hubv1alpha1.KnowledgeEntry{
			entry("pod/CrashLoopBackOff/Error:t1", aiopsv1alpha1.ActionRollbackWorkload, 7, 1),
			entry("pod/CrashLoopBackOff/Error", aiopsv1alpha1.ActionRestartWorkload, 0, 4),
			entry("pod/CrashLoopBackOff/ErrorX", aiopsv1alpha1.ActionDeletePod, 9, 0), // another signature
		},
		images: []ai.ImageUse{
			{Cluster: "west", Namespace: "shop", Workload: "Deployment/web", Container: "app", Image: "registry.example.com/shop/web:1.4"},
			{Cluster: "east", Namespace: "shop", Workload: "Deployment/web", Container: "app", Image: "registry.example.com/shop/web:1.4"},
			{Cluster: "east", Namespace: "batch", Workload: "CronJob/report", Container: "main", Image: "registry.example.com/shop/web:1.3"},
		},
	}
	tests := []struct {
		q     string
		form  ai.QuestionForm
		want  string
		facts []string
	}{
		{"Why did plan inc-4f2a-1 roll back web?", ai.FormWhyPlan, "The rollout of Deployment shop/web to revision 4 caused the crash loop.",
			[]string{"Action inc-4f2a-1-0 (RollbackWorkload on Deployment shop/web in cluster east) is Succeeded, succeeded (Verified).", "Incident inc-4f2a on cluster east"}},
		{"why did plan nope fail", ai.FormWhyPlan, "I know no plan named nope.", nil},
		{"What is wrong with cluster east?", ai.FormClusterProblems, "Cluster east has 2 open incident(s): 2 BadRollout. The latest is pod/OOMKilled on Pod shop/web-7d9f8b6c5d-x2k9p.",
			[]string{"pod/OOMKilled on Pod shop/web-7d9f8b6c5d-x2k9p: Open, root cause BadRollout, plan inc-9b1c-1, last seen 2026-12-01T11:00:00Z (incident inc-9b1c)."}},
		{"what is wrong with cluster west", ai.FormClusterProblems, "Nothing I know of: cluster west has no open incidents.", nil},
		{"what is wrong with cluster north", ai.FormClusterProblems, "No cluster named north is registered.", nil},
		{"Which clusters run image registry.example.com/shop/web:1.4?", ai.FormImageClusters, "Image registry.example.com/shop/web:1.4 runs in 2 cluster(s): east, west.",
			[]string{"Cluster east: Deployment/web in namespace shop, container app, image registry.example.com/shop/web:1.4."}},
		{"which clusters run image registry.example.com/shop/web", ai.FormImageClusters, "runs in 2 cluster(s): east, west.", nil},
		{"which clusters run image busybox", ai.FormImageClusters, "No cluster I know of runs image busybox.", nil},
		{"What did the fleet learn about signature pod/CrashLoopBackOff/Error?", ai.FormSignatureLearned,
			"For pod/CrashLoopBackOff/Error the fleet recorded 12 outcome(s) of 2 remediation(s). What works best: RollbackWorkload (7 of 8 succeeded).",
			[]string{"RestartWorkload against pod/CrashLoopBackOff/Error: 0 success(es), 4 failure(s), success rate 0.17; never proposed again: it fails too often."}},
	}
	e := builtin.New()
	for _, tc := range tests {
		t.Run(tc.q, func(t *testing.T) {
			a, meta, err := e.Answer(context.Background(), ai.QuestionRequest{Question: tc.q, View: fleet})
			require.NoError(t, err)
			assert.Equal(t, builtin.ModelAnswer, meta.Model)
			require.NoError(t, ai.ValidateQuestionAnswer(a))
			assert.Equal(t, tc.form, a.Form)
			assert.Contains(t, a.Answer, tc.want)
			for _, f := range tc.facts {
				assert.True(t, containsPrefix(a.Facts, f), "fact %q in %q", f, a.Facts)
			}
		})
	}
	_, _, err := e.Answer(context.Background(), ai.QuestionRequest{Question: "restart everything", View: fleet})
	require.ErrorIs(t, err, ai.ErrUnknownQuestion)
	assert.ErrorContains(t, err, "I can answer:")
}

func containsPrefix(facts []string, want string) bool {
	for _, f := range facts {
		if strings.HasPrefix(f, want) {
			return true
		}
	}
	return false
}
