package incident

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
	"github.com/kubedevaiops/kubedevaiops/test/otlpreceiver"
	"github.com/kubedevaiops/kubedevaiops/test/testbed"
)

const policyName = "heal"

// The incident loop on two clusters and a three-member hub: a bad rollout is rolled back on its
// own under an autonomous policy and the fleet learns from it; the same incident elsewhere is
// proposed with more confidence; under a recommend policy with four eyes plans wait, a rejected
// one never runs and an approved one runs exactly once across a leader failover; a fix that
// does not verify is undone; a directive outside the cluster's own policy is refused.
func TestIncidentLoop(t *testing.T) {
	vault := testbed.StartVault(t)
	receiver := otlpreceiver.Start(t)
	clusters := testbed.StartClusters(t, 2, testbed.ClusterOptions{Name: "inc", Nodes: 1, Stages: []string{testbed.StageCrashLoop}})
	tokenFile := filepath.Join(t.TempDir(), "vault-token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(vault.RootToken), 0o600))
	hub := testbed.StartHub(t, testbed.HubOptions{Members: 3, Args: []string{
		"--vault-addr=" + vault.Address, "--vault-token-file=" + tokenFile,
		"--otlp-endpoint=" + receiver.GRPCAddr(), "--otlp-insecure",
		"--action-verify-timeout=20s",
	}})
	if t.Failed() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	admin := hub.Client(0)

	tok, err := admin.CreateToken(ctx, &fleetv1.CreateTokenRequest{Description: "incident test", UsageLimit: 2, AutoAccept: true})
	require.NoError(t, err)
	kube := make([]client.Client, len(clusters))
	for i, c := range clusters {
		kube[i] = clusterClient(t, c)
		deployWeb(ctx, t, kube[i])
		testbed.StartAgent(t, c, testbed.AgentOptions{Hub: hub.GRPCAddrs(), Token: tok.GetSecret(), CAHash: hub.CAHash(), Args: []string{"--analyze-interval=2s"}})
	}
	for _, c := range clusters {
		testbed.Eventually(t, 2*time.Minute, c.Name+" available", func() error { return testbed.ClusterAvailable(ctx, admin, c.Name) })
	}
	lowRollback := aiopsv1alpha1.AllowedAction{Type: aiopsv1alpha1.ActionRollbackWorkload, Risk: aiopsv1alpha1.RiskLow}
	autonomous := aiopsv1alpha1.AIOpsPolicySpec{Autonomy: aiopsv1alpha1.AutonomyAutonomous, AllowedActions: []aiopsv1alpha1.AllowedAction{lowRollback},
		BlastRadius: &aiopsv1alpha1.BlastRadius{MaxConcurrentClusters: 2, MaxActionsPerClusterPerHour: ptr.To[int32](20)}}
	testbed.ApplyHubPolicy(ctx, t, admin, policyName, autonomous)
	for i := range clusters {
		applyLocalPolicy(ctx, t, kube[i], autonomous)
		waitRolledOut(ctx, t, kube[i], "web:v1")
	}

	var firstConfidence float64
	t.Run("a bad rollout is rolled back on its own, in one trace", func(t *testing.T) {
		rollOut(ctx, t, kube[0], "web:v2", true)
		plan := waitPlan(ctx, t, admin, clusters[0].Name, nil, hubv1alpha1.PlanSucceeded)
		require.Len(t, plan.Spec.Actions, 1)
		a := plan.Spec.Actions[0]
		assert.Equal(t, aiopsv1alpha1.ActionRollbackWorkload, a.Type)
		assert.Equal(t, "Deployment", a.Target.Kind)
		assert.Equal(t, "web", a.Target.Name)
		assert.Equal(t, "1", a.Parameters["toRevision"], "back to the revision before the bad rollout")
		assert.Zero(t, plan.Spec.RequiredApprovals, "autonomous and low risk: no human needed")
		assert.Contains(t, plan.Spec.Rationale, "BadRollout")
		waitRolledOut(ctx, t, kube[0], "web:v1")
		testbed.Eventually(t, time.Minute, "the incident resolves", func() error {
			inc := getIncident(ctx, t, admin, plan.Spec.IncidentRef)
			if inc.Status.Phase != hubv1alpha1.IncidentResolved {
				return fmt.Errorf("incident %s is %s", inc.Name, inc.Status.Phase)
			}
			return nil
		})
		entry := knowledgeOf(ctx, t, admin, plan.Annotations[hubv1alpha1.Group+"/signature"], aiopsv1alpha1.ActionRollbackWorkload)
		assert.EqualValues(t, 1, entry.Spec.Successes)
		assert.Zero(t, entry.Spec.Failures)
		firstConfidence, err = strconv.ParseFloat(plan.Spec.Confidence, 64)
		require.NoError(t, err)

		traceID := traceIDOf(plan.Spec.TraceParent)
		require.NotEmpty(t, traceID)
		auditActions := auditOfTrace(ctx, t, admin, traceID)
		for _, want := range []string{"incident.open", "plan.propose", "plan.approve", "directive.issue", "action.succeeded"} {
			assert.Contains(t, auditActions, want, "audit records of the trace")
		}
		wantSpans := []string{"finding", "incident.diagnose", "plan.propose", "plan.approval", "plan.dispatch", "directive.issue",
			"action.execute", "dry-run", "apply", "verify", "action.result"}
		testbed.Eventually(t, time.Minute, "the whole chain at the OTLP receiver", func() error {
			names := map[string]string{}
			for _, s := range receiver.TraceSpans(traceID) {
				names[s.Span.GetName()] = s.Service()
			}
			for _, n := range wantSpans {
				if _, ok := names[n]; !ok {
					return fmt.Errorf("span %q missing; have %v", n, names)
				}
			}
			if names["finding"] != "kubedevaiops-agent" || names["action.execute"] != "kubedevaiops-agent" || names["incident.diagnose"] != "kubedevaiops-hub" {
				return fmt.Errorf("spans from the wrong services: %v", names)
			}
			return nil
		})
		diag, err := receiver.Find(traceID, "incident.diagnose")
		require.NoError(t, err)
		attrs := map[string]string{}
		for _, kv := range diag.Span.GetAttributes() {
			attrs[kv.GetKey()] = kv.GetValue().GetStringValue()
		}
		assert.Equal(t, "diagnose", attrs["gen_ai.operation.name"])
		assert.Equal(t, "kubedevaiops.builtin", attrs["gen_ai.provider.name"])
		assert.NotEmpty(t, attrs["gen_ai.request.model"])

		out := cli(t, hub, "trace", "show", plan.Name)
		for _, n := range []string{"finding", "incident.diagnose", "action.execute", "verify", "action.result"} {
			assert.Contains(t, out, n, "trace show")
		}
		assert.Contains(t, cli(t, hub, "knowledge", "list"), "RollbackWorkload")
	})

	t.Run("the same incident elsewhere is proposed with more confidence", func(t *testing.T) {
		rollOut(ctx, t, kube[1], "web:v2", true)
		plan := waitPlan(ctx, t, admin, clusters[1].Name, nil, hubv1alpha1.PlanSucceeded)
		c, err := strconv.ParseFloat(plan.Spec.Confidence, 64)
		require.NoError(t, err)
		assert.Greater(t, c, firstConfidence, "one success of this fix for this signature raises its confidence")
		assert.Contains(t, plan.Spec.Rationale, "1 success(es)")
		waitRolledOut(ctx, t, kube[1], "web:v1")
	})

	humans := autonomous
	humans.Autonomy = aiopsv1alpha1.AutonomyRecommend
	humans.Approval = &aiopsv1alpha1.ApprovalPolicy{RequireHumanFor: []aiopsv1alpha1.RiskLevel{aiopsv1alpha1.RiskLow}, FourEyes: true}
	second, err := hub.ClientAs(0, "second-approver", "approver")
	require.NoError(t, err)

	t.Run("under recommend a plan waits, four eyes hold, and a rejected plan never runs", func(t *testing.T) {
		testbed.ApplyHubPolicy(ctx, t, admin, policyName, humans)
		seen := plansOf(ctx, t, admin, clusters[0].Name)
		rollOut(ctx, t, kube[0], "web:v3", true)
		plan := waitPlan(ctx, t, admin, clusters[0].Name, seen, hubv1alpha1.PlanProposed)
		assert.EqualValues(t, 2, plan.Spec.RequiredApprovals)
		_, err := admin.ApprovePlan(ctx, &fleetv1.ApprovePlanRequest{Name: plan.Name, Comment: "looks right"})
		require.NoError(t, err)
		_, err = admin.ApprovePlan(ctx, &fleetv1.ApprovePlanRequest{Name: plan.Name, Comment: "again"})
		assert.Equal(t, codes.FailedPrecondition, status.Code(err), "the same person cannot approve twice: %v", err)
		assert.Equal(t, hubv1alpha1.PlanProposed, getPlan(ctx, t, admin, plan.Name).Status.Phase, "one approval of two")
		_, err = second.RejectPlan(ctx, &fleetv1.RejectPlanRequest{Name: plan.Name})
		assert.Equal(t, codes.InvalidArgument, status.Code(err), "a rejection needs a comment")
		_, err = second.RejectPlan(ctx, &fleetv1.RejectPlanRequest{Name: plan.Name, Comment: "not during the sale"})
		require.NoError(t, err)
		assert.Equal(t, hubv1alpha1.PlanRejected, getPlan(ctx, t, admin, plan.Name).Status.Phase)
		time.Sleep(5 * time.Second) // a rejected plan must stay without directives; nothing to wait for
		assert.Empty(t, actionsOf(ctx, t, admin, plan.Name), "no directive for a rejected plan")
		assert.Equal(t, "web:v3", currentImage(ctx, t, kube[0]), "nothing changed in the cluster")
	})

	t.Run("an approved plan runs exactly once across a leader failover", func(t *testing.T) {
		seen := plansOf(ctx, t, admin, clusters[1].Name)
		rollOut(ctx, t, kube[1], "web:v3", true)
		plan := waitPlan(ctx, t, admin, clusters[1].Name, seen, hubv1alpha1.PlanProposed)
		_, err := admin.ApprovePlan(ctx, &fleetv1.ApprovePlanRequest{Name: plan.Name, Comment: "first pair of eyes"})
		require.NoError(t, err)
		leader, err := hub.Leader(ctx)
		require.NoError(t, err)
		other := (leader + 1) % 3
		approver, err := hub.ClientAs(other, "second-approver", "approver")
		require.NoError(t, err)
		_, err = approver.ApprovePlan(ctx, &fleetv1.ApprovePlanRequest{Name: plan.Name, Comment: "second pair of eyes"})
		require.NoError(t, err)
		hub.Kill(leader)
		survivor := hub.Client(other)
		done := waitPlan(ctx, t, survivor, clusters[1].Name, seen, hubv1alpha1.PlanSucceeded)
		assert.Equal(t, plan.Name, done.Name)
		actions := actionsOf(ctx, t, survivor, plan.Name)
		require.Len(t, actions, 1, "one action for the plan")
		assert.EqualValues(t, 1, actions[0].Status.Attempts)
		waitRolledOut(ctx, t, kube[1], "web:v1")
		ledgers := &corev1.ConfigMapList{}
		require.NoError(t, kube[1].List(ctx, ledgers, client.InNamespace("kubedevaiops-system"), client.MatchingLabels{"kubedevaiops.io/ledger": "actions"}))
		runs := 0
		for _, cm := range ledgers.Items {
			if cm.Annotations["kubedevaiops.io/action-id"] == actions[0].Name {
				runs++
			}
		}
		assert.Equal(t, 1, runs, "the spoke executed the action once")
		require.NoError(t, hub.Start(leader))
		testbed.Eventually(t, time.Minute, "the restarted member serves linearizable reads", func() error {
			_, err := hub.Client(leader).ListPlans(ctx, &fleetv1.ListPlansRequest{})
			return err
		})
	})

	t.Run("a fix that does not verify is rolled back", func(t *testing.T) {
		testbed.ApplyHubPolicy(ctx, t, admin, policyName, autonomous)
		// Two bad rollouts in a row: the revision a rollback returns to crashes too.
		seen := plansOf(ctx, t, admin, clusters[0].Name)
		rollOut(ctx, t, kube[0], "web:v4", true)
		plan := waitPlan(ctx, t, admin, clusters[0].Name, seen, hubv1alpha1.PlanFailed)
		actions := actionsOf(ctx, t, admin, plan.Name)
		require.Len(t, actions, 1)
		assert.Equal(t, hubv1alpha1.ActionRolledBack, actions[0].Status.Phase)
		assert.Equal(t, "VerificationFailed", actions[0].Status.Result.Reason)
		assert.Equal(t, "web:v4", currentImage(ctx, t, kube[0]), "the spoke put back the state it found")
		entry := knowledgeOf(ctx, t, admin, plan.Annotations[hubv1alpha1.Group+"/signature"], aiopsv1alpha1.ActionRollbackWorkload)
		assert.GreaterOrEqual(t, entry.Spec.Failures, int64(1), "the failed fix is demoted")
	})

	t.Run("a directive outside the cluster's own policy is refused and audited", func(t *testing.T) {
		local := autonomous
		local.AllowedActions = []aiopsv1alpha1.AllowedAction{{Type: aiopsv1alpha1.ActionRestartWorkload, Risk: aiopsv1alpha1.RiskLow}}
		applyLocalPolicy(ctx, t, kube[1], local)
		seen := plansOf(ctx, t, admin, clusters[1].Name)
		rollOut(ctx, t, kube[1], "web:v5", true)
		plan := waitPlan(ctx, t, admin, clusters[1].Name, seen, hubv1alpha1.PlanFailed)
		actions := actionsOf(ctx, t, admin, plan.Name)
		require.Len(t, actions, 1)
		assert.Equal(t, "NotAllowedByPolicy", actions[0].Status.Result.Reason)
		assert.Contains(t, auditOfTrace(ctx, t, admin, traceIDOf(plan.Spec.TraceParent)), "action.refused")
		assert.Equal(t, "web:v5", currentImage(ctx, t, kube[1]), "nothing changed in the cluster")
	})

	t.Run("under a dry-run policy the fix is only dry-run", func(t *testing.T) {
		dry := autonomous
		dry.DryRun = true
		testbed.ApplyHubPolicy(ctx, t, admin, policyName, dry)
		applyLocalPolicy(ctx, t, kube[1], autonomous)
		seen := plansOf(ctx, t, admin, clusters[1].Name)
		rollOut(ctx, t, kube[1], "web:v6", true)
		plan := waitPlan(ctx, t, admin, clusters[1].Name, seen, hubv1alpha1.PlanSucceeded)
		actions := actionsOf(ctx, t, admin, plan.Name)
		require.Len(t, actions, 1)
		assert.True(t, actions[0].Spec.DryRun)
		assert.Equal(t, "DRY_RUN", actions[0].Status.SpokePhase)
		assert.NotEmpty(t, actions[0].Status.Result.After, "the server's dry-run result")
		assert.Equal(t, "web:v6", currentImage(ctx, t, kube[1]), "a dry-run changes nothing")
	})
}

// ---- cluster side ----

func clusterClient(t *testing.T, c *testbed.Cluster) client.Client {
	t.Helper()
	s := runtime.NewScheme()
	require.NoError(t, corev1.AddToScheme(s))
	require.NoError(t, appsv1.AddToScheme(s))
	require.NoError(t, aiopsv1alpha1.AddToScheme(s))
	k, err := client.New(c.Config, client.Options{Scheme: s})
	require.NoError(t, err)
	return k
}

func deployWeb(ctx context.Context, t *testing.T, k client.Client) {
	t.Helper()
	require.NoError(t, k.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}))
	labels := map[string]string{"app": "web"}
	require.NoError(t, k.Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web:v1"}}}}},
	}))
}

// rollOut changes the web image; crash marks the new pods for kwok's crash-loop stage, as a
// broken image would make them crash.
func rollOut(ctx context.Context, t *testing.T, k client.Client, image string, crash bool) {
	t.Helper()
	var d appsv1.Deployment
	require.NoError(t, k.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "web"}, &d))
	d.Spec.Template.Spec.Containers[0].Image = image
	delete(d.Spec.Template.Labels, testbed.InjectLabel)
	if crash {
		d.Spec.Template.Labels[testbed.InjectLabel] = "crashloop"
	}
	require.NoError(t, k.Update(ctx, &d))
}

func currentImage(ctx context.Context, t *testing.T, k client.Client) string {
	t.Helper()
	var d appsv1.Deployment
	require.NoError(t, k.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "web"}, &d))
	return d.Spec.Template.Spec.Containers[0].Image
}

func waitRolledOut(ctx context.Context, t *testing.T, k client.Client, image string) {
	t.Helper()
	testbed.Eventually(t, 2*time.Minute, "web rolled out at "+image, func() error {
		var d appsv1.Deployment
		if err := k.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "web"}, &d); err != nil {
			return err
		}
		if got := d.Spec.Template.Spec.Containers[0].Image; got != image {
			return fmt.Errorf("image %s", got)
		}
		s := d.Status
		if s.ObservedGeneration < d.Generation || s.UpdatedReplicas != 2 || s.AvailableReplicas != 2 || s.Replicas != 2 {
			return fmt.Errorf("status %+v", s)
		}
		return nil
	})
}

func applyLocalPolicy(ctx context.Context, t *testing.T, k client.Client, spec aiopsv1alpha1.AIOpsPolicySpec) {
	t.Helper()
	p := &aiopsv1alpha1.AIOpsPolicy{ObjectMeta: metav1.ObjectMeta{Name: policyName}}
	var cur aiopsv1alpha1.AIOpsPolicy
	if err := k.Get(ctx, client.ObjectKey{Name: policyName}, &cur); err == nil {
		cur.Spec = spec
		require.NoError(t, k.Update(ctx, &cur))
		return
	}
	p.Spec = spec
	require.NoError(t, k.Create(ctx, p))
}

// ---- hub side ----

func decode[T any](t *testing.T, r *fleetv1.Resource) *T {
	t.Helper()
	v := new(T)
	require.NoError(t, json.Unmarshal(r.GetObjectJson(), v))
	return v
}

func getPlan(ctx context.Context, t *testing.T, c fleetv1.FleetClient, name string) *hubv1alpha1.Plan {
	t.Helper()
	out, err := c.GetPlan(ctx, &fleetv1.GetPlanRequest{Name: name})
	require.NoError(t, err)
	return decode[hubv1alpha1.Plan](t, out.GetPlan())
}

func plansOf(ctx context.Context, t *testing.T, c fleetv1.FleetClient, cluster string) []string {
	t.Helper()
	out, err := c.ListPlans(ctx, &fleetv1.ListPlansRequest{Cluster: cluster})
	require.NoError(t, err)
	var names []string
	for _, r := range out.GetPlans() {
		names = append(names, r.GetName())
	}
	return names
}

// waitPlan waits for a plan on cluster, not among seen, to reach phase, and fails early when it
// ends in another final phase.
func waitPlan(ctx context.Context, t *testing.T, c fleetv1.FleetClient, cluster string, seen []string, phase hubv1alpha1.PlanPhase) *hubv1alpha1.Plan {
	t.Helper()
	var found *hubv1alpha1.Plan
	testbed.Eventually(t, 4*time.Minute, fmt.Sprintf("a new plan on %s %s", cluster, phase), func() error {
		out, err := c.ListPlans(ctx, &fleetv1.ListPlansRequest{Cluster: cluster})
		if err != nil {
			return err
		}
		var phases []string
		for _, r := range out.GetPlans() {
			if slices.Contains(seen, r.GetName()) {
				continue
			}
			p := decode[hubv1alpha1.Plan](t, r)
			phases = append(phases, p.Name+"="+string(p.Status.Phase))
			if p.Status.Phase == phase {
				found = p
				return nil
			}
		}
		return fmt.Errorf("plans: %v", phases)
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

func getIncident(ctx context.Context, t *testing.T, c fleetv1.FleetClient, name string) *hubv1alpha1.Incident {
	t.Helper()
	out, err := c.ListIncidents(ctx, &fleetv1.ListIncidentsRequest{})
	require.NoError(t, err)
	for _, r := range out.GetIncidents() {
		if r.GetName() == name {
			return decode[hubv1alpha1.Incident](t, r)
		}
	}
	t.Fatalf("incident %s not found", name)
	return nil
}

func knowledgeOf(ctx context.Context, t *testing.T, c fleetv1.FleetClient, signature string, action aiopsv1alpha1.ActionType) *hubv1alpha1.KnowledgeEntry {
	t.Helper()
	var found *hubv1alpha1.KnowledgeEntry
	testbed.Eventually(t, 30*time.Second, "knowledge of "+signature, func() error {
		out, err := c.ListKnowledge(ctx, &fleetv1.ListKnowledgeRequest{Signature: signature})
		if err != nil {
			return err
		}
		for _, r := range out.GetEntries() {
			if k := decode[hubv1alpha1.KnowledgeEntry](t, r); k.Spec.ActionType == action {
				found = k
				return nil
			}
		}
		return fmt.Errorf("no entry among %d", len(out.GetEntries()))
	})
	return found
}

func auditOfTrace(ctx context.Context, t *testing.T, c fleetv1.FleetClient, traceID string) []string {
	t.Helper()
	out, err := c.ListAudit(ctx, &fleetv1.ListAuditRequest{TraceId: traceID})
	require.NoError(t, err)
	var actions []string
	for _, r := range out.GetRecords() {
		actions = append(actions, r.GetAction())
	}
	return actions
}

func traceIDOf(traceparent string) string {
	parts := strings.Split(traceparent, "-")
	if len(parts) != 4 {
		return ""
	}
	return parts[1]
}

func cli(t *testing.T, hub *testbed.Hub, args ...string) string {
	t.Helper()
	bin, err := testbed.CLIBinary()
	require.NoError(t, err)
	conn, err := hub.CLIConnection(0)
	require.NoError(t, err)
	cmd := exec.Command(bin, append([]string{"--config", conn}, args...)...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "kubectl-aiops %v: %s", args, out)
	return string(out)
}
