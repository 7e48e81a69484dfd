package incident

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubedevaiops/kubedevaiops/api/directive"
	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/knowledge"
	"github.com/kubedevaiops/kubedevaiops/hub/store"
	"github.com/kubedevaiops/kubedevaiops/hub/writes"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// maxObjectJSON bounds the before and after objects an action result keeps.
const maxObjectJSON = 64 << 10

// ActionStatus records a spoke's report on one of its cluster's actions. It returns final when
// the report needs no resending (the action's final status is durably recorded, or the report
// was refused and audited), so the stream can acknowledge it.
func (h *Hub) ActionStatus(ctx context.Context, cluster string, st *fleetv1.ActionStatus) (final bool, err error) {
	if st.GetActionId() == "" || st.GetPhase() == fleetv1.ActionPhase_ACTION_PHASE_UNSPECIFIED {
		return true, errors.New("action status without action id or phase ignored")
	}
	for attempt := 0; ; attempt++ {
		final, err = h.recordStatus(ctx, cluster, st)
		if !errors.Is(err, store.ErrConflict) || attempt == 4 {
			return final, err
		}
	}
}

func (h *Hub) recordStatus(ctx context.Context, cluster string, st *fleetv1.ActionStatus) (bool, error) {
	res, err := h.store.Get(store.KindAction, "", st.GetActionId())
	if err != nil {
		// No such action: a directive the hub never issued (forged, or from a wiped hub). Only
		// the refusal is worth keeping.
		if st.GetPhase() == fleetv1.ActionPhase_ACTION_PHASE_REFUSED {
			return true, h.auditRefusal(ctx, cluster, st, "", "")
		}
		return true, fmt.Errorf("cluster %s reported on action %s, which the hub never issued", cluster, st.GetActionId())
	}
	var a hubv1alpha1.Action
	if err := res.Decode(&a); err != nil {
		return true, fmt.Errorf("stored action %s: %w", st.GetActionId(), err)
	}
	if a.Spec.Cluster != cluster {
		_ = h.audit(ctx, store.AuditEntry{Actor: "cluster/" + cluster, Action: "action.status.refused", Target: "Action/" + a.Name, Cluster: cluster,
			Details: mustJSON(map[string]string{"reason": "a spoke may report only on its own cluster's actions", "actionCluster": a.Spec.Cluster})})
		return true, fmt.Errorf("cluster %s reported on action %s of cluster %s: refused", cluster, a.Name, a.Spec.Cluster)
	}
	if finalAction(a.Status.Phase) {
		if st.GetPhase() == fleetv1.ActionPhase_ACTION_PHASE_REFUSED {
			// A second delivery the spoke refused (e.g. Replayed): audited, the outcome stands.
			return true, h.auditRefusal(ctx, cluster, st, a.Name, a.Spec.PlanRef)
		}
		return true, nil
	}
	phase, done := actionPhaseOf(st.GetPhase(), a.Spec.DryRun)
	next := a.DeepCopy()
	next.Status.SpokePhase = spokePhaseName(st.GetPhase())
	next.Status.Phase = phase
	if !done {
		if next.Status.SpokePhase == a.Status.SpokePhase && next.Status.Phase == a.Status.Phase {
			return false, nil
		}
		cmd, err := update(store.KindAction, next, res.ResourceVersion).cmd()
		if err != nil {
			return false, err
		}
		_, err = writes.One(ctx, h.node, cmd)
		return false, err
	}
	at := metav1.NewTime(h.now().UTC().Truncate(time.Second))
	if st.GetTime() != nil {
		at = metav1.NewTime(st.GetTime().AsTime().UTC().Truncate(time.Second))
	}
	next.Status.Result = &hubv1alpha1.ActionResult{
		Succeeded: phase == hubv1alpha1.ActionSucceeded, RolledBack: phase == hubv1alpha1.ActionRolledBack,
		Message: truncate(st.GetMessage(), 2048), Reason: st.GetReason(), CompletionTime: &at,
		Before: truncate(string(st.GetBeforeJson()), maxObjectJSON), After: truncate(string(st.GetAfterJson()), maxObjectJSON),
	}
	next.Status.Directive = nil // delivered and answered: the signed bytes have done their job
	ops := []op{update(store.KindAction, next, res.ResourceVersion)}
	planOps, traceparent, err := h.planOutcome(next)
	if err != nil {
		return false, err
	}
	ops = append(ops, planOps...)
	learned, err := h.learn(next, st.GetPhase())
	if err != nil {
		return false, err
	}
	ops = append(ops, learned...)
	ops = append(ops, audit(store.AuditEntry{
		Actor: "cluster/" + cluster, Action: "action." + resultVerb(st.GetPhase()), Target: "Action/" + a.Name, Cluster: cluster, TraceID: traceIDOf(traceparent),
		Details: mustJSON(map[string]any{"plan": a.Spec.PlanRef, "type": a.Spec.Type, "target": objectString(a.Spec.Target), "reason": st.GetReason(),
			"message": truncate(st.GetMessage(), 512), "dryRun": a.Spec.DryRun, "beforeSHA256": digest(st.GetBeforeJson()), "afterSHA256": digest(st.GetAfterJson())}),
	}))
	cmd, err := transaction(ops...)
	if err != nil {
		return false, fmt.Errorf("encode the result of action %s: %w", a.Name, err)
	}
	if _, err := writes.One(ctx, h.node, cmd); err != nil {
		return false, fmt.Errorf("record the result of action %s: %w", a.Name, err)
	}
	h.resultSpan(&a, st, phase)
	h.log.Info("action finished", "action", a.Name, "cluster", cluster, "phase", phase, "reason", st.GetReason(), "trace_id", traceIDOf(traceparent))
	return true, nil
}

// actionPhaseOf maps a spoke phase onto the hub's, and says whether it is final.
func actionPhaseOf(p fleetv1.ActionPhase, dryRun bool) (hubv1alpha1.ActionPhase, bool) {
	switch p {
	case fleetv1.ActionPhase_ACTION_PHASE_SUCCEEDED:
		return hubv1alpha1.ActionSucceeded, true
	case fleetv1.ActionPhase_ACTION_PHASE_DRY_RUN:
		if dryRun {
			return hubv1alpha1.ActionSucceeded, true
		}
	case fleetv1.ActionPhase_ACTION_PHASE_FAILED, fleetv1.ActionPhase_ACTION_PHASE_REFUSED:
		return hubv1alpha1.ActionFailed, true
	case fleetv1.ActionPhase_ACTION_PHASE_ROLLED_BACK:
		return hubv1alpha1.ActionRolledBack, true
	}
	return hubv1alpha1.ActionRunning, false
}

func spokePhaseName(p fleetv1.ActionPhase) string {
	n := p.String()
	const prefix = "ACTION_PHASE_"
	if len(n) > len(prefix) {
		return n[len(prefix):]
	}
	return n
}

func resultVerb(p fleetv1.ActionPhase) string {
	switch p {
	case fleetv1.ActionPhase_ACTION_PHASE_SUCCEEDED:
		return "succeeded"
	case fleetv1.ActionPhase_ACTION_PHASE_DRY_RUN:
		return "dryrun"
	case fleetv1.ActionPhase_ACTION_PHASE_REFUSED:
		return "refused"
	case fleetv1.ActionPhase_ACTION_PHASE_ROLLED_BACK:
		return "rolledback"
	}
	return "failed"
}

// planOutcome returns the update that ends the action's plan when this was its last action
// to finish, and the plan's traceparent.
func (h *Hub) planOutcome(done *hubv1alpha1.Action) ([]op, string, error) {
	res, err := h.store.Get(store.KindPlan, "", done.Spec.PlanRef)
	if err != nil {
		return nil, "", nil // an action without a plan (or a deleted one) ends on its own
	}
	var p hubv1alpha1.Plan
	if err := res.Decode(&p); err != nil {
		return nil, "", fmt.Errorf("stored plan %s: %w", done.Spec.PlanRef, err)
	}
	items, _, err := h.store.List(store.KindAction, "", labelPlan+"="+p.Name)
	if err != nil {
		return nil, "", err
	}
	ok, total := 0, 0
	var failed []string
	for _, it := range items {
		var a hubv1alpha1.Action
		if err := it.Decode(&a); err != nil {
			return nil, "", err
		}
		if a.Name == done.Name {
			a = *done
		}
		total++
		switch {
		case !finalAction(a.Status.Phase):
			return nil, p.Spec.TraceParent, nil
		case a.Status.Phase == hubv1alpha1.ActionSucceeded:
			ok++
		default:
			failed = append(failed, fmt.Sprintf("%s %s (%s)", a.Name, a.Status.Phase, a.Status.Result.Reason))
		}
	}
	next := p.DeepCopy()
	c := metav1.Condition{Type: CondCompleted, Status: metav1.ConditionTrue, Reason: "Succeeded", Message: fmt.Sprintf("%d of %d action(s) succeeded", ok, total)}
	next.Status.Phase = hubv1alpha1.PlanSucceeded
	if len(failed) > 0 {
		next.Status.Phase = hubv1alpha1.PlanFailed
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, "Failed", fmt.Sprintf("%d of %d action(s) succeeded; %v", ok, total, failed)
	}
	if done.Spec.DryRun {
		c.Reason = "DryRun"
		c.Message += " (dry-run only: nothing was changed)"
	}
	meta.SetStatusCondition(&next.Status.Conditions, c)
	return []op{update(store.KindPlan, next, res.ResourceVersion)}, p.Spec.TraceParent, nil
}

// learn returns the knowledge update for an action's real outcome: a verified fix counts as a
// success, a failed or rolled-back one as a failure. Refusals, dry-runs and actions without an
// incident signature teach nothing.
func (h *Hub) learn(a *hubv1alpha1.Action, p fleetv1.ActionPhase) ([]op, error) {
	if a.Spec.Signature == "" || a.Spec.DryRun || p == fleetv1.ActionPhase_ACTION_PHASE_REFUSED {
		return nil, nil
	}
	succeeded := p == fleetv1.ActionPhase_ACTION_PHASE_SUCCEEDED
	name := knowledge.EntryName(a.Spec.Signature, a.Spec.Type)
	entry := knowledge.NewEntry(a.Spec.Signature, a.Spec.Type)
	var rv uint64
	if res, err := h.store.Get(store.KindKnowledgeEntry, "", name); err == nil {
		if err := res.Decode(&entry); err != nil {
			return nil, fmt.Errorf("stored knowledge entry %s: %w", name, err)
		}
		rv = res.ResourceVersion
	}
	next := knowledge.Record(entry, succeeded, h.now().UTC())
	if rv == 0 {
		return []op{create(store.KindKnowledgeEntry, &next)}, nil
	}
	return []op{update(store.KindKnowledgeEntry, &next, rv)}, nil
}

// auditRefusal records a spoke's refusal of a directive.
func (h *Hub) auditRefusal(ctx context.Context, cluster string, st *fleetv1.ActionStatus, action, plan string) error {
	return h.audit(ctx, store.AuditEntry{Actor: "cluster/" + cluster, Action: "action.refused", Target: "Action/" + st.GetActionId(), Cluster: cluster,
		Details: mustJSON(map[string]string{"reason": st.GetReason(), "message": truncate(st.GetMessage(), 512), "plan": plan, "knownAction": fmt.Sprint(action != "")})})
}

func (h *Hub) audit(ctx context.Context, e store.AuditEntry) error {
	cmd, err := audit(e).cmd()
	if err != nil {
		return err
	}
	_, err = writes.One(ctx, h.node, cmd)
	return err
}

// resultSpan records the hub's receipt of an action's final result, in the directive's trace.
func (h *Hub) resultSpan(a *hubv1alpha1.Action, st *fleetv1.ActionStatus, phase hubv1alpha1.ActionPhase) {
	parent := ""
	var sd fleetv1.SignedDirective
	if proto.Unmarshal(a.Status.Directive, &sd) == nil {
		if p, err := directive.DecodePayload(sd.GetPayload()); err == nil {
			parent = p.GetTraceContext().GetTraceparent()
		}
	}
	_, span := h.childSpan(parent, "action.result", time.Time{}, attrPlan.String(a.Spec.PlanRef), attrAction.String(a.Name),
		attrCluster.String(a.Spec.Cluster), attribute.String("kubedevaiops.action.phase", string(phase)), attribute.String("kubedevaiops.action.reason", st.GetReason()))
	if phase != hubv1alpha1.ActionSucceeded {
		span.SetStatus(codes.Error, st.GetReason())
	}
	span.End()
}

func digest(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
