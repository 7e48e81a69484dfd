package onboard

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
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
	"github.com/kubedevaiops/kubedevaiops/hub/store"
	"github.com/kubedevaiops/kubedevaiops/hub/telemetry"
	"github.com/kubedevaiops/kubedevaiops/hub/writes"
)

// Condition types an onboarding plan carries besides the incident loop's (Approved,
// Dispatched, Completed).
const (
	// CondJules says whether Jules was told of the approval.
	CondJules = "Jules"
	// CondPatch says whether the patch Jules produced was stored and its manifests extracted.
	CondPatch = "Patch"
)

// planReady is the tracker's PlanReady hook: it records the Plan people review the Jules plan
// in. Called again until its name is recorded, so it is idempotent (a stable name).
func (o *Onboarder) planReady(ctx context.Context, js *hubv1alpha1.JulesSession) (string, error) {
	name := jules.PlanName(js)
	if _, err := o.store.Get(store.KindPlan, "", name); err == nil {
		return name, nil
	}
	app, _ := o.application(js.Spec.ApplicationRef)
	cluster := ""
	if app != nil {
		cluster = app.Spec.Cluster
	}
	required := int32(1)
	if cluster != "" {
		if pol, err := o.plans.GoverningPolicy(cluster); err == nil && pol != nil && pol.Spec.Approval != nil && pol.Spec.Approval.FourEyes {
			required = 2
		}
	}
	_, span := o.tracer.Start(telemetry.WithTraceparent(ctx, js.Spec.TraceParent), "plan.propose", trace.WithAttributes(
		attribute.String("kubedevaiops.plan", name), attribute.String("kubedevaiops.application", js.Spec.ApplicationRef),
		attribute.String("jules.record", js.Name), attribute.String("jules.plan", js.Status.Plan.ID)))
	defer span.End()
	now := metav1.NewTime(o.now().UTC().Truncate(time.Second))
	p := &hubv1alpha1.Plan{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{
			AnnotationSession: js.Name, AnnotationJulesPlan: js.Status.Plan.ID, AnnotationApplication: js.Spec.ApplicationRef,
		}},
		Spec: hubv1alpha1.PlanSpec{
			Type:              hubv1alpha1.PlanOnboarding,
			Summary:           truncate(fmt.Sprintf("onboard %s: Jules proposes %d step(s) for %s", js.Spec.ApplicationRef, len(js.Status.Plan.Steps), js.Spec.Source), 300),
			Rationale:         rationale(js, cluster),
			ProposedBy:        Proposer,
			Engine:            "jules",
			InputDigest:       digest(js.Spec.Prompt),
			RequiredApprovals: required,
			DryRun:            true,
			TraceParent:       telemetry.Traceparent(trace.ContextWithSpan(context.Background(), span)),
		},
		Status: hubv1alpha1.PlanStatus{Phase: hubv1alpha1.PlanProposed, Conditions: []metav1.Condition{{
			Type: incident.CondApproved, Status: metav1.ConditionFalse, Reason: incident.ReasonAwaitingApproval, LastTransitionTime: now,
			Message: fmt.Sprintf("needs %d approval(s) by people: kubectl aiops plans approve %s", required, name),
		}}},
	}
	if cluster != "" {
		p.Spec.Targets.Clusters = []string{cluster}
	}
	cmd, err := store.EncodeCreate(store.KindPlan, p)
	if err == nil {
		cmd, err = store.WithAudit(cmd, store.AuditEntry{Actor: Proposer, Action: "plan.propose", Target: "Plan/" + name, Cluster: cluster,
			TraceID: span.SpanContext().TraceID().String(),
			Details: mustJSON(map[string]any{"application": js.Spec.ApplicationRef, "julesSession": js.Name, "julesPlan": js.Status.Plan.ID,
				"steps": len(js.Status.Plan.Steps), "requiredApprovals": required})})
	}
	if err != nil {
		return "", fmt.Errorf("encode onboarding plan %s: %w", name, err)
	}
	if _, err := writes.One(ctx, o.node, cmd); err != nil && !errors.Is(err, store.ErrAlreadyExists) {
		return "", fmt.Errorf("record onboarding plan %s: %w", name, err)
	}
	o.log.Info("onboarding plan proposed", "plan", name, "application", js.Spec.ApplicationRef, "trace_id", span.SpanContext().TraceID().String())
	return name, nil
}

// rationale shows the Jules plan's steps and what approving it does.
func rationale(js *hubv1alpha1.JulesSession, cluster string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Jules plan %s for onboarding ManagedApplication %s (repository %s", js.Status.Plan.ID, js.Spec.ApplicationRef, js.Spec.Source)
	if js.Spec.StartingBranch != "" {
		fmt.Fprintf(&b, ", branch %s", js.Spec.StartingBranch)
	}
	b.WriteString("):\n")
	for i, s := range js.Status.Plan.Steps {
		fmt.Fprintf(&b, "%d. %s", i+1, s.Title)
		if s.Description != "" {
			b.WriteString(" — " + s.Description)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "Approving this plan approves Jules plan %s of session %s (%s). ", js.Status.Plan.ID, js.Status.SessionName, js.Status.URL)
	if cluster != "" {
		fmt.Fprintf(&b, "Once Jules is done, the manifests of its patch are dry-run on cluster %s (server-side; nothing is changed).", cluster)
	} else {
		b.WriteString("The application names no cluster: its manifests cannot be dry-run.")
	}
	return truncate(b.String(), 8<<10)
}

// advance moves one onboarding plan on: tells Jules once people approved it, dispatches its
// dry-run once the patch is in, and ends it when the session went away or moved on.
func (o *Onboarder) advance(ctx context.Context, p *hubv1alpha1.Plan, rv uint64, js *hubv1alpha1.JulesSession) error {
	julesPlan := p.Annotations[AnnotationJulesPlan]
	switch p.Status.Phase {
	case hubv1alpha1.PlanProposed:
		switch {
		case js == nil:
			return o.endPlan(ctx, p, rv, hubv1alpha1.PlanCancelled, "SessionGone", "the Jules session record is gone")
		case js.Status.Phase == hubv1alpha1.JulesFailed:
			return o.endPlan(ctx, p, rv, hubv1alpha1.PlanFailed, "JulesFailed", js.Status.Message)
		case js.Status.Plan != nil && js.Status.Plan.ID != julesPlan:
			return o.endPlan(ctx, p, rv, hubv1alpha1.PlanCancelled, "JulesReplanned",
				fmt.Sprintf("Jules replaced plan %s with %s; review the new plan %s", julesPlan, js.Status.Plan.ID, jules.PlanName(js)))
		}
	case hubv1alpha1.PlanApproved:
		switch {
		case len(p.Spec.Actions) > 0:
			waiting, err := o.plans.Dispatch(ctx, p, rv)
			if err == nil && waiting != "" {
				o.log.Info("onboarding dry-run waits", "plan", p.Name, "reason", waiting)
			}
			return err
		case js == nil:
			return o.endPlan(ctx, p, rv, hubv1alpha1.PlanFailed, "SessionGone", "the Jules session record is gone")
		case js.Status.Phase == hubv1alpha1.JulesFailed:
			return o.endPlan(ctx, p, rv, hubv1alpha1.PlanFailed, "JulesFailed", js.Status.Message)
		case js.Status.Approval != nil && js.Status.Approval.PlanID == julesPlan:
			msg := fmt.Sprintf("Jules was told of the approval by %s; it works on the change (session %s)", js.Status.Approval.By, js.Status.State)
			reason := "Approved"
			if js.Status.Approval.SentTime == nil {
				reason, msg = "Pending", fmt.Sprintf("the approval by %s is recorded; the leader sends it to Jules", js.Status.Approval.By)
			}
			return o.setCondition(ctx, p, rv, CondJules, metav1.ConditionTrue, reason, msg)
		case js.Status.Phase == hubv1alpha1.JulesActive:
			_, err := o.tracker.ApprovePlan(ctx, js.Name, julesPlan, approvers(p))
			if err != nil {
				o.log.Warn("telling jules of the approval failed", "plan", p.Name, "jules_record", js.Name, "err", err, "trace_id", telemetry.TraceIDOf(p.Spec.TraceParent))
				return o.setCondition(ctx, p, rv, CondJules, metav1.ConditionFalse, "ApprovalNotSent", truncate(err.Error(), 1024))
			}
			o.log.Info("jules plan approved", "plan", p.Name, "jules_record", js.Name, "by", approvers(p), "trace_id", telemetry.TraceIDOf(p.Spec.TraceParent))
		}
	}
	return nil
}

// approvers names the people who approved a plan, for the Jules approval.
func approvers(p *hubv1alpha1.Plan) string {
	var by []string
	for _, a := range p.Status.Approvals {
		if a.Approved {
			by = append(by, a.By)
		}
	}
	return strings.Join(by, ",")
}

// finished is the tracker's Finished hook: a completed session's patch becomes the plan's
// dry-run action; a failed session fails the plan. Called until it returns nil.
func (o *Onboarder) finished(ctx context.Context, js *hubv1alpha1.JulesSession) error {
	if js.Spec.Purpose != hubv1alpha1.JulesOnboarding || js.Status.PlanRef == "" {
		return nil
	}
	res, err := o.store.Get(store.KindPlan, "", js.Status.PlanRef)
	if err != nil {
		return nil // no plan to carry the result (deleted): the session's record keeps it
	}
	var p hubv1alpha1.Plan
	if err := res.Decode(&p); err != nil {
		return fmt.Errorf("stored plan %s: %w", js.Status.PlanRef, err)
	}
	if finalPlan(p.Status.Phase) || p.Status.Phase == hubv1alpha1.PlanExecuting || len(p.Spec.Actions) > 0 {
		return nil
	}
	rv := res.ResourceVersion
	switch {
	case js.Status.Phase == hubv1alpha1.JulesFailed:
		return o.endPlan(ctx, &p, rv, hubv1alpha1.PlanFailed, "JulesFailed", js.Status.Message)
	case p.Status.Phase != hubv1alpha1.PlanApproved:
		return o.endPlan(ctx, &p, rv, hubv1alpha1.PlanFailed, "NotApproved", "Jules finished the session before people approved the plan; nothing is dry-run")
	}
	app, err := o.application(js.Spec.ApplicationRef)
	if err != nil {
		return o.endPlan(ctx, &p, rv, hubv1alpha1.PlanFailed, "ApplicationGone", err.Error())
	}
	dr, err := dryRunOf(js, app)
	if err != nil {
		return o.endPlan(ctx, &p, rv, hubv1alpha1.PlanFailed, "InvalidPatch", truncate(err.Error(), 2048))
	}
	pol, err := o.plans.GoverningPolicy(app.Spec.Cluster)
	if err != nil {
		return err
	}
	if reason := allows(pol, app.Spec.Cluster); reason != "" {
		return o.endPlan(ctx, &p, rv, hubv1alpha1.PlanFailed, incident.ReasonNotAllowed, "the patch is stored but its manifests cannot be dry-run: "+reason)
	}
	next := p.DeepCopy()
	next.Spec.Actions = []hubv1alpha1.PlannedAction{dr.action}
	next.Spec.DryRun, next.Spec.PolicyRef = true, pol.Name
	next.Annotations[AnnotationPatch] = js.Status.Patch.SHA256
	meta.SetStatusCondition(&next.Status.Conditions, metav1.Condition{Type: CondPatch, Status: metav1.ConditionTrue, Reason: "PatchStored", Message: dr.summary})
	cmd, err := store.EncodeUpdate(store.KindPlan, next, rv)
	if err == nil {
		cmd, err = store.WithAudit(cmd, store.AuditEntry{Actor: "hub/onboard", Action: "onboard.patch", Target: "Plan/" + p.Name, Cluster: app.Spec.Cluster,
			TraceID: telemetry.TraceIDOf(p.Spec.TraceParent), Details: mustJSON(map[string]any{"julesSession": js.Name, "patchSHA256": js.Status.Patch.SHA256,
				"patchFiles": js.Status.Patch.Files, "manifests": dr.objects, "bestPracticeFindings": len(dr.findings), "policy": pol.Name})})
	}
	if err != nil {
		return fmt.Errorf("encode the patch of plan %s: %w", p.Name, err)
	}
	if _, err := writes.One(ctx, o.node, cmd); err != nil {
		return fmt.Errorf("record the patch of plan %s: %w", p.Name, err)
	}
	o.log.Info("onboarding patch stored; its manifests go to a dry-run", "plan", p.Name, "cluster", app.Spec.Cluster, "manifests", len(dr.objects),
		"trace_id", telemetry.TraceIDOf(p.Spec.TraceParent))
	return nil
}

// allows says why pol does not let ApplyManifests run on cluster, or "".
func allows(pol *aiopsv1alpha1.AIOpsPolicy, cluster string) string {
	switch {
	case pol == nil:
		return fmt.Sprintf("no AIOpsPolicy governs cluster %s", cluster)
	case pol.Spec.Autonomy == aiopsv1alpha1.AutonomyObserve:
		return fmt.Sprintf("AIOpsPolicy %s only observes", pol.Name)
	case !slices.ContainsFunc(pol.Spec.AllowedActions, func(a aiopsv1alpha1.AllowedAction) bool { return a.Type == aiopsv1alpha1.ActionApplyManifests }):
		return fmt.Sprintf("AIOpsPolicy %s does not allow ApplyManifests", pol.Name)
	}
	return ""
}

func finalPlan(p hubv1alpha1.PlanPhase) bool {
	switch p {
	case hubv1alpha1.PlanSucceeded, hubv1alpha1.PlanFailed, hubv1alpha1.PlanRejected, hubv1alpha1.PlanCancelled:
		return true
	}
	return false
}

// endPlan ends a plan that will not run, with the reason, audited.
func (o *Onboarder) endPlan(ctx context.Context, p *hubv1alpha1.Plan, rv uint64, phase hubv1alpha1.PlanPhase, reason, msg string) error {
	next := p.DeepCopy()
	next.Status.Phase = phase
	meta.SetStatusCondition(&next.Status.Conditions, metav1.Condition{Type: incident.CondCompleted, Status: metav1.ConditionFalse, Reason: reason, Message: msg})
	cmd, err := store.EncodeUpdate(store.KindPlan, next, rv)
	if err == nil {
		cmd, err = store.WithAudit(cmd, store.AuditEntry{Actor: "hub/onboard", Action: "plan." + strings.ToLower(string(phase)), Target: "Plan/" + p.Name,
			Cluster: firstCluster(p), TraceID: telemetry.TraceIDOf(p.Spec.TraceParent), Details: mustJSON(map[string]string{"reason": reason, "message": truncate(msg, 512)})})
	}
	if err != nil {
		return err
	}
	if _, err := writes.One(ctx, o.node, cmd); err != nil {
		return fmt.Errorf("end plan %s: %w", p.Name, err)
	}
	o.log.Info("onboarding plan ended", "plan", p.Name, "phase", phase, "reason", reason, "trace_id", telemetry.TraceIDOf(p.Spec.TraceParent))
	return nil
}

// setCondition records a condition on a plan, writing only when it changes.
func (o *Onboarder) setCondition(ctx context.Context, p *hubv1alpha1.Plan, rv uint64, typ string, s metav1.ConditionStatus, reason, msg string) error {
	if c := meta.FindStatusCondition(p.Status.Conditions, typ); c != nil && c.Status == s && c.Reason == reason && c.Message == msg {
		return nil
	}
	next := p.DeepCopy()
	meta.SetStatusCondition(&next.Status.Conditions, metav1.Condition{Type: typ, Status: s, Reason: reason, Message: msg})
	cmd, err := store.EncodeUpdate(store.KindPlan, next, rv)
	if err != nil {
		return err
	}
	_, err = writes.One(ctx, o.node, cmd)
	return err
}

func (o *Onboarder) application(ref string) (*aiopsv1alpha1.ManagedApplication, error) {
	ns, name, ok := strings.Cut(ref, "/")
	if !ok {
		return nil, fmt.Errorf("application reference %q is not namespace/name", ref)
	}
	res, err := o.store.Get(store.KindManagedApplication, ns, name)
	if err != nil {
		return nil, fmt.Errorf("ManagedApplication %s is gone", ref)
	}
	var app aiopsv1alpha1.ManagedApplication
	if err := res.Decode(&app); err != nil {
		return nil, fmt.Errorf("stored ManagedApplication %s: %w", ref, err)
	}
	return &app, nil
}

func firstCluster(p *hubv1alpha1.Plan) string {
	if len(p.Spec.Targets.Clusters) > 0 {
		return p.Spec.Targets.Clusters[0]
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}
