package incident

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/diagnose"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

func policy(autonomy aiopsv1alpha1.AutonomyLevel, approval *aiopsv1alpha1.ApprovalPolicy, allowed ...aiopsv1alpha1.AllowedAction) *aiopsv1alpha1.AIOpsPolicy {
	return &aiopsv1alpha1.AIOpsPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: aiopsv1alpha1.AIOpsPolicySpec{Autonomy: autonomy, AllowedActions: allowed, Approval: approval}}
}

func TestRuleFor(t *testing.T) {
	rollbackLow := aiopsv1alpha1.AllowedAction{Type: aiopsv1alpha1.ActionRollbackWorkload, Risk: aiopsv1alpha1.RiskLow}
	rollbackHigh := aiopsv1alpha1.AllowedAction{Type: aiopsv1alpha1.ActionRollbackWorkload, Risk: aiopsv1alpha1.RiskHigh}
	cases := []struct {
		name      string
		policy    *aiopsv1alpha1.AIOpsPolicy
		allowed   bool
		approvals int
	}{
		{"no policy: recommendation only", nil, false, 0},
		{"observe: nothing runs", policy(aiopsv1alpha1.AutonomyObserve, nil, rollbackLow), false, 0},
		{"not in allowedActions", policy(aiopsv1alpha1.AutonomyAutonomous, nil, aiopsv1alpha1.AllowedAction{Type: aiopsv1alpha1.ActionScaleWorkload, Risk: aiopsv1alpha1.RiskLow}), false, 0},
		{"autonomous, low risk: on its own", policy(aiopsv1alpha1.AutonomyAutonomous, nil, rollbackLow), true, 0},
		{"autonomous, high risk: a person", policy(aiopsv1alpha1.AutonomyAutonomous, nil, rollbackHigh), true, 1},
		{"recommend, low risk: a person", policy(aiopsv1alpha1.AutonomyRecommend, nil, rollbackLow), true, 1},
		{"autonomous, but low risk needs a human", policy(aiopsv1alpha1.AutonomyAutonomous, &aiopsv1alpha1.ApprovalPolicy{RequireHumanFor: []aiopsv1alpha1.RiskLevel{aiopsv1alpha1.RiskLow}}, rollbackLow), true, 1},
		{"four eyes: two people", policy(aiopsv1alpha1.AutonomyRecommend, &aiopsv1alpha1.ApprovalPolicy{RequireHumanFor: []aiopsv1alpha1.RiskLevel{aiopsv1alpha1.RiskHigh}, FourEyes: true}, rollbackHigh), true, 2},
		{"four eyes for another risk: one person", policy(aiopsv1alpha1.AutonomyRecommend, &aiopsv1alpha1.ApprovalPolicy{RequireHumanFor: []aiopsv1alpha1.RiskLevel{aiopsv1alpha1.RiskCritical}, FourEyes: true}, rollbackHigh), true, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := ruleFor(c.policy, "c1", aiopsv1alpha1.ActionRollbackWorkload)
			assert.Equal(t, c.allowed, r.allowed, r.reason)
			if c.allowed {
				assert.Equal(t, c.approvals, r.approvals)
			} else {
				assert.NotEmpty(t, r.reason, "a refusal says why")
			}
		})
	}
}

func TestNeedsPlan(t *testing.T) {
	inc := func(phase hubv1alpha1.IncidentPhase, gen, observed int64) *hubv1alpha1.Incident {
		return &hubv1alpha1.Incident{ObjectMeta: metav1.ObjectMeta{Generation: gen}, Status: hubv1alpha1.IncidentStatus{Phase: phase, ObservedGeneration: observed}}
	}
	plan := func(phase hubv1alpha1.PlanPhase) *hubv1alpha1.Plan {
		return &hubv1alpha1.Plan{Status: hubv1alpha1.PlanStatus{Phase: phase}}
	}
	cases := []struct {
		name    string
		inc     *hubv1alpha1.Incident
		plans   []*hubv1alpha1.Plan
		attempt int
		ok      bool
	}{
		{"new incident", inc(hubv1alpha1.IncidentOpen, 1, 0), nil, 1, true},
		{"already diagnosed", inc(hubv1alpha1.IncidentOpen, 1, 1), nil, 0, false},
		{"resolved", inc(hubv1alpha1.IncidentResolved, 2, 1), nil, 0, false},
		{"a plan is still open", inc(hubv1alpha1.IncidentPlanned, 2, 1), []*hubv1alpha1.Plan{plan(hubv1alpha1.PlanExecuting)}, 0, false},
		{"the fix failed and the problem persists", inc(hubv1alpha1.IncidentPlanned, 2, 1), []*hubv1alpha1.Plan{plan(hubv1alpha1.PlanFailed)}, 2, true},
		{"a person rejected the plan", inc(hubv1alpha1.IncidentPlanned, 3, 1), []*hubv1alpha1.Plan{plan(hubv1alpha1.PlanRejected)}, 0, false},
		{"attempts used up", inc(hubv1alpha1.IncidentPlanned, 5, 4), []*hubv1alpha1.Plan{plan(hubv1alpha1.PlanFailed), plan(hubv1alpha1.PlanFailed), plan(hubv1alpha1.PlanFailed)}, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			attempt, ok := needsPlan(c.inc, c.plans)
			assert.Equal(t, c.ok, ok)
			assert.Equal(t, c.attempt, attempt)
		})
	}
}

func TestActionPhases(t *testing.T) {
	cases := []struct {
		spoke  fleetv1.ActionPhase
		dryRun bool
		want   hubv1alpha1.ActionPhase
		final  bool
	}{
		{fleetv1.ActionPhase_ACTION_PHASE_RECEIVED, false, hubv1alpha1.ActionRunning, false},
		{fleetv1.ActionPhase_ACTION_PHASE_DRY_RUN, false, hubv1alpha1.ActionRunning, false},
		{fleetv1.ActionPhase_ACTION_PHASE_DRY_RUN, true, hubv1alpha1.ActionSucceeded, true},
		{fleetv1.ActionPhase_ACTION_PHASE_VERIFYING, false, hubv1alpha1.ActionRunning, false},
		{fleetv1.ActionPhase_ACTION_PHASE_SUCCEEDED, false, hubv1alpha1.ActionSucceeded, true},
		{fleetv1.ActionPhase_ACTION_PHASE_REFUSED, false, hubv1alpha1.ActionFailed, true},
		{fleetv1.ActionPhase_ACTION_PHASE_FAILED, false, hubv1alpha1.ActionFailed, true},
		{fleetv1.ActionPhase_ACTION_PHASE_ROLLED_BACK, false, hubv1alpha1.ActionRolledBack, true},
	}
	for _, c := range cases {
		got, final := actionPhaseOf(c.spoke, c.dryRun)
		assert.Equal(t, c.want, got, c.spoke.String())
		assert.Equal(t, c.final, final, c.spoke.String())
	}
}

func TestChoosePrefersAllowedAndSafe(t *testing.T) {
	d := diagnose.Diagnosis{Remediations: []diagnose.Remediation{
		{Action: aiopsv1alpha1.ActionRollbackWorkload, Unsafe: true},
		{Action: aiopsv1alpha1.ActionSetResources, Confidence: 0.7},
		{Action: aiopsv1alpha1.ActionRestartWorkload, Confidence: 0.3},
	}}
	p := policy(aiopsv1alpha1.AutonomyAutonomous, nil, aiopsv1alpha1.AllowedAction{Type: aiopsv1alpha1.ActionRestartWorkload, Risk: aiopsv1alpha1.RiskLow},
		aiopsv1alpha1.AllowedAction{Type: aiopsv1alpha1.ActionRollbackWorkload, Risk: aiopsv1alpha1.RiskLow})
	r, rule, ok := choose(d, p, "c1")
	require.True(t, ok)
	assert.Equal(t, aiopsv1alpha1.ActionRestartWorkload, r.Action, "the unsafe rollback is skipped and SetResources is not allowed")
	assert.True(t, rule.allowed)

	r, rule, ok = choose(d, nil, "c1")
	require.True(t, ok, "without a policy the best safe candidate is still recommended")
	assert.Equal(t, aiopsv1alpha1.ActionSetResources, r.Action)
	assert.False(t, rule.allowed)

	_, _, ok = choose(diagnose.Diagnosis{}, p, "c1")
	assert.False(t, ok)
}

func TestNamesAreStable(t *testing.T) {
	a := Name("c1", "Pod", "shop", "web-1", "uid-1", "pod/CrashLoopBackOff")
	assert.Equal(t, a, Name("c1", "Pod", "shop", "web-1", "uid-1", "pod/CrashLoopBackOff"))
	assert.NotEqual(t, a, Name("c2", "Pod", "shop", "web-1", "uid-1", "pod/CrashLoopBackOff"), "another cluster")
	assert.NotEqual(t, a, Name("c1", "Pod", "shop", "web-1", "uid-2", "pod/CrashLoopBackOff"), "a re-created object")
	assert.Regexp(t, `^inc-[0-9a-f]{20}$`, a)
	assert.Equal(t, a+"-p2-a0", actionName(planName(a, 2), 0))
}

func TestTraceIDOfTraceparent(t *testing.T) {
	assert.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", traceIDOf("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))
	assert.Empty(t, traceIDOf(""))
	assert.Empty(t, traceIDOf("garbage"))
}
