package incident

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/types/known/timestamppb"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/ai"
	"github.com/kubedevaiops/kubedevaiops/hub/diagnose"
	"github.com/kubedevaiops/kubedevaiops/hub/store"
	"github.com/kubedevaiops/kubedevaiops/hub/writes"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// maxAttempts bounds the plans made for one incident: after that many failed fixes the
// incident stays open for people.
const maxAttempts = 3

// GenAI semantic-convention attributes of the engine's spans.
const (
	attrGenAIOperation = attribute.Key("gen_ai.operation.name")
)

// propose diagnoses an open incident and records a remediation plan for it (or, when there is
// nothing to propose, why not), in one transaction with the incident's update and the audit.
func (h *Hub) propose(ctx context.Context, inc *hubv1alpha1.Incident, rv uint64, entries []hubv1alpha1.KnowledgeEntry, attempt int, busy map[string]string) error {
	now := h.now().UTC()
	in := diagnose.Input{Cluster: inc.Spec.Cluster, Finding: findingOf(inc), Now: inc.Spec.LastObservedTime.Time, Knowledge: entries}
	dctx, dspan := h.childSpan(inc.Spec.TraceParent, "incident.diagnose", now, attrIncident.String(inc.Name), attrCluster.String(inc.Spec.Cluster),
		attrGenAIOperation.String("diagnose"))
	res, err := h.engines.Diagnose(dctx, ai.DiagnoseRequest{Scope: ai.Scope{Clusters: []string{inc.Spec.Cluster}, ClusterSets: h.setsOf(inc.Spec.Cluster),
		ExternalForbiddenBy: h.ExternalAIForbidden([]string{inc.Spec.Cluster})}, Input: in})
	if err != nil {
		dspan.End()
		return fmt.Errorf("diagnose incident %s: %w", inc.Name, err)
	}
	d := res.Answer.Diagnosis
	dspan.SetAttributes(res.Attributes()...)
	inputDigest, err := diagnose.InputDigest(in)
	if err != nil {
		dspan.End()
		return fmt.Errorf("digest the input of incident %s: %w", inc.Name, err)
	}
	fleet, _ := h.correlator.Observe(inc.Spec.Cluster, d, d.FailureStartedAt)
	dspan.SetAttributes(attribute.String("kubedevaiops.root_cause", string(d.Category)), attribute.Float64("kubedevaiops.confidence", d.Confidence),
		attribute.String("kubedevaiops.signature", d.Signature), attribute.String("kubedevaiops.fleet_incident", fleet.ID), attribute.Int("kubedevaiops.fleet_clusters", len(fleet.Clusters)))
	dspan.End()
	engine := res.Provider + "/" + res.Model

	next := inc.DeepCopy()
	next.Status.IncidentSignature, next.Status.RootCause, next.Status.FleetIncident = d.Signature, string(d.Category), fleet.ID
	next.Status.ObservedGeneration = inc.Generation
	policy, err := h.governingPolicy(inc.Spec.Cluster)
	if err != nil {
		return err
	}
	choice, rule, ok := choose(d, policy, inc.Spec.Cluster)
	key := targetKey(inc.Spec.Cluster, targetOf(choice.Target))
	if ok && busy[key] != "" {
		// Several pods of one bad rollout are several incidents but one fix.
		ok, rule.reason = false, fmt.Sprintf("plan %s already remediates %s", busy[key], choice.Target.String())
	}
	if !ok {
		next.Status.Message = fmt.Sprintf("%s: no remediation to propose (%s)", d.Hypothesis, rule.reason)
		cmd, err := transaction(update(store.KindIncident, next, rv), audit(store.AuditEntry{
			Actor: "engine/" + engine, Action: "incident.diagnose", Target: "Incident/" + inc.Name, Cluster: inc.Spec.Cluster, TraceID: traceIDOf(inc.Spec.TraceParent),
			Details: mustJSON(map[string]any{"inputDigest": inputDigest, "engine": engine, "rootCause": d.Category, "confidence": d.Confidence, "hypothesis": d.Hypothesis, "fallback": res.Note()}),
		}))
		if err != nil {
			return err
		}
		_, err = writes.One(ctx, h.node, cmd)
		return err
	}

	pctx, pspan := h.tracer.Start(dctx, "plan.propose")
	defer pspan.End()
	name := planName(inc.Name, attempt)
	pspan.SetAttributes(attrPlan.String(name), attrCluster.String(inc.Spec.Cluster), attribute.String("kubedevaiops.action.type", string(choice.Action)),
		attribute.Float64("kubedevaiops.confidence", choice.Confidence))
	p := &hubv1alpha1.Plan{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{hubv1alpha1.LabelCluster: inc.Spec.Cluster, labelIncident: inc.Name},
			Annotations: map[string]string{annotationSignature: d.Signature}},
		Spec: hubv1alpha1.PlanSpec{
			Type: hubv1alpha1.PlanRemediation, Summary: truncate(fmt.Sprintf("%s %s on %s: %s", choice.Action, choice.Target.String(), inc.Spec.Cluster, d.Hypothesis), 300),
			Targets:   hubv1alpha1.PlanTargets{Clusters: []string{inc.Spec.Cluster}},
			Actions:   []hubv1alpha1.PlannedAction{{Cluster: inc.Spec.Cluster, Type: choice.Action, Target: targetOf(choice.Target), Parameters: choice.Parameters, Risk: rule.risk}},
			Rationale: rationale(d, choice, res.Note()), IncidentRef: inc.Name, ProposedBy: "engine/" + engine, Engine: engine, InputDigest: inputDigest,
			Confidence: strconv.FormatFloat(choice.Confidence, 'f', 3, 64), Alternatives: alternatives(d, choice), RequiredApprovals: int32(rule.approvals),
			TraceParent: traceparentOf(pctx),
		},
		Status: hubv1alpha1.PlanStatus{Phase: hubv1alpha1.PlanProposed},
	}
	if policy != nil {
		p.Spec.PolicyRef = policy.Name
	}
	cond := metav1.Condition{Type: CondApproved, Status: metav1.ConditionFalse, Reason: ReasonAwaitingApproval,
		Message: fmt.Sprintf("waiting for %d approval(s) by different people under policy %s", rule.approvals, p.Spec.PolicyRef)}
	switch {
	case !rule.allowed:
		cond.Reason, cond.Message = ReasonNotAllowed, rule.reason
	case rule.approvals == 0:
		p.Status.Phase = hubv1alpha1.PlanApproved
		cond.Status, cond.Reason, cond.Message = metav1.ConditionTrue, ReasonAutoApproved, fmt.Sprintf("policy %s lets %s-risk actions run on their own", policy.Name, rule.risk)
	}
	meta.SetStatusCondition(&p.Status.Conditions, cond)
	next.Status.Phase, next.Status.PlanRef, next.Status.Message = hubv1alpha1.IncidentPlanned, name, ""

	traceID := traceIDOf(p.Spec.TraceParent)
	ops := []op{create(store.KindPlan, p), update(store.KindIncident, next, rv), audit(store.AuditEntry{
		Actor: p.Spec.ProposedBy, Action: "plan.propose", Target: "Plan/" + name, Cluster: inc.Spec.Cluster, TraceID: traceID,
		Details: mustJSON(map[string]any{"incident": inc.Name, "inputDigest": inputDigest, "engine": engine, "fallback": res.Note(), "rootCause": d.Category, "diagnosisConfidence": d.Confidence,
			"action": choice.Action, "target": choice.Target.String(), "parameters": choice.Parameters, "confidence": p.Spec.Confidence, "risk": rule.risk,
			"requiredApprovals": rule.approvals, "rationale": p.Spec.Rationale, "fleetIncident": fleet.ID}),
	})}
	if p.Status.Phase == hubv1alpha1.PlanApproved {
		ops = append(ops, audit(store.AuditEntry{Actor: "policy/" + policy.Name, Action: "plan.approve", Target: "Plan/" + name, Cluster: inc.Spec.Cluster, TraceID: traceID,
			Details: mustJSON(map[string]any{"approved": true, "automatic": true, "reason": cond.Message})}))
	}
	cmd, err := transaction(ops...)
	if err != nil {
		return fmt.Errorf("encode the plan for incident %s: %w", inc.Name, err)
	}
	if _, err := writes.One(ctx, h.node, cmd); err != nil {
		return fmt.Errorf("record the plan for incident %s: %w", inc.Name, err)
	}
	busy[key] = name
	if p.Status.Phase == hubv1alpha1.PlanApproved {
		_, s := h.tracer.Start(pctx, "plan.approval", trace.WithAttributes(attrPlan.String(name), attribute.String("kubedevaiops.approvers", "policy/"+policy.Name)))
		s.End()
	}
	h.log.Info("plan proposed", "plan", name, "incident", inc.Name, "cluster", inc.Spec.Cluster, "action", choice.Action, "confidence", p.Spec.Confidence,
		"phase", p.Status.Phase, "trace_id", traceID)
	return nil
}

// choose picks the best remediation the fleet has not found unsafe, preferring one the policy
// allows; it reports false when the diagnosis has none.
func choose(d diagnose.Diagnosis, policy *aiopsv1alpha1.AIOpsPolicy, cluster string) (diagnose.Remediation, approvalRule, bool) {
	var fallback *diagnose.Remediation
	var fallbackRule approvalRule
	for i := range d.Remediations {
		r := d.Remediations[i]
		if r.Unsafe {
			continue
		}
		rule := ruleFor(policy, cluster, r.Action)
		if rule.allowed {
			return r, rule, true
		}
		if fallback == nil {
			fallback, fallbackRule = &d.Remediations[i], rule
		}
	}
	if fallback != nil {
		if fallbackRule.risk == "" {
			fallbackRule.risk = aiopsv1alpha1.RiskMedium
		}
		return *fallback, fallbackRule, true
	}
	return diagnose.Remediation{}, approvalRule{reason: "the diagnosis has no safe remediation"}, false
}

func rationale(d diagnose.Diagnosis, r diagnose.Remediation, fallback string) string {
	var b strings.Builder
	if fallback != "" {
		b.WriteString(fallback + " ")
	}
	fmt.Fprintf(&b, "%s (root cause %s, confidence %.2f). ", d.Hypothesis, d.Category, d.Confidence)
	if s := d.SuspectChange; s != nil {
		fmt.Fprintf(&b, "Suspect change: %s revision %d -> %d, %s before the failure. ", s.Owner.String(), s.FromRevision, s.ToRevision, s.Lead.Round(time.Second))
	}
	fmt.Fprintf(&b, "Proposed: %s — %s Fleet record for this signature: %d success(es), %d failure(s); confidence %.2f.", r.Action, r.Rationale, r.Successes, r.Failures, r.Confidence)
	return truncate(b.String(), 2000)
}

func alternatives(d diagnose.Diagnosis, chosen diagnose.Remediation) []string {
	var out []string
	for _, r := range d.Remediations {
		if r.Action == chosen.Action && r.Target == chosen.Target {
			continue
		}
		s := fmt.Sprintf("%s %s (confidence %.2f)", r.Action, r.Target.String(), r.Confidence)
		if r.Unsafe {
			s += " [unsafe: failed too often]"
		}
		out = append(out, s)
	}
	return out
}

// defaultAPIVersions are the served versions of the kinds remediations act on.
var defaultAPIVersions = map[string]string{
	"Deployment": "apps/v1", "StatefulSet": "apps/v1", "DaemonSet": "apps/v1", "ReplicaSet": "apps/v1",
	"Pod": "v1", "HorizontalPodAutoscaler": "autoscaling/v2",
}

// targetKey names the object an action changes, across plans.
func targetKey(cluster string, t hubv1alpha1.ObjectReference) string {
	return cluster + "/" + t.Kind + "/" + t.Namespace + "/" + t.Name
}

func targetOf(r diagnose.ObjectRef) hubv1alpha1.ObjectReference {
	av := r.Version
	if r.Group != "" {
		av = r.Group + "/" + r.Version
	}
	if r.Version == "" {
		// The engine may name a workload it inferred (e.g. from a pod's name) by kind alone.
		av = defaultAPIVersions[r.Kind]
	}
	return hubv1alpha1.ObjectReference{APIVersion: av, Kind: r.Kind, Namespace: r.Namespace, Name: r.Name}
}

// findingOf rebuilds the spoke's finding from the stored incident, for the engine.
func findingOf(inc *hubv1alpha1.Incident) *fleetv1.Finding {
	group, version := splitAPIVersion(inc.Spec.Object.APIVersion)
	f := &fleetv1.Finding{
		Analyzer: inc.Spec.Analyzer, Signature: inc.Spec.Signature, Summary: inc.Spec.Summary,
		Object:          &fleetv1.ObjectRef{Group: group, Version: version, Kind: inc.Spec.Object.Kind, Namespace: inc.Spec.Object.Namespace, Name: inc.Spec.Object.Name, Uid: inc.Spec.ObjectUID},
		ObservedAt:      timestamppb.New(inc.Spec.LastObservedTime.Time),
		FirstObservedAt: timestamppb.New(inc.Spec.FirstObservedTime.Time),
		Severity:        severityOf(inc.Spec.Severity),
	}
	for _, e := range inc.Spec.Evidence {
		ev := &fleetv1.Evidence{Type: e.Type, Summary: e.Summary, Detail: e.Detail}
		if e.Source != nil {
			g, v := splitAPIVersion(e.Source.APIVersion)
			ev.Source = &fleetv1.ObjectRef{Group: g, Version: v, Kind: e.Source.Kind, Namespace: e.Source.Namespace, Name: e.Source.Name}
		}
		if e.ObservedTime != nil {
			ev.ObservedAt = timestamppb.New(e.ObservedTime.Time)
		}
		f.Evidence = append(f.Evidence, ev)
	}
	return f
}

func severityOf(s string) fleetv1.Severity {
	switch s {
	case "Low":
		return fleetv1.Severity_SEVERITY_LOW
	case "Medium":
		return fleetv1.Severity_SEVERITY_MEDIUM
	case "High":
		return fleetv1.Severity_SEVERITY_HIGH
	case "Critical":
		return fleetv1.Severity_SEVERITY_CRITICAL
	}
	return fleetv1.Severity_SEVERITY_INFO
}
