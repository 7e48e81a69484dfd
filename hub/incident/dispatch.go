package incident

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubedevaiops/kubedevaiops/api/directive"
	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/store"
	"github.com/kubedevaiops/kubedevaiops/hub/writes"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// Reasons on plan conditions.
const (
	ReasonAwaitingApproval   = "AwaitingApproval"
	ReasonNotAllowed         = "NotAllowedByPolicy"
	ReasonAutoApproved       = "AutoApproved"
	ReasonBlastRadius        = "BlastRadius"
	ReasonSigningUnavailable = "SigningUnavailable"
	ReasonDispatched         = "Dispatched"
)

// Dispatch signs and records the directives of an approved plan the way the leader's loop does
// for remediation plans, for the loops that run plans of other types (hub/onboard); run it on
// the leader. It returns why the plan has to wait (blast radius, signing), and "" once
// dispatched.
func (h *Hub) Dispatch(ctx context.Context, p *hubv1alpha1.Plan, rv uint64) (string, error) {
	if p.Status.Phase != hubv1alpha1.PlanApproved {
		return "", fmt.Errorf("dispatch plan %s: it is %s, not Approved", p.Name, p.Status.Phase)
	}
	actions, err := list[hubv1alpha1.Action](h.store, store.KindAction)
	if err != nil {
		return "", err
	}
	all := make([]*hubv1alpha1.Action, len(actions))
	for i, a := range actions {
		all[i] = a.obj
	}
	return h.dispatch(ctx, p, rv, all)
}

// GoverningPolicy returns the AIOpsPolicy that governs cluster (the most cautious one that
// targets it), or nil when none does.
func (h *Hub) GoverningPolicy(cluster string) (*aiopsv1alpha1.AIOpsPolicy, error) {
	return h.governingPolicy(cluster)
}

// dispatch signs the directives of an approved plan and records them, one Action per planned
// action, in one transaction with the plan's move to Executing and the audit records. The
// members holding the clusters' streams deliver them from there. It returns a reason when the
// plan has to wait (blast radius, signing), and "" once dispatched.
func (h *Hub) dispatch(ctx context.Context, p *hubv1alpha1.Plan, rv uint64, actions []*hubv1alpha1.Action) (string, error) {
	policy, err := h.policyByName(p.Spec.PolicyRef)
	if err != nil {
		return "", err
	}
	if reason := h.blastRadiusHolds(p, policy, actions); reason != "" {
		return reason, h.setPlanCondition(ctx, p, rv, CondDispatched, metav1.ConditionFalse, ReasonBlastRadius, reason)
	}
	if h.signer == nil {
		return "no directive signer is configured", h.setPlanCondition(ctx, p, rv, CondDispatched, metav1.ConditionFalse, ReasonSigningUnavailable,
			"no directive signer is configured on the leader (Vault transit or --state-encryption-key-file)")
	}
	now := h.now().UTC()
	pctx, planSpan := h.childSpan(p.Spec.TraceParent, "plan.dispatch", now, attrPlan.String(p.Name))
	defer planSpan.End()

	ops := []op{}
	next := p.DeepCopy()
	next.Status.Phase = hubv1alpha1.PlanExecuting
	for i, pa := range p.Spec.Actions {
		name := actionName(p.Name, i)
		dctx, span := h.tracer.Start(pctx, "directive.issue", trace.WithAttributes(attrAction.String(name), attrCluster.String(pa.Cluster),
			attribute.String("kubedevaiops.action.type", string(pa.Type))))
		sd, payload, err := h.signDirective(dctx, p, policy, pa, name, now)
		span.End()
		if err != nil {
			reason := fmt.Sprintf("signing the directive of %s failed: %v", name, err)
			return reason, h.setPlanCondition(ctx, p, rv, CondDispatched, metav1.ConditionFalse, ReasonSigningUnavailable, reason)
		}
		raw, err := proto.Marshal(sd)
		if err != nil {
			return "", fmt.Errorf("encode directive %s: %w", name, err)
		}
		start := metav1.NewTime(now.Truncate(time.Second))
		exp := metav1.NewTime(payload.GetExpiresAt().AsTime())
		a := &hubv1alpha1.Action{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{hubv1alpha1.LabelCluster: pa.Cluster, labelPlan: p.Name}},
			Spec: hubv1alpha1.ActionSpec{Cluster: pa.Cluster, Type: pa.Type, Target: pa.Target, Parameters: pa.Parameters, Risk: pa.Risk,
				PlanRef: p.Name, PolicyRef: p.Spec.PolicyRef, Signature: p.Annotations[annotationSignature], DryRun: payload.GetDryRun()},
			Status: hubv1alpha1.ActionStatus{Phase: hubv1alpha1.ActionDispatched, Attempts: 1, StartTime: &start, Directive: raw, ExpiresTime: &exp},
		}
		sum := sha256.Sum256(sd.GetPayload())
		ops = append(ops, create(store.KindAction, a), audit(store.AuditEntry{
			Actor: "hub/" + h.node.ID(), Action: "directive.issue", Target: "Action/" + name, Cluster: pa.Cluster, TraceID: traceIDOf(p.Spec.TraceParent),
			Details: mustJSON(map[string]any{"plan": p.Name, "type": pa.Type, "target": objectString(pa.Target), "parameters": pa.Parameters,
				"dryRun": payload.GetDryRun(), "keyID": sd.GetKeyId(), "expires": exp.UTC().Format(time.RFC3339), "payloadSHA256": hex.EncodeToString(sum[:])}),
		}))
	}
	meta.SetStatusCondition(&next.Status.Conditions, metav1.Condition{Type: CondDispatched, Status: metav1.ConditionTrue, Reason: ReasonDispatched,
		Message: fmt.Sprintf("%d signed directive(s) sent", len(p.Spec.Actions))})
	ops = append([]op{update(store.KindPlan, next, rv)}, ops...)
	cmd, err := transaction(ops...)
	if err != nil {
		return "", fmt.Errorf("encode the dispatch of plan %s: %w", p.Name, err)
	}
	if _, err := writes.One(ctx, h.node, cmd); err != nil {
		return "", fmt.Errorf("record the dispatch of plan %s: %w", p.Name, err)
	}
	h.log.Info("plan dispatched", "plan", p.Name, "actions", len(p.Spec.Actions), "trace_id", traceIDOf(p.Spec.TraceParent))
	return "", nil
}

// signDirective builds and signs the directive for one planned action.
func (h *Hub) signDirective(ctx context.Context, p *hubv1alpha1.Plan, policy *aiopsv1alpha1.AIOpsPolicy, pa hubv1alpha1.PlannedAction, id string, now time.Time) (*fleetv1.SignedDirective, *fleetv1.DirectivePayload, error) {
	values := map[string]string{}
	for k, v := range pa.Parameters {
		values[k] = v
	}
	if _, set := values["verifyTimeout"]; !set && h.verify > 0 {
		values["verifyTimeout"] = h.verify.String()
	}
	params, err := json.Marshal(values)
	if err != nil {
		return nil, nil, err
	}
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return nil, nil, err
	}
	group, version := splitAPIVersion(pa.Target.APIVersion)
	payload := &fleetv1.DirectivePayload{
		ActionId: id, Audience: pa.Cluster, ActionType: string(pa.Type),
		Target:         &fleetv1.ObjectRef{Group: group, Version: version, Kind: pa.Target.Kind, Namespace: pa.Target.Namespace, Name: pa.Target.Name},
		ParametersJson: params, DryRun: h.dryRun || p.Spec.DryRun || (policy != nil && policy.Spec.DryRun),
		IssuedAt: timestamppb.New(now), ExpiresAt: timestamppb.New(now.Add(h.ttl)), Nonce: nonce,
		TraceContext: traceContextOf(ctx), PlanId: p.Name, PolicyName: p.Spec.PolicyRef, Issuer: h.node.ID(),
	}
	b, err := directive.EncodePayload(payload)
	if err != nil {
		return nil, nil, err
	}
	sd, err := h.signer.Sign(ctx, b)
	if err != nil {
		return nil, nil, err
	}
	return sd, payload, nil
}

func splitAPIVersion(av string) (group, version string) {
	if i := strings.LastIndex(av, "/"); i >= 0 {
		return av[:i], av[i+1:]
	}
	return "", av
}

// blastRadiusHolds returns why the plan must wait under the policy's blast radius, or "".
// maxConcurrentClusters counts the clusters with unfinished actions under the same policy;
// maxActionsPerClusterPerHour the actions dispatched to the cluster in the last hour.
func (h *Hub) blastRadiusHolds(p *hubv1alpha1.Plan, policy *aiopsv1alpha1.AIOpsPolicy, all []*hubv1alpha1.Action) string {
	if policy == nil || policy.Spec.BlastRadius == nil {
		return ""
	}
	br := policy.Spec.BlastRadius
	now := h.now()
	busy := map[string]bool{}
	perCluster := map[string]int{}
	for _, a := range all {
		if a.Spec.PolicyRef == policy.Name && !finalAction(a.Status.Phase) {
			busy[a.Spec.Cluster] = true
		}
		if a.Status.StartTime != nil && now.Sub(a.Status.StartTime.Time) < time.Hour {
			perCluster[a.Spec.Cluster]++
		}
	}
	for _, pa := range p.Spec.Actions {
		if max := br.MaxConcurrentClusters; max > 0 && !busy[pa.Cluster] && int32(len(busy)) >= max {
			return fmt.Sprintf("policy %s allows actions on %d cluster(s) at once and %d are busy", policy.Name, max, len(busy))
		}
		if max := br.MaxActionsPerClusterPerHour; max != nil && int32(perCluster[pa.Cluster]) >= *max {
			return fmt.Sprintf("policy %s allows %d action(s) per cluster per hour and %s had %d", policy.Name, *max, pa.Cluster, perCluster[pa.Cluster])
		}
	}
	return ""
}

func finalAction(p hubv1alpha1.ActionPhase) bool {
	switch p {
	case hubv1alpha1.ActionSucceeded, hubv1alpha1.ActionFailed, hubv1alpha1.ActionRolledBack, hubv1alpha1.ActionRejected:
		return true
	}
	return false
}

func (h *Hub) policyByName(name string) (*aiopsv1alpha1.AIOpsPolicy, error) {
	if name == "" {
		return nil, nil
	}
	res, err := h.store.Get(store.KindAIOpsPolicy, "", name)
	if err != nil {
		return nil, fmt.Errorf("AIOpsPolicy %s is gone", name)
	}
	var p aiopsv1alpha1.AIOpsPolicy
	if err := res.Decode(&p); err != nil {
		return nil, fmt.Errorf("stored AIOpsPolicy %s: %w", name, err)
	}
	return &p, nil
}

// setPlanCondition records a condition on a plan, writing only when it changes.
func (h *Hub) setPlanCondition(ctx context.Context, p *hubv1alpha1.Plan, rv uint64, typ string, s metav1.ConditionStatus, reason, msg string) error {
	if c := meta.FindStatusCondition(p.Status.Conditions, typ); c != nil && c.Status == s && c.Reason == reason && c.Message == msg {
		return nil
	}
	next := p.DeepCopy()
	meta.SetStatusCondition(&next.Status.Conditions, metav1.Condition{Type: typ, Status: s, Reason: reason, Message: msg})
	cmd, err := update(store.KindPlan, next, rv).cmd()
	if err != nil {
		return err
	}
	_, err = writes.One(ctx, h.node, cmd)
	return err
}
