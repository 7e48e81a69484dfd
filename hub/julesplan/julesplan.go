package julesplan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/ai/jules"
	"github.com/kubedevaiops/kubedevaiops/hub/incident"
	"github.com/kubedevaiops/kubedevaiops/hub/raftnode"
	"github.com/kubedevaiops/kubedevaiops/hub/store"
	"github.com/kubedevaiops/kubedevaiops/hub/telemetry"
	"github.com/kubedevaiops/kubedevaiops/hub/writes"
)

// CondJules is the plan condition saying whether Jules was told of the approval.
const CondJules = "Jules"

// Proposer is who these plans are proposed by; people approve them.
const Proposer = "engine/jules"

// Annotations every such plan carries.
const (
	// AnnotationSession names the JulesSession record the plan reviews.
	AnnotationSession = hubv1alpha1.Group + "/jules-session"
	// AnnotationJulesPlan is the id of the Jules plan the plan shows; approving the plan
	// approves exactly that one.
	AnnotationJulesPlan = hubv1alpha1.Group + "/jules-plan"
)

// Policies names a cluster's governing policy (hub/incident).
type Policies interface {
	GoverningPolicy(cluster string) (*aiopsv1alpha1.AIOpsPolicy, error)
}

// Plans writes the plans of one use of Jules.
type Plans struct {
	Node     *raftnode.Node
	Store    *store.Store
	Tracker  *jules.Tracker
	Policies Policies
	// Actor is who the audit records of ending plans name, e.g. "hub/onboard".
	Actor  string
	Tracer trace.Tracer
	Logger *slog.Logger
	Now    func() time.Time
}

// Proposal is a plan to propose for a session's Jules plan.
type Proposal struct {
	Session *hubv1alpha1.JulesSession
	// Cluster is the cluster the plan is about, "" for none; its governing policy's four-eyes
	// rule asks for two approvals.
	Cluster string
	// Spec is the plan's spec; ProposedBy, Engine, InputDigest, RequiredApprovals and
	// TraceParent are filled in.
	Spec hubv1alpha1.PlanSpec
	// Annotations are added to the session and Jules plan ones.
	Annotations map[string]string
	// Details are added to the audit record of the proposal.
	Details map[string]any
	// Attributes are added to the proposal's span.
	Attributes []attribute.KeyValue
}

// Propose records the plan people review a session's Jules plan in, named jules.PlanName, and
// returns its name. Called again until the name is recorded (the tracker's PlanReady hook), so
// a plan already there is returned as it is.
func (ps Plans) Propose(ctx context.Context, pr Proposal) (string, error) {
	js := pr.Session
	name := jules.PlanName(js)
	if _, err := ps.Store.Get(store.KindPlan, "", name); err == nil {
		return name, nil
	}
	required := int32(1)
	if pr.Cluster != "" {
		if pol, err := ps.Policies.GoverningPolicy(pr.Cluster); err == nil && pol != nil && pol.Spec.Approval != nil && pol.Spec.Approval.FourEyes {
			required = 2
		}
	}
	_, span := ps.Tracer.Start(telemetry.WithTraceparent(ctx, js.Spec.TraceParent), "plan.propose", trace.WithAttributes(
		append([]attribute.KeyValue{attrPlan.String(name), attrRecord.String(js.Name), attrJulesPlan.String(js.Status.Plan.ID)}, pr.Attributes...)...))
	defer span.End()
	annotations := map[string]string{AnnotationSession: js.Name, AnnotationJulesPlan: js.Status.Plan.ID}
	for k, v := range pr.Annotations {
		annotations[k] = v
	}
	spec := pr.Spec
	spec.ProposedBy, spec.Engine, spec.InputDigest, spec.RequiredApprovals = Proposer, "jules", digest(js.Spec.Prompt), required
	spec.TraceParent = telemetry.Traceparent(trace.ContextWithSpan(context.Background(), span))
	if pr.Cluster != "" {
		spec.Targets.Clusters = []string{pr.Cluster}
	}
	p := &hubv1alpha1.Plan{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations},
		Spec:       spec,
		Status: hubv1alpha1.PlanStatus{Phase: hubv1alpha1.PlanProposed, Conditions: []metav1.Condition{{
			Type: incident.CondApproved, Status: metav1.ConditionFalse, Reason: incident.ReasonAwaitingApproval,
			LastTransitionTime: metav1.NewTime(ps.now().UTC().Truncate(time.Second)),
			Message:            fmt.Sprintf("needs %d approval(s) by people: kubectl aiops plans approve %s", required, name),
		}}},
	}
	details := map[string]any{"julesSession": js.Name, "julesPlan": js.Status.Plan.ID, "steps": len(js.Status.Plan.Steps), "requiredApprovals": required}
	for k, v := range pr.Details {
		details[k] = v
	}
	cmd, err := store.EncodeCreate(store.KindPlan, p)
	if err == nil {
		cmd, err = store.WithAudit(cmd, store.AuditEntry{Actor: Proposer, Action: "plan.propose", Target: "Plan/" + name, Cluster: pr.Cluster,
			TraceID: span.SpanContext().TraceID().String(), Details: MustJSON(details)})
	}
	if err != nil {
		return "", fmt.Errorf("encode %s plan %s: %w", spec.Type, name, err)
	}
	if _, err := writes.One(ctx, ps.Node, cmd); err != nil && !errors.Is(err, store.ErrAlreadyExists) {
		return "", fmt.Errorf("record %s plan %s: %w", spec.Type, name, err)
	}
	ps.log().Info(string(spec.Type)+" plan proposed", "plan", name, "jules_record", js.Name, "trace_id", span.SpanContext().TraceID().String())
	return name, nil
}

// Steps lists a Jules plan's steps, one line each, for a rationale.
func Steps(js *hubv1alpha1.JulesSession) string {
	var b strings.Builder
	for i, s := range js.Status.Plan.Steps {
		fmt.Fprintf(&b, "%d. %s", i+1, s.Title)
		if s.Description != "" {
			b.WriteString(" — " + s.Description)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// Review moves a plan on while people review it and Jules works: a Proposed plan ends when
// its session is gone, failed or replaced its plan; once Approved, Jules is told (with the
// approvers' names) and the plan's Jules condition says so; once Rejected, the session is
// closed. What comes after (the session's result) is the caller's.
func (ps Plans) Review(ctx context.Context, p *hubv1alpha1.Plan, rv uint64, js *hubv1alpha1.JulesSession) error {
	julesPlan := p.Annotations[AnnotationJulesPlan]
	switch p.Status.Phase {
	case hubv1alpha1.PlanProposed:
		switch {
		case js == nil:
			return ps.End(ctx, p, rv, hubv1alpha1.PlanCancelled, "SessionGone", "the Jules session record is gone")
		case js.Status.Phase == hubv1alpha1.JulesFailed:
			return ps.End(ctx, p, rv, hubv1alpha1.PlanFailed, "JulesFailed", js.Status.Message)
		case js.Status.Plan != nil && js.Status.Plan.ID != julesPlan:
			return ps.End(ctx, p, rv, hubv1alpha1.PlanCancelled, "JulesReplanned",
				fmt.Sprintf("Jules replaced plan %s with %s; review the new plan %s", julesPlan, js.Status.Plan.ID, jules.PlanName(js)))
		}
	case hubv1alpha1.PlanApproved:
		switch {
		case js == nil:
			return ps.End(ctx, p, rv, hubv1alpha1.PlanFailed, "SessionGone", "the Jules session record is gone")
		case js.Status.Phase == hubv1alpha1.JulesFailed:
			return ps.End(ctx, p, rv, hubv1alpha1.PlanFailed, "JulesFailed", js.Status.Message)
		case js.Status.Approval != nil && js.Status.Approval.PlanID == julesPlan:
			msg := fmt.Sprintf("Jules was told of the approval by %s; it works on the change (session %s)", js.Status.Approval.By, js.Status.State)
			reason := "Approved"
			if js.Status.Approval.SentTime == nil {
				reason, msg = "Pending", fmt.Sprintf("the approval by %s is recorded; the leader sends it to Jules", js.Status.Approval.By)
			}
			return ps.SetCondition(ctx, p, rv, CondJules, metav1.ConditionTrue, reason, msg)
		case js.Status.Phase == hubv1alpha1.JulesActive:
			traceID := telemetry.TraceIDOf(p.Spec.TraceParent)
			if _, err := ps.Tracker.ApprovePlan(ctx, js.Name, julesPlan, Approvers(p)); err != nil {
				ps.log().Warn("telling jules of the approval failed", "plan", p.Name, "jules_record", js.Name, "err", err, "trace_id", traceID)
				return ps.SetCondition(ctx, p, rv, CondJules, metav1.ConditionFalse, "ApprovalNotSent", Truncate(err.Error(), 1024))
			}
			ps.log().Info("jules plan approved", "plan", p.Name, "jules_record", js.Name, "by", Approvers(p), "trace_id", traceID)
		}
	case hubv1alpha1.PlanRejected:
		// People said no: the session would wait for an approval forever.
		if js != nil && (js.Status.Phase == hubv1alpha1.JulesActive || js.Status.Phase == hubv1alpha1.JulesPending) && js.Status.PlanRef == p.Name {
			return ps.Tracker.Close(ctx, js.Name, fmt.Sprintf("plan %s, which reviews its Jules plan, was rejected", p.Name), ps.Actor)
		}
	}
	return nil
}

// Approvers names the people who approved a plan, for the Jules approval.
func Approvers(p *hubv1alpha1.Plan) string {
	var by []string
	for _, a := range p.Status.Approvals {
		if a.Approved {
			by = append(by, a.By)
		}
	}
	return strings.Join(by, ",")
}

// Final says whether a plan phase is one a plan does not leave.
func Final(p hubv1alpha1.PlanPhase) bool {
	switch p {
	case hubv1alpha1.PlanSucceeded, hubv1alpha1.PlanFailed, hubv1alpha1.PlanRejected, hubv1alpha1.PlanCancelled:
		return true
	}
	return false
}

// End ends a plan that will not succeed, with the reason, audited.
func (ps Plans) End(ctx context.Context, p *hubv1alpha1.Plan, rv uint64, phase hubv1alpha1.PlanPhase, reason, msg string) error {
	next := p.DeepCopy()
	next.Status.Phase = phase
	meta.SetStatusCondition(&next.Status.Conditions, metav1.Condition{Type: incident.CondCompleted, Status: metav1.ConditionFalse, Reason: reason, Message: msg})
	cmd, err := store.EncodeUpdate(store.KindPlan, next, rv)
	if err == nil {
		cmd, err = store.WithAudit(cmd, store.AuditEntry{Actor: ps.Actor, Action: "plan." + strings.ToLower(string(phase)), Target: "Plan/" + p.Name,
			Cluster: FirstCluster(p), TraceID: telemetry.TraceIDOf(p.Spec.TraceParent), Details: MustJSON(map[string]string{"reason": reason, "message": Truncate(msg, 512)})})
	}
	if err != nil {
		return err
	}
	if _, err := writes.One(ctx, ps.Node, cmd); err != nil {
		return fmt.Errorf("end plan %s: %w", p.Name, err)
	}
	ps.log().Info(string(p.Spec.Type)+" plan ended", "plan", p.Name, "phase", phase, "reason", reason, "trace_id", telemetry.TraceIDOf(p.Spec.TraceParent))
	return nil
}

// SetCondition records a condition on a plan, writing only when it changes.
func (ps Plans) SetCondition(ctx context.Context, p *hubv1alpha1.Plan, rv uint64, typ string, s metav1.ConditionStatus, reason, msg string) error {
	if c := meta.FindStatusCondition(p.Status.Conditions, typ); c != nil && c.Status == s && c.Reason == reason && c.Message == msg {
		return nil
	}
	next := p.DeepCopy()
	meta.SetStatusCondition(&next.Status.Conditions, metav1.Condition{Type: typ, Status: s, Reason: reason, Message: msg})
	cmd, err := store.EncodeUpdate(store.KindPlan, next, rv)
	if err != nil {
		return err
	}
	_, err = writes.One(ctx, ps.Node, cmd)
	return err
}

func (ps Plans) log() *slog.Logger {
	if ps.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return ps.Logger
}

func (ps Plans) now() time.Time {
	if ps.Now == nil {
		return time.Now()
	}
	return ps.Now()
}

// FirstCluster is the first cluster a plan targets, "" for none.
func FirstCluster(p *hubv1alpha1.Plan) string {
	if len(p.Spec.Targets.Clusters) > 0 {
		return p.Spec.Targets.Clusters[0]
	}
	return ""
}

// Truncate cuts s to at most n bytes.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// MustJSON encodes v for an audit record's details; nil when it cannot be encoded.
func MustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}
