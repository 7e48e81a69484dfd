package jules_test

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/ai/jules"
	"github.com/kubedevaiops/kubedevaiops/hub/store"
	julesserver "github.com/kubedevaiops/kubedevaiops/test/extapi/jules"
	"github.com/kubedevaiops/kubedevaiops/test/testbed"
)

// clock is a settable clock for the budget's day and the records' times.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// hookLog records the hooks' calls; reply is what Question answers.
type hookLog struct {
	mu        sync.Mutex
	plans     []string // record/planID
	questions []string
	finished  []string
	reply     string
}

func (h *hookLog) hooks() jules.Hooks {
	return jules.Hooks{
		PlanReady: func(_ context.Context, s *hubv1alpha1.JulesSession) (string, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.plans = append(h.plans, s.Name+"/"+s.Status.Plan.ID)
			return jules.PlanName(s), nil
		},
		Question: func(_ context.Context, s *hubv1alpha1.JulesSession) (string, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.questions = append(h.questions, s.Status.AgentMessage)
			return h.reply, nil
		},
		Finished: func(_ context.Context, s *hubv1alpha1.JulesSession) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.finished = append(h.finished, s.Name+"/"+string(s.Status.Phase))
			return nil
		},
	}
}

func (h *hookLog) snapshot() (plans, questions, finished []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.plans...), append([]string(nil), h.questions...), append([]string(nil), h.finished...)
}

func newClient(t *testing.T, srv *julesserver.Server, mod ...func(*jules.Config)) *jules.Client {
	t.Helper()
	cfg := jules.Config{
		BaseURL: srv.BaseURL(),
		Key:     jules.KeyFunc(func(context.Context) (string, error) { return testKey, nil }),
		Sleep:   func(context.Context, time.Duration) error { return nil },
	}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := jules.New(cfg)
	require.NoError(t, err)
	return c
}

func newTracker(t *testing.T, m *testbed.InProcessMember, c *jules.Client, clk *clock, hooks jules.Hooks, mod ...func(*jules.TrackerConfig)) *jules.Tracker {
	t.Helper()
	cfg := jules.TrackerConfig{Client: c, Node: m.Node, Store: m.Store, DailyBudget: 3, PageSize: 2, Now: clk.Now}
	for _, f := range mod {
		f(&cfg)
	}
	tr, err := jules.NewTracker(cfg)
	require.NoError(t, err)
	tr.Handle(hubv1alpha1.JulesOnboarding, hooks)
	tr.Handle(hubv1alpha1.JulesCodeFix, hooks)
	return tr
}

func requestsTo(srv *julesserver.Server, method, suffix string) []julesserver.Request {
	var out []julesserver.Request
	for _, r := range srv.Requests() {
		if r.Method == method && strings.HasSuffix(r.Path, suffix) {
			out = append(out, r)
		}
	}
	return out
}

func shopApp() *aiopsv1alpha1.ManagedApplication {
	replicas := int32(2)
	return &aiopsv1alpha1.ManagedApplication{Spec: aiopsv1alpha1.ManagedApplicationSpec{
		Source:   aiopsv1alpha1.ApplicationSource{Git: &aiopsv1alpha1.GitSource{URL: "https://github.com/acme/shop.git", Revision: "main"}},
		Replicas: &replicas,
		Ports:    []aiopsv1alpha1.ApplicationPort{{Name: "http", ContainerPort: 8080}},
	}}
}

// TestOnboardingSession follows an onboarding session from its creation to its patch: the Jules
// plan waits for a human's approval, which is recorded before Jules hears of it.
func TestOnboardingSession(t *testing.T) {
	ctx := context.Background()
	srv := julesserver.Start(julesserver.Options{APIKey: testKey})
	t.Cleanup(srv.Close)
	m := testbed.NewInProcessHub(t).Start("m1", nil, nil)
	clk, hooks := newClock(), &hookLog{}
	tr := newTracker(t, m, newClient(t, srv), clk, hooks.hooks())

	js, err := tr.StartOnboarding(ctx, jules.OnboardingRequest{
		ApplicationRef: "team-a/shop", RepoURL: shopApp().Spec.Source.Git.URL, Branch: "main",
		Input: jules.OnboardingInputFor(shopApp(), "shop"), AutoCreatePR: true, RequestedBy: "alice",
	})
	require.NoError(t, err)
	assert.Equal(t, "jules-20260105-001", js.Name)
	assert.Equal(t, hubv1alpha1.JulesActive, js.Status.Phase)
	assert.Equal(t, "QUEUED", js.Status.State)
	assert.Equal(t, "sources/github/acme/shop", js.Spec.Source)
	id := strings.TrimPrefix(js.Status.SessionName, "sessions/")
	require.Equal(t, []string{id}, srv.SessionIDs())

	created := requestsTo(srv, "POST", "/sessions")
	require.Len(t, created, 1)
	var body map[string]any
	require.NoError(t, json.Unmarshal(created[0].Body, &body))
	assert.Equal(t, true, body["requirePlanApproval"])
	assert.Equal(t, "AUTO_CREATE_PR", body["automationMode"])
	assert.Equal(t, map[string]any{"source": "sources/github/acme/shop", "githubRepoContext": map[string]any{"startingBranch": "main"}}, body["sourceContext"])
	assert.Contains(t, body["title"], js.Name)
	for _, want := range []string{"Dockerfile", "deploy/k8s", ".github/workflows/ci.yaml", "http 8080/TCP", "Run 2 replicas"} {
		assert.Contains(t, body["prompt"], want)
	}

	// Jules plans; the hub records the plan and hands it over for review, and approves nothing.
	state, err := srv.StepUntilWaiting(id)
	require.NoError(t, err)
	require.Equal(t, "AWAITING_PLAN_APPROVAL", state)
	require.NoError(t, tr.PollOnce(ctx))
	js, err = tr.Get(js.Name)
	require.NoError(t, err)
	require.NotNil(t, js.Status.Plan)
	assert.Len(t, js.Status.Plan.Steps, 4)
	assert.Equal(t, "Inspect the repository", js.Status.Plan.Steps[0].Title)
	assert.Equal(t, jules.PlanName(js), js.Status.PlanRef)
	assert.Equal(t, "AWAITING_PLAN_APPROVAL", js.Status.State)
	require.NoError(t, tr.PollOnce(ctx))
	plans, _, _ := hooks.snapshot()
	assert.Equal(t, []string{js.Name + "/" + js.Status.Plan.ID}, plans, "the plan is handed over once it is recorded")
	assert.Empty(t, requestsTo(srv, "POST", ":approvePlan"), "nothing approved without a human")

	_, err = tr.ApprovePlan(ctx, js.Name, "plan-reviewed-earlier", "bob")
	require.ErrorContains(t, err, "not the reviewed")
	assert.Empty(t, requestsTo(srv, "POST", ":approvePlan"))
	approved, err := tr.ApprovePlan(ctx, js.Name, js.Status.Plan.ID, "bob")
	require.NoError(t, err)
	require.NotNil(t, approved.Status.Approval)
	assert.Equal(t, "bob", approved.Status.Approval.By)
	assert.NotNil(t, approved.Status.Approval.SentTime)
	state, err = srv.State(id)
	require.NoError(t, err)
	assert.Equal(t, "IN_PROGRESS", state)
	_, err = tr.ApprovePlan(ctx, js.Name, js.Status.Plan.ID, "bob")
	require.NoError(t, err)
	assert.Len(t, requestsTo(srv, "POST", ":approvePlan"), 1, "approving again does nothing")

	// Jules completes; the patch and the pull request are stored.
	state, err = srv.StepUntilWaiting(id)
	require.NoError(t, err)
	require.Equal(t, "COMPLETED", state)
	require.NoError(t, tr.PollOnce(ctx))
	js, err = tr.Get(js.Name)
	require.NoError(t, err)
	st := js.Status
	assert.Equal(t, hubv1alpha1.JulesCompleted, st.Phase)
	assert.True(t, st.PlanApproved)
	assert.True(t, st.Notified)
	assert.Equal(t, int32(srv.ActivityCount(id)), st.ActivitiesSeen)
	assert.Equal(t, hubv1alpha1.JulesArtifactCounts{ChangeSets: 1, BashOutputs: 1, Media: 1}, st.Artifacts)
	require.NotNil(t, st.Patch)
	assert.Equal(t, julesserver.OnboardingPatch("acme", "shop"), st.Patch.UnidiffPatch)
	assert.Equal(t, []string{"Dockerfile", "deploy/k8s/deployment.yaml", "deploy/k8s/service.yaml", ".github/workflows/ci.yaml", "README.md"}, st.Patch.Files)
	assert.NotEmpty(t, st.Patch.SuggestedCommitMessage)
	require.NotNil(t, st.PullRequest)
	assert.Contains(t, st.PullRequest.URL, "github.com/acme/shop/pull/")
	manifests, partial, err := jules.ManifestsFromPatch(st.Patch.UnidiffPatch)
	require.NoError(t, err)
	assert.Empty(t, partial)
	assert.Len(t, manifests, 3)
	_, _, finished := hooks.snapshot()
	assert.Equal(t, []string{js.Name + "/Completed"}, finished)

	// A finished, handed-over session costs no more calls.
	n := len(srv.Requests())
	require.NoError(t, tr.PollOnce(ctx))
	assert.Len(t, srv.Requests(), n)

	actions := map[string]string{}
	records, _ := m.Store.ListAudit(0, 0)
	for _, r := range records {
		actions[r.Action] = r.Actor
	}
	assert.Equal(t, "alice", actions["jules.session.create"])
	assert.Equal(t, "bob", actions["jules.plan.approve"])
	assert.Contains(t, actions, "jules.session.plan")
	assert.Contains(t, actions, "jules.session.complete")
	assertNoKeyInState(t, m.Store)
}

// assertNoKeyInState searches every stored record and audit record for the key.
func assertNoKeyInState(t *testing.T, s *store.Store) {
	t.Helper()
	list, _, err := s.List(hubv1alpha1.KindJulesSession, "", "")
	require.NoError(t, err)
	require.NotEmpty(t, list)
	for _, r := range list {
		assert.NotContains(t, string(r.Object), testKey)
	}
	records, _ := s.ListAudit(0, 0)
	require.NotEmpty(t, records)
	for _, r := range records {
		b, err := json.Marshal(r)
		require.NoError(t, err)
		assert.NotContains(t, string(b), testKey)
	}
}

func TestDailyBudget(t *testing.T) {
	ctx := context.Background()
	srv := julesserver.Start(julesserver.Options{APIKey: testKey})
	t.Cleanup(srv.Close)
	m := testbed.NewInProcessHub(t).Start("m1", nil, nil)
	clk := newClock()
	budget := func(c *jules.TrackerConfig) { c.DailyBudget = 2 }
	tr := newTracker(t, m, newClient(t, srv), clk, jules.Hooks{}, budget)
	fix := func(tr *jules.Tracker, branch string) (*hubv1alpha1.JulesSession, error) {
		return tr.StartCodeFix(ctx, jules.CodeFixRequest{IncidentRef: "inc-1", Source: "sources/github/acme/shop", Branch: branch,
			Input: jules.CodeFixInput{Diagnosis: "The pool of <workload-1> exhausts the database's connections.", Signature: "pod/CrashLoopBackOff"}})
	}
	for i := 1; i <= 2; i++ {
		js, err := fix(tr, "main")
		require.NoError(t, err)
		assert.Equal(t, "jules-20260105-00"+string(rune('0'+i)), js.Name)
	}
	_, err := fix(tr, "main")
	require.ErrorIs(t, err, jules.ErrBudgetExhausted)
	assert.Contains(t, err.Error(), "2 of 2 sessions used on 2026-01-05")
	assert.Len(t, srv.SessionIDs(), 2, "no session created over the budget")

	// The count is in the replicated state: a restarted tracker sees it.
	restarted := newTracker(t, m, newClient(t, srv), clk, jules.Hooks{}, budget)
	_, err = fix(restarted, "main")
	require.ErrorIs(t, err, jules.ErrBudgetExhausted)
	used, limit, err := restarted.UsedToday(ctx)
	require.NoError(t, err)
	assert.Equal(t, [2]int{2, 2}, [2]int{used, limit})

	// A new day has a new budget.
	clk.Add(24 * time.Hour)
	js, err := fix(restarted, "main")
	require.NoError(t, err)
	assert.Equal(t, "jules-20260106-001", js.Name)

	// A session Jules refuses gives its slot back.
	_, err = fix(restarted, "no-such-branch")
	require.ErrorIs(t, err, jules.ErrBadRequest)
	used, _, err = restarted.UsedToday(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, used)
	refused := false
	records, _ := m.Store.ListAudit(0, 0)
	for _, r := range records {
		refused = refused || r.Action == "jules.session.refused"
	}
	assert.True(t, refused, "the refusal is audited")
	js, err = fix(restarted, "main")
	require.NoError(t, err)
	assert.Equal(t, "jules-20260106-002", js.Name)
}

func TestFailedAndFeedbackSessions(t *testing.T) {
	ctx := context.Background()
	srv := julesserver.Start(julesserver.Options{APIKey: testKey, ScenarioFor: func(prompt string) julesserver.Scenario {
		switch {
		case strings.Contains(prompt, "FAIL-ME"):
			return julesserver.Fail
		case strings.Contains(prompt, "ASK-ME"):
			return julesserver.Feedback
		}
		return julesserver.Complete
	}})
	t.Cleanup(srv.Close)
	m := testbed.NewInProcessHub(t).Start("m1", nil, nil)
	hooks := &hookLog{reply: "It listens on <port-1>."}
	tr := newTracker(t, m, newClient(t, srv), newClock(), hooks.hooks())
	fix := func(diagnosis string) *hubv1alpha1.JulesSession {
		js, err := tr.StartCodeFix(ctx, jules.CodeFixRequest{IncidentRef: "inc-2", Source: "sources/github/acme/shop", Input: jules.CodeFixInput{Diagnosis: diagnosis}})
		require.NoError(t, err)
		return js
	}

	failing := fix("FAIL-ME: the build breaks")
	state, err := srv.StepUntilWaiting(strings.TrimPrefix(failing.Status.SessionName, "sessions/"))
	require.NoError(t, err)
	require.Equal(t, "FAILED", state)
	asking := fix("ASK-ME: which port?")
	askingID := strings.TrimPrefix(asking.Status.SessionName, "sessions/")
	state, err = srv.StepUntilWaiting(askingID)
	require.NoError(t, err)
	require.Equal(t, "AWAITING_USER_FEEDBACK", state)

	require.NoError(t, tr.PollOnce(ctx))
	failing, err = tr.Get(failing.Name)
	require.NoError(t, err)
	assert.Equal(t, hubv1alpha1.JulesFailed, failing.Status.Phase)
	assert.Contains(t, failing.Status.Message, "go.mod not found")
	assert.NotNil(t, failing.Status.CompletionTime)
	asking, err = tr.Get(asking.Name)
	require.NoError(t, err)
	assert.Contains(t, asking.Status.AgentMessage, "Which port")
	_, questions, finished := hooks.snapshot()
	assert.Equal(t, []string{failing.Name + "/Failed"}, finished)
	require.Len(t, questions, 1)
	sent := requestsTo(srv, "POST", ":sendMessage")
	require.Len(t, sent, 1)
	assert.JSONEq(t, `{"prompt":"It listens on <port-1>."}`, string(sent[0].Body))
	state, err = srv.StepUntilWaiting(askingID)
	require.NoError(t, err)
	assert.Equal(t, "AWAITING_PLAN_APPROVAL", state)

	// A person's answer goes through SendMessage, and is audited without its text.
	require.NoError(t, tr.SendMessage(ctx, asking.Name, "Use <port-1> for health checks too.", "carol"))
	require.Len(t, requestsTo(srv, "POST", ":sendMessage"), 2)
	records, _ := m.Store.ListAudit(0, 0)
	last := records[len(records)-1]
	assert.Equal(t, "jules.message.send", last.Action)
	assert.Equal(t, "carol", last.Actor)
	assert.NotContains(t, string(last.Details), "health checks")
	require.ErrorContains(t, tr.SendMessage(ctx, failing.Name, "hello", "carol"), "it is Failed")
}

// TestAdoption: a member that asked Jules for a session but failed before recording it leaves a
// Pending record; the leader finds the session by the record's name in its title, or fails the
// record when Jules never made it.
func TestAdoption(t *testing.T) {
	ctx := context.Background()
	srv := julesserver.Start(julesserver.Options{APIKey: testKey})
	t.Cleanup(srv.Close)
	m := testbed.NewInProcessHub(t).Start("m1", nil, nil)
	clk := newClock()
	c := newClient(t, srv, func(c *jules.Config) { c.MaxAttempts = 2 })
	tr := newTracker(t, m, c, clk, jules.Hooks{})
	start := func() *hubv1alpha1.JulesSession {
		srv.InjectFault(julesserver.Fault{Method: "POST", PathPrefix: "sessions", Status: 500, Times: 2})
		js, err := tr.StartCodeFix(ctx, jules.CodeFixRequest{IncidentRef: "inc-3", Source: "sources/github/acme/shop", Input: jules.CodeFixInput{Diagnosis: "d"}})
		require.ErrorIs(t, err, jules.ErrUnavailable)
		require.ErrorContains(t, err, "the hub adopts it if so")
		require.NotNil(t, js)
		assert.Equal(t, hubv1alpha1.JulesPending, js.Status.Phase)
		return js
	}
	lost := start()
	never := start()
	used, _, err := tr.UsedToday(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, used, "an unknown outcome keeps its slot")
	// Jules did make the first one (its answer was lost).
	made, err := c.CreateSession(ctx, &jules.Session{Prompt: lost.Spec.Prompt, Title: lost.Spec.Title, SourceContext: &jules.SourceContext{Source: lost.Spec.Source}, RequirePlanApproval: true})
	require.NoError(t, err)

	clk.Add(30 * time.Second)
	require.NoError(t, tr.PollOnce(ctx))
	got, err := tr.Get(lost.Name)
	require.NoError(t, err)
	assert.Equal(t, hubv1alpha1.JulesPending, got.Status.Phase, "too young: its creator may still be waiting")

	clk.Add(2 * time.Minute)
	require.NoError(t, tr.PollOnce(ctx))
	got, err = tr.Get(lost.Name)
	require.NoError(t, err)
	assert.Equal(t, hubv1alpha1.JulesActive, got.Status.Phase)
	assert.Equal(t, made.Name, got.Status.SessionName)
	got, err = tr.Get(never.Name)
	require.NoError(t, err)
	assert.Equal(t, hubv1alpha1.JulesPending, got.Status.Phase)

	clk.Add(10 * time.Minute)
	require.NoError(t, tr.PollOnce(ctx))
	got, err = tr.Get(never.Name)
	require.NoError(t, err)
	assert.Equal(t, hubv1alpha1.JulesFailed, got.Status.Phase)
	assert.Contains(t, got.Status.Message, "not found at Jules")
}

// TestLeaderFailover follows a session with the poll loop on the leader of a three-member hub;
// the leader stops while the session awaits plan approval, and the new leader resumes from the
// recorded activity page: every activity is processed once.
func TestLeaderFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-member hub")
	}
	ctx := context.Background()
	srv := julesserver.Start(julesserver.Options{APIKey: testKey})
	t.Cleanup(srv.Close)
	clk, hooks := newClock(), &hookLog{}
	trackers := map[string]*jules.Tracker{}
	var mu sync.Mutex
	setup := func(m *testbed.InProcessMember) {
		tr := newTracker(t, m, newClient(t, srv), clk, hooks.hooks(), func(c *jules.TrackerConfig) {
			c.PageSize, c.PollInterval = 1, 20*time.Millisecond
		})
		m.Node.RunWhileLeader("jules-sessions", tr.Run)
		mu.Lock()
		trackers[m.ID] = tr
		mu.Unlock()
	}
	h := testbed.NewInProcessHub(t)
	m1 := h.Start("m1", nil, setup)
	m2 := h.Start("m2", m1, setup)
	m3 := h.Start("m3", m1, setup)
	members := []*testbed.InProcessMember{m1, m2, m3}

	js, err := trackers["m2"].StartOnboarding(ctx, jules.OnboardingRequest{ApplicationRef: "team-a/shop", RepoURL: "https://github.com/acme/shop",
		Input: jules.OnboardingInputFor(shopApp(), "shop")})
	require.NoError(t, err, "started on a follower")
	name, id := js.Name, strings.TrimPrefix(js.Status.SessionName, "sessions/")
	state, err := srv.StepUntilWaiting(id)
	require.NoError(t, err)
	require.Equal(t, "AWAITING_PLAN_APPROVAL", state)

	record := func(m *testbed.InProcessMember) *hubv1alpha1.JulesSession {
		res, err := m.Store.Get(hubv1alpha1.KindJulesSession, "", name)
		require.NoError(t, err)
		var out hubv1alpha1.JulesSession
		require.NoError(t, res.Decode(&out))
		return &out
	}
	require.Eventually(t, func() bool { return record(m1).Status.PlanRef != "" }, 30*time.Second, 10*time.Millisecond, "the leader recorded the plan")

	var leader *testbed.InProcessMember
	for _, m := range members {
		if m.Node.IsLeader() {
			leader = m
		}
	}
	require.NotNil(t, leader)
	leader.Stop()
	var survivors []*testbed.InProcessMember
	for _, m := range members {
		if m != leader {
			survivors = append(survivors, m)
		}
	}
	var newLeader, follower *testbed.InProcessMember
	require.Eventually(t, func() bool {
		for i, m := range survivors {
			if m.Node.IsLeader() {
				newLeader, follower = m, survivors[1-i]
				return true
			}
		}
		return false
	}, 30*time.Second, 20*time.Millisecond)
	require.NoError(t, newLeader.Node.ReadBarrier(ctx))
	before := record(newLeader)
	require.NotEmpty(t, before.Status.PageToken, "the cursor is past the first page")
	reqsBefore := len(srv.Requests())

	// The approval, given on the follower, and the rest of the session, followed by the new leader.
	_, err = trackers[follower.ID].ApprovePlan(ctx, name, before.Status.Plan.ID, "bob")
	require.NoError(t, err)
	state, err = srv.StepUntilWaiting(id)
	require.NoError(t, err)
	require.Equal(t, "COMPLETED", state)
	require.Eventually(t, func() bool {
		r := record(newLeader)
		return r.Status.Phase == hubv1alpha1.JulesCompleted && r.Status.Notified
	}, 30*time.Second, 10*time.Millisecond)

	final := record(newLeader)
	assert.Equal(t, int32(srv.ActivityCount(id)), final.Status.ActivitiesSeen, "each activity processed exactly once across the failover")
	require.NotNil(t, final.Status.Patch)
	assert.NotEmpty(t, final.Status.Patch.UnidiffPatch)
	assert.True(t, final.Status.PlanApproved)
	plans, _, finished := hooks.snapshot()
	for _, p := range plans {
		assert.Equal(t, name+"/"+before.Status.Plan.ID, p)
	}
	assert.Contains(t, finished, name+"/Completed")

	// The new leader's first activity read started from the recorded page.
	var first *julesserver.Request
	for _, r := range srv.Requests()[reqsBefore:] {
		if strings.HasSuffix(r.Path, "/activities") {
			first = &r
			break
		}
	}
	require.NotNil(t, first)
	q, err := url.ParseQuery(first.RawQuery)
	require.NoError(t, err)
	assert.Equal(t, before.Status.PageToken, q.Get("pageToken"))
	assertNoKeyInState(t, newLeader.Store)
}

// TestRefusedPageToken: when Jules no longer takes the recorded page token, the activities are
// read again from the start and each is still counted once.
func TestRefusedPageToken(t *testing.T) {
	ctx := context.Background()
	srv := julesserver.Start(julesserver.Options{APIKey: testKey})
	t.Cleanup(srv.Close)
	m := testbed.NewInProcessHub(t).Start("m1", nil, nil)
	tr := newTracker(t, m, newClient(t, srv), newClock(), jules.Hooks{})
	js, err := tr.StartCodeFix(ctx, jules.CodeFixRequest{IncidentRef: "inc-4", Source: "sources/github/acme/shop", Input: jules.CodeFixInput{Diagnosis: "d"}})
	require.NoError(t, err)
	id := strings.TrimPrefix(js.Status.SessionName, "sessions/")
	_, err = srv.StepUntilWaiting(id)
	require.NoError(t, err)
	require.NoError(t, tr.PollOnce(ctx))
	_, err = tr.ApprovePlan(ctx, js.Name, mustGet(t, tr, js.Name).Status.Plan.ID, "bob")
	require.NoError(t, err)
	require.NoError(t, tr.PollOnce(ctx)) // the planApproved activity starts a second page
	_, err = srv.StepUntilWaiting(id)
	require.NoError(t, err)

	// Damage the cursor, as an expired token would be.
	res, err := m.Store.Get(hubv1alpha1.KindJulesSession, "", js.Name)
	require.NoError(t, err)
	damaged := mustGet(t, tr, js.Name)
	require.NotEmpty(t, damaged.Status.PageToken)
	damaged.Status.PageToken = "ZXhwaXJlZA"
	cmd, err := store.EncodeUpdate(hubv1alpha1.KindJulesSession, damaged, res.ResourceVersion)
	require.NoError(t, err)
	_, _, err = m.Node.Apply(ctx, cmd)
	require.NoError(t, err)

	require.NoError(t, tr.PollOnce(ctx))
	got := mustGet(t, tr, js.Name)
	assert.Equal(t, hubv1alpha1.JulesCompleted, got.Status.Phase)
	assert.Equal(t, int32(srv.ActivityCount(id)), got.Status.ActivitiesSeen)
	assert.Equal(t, hubv1alpha1.JulesArtifactCounts{ChangeSets: 1, BashOutputs: 1, Media: 1}, got.Status.Artifacts)
	assert.Equal(t, julesserver.CodeFixPatch(), got.Status.Patch.UnidiffPatch)
}

func mustGet(t *testing.T, tr *jules.Tracker, name string) *hubv1alpha1.JulesSession {
	t.Helper()
	js, err := tr.Get(name)
	require.NoError(t, err)
	return js
}

// What Jules answers about placeholders of the prompt is recorded with the real names, the
// patch's file names included; the prompt Jules got holds none of them.
func TestPlaceholdersRestored(t *testing.T) {
	ctx := context.Background()
	srv := julesserver.Start(julesserver.Options{APIKey: testKey, PatchFor: func(prompt string, _ julesserver.Source) string {
		return julesserver.NewFileDiff(julesserver.File{Path: "deploy/k8s/<workload-1>.yaml", Content: "name: <workload-1>\nnamespace: <namespace-1>\nkeep: <cluster-7>\n"})
	}})
	t.Cleanup(srv.Close)
	m := testbed.NewInProcessHub(t).Start("m1", nil, nil)
	tr := newTracker(t, m, newClient(t, srv), newClock(), jules.Hooks{})

	js, err := tr.StartCodeFix(ctx, jules.CodeFixRequest{
		IncidentRef: "inc-1", RepoURL: shopApp().Spec.Source.Git.URL,
		Input:        jules.CodeFixInput{Diagnosis: "<workload-1> in <namespace-1> crashes: nil map write", RootCause: "ApplicationError", Signature: "pod/CrashLoopBackOff"},
		Placeholders: map[string]string{"<workload-1>": "checkout", "<namespace-1>": "payments"}, RequestedBy: "hub/codefix",
	})
	require.NoError(t, err)
	created := requestsTo(srv, "POST", "/sessions")
	require.Len(t, created, 1)
	var body struct{ Prompt, Title string }
	require.NoError(t, json.Unmarshal(created[0].Body, &body))
	assert.Contains(t, body.Prompt, "<workload-1> in <namespace-1> crashes")
	for _, name := range []string{"checkout", "payments"} {
		assert.NotContains(t, string(created[0].Body), name, "the names stay in the hub")
	}

	id := strings.TrimPrefix(js.Status.SessionName, "sessions/")
	_, err = srv.StepUntilWaiting(id)
	require.NoError(t, err)
	require.NoError(t, tr.PollOnce(ctx))
	js = mustGet(t, tr, js.Name)

	// A person's message continues the placeholders; a new address gets its own, recorded.
	require.NoError(t, tr.SendMessage(ctx, js.Name, "checkout in payments calls 10.9.8.7 for carts", "carol"))
	sent := requestsTo(srv, "POST", ":sendMessage")
	require.Len(t, sent, 1)
	assert.JSONEq(t, `{"prompt":"<workload-1> in <namespace-1> calls <ip-1> for carts"}`, string(sent[0].Body))
	assert.Equal(t, map[string]string{"<workload-1>": "checkout", "<namespace-1>": "payments", "<ip-1>": "10.9.8.7"}, mustGet(t, tr, js.Name).Spec.Placeholders)
	require.ErrorContains(t, tr.SendMessage(ctx, js.Name, "  ", "carol"), "the message is empty")

	_, err = tr.ApprovePlan(ctx, js.Name, js.Status.Plan.ID, "bob")
	require.NoError(t, err)
	state, err := srv.StepUntilWaiting(id)
	require.NoError(t, err)
	require.Equal(t, "COMPLETED", state)
	require.NoError(t, tr.PollOnce(ctx))

	p := mustGet(t, tr, js.Name).Status.Patch
	require.NotNil(t, p)
	want := julesserver.NewFileDiff(julesserver.File{Path: "deploy/k8s/checkout.yaml", Content: "name: checkout\nnamespace: payments\nkeep: <cluster-7>\n"})
	// The blob id line is Jules' own (of the content it wrote); everything else is restored.
	assert.Equal(t, dropIndexLines(want), dropIndexLines(p.UnidiffPatch))
	assert.Equal(t, []string{"deploy/k8s/checkout.yaml"}, p.Files)
	assert.Equal(t, int64(len(p.UnidiffPatch)), p.Size, "size and digest are those of the patch as recorded")
}

func dropIndexLines(diff string) string {
	var out []string
	for _, l := range strings.Split(diff, "\n") {
		if !strings.HasPrefix(l, "index ") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
