package onboard

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
	julesserver "github.com/kubedevaiops/kubedevaiops/test/extapi/jules"
	"github.com/kubedevaiops/kubedevaiops/test/testbed"
)

const (
	policyName = "onboarding"
	namespace  = "shop"
	appName    = "shop"
)

// A ManagedApplication with a GitHub repository is onboarded through Jules with real processes:
// a three-member hub holding the Jules key in a Vault dev server, the local Jules server, and
// one test-bed cluster with its agent. Jules' plan waits for a person; once approved, Jules
// completes the session, the hub stores the patch and dry-runs its manifests on the cluster,
// and nothing is created there. The planted key shows up nowhere but in the requests to Jules.
func TestOnboardingThroughJules(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	key := plantedKey(t)
	vault := testbed.StartVault(t)
	vc, err := vault.Client()
	require.NoError(t, err)
	_, err = vc.KVv2("secret").Put(ctx, "kubedevaiops/providers/jules", map[string]any{"api_key": key})
	require.NoError(t, err)
	srv := julesserver.Start(julesserver.Options{APIKey: key, ScenarioFor: func(prompt string) julesserver.Scenario {
		if strings.Contains(prompt, "Root cause category") {
			return julesserver.Feedback // the code fix asks a question first
		}
		return julesserver.Complete
	}})
	t.Cleanup(srv.Close)

	cluster := testbed.StartCluster(t, testbed.ClusterOptions{Name: "onb", Nodes: 1, Stages: []string{testbed.StageCrashLoop}})
	tokenFile := filepath.Join(t.TempDir(), "vault-token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(vault.RootToken), 0o600))
	hub := testbed.StartHub(t, testbed.HubOptions{Members: 3, Args: []string{
		"--vault-addr=" + vault.Address, "--vault-token-file=" + tokenFile,
		"--jules-base-url=" + srv.BaseURL(), "--jules-poll-interval=500ms", "--jules-daily-budget=3",
	}})
	if t.Failed() {
		return
	}
	admin := hub.Client(0)
	tok, err := admin.CreateToken(ctx, &fleetv1.CreateTokenRequest{Description: "onboarding test", UsageLimit: 1, AutoAccept: true})
	require.NoError(t, err)
	kube := clusterClient(t, cluster)
	require.NoError(t, kube.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}))
	agent := testbed.StartAgent(t, cluster, testbed.AgentOptions{Hub: hub.GRPCAddrs(), Token: tok.GetSecret(), CAHash: hub.CAHash(), Args: []string{"--analyze-interval=2s"}})
	testbed.Eventually(t, 2*time.Minute, cluster.Name+" available", func() error { return testbed.ClusterAvailable(ctx, admin, cluster.Name) })

	policy := aiopsv1alpha1.AIOpsPolicySpec{Autonomy: aiopsv1alpha1.AutonomyAutonomous,
		AllowedActions: []aiopsv1alpha1.AllowedAction{{Type: aiopsv1alpha1.ActionApplyManifests, Risk: aiopsv1alpha1.RiskLow}},
		BlastRadius:    &aiopsv1alpha1.BlastRadius{MaxConcurrentClusters: 1, MaxActionsPerClusterPerHour: ptr.To[int32](20)}}
	testbed.ApplyHubPolicy(ctx, t, admin, policyName, policy)
	testbed.Eventually(t, time.Minute, "the local policy is stored", func() error {
		return kube.Create(ctx, &aiopsv1alpha1.AIOpsPolicy{ObjectMeta: metav1.ObjectMeta{Name: policyName}, Spec: policy})
	})

	// The application, given with the CLI.
	manifest := filepath.Join(t.TempDir(), "app.yaml")
	require.NoError(t, os.WriteFile(manifest, []byte(fmt.Sprintf(`apiVersion: aiops.kubedevaiops.io/v1alpha1
kind: ManagedApplication
metadata:
  name: %s
  namespace: %s
spec:
  cluster: %s
  source:
    git:
      url: https://github.com/acme/shop.git
      revision: main
  replicas: 2
  ports:
    - name: http
      containerPort: 8080
`, appName, namespace, cluster.Name)), 0o600))
	assert.Contains(t, cli(t, hub, "apps", "apply", "-f", manifest), "managedapplication/shop/shop applied")
	assert.Contains(t, cli(t, hub, "apps", "list"), "https://github.com/acme/shop.git")

	var sessionID string
	testbed.Eventually(t, time.Minute, "a Jules session for the application", func() error {
		ids := srv.SessionIDs()
		if len(ids) != 1 {
			return fmt.Errorf("%d sessions", len(ids))
		}
		sessionID = ids[0]
		return nil
	})
	created := requestsTo(srv, "POST", "/v1alpha/sessions")
	require.Len(t, created, 1)
	var body struct {
		Prompt              string `json:"prompt"`
		RequirePlanApproval bool   `json:"requirePlanApproval"`
		SourceContext       struct {
			Source            string `json:"source"`
			GitHubRepoContext struct {
				StartingBranch string `json:"startingBranch"`
			} `json:"githubRepoContext"`
		} `json:"sourceContext"`
	}
	require.NoError(t, json.Unmarshal(created[0].Body, &body))
	assert.True(t, body.RequirePlanApproval, "Jules must wait for the plan's approval")
	assert.Equal(t, "sources/github/acme/shop", body.SourceContext.Source)
	assert.Equal(t, "main", body.SourceContext.GitHubRepoContext.StartingBranch)
	assert.Contains(t, body.Prompt, "Dockerfile")
	assert.Contains(t, body.Prompt, `called "<workload-1>"`, "the application's name stays in the hub")
	assert.NotContains(t, body.Prompt, appName)

	state, err := srv.StepUntilWaiting(sessionID)
	require.NoError(t, err)
	require.Equal(t, "AWAITING_PLAN_APPROVAL", state)

	plan := waitPlan(ctx, t, admin, hubv1alpha1.PlanOnboarding, hubv1alpha1.PlanProposed)
	assert.EqualValues(t, 1, plan.Spec.RequiredApprovals)
	assert.Equal(t, []string{cluster.Name}, plan.Spec.Targets.Clusters)
	assert.Contains(t, plan.Spec.Rationale, "Inspect the repository", "the Jules plan's steps are shown")
	assert.Contains(t, plan.Spec.Rationale, "Build and test")
	assert.NotEmpty(t, plan.Annotations[hubv1alpha1.Group+"/jules-session"])
	assert.Equal(t, namespace+"/"+appName, plan.Annotations[hubv1alpha1.Group+"/application"])
	assert.Empty(t, plan.Spec.Actions, "nothing to run before Jules produced the change")
	assert.Contains(t, onboarded(ctx, t, admin, "AwaitingApproval").Message, "kubectl aiops plans approve "+plan.Name)
	assert.Empty(t, requestsTo(srv, "POST", ":approvePlan"), "nothing is approved at Jules before a person approved the plan")

	// A person approves, on another member than the one the plan was read from.
	_, err = hub.Client(1).ApprovePlan(ctx, &fleetv1.ApprovePlanRequest{Name: plan.Name, Comment: "the steps look right"})
	require.NoError(t, err)
	testbed.Eventually(t, time.Minute, "approvePlan at Jules", func() error {
		if n := len(requestsTo(srv, "POST", "sessions/"+sessionID+":approvePlan")); n != 1 {
			return fmt.Errorf("%d approvePlan calls", n)
		}
		return nil
	})
	state, err = srv.StepUntilWaiting(sessionID)
	require.NoError(t, err)
	require.Equal(t, "COMPLETED", state)

	done := waitPlan(ctx, t, admin, hubv1alpha1.PlanOnboarding, hubv1alpha1.PlanSucceeded)
	require.Equal(t, plan.Name, done.Name)
	patch := julesserver.OnboardingPatch("acme", "shop")
	sum := sha256.Sum256([]byte(patch))
	assert.Equal(t, hex.EncodeToString(sum[:]), done.Annotations[hubv1alpha1.Group+"/jules-patch-sha256"], "the patch Jules produced is the one stored")
	patchCond := meta.FindStatusCondition(done.Status.Conditions, "Patch")
	require.NotNil(t, patchCond)
	assert.Contains(t, patchCond.Message, "deploy/k8s/deployment.yaml")
	assert.Contains(t, patchCond.Message, "Deployment/shop, Service/shop, PodDisruptionBudget/shop")
	assert.True(t, done.Spec.DryRun)

	actions := actionsOf(ctx, t, admin, done.Name)
	require.Len(t, actions, 1)
	a := actions[0]
	assert.Equal(t, aiopsv1alpha1.ActionApplyManifests, a.Spec.Type)
	assert.Equal(t, hubv1alpha1.ObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Namespace: namespace, Name: "shop"}, a.Spec.Target)
	assert.True(t, a.Spec.DryRun)
	assert.Equal(t, hubv1alpha1.ActionSucceeded, a.Status.Phase)
	assert.Equal(t, "DRY_RUN", a.Status.SpokePhase)
	require.NotNil(t, a.Status.Result)
	assert.Contains(t, a.Status.Result.After, `"namespace":"shop"`, "the server's dry-run result")
	assert.Contains(t, a.Spec.Parameters["manifests"], "kind: PodDisruptionBudget")
	cond := onboarded(ctx, t, admin, "DryRunSucceeded")
	assert.Equal(t, metav1.ConditionTrue, cond.Status)
	assert.Contains(t, cond.Message, "the dry-run passed")

	// The session record, through the Fleet API and the CLI: the patch comes out as Jules made it.
	sessions := cli(t, hub, "jules", "list", "--purpose", "Onboarding")
	record := done.Annotations[hubv1alpha1.Group+"/jules-session"]
	assert.Contains(t, sessions, record)
	assert.Contains(t, sessions, namespace+"/"+appName)
	assert.Contains(t, sessions, "COMPLETED")
	assert.Equal(t, patch, cli(t, hub, "jules", "get", record, "--patch"))
	assert.Contains(t, cli(t, hub, "jules", "get", record), "purpose: Onboarding")
	assert.NotContains(t, cli(t, hub, "jules", "list", "--purpose", "CodeFix"), record)
	_, err = admin.ListJulesSessions(ctx, &fleetv1.ListJulesSessionsRequest{Purpose: "Refactoring"})
	require.ErrorContains(t, err, `purpose "Refactoring": want Onboarding or CodeFix`)
	_, err = admin.ReplyJulesSession(ctx, &fleetv1.ReplyJulesSessionRequest{Name: record, Message: "one more thing"})
	assert.Equal(t, codes.FailedPrecondition, status.Code(err), "a completed session takes no message: %v", err)
	_, err = admin.ReplyJulesSession(ctx, &fleetv1.ReplyJulesSessionRequest{Name: record, Message: " "})
	assert.Equal(t, codes.InvalidArgument, status.Code(err), "%v", err)

	for _, obj := range []client.Object{&appsv1.Deployment{}, &corev1.Service{}, &policyv1.PodDisruptionBudget{}} {
		err := kube.Get(ctx, client.ObjectKey{Namespace: namespace, Name: "shop"}, obj)
		assert.True(t, apierrors.IsNotFound(err), "a dry-run creates nothing: %T %v", obj, err)
	}
	audit := auditRecords(ctx, t, admin)
	for _, want := range []string{"application.apply", "jules.session.create", "plan.propose", "plan.approve", "jules.plan.approve", "jules.session.complete",
		"onboard.patch", "directive.issue", "action.dryrun"} {
		assert.Contains(t, actionsIn(audit), want, "audit records")
	}

	// The trace of the plan, from the session's start to the spoke's dry-run.
	var spans []*fleetv1.TraceSpan
	testbed.Eventually(t, time.Minute, "the onboarding trace", func() error {
		out, err := admin.GetTrace(ctx, &fleetv1.GetTraceRequest{Plan: done.Name})
		if err != nil {
			return err
		}
		spans = out.GetSpans()
		names := map[string]bool{}
		for _, s := range spans {
			names[s.GetName()] = true
		}
		for _, n := range []string{"onboard.start", "invoke_agent jules", "plan.propose", "plan.dispatch", "directive.issue", "action.execute"} {
			if !names[n] {
				return fmt.Errorf("span %q missing; have %v", n, names)
			}
		}
		return nil
	})

	// The application, now deployed, crash-loops with no rollout to blame: the diagnosis places
	// the root cause in its code, and Jules is asked for a fix, which a person approves.
	labels := map[string]string{"app": appName, testbed.InjectLabel: "crashloop"}
	require.NoError(t, kube.Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: appName, Namespace: namespace},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "ghcr.io/acme/shop:0.1.0"}}}}},
	}))
	var fixID string
	testbed.Eventually(t, 3*time.Minute, "a Jules session for the code fix", func() error {
		for _, id := range srv.SessionIDs() {
			if id != sessionID {
				fixID = id
				return nil
			}
		}
		return fmt.Errorf("no second session; incidents: %s", cli(t, hub, "incidents", "list"))
	})
	created = requestsTo(srv, "POST", "/v1alpha/sessions")
	require.Len(t, created, 2)
	require.NoError(t, json.Unmarshal(created[1].Body, &body))
	assert.Contains(t, body.Prompt, "Root cause category: ApplicationError")
	assert.Contains(t, body.Prompt, "<workload-1>")
	assert.NotContains(t, body.Prompt, appName, "names stay in the hub")
	// Jules asks a question; a person answers with the CLI, and the names stay in the hub.
	state, err = srv.StepUntilWaiting(fixID)
	require.NoError(t, err)
	require.Equal(t, "AWAITING_USER_FEEDBACK", state)
	fixRecord := ""
	testbed.Eventually(t, time.Minute, "the question recorded", func() error {
		out, err := admin.ListJulesSessions(ctx, &fleetv1.ListJulesSessionsRequest{Purpose: string(hubv1alpha1.JulesCodeFix)})
		if err != nil || len(out.GetSessions()) != 1 {
			return fmt.Errorf("code-fix sessions: %v %v", out.GetSessions(), err)
		}
		js := decode[hubv1alpha1.JulesSession](t, out.GetSessions()[0])
		if js.Status.AgentMessage == "" {
			return fmt.Errorf("no question yet (state %s)", js.Status.State)
		}
		fixRecord = js.Name
		return nil
	})
	assert.Contains(t, cli(t, hub, "jules", "get", fixRecord), "Which port does the service listen on?")
	assert.Contains(t, cli(t, hub, "jules", "reply", fixRecord, "-m", appName+" listens on 8080 in "+namespace), "message sent")
	replies := requestsTo(srv, "POST", "sessions/"+fixID+":sendMessage")
	require.Len(t, replies, 1)
	js := decode[hubv1alpha1.JulesSession](t, getJulesSession(ctx, t, admin, fixRecord))
	ph := ""
	for p, v := range js.Spec.Placeholders {
		if v == appName {
			ph = p
		}
	}
	require.NotEmpty(t, ph, "the application's name has a placeholder: %v", js.Spec.Placeholders)
	assert.JSONEq(t, fmt.Sprintf(`{"prompt":"%[1]s listens on 8080 in %[1]s"}`, ph), string(replies[0].Body))
	_, err = srv.StepUntilWaiting(fixID)
	require.NoError(t, err)
	fix := waitPlan(ctx, t, admin, hubv1alpha1.PlanCodeFix, hubv1alpha1.PlanProposed)
	assert.Empty(t, fix.Spec.Actions)
	assert.Equal(t, []string{cluster.Name}, fix.Spec.Targets.Clusters)
	assert.Empty(t, requestsTo(srv, "POST", "sessions/"+fixID+":approvePlan"))
	assert.Contains(t, cli(t, hub, "plans", "approve", fix.Name, "--comment", "fix the crash"), fix.Name)
	testbed.Eventually(t, time.Minute, "approvePlan of the fix at Jules", func() error {
		if n := len(requestsTo(srv, "POST", "sessions/"+fixID+":approvePlan")); n != 1 {
			return fmt.Errorf("%d approvePlan calls", n)
		}
		return nil
	})
	state, err = srv.StepUntilWaiting(fixID)
	require.NoError(t, err)
	require.Equal(t, "COMPLETED", state)
	fixed := waitPlan(ctx, t, admin, hubv1alpha1.PlanCodeFix, hubv1alpha1.PlanSucceeded)
	fixCond := meta.FindStatusCondition(fixed.Status.Conditions, "Patch")
	require.NotNil(t, fixCond)
	assert.Contains(t, fixCond.Message, "github.com/acme/shop/pull/")
	assert.Contains(t, cli(t, hub, "jules", "list", "--purpose", "CodeFix"), namespace+"/"+appName+" (incident ")
	assert.Contains(t, actionsIn(auditRecords(ctx, t, admin)), "codefix.patch")

	t.Run("in a cluster, an application's cluster cannot change", func(t *testing.T) {
		app := &aiopsv1alpha1.ManagedApplication{ObjectMeta: metav1.ObjectMeta{Name: "moving", Namespace: namespace}, Spec: aiopsv1alpha1.ManagedApplicationSpec{
			Cluster: "prod-eu", Source: aiopsv1alpha1.ApplicationSource{Image: &aiopsv1alpha1.ImageSource{Repository: "registry.example.com/shop", Tag: "1.0"}}}}
		require.NoError(t, kube.Create(ctx, app))
		app.Spec.Cluster = "prod-us"
		err := kube.Update(ctx, app)
		require.True(t, apierrors.IsInvalid(err), "refused as invalid: %v", err)
		assert.Contains(t, err.Error(), "cluster is immutable")
	})

	t.Run("the Jules key leaks nowhere", func(t *testing.T) {
		for _, r := range srv.Requests() {
			require.Equal(t, key, r.Header.Get("X-Goog-Api-Key"), "the hub called Jules with the planted key")
		}
		var where []string
		encoded := base64.StdEncoding.EncodeToString([]byte(key))
		check := func(what string, data []byte) {
			if strings.Contains(string(data), key) || strings.Contains(string(data), encoded) {
				where = append(where, what)
			}
		}
		var logs []byte
		for _, m := range hub.Members {
			data, err := os.ReadFile(m.LogPath())
			require.NoError(t, err)
			logs = append(logs, data...)
			check("log of "+m.ID, data)
		}
		for _, line := range []string{"jules session created", "onboarding plan proposed", "jules plan approved", "onboarding patch stored"} {
			require.Contains(t, string(logs), line, "the hub logs tell the flow")
		}
		data, err := os.ReadFile(agent.LogPath())
		require.NoError(t, err)
		check("agent log", data)
		require.Contains(t, string(texts(&fleetv1.ListAuditResponse{Records: audit})), `"patchSHA256"`, "the search sees the records' entries")
		check("audit records", texts(&fleetv1.ListAuditResponse{Records: audit}))
		for i := range hub.Members {
			c := hub.Client(i)
			plans, err := c.ListPlans(ctx, &fleetv1.ListPlansRequest{})
			require.NoError(t, err)
			require.Contains(t, string(texts(plans)), "Inspect the repository", "the search sees what the answers carry")
			check("plans", texts(plans))
			acts, err := c.ListActions(ctx, &fleetv1.ListActionsRequest{})
			require.NoError(t, err)
			check("actions", texts(acts))
			for _, r := range acts.GetActions() {
				check("directive of "+r.GetName(), decode[hubv1alpha1.Action](t, r).Status.Directive)
			}
			apps, err := c.ListApplications(ctx, &fleetv1.ListApplicationsRequest{})
			require.NoError(t, err)
			check("applications", texts(apps))
		}
		check("spans", texts(&fleetv1.GetTraceResponse{Spans: spans}))
		assert.Empty(t, where, "the planted Jules key appears in these")
	})
}

// ---- helpers ----

func plantedKey(t *testing.T) string {
	t.Helper()
	b := make([]byte, 12)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return "AQ.leak-canary-" + hex.EncodeToString(b)
}

func clusterClient(t *testing.T, c *testbed.Cluster) client.Client {
	t.Helper()
	s := runtime.NewScheme()
	require.NoError(t, corev1.AddToScheme(s))
	require.NoError(t, appsv1.AddToScheme(s))
	require.NoError(t, policyv1.AddToScheme(s))
	require.NoError(t, aiopsv1alpha1.AddToScheme(s))
	k, err := client.New(c.Config, client.Options{Scheme: s})
	require.NoError(t, err)
	return k
}

func decode[T any](t *testing.T, r *fleetv1.Resource) *T {
	t.Helper()
	v := new(T)
	require.NoError(t, json.Unmarshal(r.GetObjectJson(), v))
	return v
}

// waitPlan waits for the onboarding plan to reach phase, failing early in another final phase.
func waitPlan(ctx context.Context, t *testing.T, c fleetv1.FleetClient, typ hubv1alpha1.PlanType, phase hubv1alpha1.PlanPhase) *hubv1alpha1.Plan {
	t.Helper()
	var found *hubv1alpha1.Plan
	testbed.Eventually(t, 2*time.Minute, "the "+string(typ)+" plan "+string(phase), func() error {
		out, err := c.ListPlans(ctx, &fleetv1.ListPlansRequest{PlanType: string(typ)})
		if err != nil {
			return err
		}
		if len(out.GetPlans()) != 1 {
			return fmt.Errorf("%d %s plans", len(out.GetPlans()), typ)
		}
		p := decode[hubv1alpha1.Plan](t, out.GetPlans()[0])
		switch {
		case p.Status.Phase == phase:
			found = p
			return nil
		case slices.Contains([]hubv1alpha1.PlanPhase{hubv1alpha1.PlanFailed, hubv1alpha1.PlanCancelled, hubv1alpha1.PlanRejected}, p.Status.Phase):
			t.Fatalf("plan %s ended %s: %+v", p.Name, p.Status.Phase, p.Status.Conditions)
		}
		return fmt.Errorf("plan %s is %s: %+v", p.Name, p.Status.Phase, p.Status.Conditions)
	})
	return found
}

func actionsOf(ctx context.Context, t *testing.T, c fleetv1.FleetClient, plan string) []*hubv1alpha1.Action {
	t.Helper()
	out, err := c.ListActions(ctx, &fleetv1.ListActionsRequest{Plan: plan})
	require.NoError(t, err)
	var actions []*hubv1alpha1.Action
	for _, r := range out.GetActions() {
		actions = append(actions, decode[hubv1alpha1.Action](t, r))
	}
	return actions
}

// onboarded waits for the application's Onboarded condition to have reason.
func onboarded(ctx context.Context, t *testing.T, c fleetv1.FleetClient, reason string) metav1.Condition {
	t.Helper()
	var cond metav1.Condition
	testbed.Eventually(t, 30*time.Second, "the application's Onboarded condition "+reason, func() error {
		out, err := c.GetApplication(ctx, &fleetv1.GetApplicationRequest{Namespace: namespace, Name: appName})
		if err != nil {
			return err
		}
		app := decode[aiopsv1alpha1.ManagedApplication](t, out.GetApplication())
		c := meta.FindStatusCondition(app.Status.Conditions, "Onboarded")
		if c == nil || c.Reason != reason {
			return fmt.Errorf("Onboarded condition: %+v", c)
		}
		cond = *c
		return nil
	})
	return cond
}

func auditRecords(ctx context.Context, t *testing.T, c fleetv1.FleetClient) []*fleetv1.AuditRecord {
	t.Helper()
	var all []*fleetv1.AuditRecord
	tok := ""
	for {
		out, err := c.ListAudit(ctx, &fleetv1.ListAuditRequest{PageToken: tok})
		require.NoError(t, err)
		all = append(all, out.GetRecords()...)
		if tok = out.GetNextPageToken(); tok == "" {
			return all
		}
	}
}

func actionsIn(records []*fleetv1.AuditRecord) []string {
	out := make([]string, len(records))
	for i, r := range records {
		out[i] = r.GetAction()
	}
	return out
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

// texts returns every string and bytes value of a message, its nested messages, lists and maps
// included, one per line: what an answer carries, as it carries it.
func texts(m proto.Message) []byte {
	var out bytes.Buffer
	var walk func(protoreflect.Message)
	value := func(fd protoreflect.FieldDescriptor, v protoreflect.Value) {
		switch fd.Kind() {
		case protoreflect.StringKind:
			out.WriteString(v.String())
		case protoreflect.BytesKind:
			out.Write(v.Bytes())
		case protoreflect.MessageKind, protoreflect.GroupKind:
			walk(v.Message())
		}
		out.WriteByte('\n')
	}
	walk = func(m protoreflect.Message) {
		m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			switch {
			case fd.IsList():
				for i := range v.List().Len() {
					value(fd, v.List().Get(i))
				}
			case fd.IsMap():
				v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
					out.WriteString(k.String() + "\n")
					value(fd.MapValue(), mv)
					return true
				})
			default:
				value(fd, v)
			}
			return true
		})
	}
	walk(m.ProtoReflect())
	return out.Bytes()
}

func cli(t *testing.T, hub *testbed.Hub, args ...string) string {
	t.Helper()
	bin, err := testbed.CLIBinary()
	require.NoError(t, err)
	conn, err := hub.CLIConnection(0)
	require.NoError(t, err)
	out, err := exec.Command(bin, append([]string{"--config", conn}, args...)...).CombinedOutput()
	require.NoError(t, err, "kubectl-aiops %v: %s", args, out)
	return string(out)
}

func getJulesSession(ctx context.Context, t *testing.T, c fleetv1.FleetClient, name string) *fleetv1.Resource {
	t.Helper()
	out, err := c.GetJulesSession(ctx, &fleetv1.GetJulesSessionRequest{Name: name})
	require.NoError(t, err)
	return out.GetSession()
}
