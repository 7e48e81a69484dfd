package codefix

import (
	"context"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/incident"
	"github.com/kubedevaiops/kubedevaiops/hub/julesplan"
	"github.com/kubedevaiops/kubedevaiops/hub/store"
	"github.com/kubedevaiops/kubedevaiops/hub/telemetry"
	"github.com/kubedevaiops/kubedevaiops/hub/writes"
)

// CondPatch is the code-fix plan condition saying whether the change Jules made was stored.
const CondPatch = "Patch"

// planReady is the tracker's PlanReady hook for code-fix sessions: it records the Plan people
// review the Jules plan in.
func (f *Fixer) planReady(ctx context.Context, js *hubv1alpha1.JulesSession) (string, error) {
	cluster := ""
	if res, err := f.store.Get(store.KindIncident, "", js.Spec.IncidentRef); err == nil {
		var inc hubv1alpha1.Incident
		if err := res.Decode(&inc); err == nil {
			cluster = inc.Spec.Cluster
		}
	}
	return f.plans.Propose(ctx, julesplan.Proposal{
		Session: js, Cluster: cluster,
		Spec: hubv1alpha1.PlanSpec{
			Type: hubv1alpha1.PlanCodeFix,
			Summary: julesplan.Truncate(fmt.Sprintf("code fix for %s (incident %s): Jules proposes %d step(s) in %s", js.Spec.ApplicationRef, js.Spec.IncidentRef,
				len(js.Status.Plan.Steps), js.Spec.Source), 300),
			Rationale: rationale(js),
		},
		Annotations: map[string]string{AnnotationApplication: js.Spec.ApplicationRef, AnnotationIncident: js.Spec.IncidentRef},
		Details:     map[string]any{"incident": js.Spec.IncidentRef, "application": js.Spec.ApplicationRef},
		Attributes: []attribute.KeyValue{attribute.String("kubedevaiops.incident", js.Spec.IncidentRef),
			attribute.String("kubedevaiops.application", js.Spec.ApplicationRef)},
	})
}

// rationale shows the Jules plan's steps and what approving it does.
func rationale(js *hubv1alpha1.JulesSession) string {
	var b strings.Builder
	fmt.Fprintf(&b, "The diagnosis of incident %s places its root cause in the code of ManagedApplication %s. Jules plan %s for a fix in repository %s",
		js.Spec.IncidentRef, js.Spec.ApplicationRef, js.Status.Plan.ID, js.Spec.Source)
	if js.Spec.StartingBranch != "" {
		fmt.Fprintf(&b, " (branch %s)", js.Spec.StartingBranch)
	}
	b.WriteString(":\n" + julesplan.Steps(js))
	fmt.Fprintf(&b, "Approving this plan approves Jules plan %s of session %s (%s): Jules writes the change", js.Status.Plan.ID, js.Status.SessionName, js.Status.URL)
	if js.Spec.AutoCreatePR {
		b.WriteString(" and opens a pull request")
	}
	b.WriteString("; the hub stores the patch. Nothing runs on any cluster: the change ships through the application's own review and release.")
	return julesplan.Truncate(b.String(), 8<<10)
}

// advance moves one code-fix plan on: through its review, and to its end once Jules completed.
func (f *Fixer) advance(ctx context.Context, p *hubv1alpha1.Plan, rv uint64, js *hubv1alpha1.JulesSession) error {
	if p.Status.Phase == hubv1alpha1.PlanApproved && js != nil && js.Status.Phase == hubv1alpha1.JulesCompleted {
		return f.finishPlan(ctx, p, rv, js)
	}
	return f.plans.Review(ctx, p, rv, js)
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
	case julesplan.Final(p.Status.Phase):
		return nil
	case js.Status.Phase == hubv1alpha1.JulesFailed:
		return f.plans.End(ctx, &p, res.ResourceVersion, hubv1alpha1.PlanFailed, "JulesFailed", js.Status.Message)
	case p.Status.Phase != hubv1alpha1.PlanApproved:
		return f.plans.End(ctx, &p, res.ResourceVersion, hubv1alpha1.PlanFailed, "NotApproved", "Jules finished the session before people approved the plan")
	}
	return f.finishPlan(ctx, &p, res.ResourceVersion, js)
}

// finishPlan ends an approved plan whose session completed: Succeeded with the stored patch
// and pull request, Failed when Jules made no change.
func (f *Fixer) finishPlan(ctx context.Context, p *hubv1alpha1.Plan, rv uint64, js *hubv1alpha1.JulesSession) error {
	patch, pr := js.Status.Patch, js.Status.PullRequest
	if patch == nil && pr == nil {
		return f.plans.End(ctx, p, rv, hubv1alpha1.PlanFailed, "NoChange", "Jules completed the session without a patch or a pull request")
	}
	var b strings.Builder
	details := map[string]any{"julesSession": js.Name, "incident": p.Annotations[AnnotationIncident]}
	if patch != nil {
		fmt.Fprintf(&b, "patch %s (%d bytes, files %s) is stored with Jules session %s", patch.SHA256, patch.Size, strings.Join(patch.Files, ", "), js.Name)
		if patch.SuggestedCommitMessage != "" {
			msg, _, _ := strings.Cut(patch.SuggestedCommitMessage, "\n")
			fmt.Fprintf(&b, "; commit message %q", msg)
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
	msg := julesplan.Truncate(b.String(), 8<<10)
	next := p.DeepCopy()
	next.Status.Phase = hubv1alpha1.PlanSucceeded
	meta.SetStatusCondition(&next.Status.Conditions, metav1.Condition{Type: CondPatch, Status: metav1.ConditionTrue, Reason: "PatchStored", Message: msg})
	meta.SetStatusCondition(&next.Status.Conditions, metav1.Condition{Type: incident.CondCompleted, Status: metav1.ConditionTrue, Reason: "ChangeProposed",
		Message: "Jules made the change; it ships through the application's own review: " + msg})
	traceID := telemetry.TraceIDOf(p.Spec.TraceParent)
	cmd, err := store.EncodeUpdate(store.KindPlan, next, rv)
	if err == nil {
		cmd, err = store.WithAudit(cmd, store.AuditEntry{Actor: requester, Action: "codefix.patch", Target: "Plan/" + p.Name, Cluster: julesplan.FirstCluster(p),
			TraceID: traceID, Details: julesplan.MustJSON(details)})
	}
	if err != nil {
		return fmt.Errorf("encode the result of plan %s: %w", p.Name, err)
	}
	if _, err := writes.One(ctx, f.node, cmd); err != nil {
		return fmt.Errorf("record the result of plan %s: %w", p.Name, err)
	}
	f.log.Info("code fix stored", "plan", p.Name, "jules_record", js.Name, "trace_id", traceID)
	return nil
}
