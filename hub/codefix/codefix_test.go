package codefix_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/ai/jules"
	"github.com/kubedevaiops/kubedevaiops/hub/codefix"
	"github.com/kubedevaiops/kubedevaiops/hub/incident"
	"github.com/kubedevaiops/kubedevaiops/hub/julesplan"
	"github.com/kubedevaiops/kubedevaiops/hub/store"
	"github.com/kubedevaiops/kubedevaiops/hub/writes"
	julesserver "github.com/kubedevaiops/kubedevaiops/test/extapi/jules"
	"github.com/kubedevaiops/kubedevaiops/test/testbed"
)

const key = "AQ.codefix-test-key"

// fixture is one Raft member with the real incident loop (for approvals and policies), the
// real Jules tracker and client against the local Jules server, and the Fixer under test.
type fixture struct {
	m       *testbed.InProcessMember
	srv     *julesserver.Server
	tracker *jules.Tracker
	hub     *incident.Hub
	fixer   *codefix.Fixer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	srv := julesserver.Start(julesserver.Options{APIKey: key})
	t.Cleanup(srv.Close)
	m := testbed.NewInProcessHub(t).Start("m1", nil, nil)
	client, err := jules.New(jules.Config{BaseURL: srv.BaseURL(), Key: jules.KeyFunc(func(context.Context) (string, error) { return key, nil }),
		Sleep: func(context.Context, time.Duration) error { return nil }})
	require.NoError(t, err)
	tr, err := jules.NewTracker(jules.TrackerConfig{Client: client, Node: m.Node, Store: m.Store, DailyBudget: 5})
	require.NoError(t, err)
	h := incident.New(incident.Config{Node: m.Node, Store: m.Store})
	f, err := codefix.New(codefix.Config{Node: m.Node, Store: m.Store, Tracker: tr, Policies: h})
	require.NoError(t, err)
	return &fixture{m: m, srv: srv, tracker: tr, hub: h, fixer: f}
}

func (fx *fixture) create(t *testing.T, kind string, obj any) {
	t.Helper()
	cmd, err := store.EncodeCreate(kind, obj)
	require.NoError(t, err)
	_, err = writes.One(context.Background(), fx.m.Node, cmd)
	require.NoError(t, err)
}

func application(name, namespace, cluster, repo string) *aiopsv1alpha1.ManagedApplication {
	src := aiopsv1alpha1.ApplicationSource{Image: &aiopsv1alpha1.ImageSource{Repository: "registry.example.com/" + name, Tag: "1.0"}}
	if repo != "" {
		src = aiopsv1alpha1.ApplicationSource{Git: &aiopsv1alpha1.GitSource{URL: repo, Revision: "main"}}
	}
	return &aiopsv1alpha1.ManagedApplication{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: aiopsv1alpha1.ManagedApplicationSpec{Cluster: cluster, Source: src}}
}

func crashing(name, cluster, namespace, pod, rootCause, signature string) *hubv1alpha1.Incident {
	now := metav1.NewTime(time.Now().UTC().Truncate(time.Second))
	return &hubv1alpha1.Incident{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: hubv1alpha1.IncidentSpec{
			Cluster: cluster, Analyzer: "pod", Signature: "pod/CrashLoopBackOff/Error", Severity: "Critical",
			Object:  hubv1alpha1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: namespace, Name: pod},
			Summary: "container app of " + pod + " restarts (CrashLoopBackOff)",
			Evidence: []hubv1alpha1.Evidence{
				{Type: "log", Summary: "last lines of container app", Detail: "serving on 10.1.2.3:8080 for ops@example.com\npanic: assignment to entry in nil map\ngoroutine 1 [running]:\nmain.(*cart).add(...)\n\t/src/cart.go:42"},
				{Type: "event", Summary: "Scheduled", Detail: "Successfully assigned " + namespace + "/" + pod + " to worker-3",
					Source: &hubv1alpha1.ObjectReference{Kind: "Node", Name: "worker-3"}},
			},
			FirstObservedTime: now, LastObservedTime: now,
		},
		Status: hubv1alpha1.IncidentStatus{Phase: hubv1alpha1.IncidentOpen, RootCause: rootCause, IncidentSignature: signature},
	}
}

func (fx *fixture) plans(t *testing.T) []hubv1alpha1.Plan {
	t.Helper()
	items, _, err := fx.m.Store.List(store.KindPlan, "", "")
	require.NoError(t, err)
	var out []hubv1alpha1.Plan
	for _, it := range items {
		var p hubv1alpha1.Plan
		require.NoError(t, it.Decode(&p))
		out = append(out, p)
	}
	return out
}

func (fx *fixture) plan(t *testing.T, name string) hubv1alpha1.Plan {
	t.Helper()
	res, err := fx.m.Store.Get(store.KindPlan, "", name)
	require.NoError(t, err)
	var p hubv1alpha1.Plan
	require.NoError(t, res.Decode(&p))
	return p
}

func createdPrompts(t *testing.T, srv *julesserver.Server) []string {
	t.Helper()
	var out []string
	for _, r := range srv.Requests() {
		if r.Method == "POST" && strings.HasSuffix(r.Path, "/sessions") {
			var body struct{ Prompt string }
			require.NoError(t, json.Unmarshal(r.Body, &body))
			out = append(out, body.Prompt)
		}
	}
	return out
}

// An incident the diagnosis roots in the application's code gets one Jules session, whose
// plan people approve before Jules writes the change; the pull request and patch are stored.
func TestCodeFixFlow(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t)
	fx.create(t, store.KindManagedApplication, application("checkout", "payments", "prod-eu", "https://github.com/acme/shop.git"))
	fx.create(t, store.KindManagedApplication, application("ledger", "payments", "prod-eu", "")) // no repository
	const sig = "pod/CrashLoopBackOff/Error#t-91c2"
	fx.create(t, store.KindIncident, crashing("inc-a", "prod-eu", "payments", "checkout-7d9f8b6c5-x2x7q", "ApplicationError", sig))
	// Another pod of the same application failing the same way asks for nothing more.
	fx.create(t, store.KindIncident, crashing("inc-b", "prod-eu", "payments", "checkout-7d9f8b6c5-k9m2p", "ApplicationError", sig))
	// Not rooted in the code, not an application with a repository, another cluster, not its pod.
	fx.create(t, store.KindIncident, crashing("inc-c", "prod-eu", "payments", "checkout-7d9f8b6c5-q1w2e", "BadRollout", "pod/x#1"))
	fx.create(t, store.KindIncident, crashing("inc-d", "prod-eu", "payments", "ledger-5f6d7c8b9-a1b2c", "ApplicationError", "pod/x#2"))
	fx.create(t, store.KindIncident, crashing("inc-e", "prod-us", "payments", "checkout-7d9f8b6c5-z9z9z", "ApplicationError", "pod/x#3"))
	fx.create(t, store.KindIncident, crashing("inc-f", "prod-eu", "payments", "checkout-api-0", "ApplicationError", "pod/x#4"))

	require.NoError(t, fx.fixer.Reconcile(ctx))
	require.NoError(t, fx.fixer.Reconcile(ctx))
	prompts := createdPrompts(t, fx.srv)
	require.Len(t, prompts, 1, "one session for the application and signature")
	prompt := prompts[0]
	assert.Contains(t, prompt, "panic: assignment to entry in nil map")
	assert.Contains(t, prompt, "Root cause category: ApplicationError")
	for _, secret := range []string{"checkout", "payments", "prod-eu", "worker-3", "10.1.2.3", "ops@example.com"} {
		assert.NotContains(t, prompt, secret, "names and addresses stay in the hub")
	}
	ids := fx.srv.SessionIDs()
	require.Len(t, ids, 1)
	sessions, _, err := fx.m.Store.List(hubv1alpha1.KindJulesSession, "", "")
	require.NoError(t, err)
	require.Len(t, sessions, 1)
	var js hubv1alpha1.JulesSession
	require.NoError(t, sessions[0].Decode(&js))
	assert.Equal(t, hubv1alpha1.JulesCodeFix, js.Spec.Purpose)
	assert.Equal(t, "payments/checkout", js.Spec.ApplicationRef)
	assert.True(t, js.Spec.AutoCreatePR)
	assert.Equal(t, "main", js.Spec.StartingBranch)
	assert.Contains(t, []string{"inc-a", "inc-b"}, js.Spec.IncidentRef)

	// Jules plans: a plan people review, with no actions and not tied to the incident loop.
	_, err = fx.srv.StepUntilWaiting(ids[0])
	require.NoError(t, err)
	require.NoError(t, fx.tracker.PollOnce(ctx))
	planned, err := fx.tracker.Get(js.Name)
	require.NoError(t, err)
	name := planned.Status.PlanRef
	require.Equal(t, jules.PlanName(planned), name)
	p := fx.plan(t, name)
	assert.Equal(t, hubv1alpha1.PlanCodeFix, p.Spec.Type)
	assert.Equal(t, hubv1alpha1.PlanProposed, p.Status.Phase)
	assert.Empty(t, p.Spec.Actions)
	assert.Empty(t, p.Spec.IncidentRef, "the code fix neither blocks nor ends with the incident loop's plan")
	assert.Equal(t, js.Spec.IncidentRef, p.Annotations[codefix.AnnotationIncident])
	assert.Equal(t, []string{"prod-eu"}, p.Spec.Targets.Clusters)
	assert.EqualValues(t, 1, p.Spec.RequiredApprovals)
	assert.Contains(t, p.Spec.Rationale, "Inspect the repository")
	assert.Contains(t, p.Spec.Rationale, "Nothing runs on any cluster")
	require.NoError(t, fx.fixer.Reconcile(ctx))
	assert.Empty(t, requestsTo(fx.srv, ":approvePlan"), "nothing approved without a person")

	// A person approves; the Fixer tells Jules.
	_, err = fx.hub.Decide(ctx, name, "", "alice", "the fix looks right", true)
	require.NoError(t, err)
	require.NoError(t, fx.fixer.Reconcile(ctx))
	assert.Len(t, requestsTo(fx.srv, ":approvePlan"), 1)
	require.NoError(t, fx.fixer.Reconcile(ctx))
	p = fx.plan(t, name)
	c := meta.FindStatusCondition(p.Status.Conditions, julesplan.CondJules)
	require.NotNil(t, c)
	assert.Equal(t, metav1.ConditionTrue, c.Status)
	assert.Contains(t, c.Message, "alice")

	// Jules completes with a pull request: the plan succeeds with the patch stored.
	state, err := fx.srv.StepUntilWaiting(ids[0])
	require.NoError(t, err)
	require.Equal(t, "COMPLETED", state)
	require.NoError(t, fx.tracker.PollOnce(ctx))
	p = fx.plan(t, name)
	assert.Equal(t, hubv1alpha1.PlanSucceeded, p.Status.Phase)
	c = meta.FindStatusCondition(p.Status.Conditions, codefix.CondPatch)
	require.NotNil(t, c)
	assert.Contains(t, c.Message, "internal/store/pool.go")
	assert.Contains(t, c.Message, "github.com/acme/shop/pull/")
	actions := map[string]bool{}
	records, _ := fx.m.Store.ListAudit(0, 0)
	for _, r := range records {
		actions[r.Action] = true
		assert.NotContains(t, string(r.Details), key)
	}
	for _, want := range []string{"jules.session.create", "plan.propose", "jules.plan.approve", "codefix.patch"} {
		assert.True(t, actions[want], want)
	}

	// The same failure is not asked about again; a new one is, unless a policy keeps the
	// cluster's data in the hub.
	require.NoError(t, fx.fixer.Reconcile(ctx))
	assert.Len(t, createdPrompts(t, fx.srv), 1)
	fx.create(t, store.KindAIOpsPolicy, &aiopsv1alpha1.AIOpsPolicy{ObjectMeta: metav1.ObjectMeta{Name: "keep-data-home"},
		Spec: aiopsv1alpha1.AIOpsPolicySpec{Autonomy: aiopsv1alpha1.AutonomyRecommend, ExternalAI: aiopsv1alpha1.ExternalAIForbidden}})
	fx.create(t, store.KindIncident, crashing("inc-g", "prod-eu", "payments", "checkout-7d9f8b6c5-h7h7h", "ApplicationError", "pod/CrashLoopBackOff/Error#t-other"))
	require.NoError(t, fx.fixer.Reconcile(ctx))
	assert.Len(t, createdPrompts(t, fx.srv), 1, "externalAI: Forbidden keeps the incident away from Jules")
	assert.Len(t, fx.plans(t), 1)
}

func requestsTo(srv *julesserver.Server, suffix string) []julesserver.Request {
	var out []julesserver.Request
	for _, r := range srv.Requests() {
		if r.Method == "POST" && strings.HasSuffix(r.Path, suffix) {
			out = append(out, r)
		}
	}
	return out
}

// People rejecting the plan close the session (Jules would wait for an approval forever), the
// same failure is not asked about again, and the application may get a fix for another one.
func TestRejectedCodeFix(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t)
	fx.create(t, store.KindManagedApplication, application("checkout", "payments", "prod-eu", "https://github.com/acme/shop.git"))
	fx.create(t, store.KindIncident, crashing("inc-a", "prod-eu", "payments", "checkout-7d9f8b6c5-x2x7q", "ApplicationError", "pod/CrashLoopBackOff/Error#t-1"))
	require.NoError(t, fx.fixer.Reconcile(ctx))
	ids := fx.srv.SessionIDs()
	require.Len(t, ids, 1)
	_, err := fx.srv.StepUntilWaiting(ids[0])
	require.NoError(t, err)
	require.NoError(t, fx.tracker.PollOnce(ctx))
	sessions := fx.sessions(t)
	require.Len(t, sessions, 1)
	name := sessions[0].Status.PlanRef
	require.NotEmpty(t, name)

	// A second failure of the same application waits while the first session is open.
	fx.create(t, store.KindIncident, crashing("inc-b", "prod-eu", "payments", "checkout-7d9f8b6c5-k9m2p", "ApplicationError", "pod/CrashLoopBackOff/Error#t-2"))
	require.NoError(t, fx.fixer.Reconcile(ctx))
	require.Len(t, fx.srv.SessionIDs(), 1, "one open code-fix session per application")

	_, err = fx.hub.Decide(ctx, name, "", "alice", "not this way", false)
	require.NoError(t, err)
	require.NoError(t, fx.fixer.Reconcile(ctx))
	closed := fx.sessions(t)[0]
	assert.Equal(t, hubv1alpha1.JulesClosed, closed.Status.Phase)
	assert.Contains(t, closed.Status.Message, "was rejected")
	assert.Empty(t, requestsTo(fx.srv, ":approvePlan"))
	n := len(fx.srv.Requests())
	require.NoError(t, fx.tracker.PollOnce(ctx))
	assert.Len(t, fx.srv.Requests(), n, "a closed session is not polled")

	// Now the other failure gets its session; the rejected one is not asked about again.
	require.NoError(t, fx.fixer.Reconcile(ctx))
	require.NoError(t, fx.fixer.Reconcile(ctx))
	all := fx.sessions(t)
	require.Len(t, all, 2)
	assert.Equal(t, "inc-b", all[1].Spec.IncidentRef)
}

func (fx *fixture) sessions(t *testing.T) []hubv1alpha1.JulesSession {
	t.Helper()
	items, _, err := fx.m.Store.List(hubv1alpha1.KindJulesSession, "", "")
	require.NoError(t, err)
	var out []hubv1alpha1.JulesSession
	for _, it := range items {
		var js hubv1alpha1.JulesSession
		require.NoError(t, it.Decode(&js))
		out = append(out, js)
	}
	return out
}
