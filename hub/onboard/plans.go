package onboard

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/incident"
	"github.com/kubedevaiops/kubedevaiops/hub/julesplan"
	"github.com/kubedevaiops/kubedevaiops/hub/store"
	"github.com/kubedevaiops/kubedevaiops/hub/telemetry"
	"github.com/kubedevaiops/kubedevaiops/hub/writes"
)

// CondPatch is the onboarding plan condition saying whether the patch Jules produced was
// stored and its manifests extracted (besides the incident loop's Approved, Dispatched and
// Completed, and julesplan's Jules).
const CondPatch = "Patch"

// planReady is the tracker's PlanReady hook: it records the Plan people review the Jules plan
// in.
func (o *Onboarder) planReady(ctx context.Context, js *hubv1alpha1.JulesSession) (string, error) {
	app, _ := o.application(js.Spec.ApplicationRef)
	cluster := ""
	if app != nil {
		cluster = app.Spec.Cluster
	}
	return o.review.Propose(ctx, julesplan.Proposal{
		Session: js, Cluster: cluster,
		Spec: hubv1alpha1.PlanSpec{
			Type:      hubv1alpha1.PlanOnboarding,
			Summary:   julesplan.Truncate(fmt.Sprintf("onboard %s: Jules proposes %d step(s) for %s", js.Spec.ApplicationRef, len(js.Status.Plan.Steps), js.Spec.Source), 300),
			Rationale: rationale(js, cluster),
			DryRun:    true,
		},
		Annotations: map[string]string{AnnotationApplication: js.Spec.ApplicationRef},
		Details:     map[string]any{"application": js.Spec.ApplicationRef},
		Attributes:  []attribute.KeyValue{attribute.String("kubedevaiops.application", js.Spec.ApplicationRef)},
	})
}

// rationale shows the Jules plan's steps and what approving it does.
func rationale(js *hubv1alpha1.JulesSession, cluster string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Jules plan %s for onboarding ManagedApplication %s (repository %s", js.Status.Plan.ID, js.Spec.ApplicationRef, js.Spec.Source)
	if js.Spec.StartingBranch != "" {
		fmt.Fprintf(&b, ", branch %s", js.Spec.StartingBranch)
	}
	b.WriteString("):\n" + julesplan.Steps(js))
	fmt.Fprintf(&b, "Approving this plan approves Jules plan %s of session %s (%s). ", js.Status.Plan.ID, js.Status.SessionName, js.Status.URL)
	if cluster != "" {
		fmt.Fprintf(&b, "Once Jules is done, the manifests of its patch are dry-run on cluster %s (server-side; nothing is changed).", cluster)
	} else {
		b.WriteString("The application names no cluster: its manifests cannot be dry-run.")
	}
	return julesplan.Truncate(b.String(), 8<<10)
}

// advance moves one onboarding plan on: through its review, and once the patch is in, to its
// dry-run.
func (o *Onboarder) advance(ctx context.Context, p *hubv1alpha1.Plan, rv uint64, js *hubv1alpha1.JulesSession) error {
	if p.Status.Phase == hubv1alpha1.PlanApproved && len(p.Spec.Actions) > 0 {
		waiting, err := o.plans.Dispatch(ctx, p, rv)
		if err == nil && waiting != "" {
			o.log.Info("onboarding dry-run waits", "plan", p.Name, "reason", waiting)
		}
		return err
	}
	return o.review.Review(ctx, p, rv, js)
}

// finished is the tracker's Finished hook: a completed session's patch becomes the plan's
// dry-run action; a failed session fails the plan. Called until it returns nil.
func (o *Onboarder) finished(ctx context.Context, js *hubv1alpha1.JulesSession) error {
	if js.Status.PlanRef == "" {
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
	if julesplan.Final(p.Status.Phase) || p.Status.Phase == hubv1alpha1.PlanExecuting || len(p.Spec.Actions) > 0 {
		return nil
	}
	rv := res.ResourceVersion
	switch {
	case js.Status.Phase == hubv1alpha1.JulesFailed:
		return o.review.End(ctx, &p, rv, hubv1alpha1.PlanFailed, "JulesFailed", js.Status.Message)
	case p.Status.Phase != hubv1alpha1.PlanApproved:
		return o.review.End(ctx, &p, rv, hubv1alpha1.PlanFailed, "NotApproved", "Jules finished the session before people approved the plan; nothing is dry-run")
	}
	app, err := o.application(js.Spec.ApplicationRef)
	if err != nil {
		return o.review.End(ctx, &p, rv, hubv1alpha1.PlanFailed, "ApplicationGone", err.Error())
	}
	dr, err := dryRunOf(js, app)
	if err != nil {
		return o.review.End(ctx, &p, rv, hubv1alpha1.PlanFailed, "InvalidPatch", julesplan.Truncate(err.Error(), 2048))
	}
	pol, err := o.plans.GoverningPolicy(app.Spec.Cluster)
	if err != nil {
		return err
	}
	if reason := allows(pol, app.Spec.Cluster); reason != "" {
		return o.review.End(ctx, &p, rv, hubv1alpha1.PlanFailed, incident.ReasonNotAllowed, "the patch is stored but its manifests cannot be dry-run: "+reason)
	}
	next := p.DeepCopy()
	next.Spec.Actions = []hubv1alpha1.PlannedAction{dr.action}
	next.Spec.DryRun, next.Spec.PolicyRef = true, pol.Name
	next.Annotations[AnnotationPatch] = js.Status.Patch.SHA256
	meta.SetStatusCondition(&next.Status.Conditions, metav1.Condition{Type: CondPatch, Status: metav1.ConditionTrue, Reason: "PatchStored", Message: dr.summary})
	traceID := telemetry.TraceIDOf(p.Spec.TraceParent)
	cmd, err := store.EncodeUpdate(store.KindPlan, next, rv)
	if err == nil {
		cmd, err = store.WithAudit(cmd, store.AuditEntry{Actor: "hub/onboard", Action: "onboard.patch", Target: "Plan/" + p.Name, Cluster: app.Spec.Cluster,
			TraceID: traceID, Details: julesplan.MustJSON(map[string]any{"julesSession": js.Name, "patchSHA256": js.Status.Patch.SHA256,
				"patchFiles": js.Status.Patch.Files, "manifests": dr.objects, "bestPracticeFindings": len(dr.findings), "policy": pol.Name})})
	}
	if err != nil {
		return fmt.Errorf("encode the patch of plan %s: %w", p.Name, err)
	}
	if _, err := writes.One(ctx, o.node, cmd); err != nil {
		return fmt.Errorf("record the patch of plan %s: %w", p.Name, err)
	}
	o.log.Info("onboarding patch stored; its manifests go to a dry-run", "plan", p.Name, "cluster", app.Spec.Cluster, "manifests", len(dr.objects), "trace_id", traceID)
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
