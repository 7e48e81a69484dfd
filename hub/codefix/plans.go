package codefix

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/ai/jules"
	"github.com/kubedevaiops/kubedevaiops/hub/incident"
	"github.com/kubedevaiops/kubedevaiops/hub/store"
	"github.com/kubedevaiops/kubedevaiops/hub/telemetry"
	"github.com/kubedevaiops/kubedevaiops/hub/writes"
)

// Condition types a code-fix plan carries besides the incident loop's Approved and Completed.
const (
	// CondJules says whether Jules was told of the approval.
	CondJules = "Jules"
	// CondPatch says whether the change Jules made was stored.
	CondPatch = "Patch"
)

// planReady is the tracker's PlanReady hook for code-fix sessions: it records the Plan people
// review the Jules plan in. Called again until its name is recorded, so it is idempotent.
func (f *Fixer) planReady(ctx context.Context, js *hubv1alpha1.JulesSession) (string, error) {
	name := jules.PlanName(js)
	if _, err := f.store.Get(store.KindPlan, "", name); err == nil {
		return name, nil
	}
	cluster := ""
	if res, err := f.store.Get(store.KindIncident, "", js.Spec.IncidentRef); err == nil {
		var inc hubv1alpha1.Incident
		if err := res.Decode(&inc); err == nil {
			cluster = inc.Spec.Cluster
		}
	}
	required := int32(1)
	if cluster != "" {
		if pol, err := f.policies.GoverningPolicy(cluster); err == nil && pol != nil && pol.Spec.Approval != nil && pol.Spec.Approval.FourEyes {
			required = 2
		}
	}
	_, span := f.tracer.Start(telemetry.WithTraceparent(ctx, js.Spec.TraceParent), "plan.propose", trace.WithAttributes(
		attribute.String("kubedevaiops.plan", name), attribute.String("kubedevaiops.incident", js.Spec.IncidentRef),
		attribute.String("kubedevaiops.application", js.Spec.ApplicationRef),
		attribute.String("jules.record", js.Name), attribute.String("jules.plan", js.Status.Plan.ID)))
	defer span.End()
	now := metav1.NewTime(f.now().UTC().Truncate(time.Second))
	p := &hubv1alpha1.Plan{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{
			AnnotationSession: js.Name, AnnotationJulesPlan: js.Status.Plan.ID, AnnotationApplication: js.Spec.ApplicationRef,
			AnnotationIncident: js.Spec.IncidentRef,
		}},
		Spec: hubv1alpha1.PlanSpec{
			Type: hubv1alpha1.PlanCodeFix,
			Summary: truncate(fmt.Sprintf("code fix for %s (incident %s): Jules proposes %d step(s) in %s", js.Spec.ApplicationRef, js.Spec.IncidentRef,
				len(js.Status.Plan.Steps), js.Spec.Source), 300),
			Rationale:         rationale(js),
			ProposedBy:        Proposer,
			Engine:            "jules",
			InputDigest:       digest(js.Spec.Prompt),
			RequiredApprovals: required,
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
			Details: mustJSON(map[string]any{"incident": js.Spec.IncidentRef, "application": js.Spec.ApplicationRef, "julesSession": js.Name,
				"julesPlan": js.Status.Plan.ID, "steps": len(js.Status.Plan.Steps), "requiredApprovals": required})})
	}
	if err != nil {
		return "", fmt.Errorf("encode code-fix plan %s: %w", name, err)
	}
	if _, err := writes.One(ctx, f.node, cmd); err != nil && !errors.Is(err, store.ErrAlreadyExists) {
		return "", fmt.Errorf("record code-fix plan %s: %w", name, err)
	}
	f.log.Info("code-fix plan proposed", "plan", name, "incident", js.Spec.IncidentRef, "trace_id", span.SpanContext().TraceID().String())
	return name, nil
}

// rationale shows the Jules plan's steps and what approving it does.
func rationale(js *hubv1alpha1.JulesSession) string {
	var b strings.Builder
	fmt.Fprintf(&b, "The diagnosis of incident %s places its root cause in the code of ManagedApplication %s. Jules plan %s for a fix in repository %s",
		js.Spec.IncidentRef, js.Spec.ApplicationRef, js.Status.Plan.ID, js.Spec.Source)
	if js.Spec.StartingBranch != "" {
		fmt.Fprintf(&b, " (branch %s)", js.Spec.StartingBranch)
	}
	b.WriteString(":\n")
	for i, s := range js.Status.Plan.Steps {
		fmt.Fprintf(&b, "%d. %s", i+1, s.Title)
		if s.Description != "" {
			b.WriteString(" — " + s.Description)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "Approving this plan approves Jules plan %s of session %s (%s): Jules writes the change", js.Status.Plan.ID, js.Status.SessionName, js.Status.URL)
	if js.Spec.AutoCreatePR {
		b.WriteString(" and opens a pull request")
	}
	b.WriteString("; the hub stores the patch. Nothing runs on any cluster: the change ships through the application's own review and release.")
	return truncate(b.String(), 8<<10)
}

// advance moves one code-fix plan on: it tells Jules once people approved it, and ends it
// when the session went away, failed or moved on to another plan.
func (f *Fixer) advance(ctx context.Context, p *hubv1alpha1.Plan, rv uint64, js *hubv1alpha1.JulesSession) error {
	julesPlan := p.Annotations[AnnotationJulesPlan]
	switch p.Status.Phase {
	case hubv1alpha1.PlanProposed:
		switch {
		case js == nil:
			return f.endPlan(ctx, p, rv, hubv1alpha1.PlanCancelled, "SessionGone", "the Jules session record is gone")
		case js.Status.Phase == hubv1alpha1.JulesFailed:
			return f.endPlan(ctx, p, rv, hubv1alpha1.PlanFailed, "JulesFailed", js.Status.Message)
		case js.Status.Plan != nil && js.Status.Plan.ID != julesPlan:
			return f.endPlan(ctx, p, rv, hubv1alpha1.PlanCancelled, "JulesReplanned",
				fmt.Sprintf("Jules replaced plan %s with %s; review the new plan %s", julesPlan, js.Status.Plan.ID, jules.PlanName(js)))
		}
	case hubv1alpha1.PlanApproved:
		switch {
		case js == nil:
			return f.endPlan(ctx, p, rv, hubv1alpha1.PlanFailed, "SessionGone", "the Jules session record is gone")
		case js.Status.Phase == hubv1alpha1.JulesFailed:
			return f.endPlan(ctx, p, rv, hubv1alpha1.PlanFailed, "JulesFailed", js.Status.Message)
		case js.Status.Phase == hubv1alpha1.JulesCompleted:
			return f.finishPlan(ctx, p, rv, js)
		case js.Status.Approval != nil && js.Status.Approval.PlanID == julesPlan:
			msg := fmt.Sprintf("Jules was told of the approval by %s; it works on the change (session %s)", js.Status.Approval.By, js.Status.State)
			reason := "Approved"
			if js.Status.Approval.SentTime == nil {
				reason, msg = "Pending", fmt.Sprintf("the approval by %s is recorded; the leader sends it to Jules", js.Status.Approval.By)
			}
			return f.setCondition(ctx, p, rv, CondJules, metav1.ConditionTrue, reason, msg)
		case js.Status.Phase == hubv1alpha1.JulesActive:
			if _, err := f.tracker.ApprovePlan(ctx, js.Name, julesPlan, approvers(p)); err != nil {
				f.log.Warn("telling jules of the approval failed", "plan", p.Name, "jules_record", js.Name, "err", err, "trace_id", telemetry.TraceIDOf(p.Spec.TraceParent))
				return f.setCondition(ctx, p, rv, CondJules, metav1.ConditionFalse, "ApprovalNotSent", truncate(err.Error(), 1024))
			}
			f.log.Info("jules plan approved", "plan", p.Name, "jules_record", js.Name, "by", approvers(p), "trace_id", telemetry.TraceIDOf(p.Spec.TraceParent))
		}
	}
	return nil
}

// finished is the tracker's Finished hook for code-fix sessions: it ends the session's plan
// with what Jules made. Called until it returns nil.
func (f *Fixer) finished(ctx context.Context, js *hubv1alpha1.JulesSession) error {
	if js.Status.PlanRef == "" {
		return nil
	}
	res, err := f.store.Get(store.KindPlan, "", js.Status.PlanRef)
	if err != nil {
		return nil // no plan to carry the result (deleted): the session's record keeps it
	}
	var p hubv1alpha1.Plan
	if err := res.Decode(&p); err != nil {
		return fmt.Errorf("stored plan %s: %w", js.Status.PlanRef, err)
	}
	switch {
	case final(p.Status.Phase):
		return nil
	case js.Status.Phase == hubv1alpha1.JulesFailed:
		return f.endPlan(ctx, &p, res.ResourceVersion, hubv1alpha1.PlanFailed, "JulesFailed", js.Status.Message)
	case p.Status.Phase != hubv1alpha1.PlanApproved:
		return f.endPlan(ctx, &p, res.ResourceVersion, hubv1alpha1.PlanFailed, "NotApproved", "Jules finished the session before people approved the plan")
	}
	return f.finishPlan(ctx, &p, res.ResourceVersion, js)
}

// finishPlan ends an approved plan whose session completed: Succeeded with the stored patch
// and pull request, Failed when Jules made no change.
func (f *Fixer) finishPlan(ctx context.Context, p *hubv1alpha1.Plan, rv uint64, js *hubv1alpha1.JulesSession) error {
	patch, pr := js.Status.Patch, js.Status.PullRequest
	if patch == nil && pr == nil {
		return f.endPlan(ctx, p, rv, hubv1alpha1.PlanFailed, "NoChange", "Jules completed the session without a patch or a pull request")
	}
	var b strings.Builder
	details := map[string]any{"julesSession": js.Name, "incident": p.Annotations[AnnotationIncident]}
	if patch != nil {
		fmt.Fprintf(&b, "patch %s (%d bytes, files %s) is stored with Jules session %s", patch.SHA256, patch.Size, strings.Join(patch.Files, ", "), js.Name)
		if patch.SuggestedCommitMessage != "" {
			fmt.Fprintf(&b, "; commit message %q", firstLine(patch.SuggestedCommitMessage))
		}
		details["patchSHA256"], details["patchFiles"] = patch.SHA256, patch.Files
	}
	if pr != nil {
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "pull request %s", pr.URL)
		details["pullRequest"] = pr.URL
	}
	msg := truncate(b.String(), 8<<10)
	next := p.DeepCopy()
	next.Status.Phase = hubv1alpha1.PlanSucceeded
	meta.SetStatusCondition(&next.Status.Conditions, metav1.Condition{Type: CondPatch, Status: metav1.ConditionTrue, Reason: "PatchStored", Message: msg})
	meta.SetStatusCondition(&next.Status.Conditions, metav1.Condition{Type: incident.CondCompleted, Status: metav1.ConditionTrue, Reason: "ChangeProposed",
		Message: "Jules made the change; it ships through the application's own review: " + msg})
	cmd, err := store.EncodeUpdate(store.KindPlan, next, rv)
	if err == nil {
		cmd, err = store.WithAudit(cmd, store.AuditEntry{Actor: requester, Action: "codefix.patch", Target: "Plan/" + p.Name, Cluster: firstCluster(p),
			TraceID: telemetry.TraceIDOf(p.Spec.TraceParent), Details: mustJSON(details)})
	}
	if err != nil {
		return fmt.Errorf("encode the result of plan %s: %w", p.Name, err)
	}
	if _, err := writes.One(ctx, f.node, cmd); err != nil {
		return fmt.Errorf("record the result of plan %s: %w", p.Name, err)
	}
	f.log.Info("code fix stored", "plan", p.Name, "jules_record", js.Name, "trace_id", telemetry.TraceIDOf(p.Spec.TraceParent))
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

func final(p hubv1alpha1.PlanPhase) bool {
	switch p {
	case hubv1alpha1.PlanSucceeded, hubv1alpha1.PlanFailed, hubv1alpha1.PlanRejected, hubv1alpha1.PlanCancelled:
		return true
	}
	return false
}

// endPlan ends a plan that will not succeed, with the reason, audited.
func (f *Fixer) endPlan(ctx context.Context, p *hubv1alpha1.Plan, rv uint64, phase hubv1alpha1.PlanPhase, reason, msg string) error {
	next := p.DeepCopy()
	next.Status.Phase = phase
	meta.SetStatusCondition(&next.Status.Conditions, metav1.Condition{Type: incident.CondCompleted, Status: metav1.ConditionFalse, Reason: reason, Message: msg})
	cmd, err := store.EncodeUpdate(store.KindPlan, next, rv)
	if err == nil {
		cmd, err = store.WithAudit(cmd, store.AuditEntry{Actor: requester, Action: "plan." + strings.ToLower(string(phase)), Target: "Plan/" + p.Name,
			Cluster: firstCluster(p), TraceID: telemetry.TraceIDOf(p.Spec.TraceParent), Details: mustJSON(map[string]string{"reason": reason, "message": truncate(msg, 512)})})
	}
	if err != nil {
		return err
	}
	if _, err := writes.One(ctx, f.node, cmd); err != nil {
		return fmt.Errorf("end plan %s: %w", p.Name, err)
	}
	f.log.Info("code-fix plan ended", "plan", p.Name, "phase", phase, "reason", reason, "trace_id", telemetry.TraceIDOf(p.Spec.TraceParent))
	return nil
}

// setCondition records a condition on a plan, writing only when it changes.
func (f *Fixer) setCondition(ctx context.Context, p *hubv1alpha1.Plan, rv uint64, typ string, s metav1.ConditionStatus, reason, msg string) error {
	if c := meta.FindStatusCondition(p.Status.Conditions, typ); c != nil && c.Status == s && c.Reason == reason && c.Message == msg {
		return nil
	}
	next := p.DeepCopy()
	meta.SetStatusCondition(&next.Status.Conditions, metav1.Condition{Type: typ, Status: s, Reason: reason, Message: msg})
	cmd, err := store.EncodeUpdate(store.KindPlan, next, rv)
	if err != nil {
		return err
	}
	_, err = writes.One(ctx, f.node, cmd)
	return err
}

func firstCluster(p *hubv1alpha1.Plan) string {
	if len(p.Spec.Targets.Clusters) > 0 {
		return p.Spec.Targets.Clusters[0]
	}
	return ""
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
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
