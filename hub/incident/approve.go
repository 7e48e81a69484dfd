package incident

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/grpcerr"
	"github.com/kubedevaiops/kubedevaiops/hub/store"
	"github.com/kubedevaiops/kubedevaiops/hub/writes"
)

// Condition types on plans.
const (
	// CondApproved says whether the approvals the policy asks for are in.
	CondApproved = "Approved"
	// CondDispatched says whether the plan's directives went out, and why not yet.
	CondDispatched = "Dispatched"
	// CondCompleted says how the plan's actions ended.
	CondCompleted = "Completed"
)

// Decide records a person's approval (approve true) or rejection of a plan they reviewed at
// resourceVersion (empty: the current one). An approval that completes the count the plan
// requires moves it to Approved; the leader then signs and sends its directives. A rejection
// ends the plan: nothing in it ever runs.
func (h *Hub) Decide(ctx context.Context, name, resourceVersion, by, comment string, approve bool) (*store.Resource, error) {
	if name == "" {
		return nil, status.Error(codes.InvalidArgument, "plan name is required")
	}
	if !approve && comment == "" {
		return nil, status.Error(codes.InvalidArgument, "a rejection needs a comment saying why (--comment)")
	}
	for attempt := 0; ; attempt++ {
		// The decision is made on the latest plan, not this member's possibly older copy.
		if err := h.node.ReadBarrier(ctx); err != nil {
			return nil, grpcerr.From(fmt.Errorf("read plan %s: %w", name, err))
		}
		res, err := h.decide(ctx, name, resourceVersion, by, comment, approve)
		// Without a reviewed version, a plan that moved meanwhile (e.g. the leader's own
		// condition update) is decided again on its new version.
		if resourceVersion != "" || attempt == 3 || status.Code(err) != codes.Aborted {
			return res, err
		}
	}
}

func (h *Hub) decide(ctx context.Context, name, resourceVersion, by, comment string, approve bool) (*store.Resource, error) {
	res, err := h.store.Get(store.KindPlan, "", name)
	if err != nil {
		return nil, status.Errorf(codes.NotFound, "plan %s does not exist", name)
	}
	if resourceVersion != "" && resourceVersion != strconv.FormatUint(res.ResourceVersion, 10) {
		return nil, status.Errorf(codes.Aborted, "plan %s changed since you reviewed it (version %s, now %d): review it again", name, resourceVersion, res.ResourceVersion)
	}
	var p hubv1alpha1.Plan
	if err := res.Decode(&p); err != nil {
		return nil, status.Errorf(codes.Internal, "stored plan %s: %v", name, err)
	}
	if p.Status.Phase != hubv1alpha1.PlanProposed {
		return nil, status.Errorf(codes.FailedPrecondition, "plan %s is %s: only a Proposed plan can be approved or rejected", name, p.Status.Phase)
	}
	if c := meta.FindStatusCondition(p.Status.Conditions, CondApproved); approve && c != nil && c.Reason == ReasonNotAllowed {
		return nil, status.Errorf(codes.FailedPrecondition, "plan %s cannot be approved: %s", name, c.Message)
	}
	if approve && p.Spec.ProposedBy == by {
		return nil, status.Errorf(codes.PermissionDenied, "%s proposed plan %s and cannot approve it too (four-eyes rule)", by, name)
	}
	if approve && slices.ContainsFunc(p.Status.Approvals, func(a hubv1alpha1.Approval) bool { return a.By == by && a.Approved }) {
		return nil, status.Errorf(codes.FailedPrecondition, "%s already approved plan %s; it needs %d approvals by different people", by, name, p.Spec.RequiredApprovals)
	}
	now := h.now().UTC()
	next := p.DeepCopy()
	next.Status.Approvals = append(next.Status.Approvals, hubv1alpha1.Approval{By: by, Time: metav1.NewTime(now.Truncate(time.Second)), Approved: approve, Comment: comment})
	action := "plan.reject"
	switch {
	case !approve:
		next.Status.Phase = hubv1alpha1.PlanRejected
		meta.SetStatusCondition(&next.Status.Conditions, metav1.Condition{Type: CondApproved, Status: metav1.ConditionFalse, Reason: "Rejected", Message: fmt.Sprintf("rejected by %s: %s", by, comment)})
	case approvalsIn(next) >= int(p.Spec.RequiredApprovals):
		action = "plan.approve"
		next.Status.Phase = hubv1alpha1.PlanApproved
		meta.SetStatusCondition(&next.Status.Conditions, metav1.Condition{Type: CondApproved, Status: metav1.ConditionTrue, Reason: "Approved", Message: "approved by " + approvers(next)})
	default:
		action = "plan.approve"
		meta.SetStatusCondition(&next.Status.Conditions, metav1.Condition{Type: CondApproved, Status: metav1.ConditionFalse, Reason: ReasonAwaitingApproval,
			Message: fmt.Sprintf("%d of %d approvals by different people (so far: %s)", approvalsIn(next), p.Spec.RequiredApprovals, approvers(next))})
	}
	cmd, err := transaction(update(store.KindPlan, next, res.ResourceVersion), audit(store.AuditEntry{
		Actor: by, Action: action, Target: "Plan/" + name, Cluster: planCluster(&p), TraceID: traceIDOf(p.Spec.TraceParent),
		Details: mustJSON(map[string]any{"approved": approve, "comment": comment, "phase": next.Status.Phase, "approvals": approvalsIn(next), "required": p.Spec.RequiredApprovals}),
	}))
	if err != nil {
		return nil, status.Errorf(codes.Internal, "encode the decision on plan %s: %v", name, err)
	}
	out, err := writes.One(ctx, h.node, cmd)
	if err != nil {
		return nil, grpcerr.From(fmt.Errorf("record the decision on plan %s: %w", name, err))
	}
	if next.Status.Phase != hubv1alpha1.PlanProposed {
		h.approvalSpan(&p, next, now)
	}
	return out.Batch[0].Resource, nil
}

// approvalSpan records the time the plan waited for people, from its proposal to the decision.
func (h *Hub) approvalSpan(p, decided *hubv1alpha1.Plan, end time.Time) {
	_, span := h.childSpan(p.Spec.TraceParent, "plan.approval", p.CreationTimestamp.Time,
		attrPlan.String(p.Name), attribute.String("kubedevaiops.plan.phase", string(decided.Status.Phase)),
		attribute.String("kubedevaiops.approvers", approvers(decided)))
	span.End(trace.WithTimestamp(end))
}

func approvalsIn(p *hubv1alpha1.Plan) int {
	n := 0
	for _, a := range p.Status.Approvals {
		if a.Approved {
			n++
		}
	}
	return n
}

func approvers(p *hubv1alpha1.Plan) string {
	var out []string
	for _, a := range p.Status.Approvals {
		if a.Approved {
			out = append(out, a.By)
		}
	}
	if len(out) == 0 {
		return "nobody"
	}
	return fmt.Sprint(out)
}

func planCluster(p *hubv1alpha1.Plan) string {
	if len(p.Spec.Targets.Clusters) == 1 {
		return p.Spec.Targets.Clusters[0]
	}
	return ""
}
