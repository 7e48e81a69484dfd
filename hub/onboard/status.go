package onboard

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/ai/jules"
	"github.com/kubedevaiops/kubedevaiops/hub/incident"
	"github.com/kubedevaiops/kubedevaiops/hub/julesplan"
	"github.com/kubedevaiops/kubedevaiops/hub/store"
	"github.com/kubedevaiops/kubedevaiops/hub/writes"
)

// Reasons of the Onboarded condition.
const (
	ReasonNoCluster        = "NoCluster"
	ReasonStartFailed      = "StartFailed"
	ReasonBudgetExhausted  = "BudgetExhausted"
	ReasonStarting         = "SessionStarting"
	ReasonPlanning         = "Planning"
	ReasonAwaitingApproval = "AwaitingApproval"
	ReasonRejected         = "Rejected"
	ReasonCancelled        = "Cancelled"
	ReasonInProgress       = "InProgress"
	ReasonDryRunPending    = "DryRunPending"
	ReasonDryRunSucceeded  = "DryRunSucceeded"
	ReasonFailed           = "Failed"
)

func onboardedCondition(app *aiopsv1alpha1.ManagedApplication) *metav1.Condition {
	return meta.FindStatusCondition(app.Status.Conditions, CondOnboarded)
}

// writeStatus records on the application where its onboarding stands: a projection of its
// session, plan and action, rewritten only when it changes.
func (o *Onboarder) writeStatus(ctx context.Context, app *aiopsv1alpha1.ManagedApplication, rv uint64, js *hubv1alpha1.JulesSession, st *state, startErr error) error {
	want, ok := o.condition(app, js, st, startErr)
	if !ok {
		return nil
	}
	cur := onboardedCondition(app)
	if cur != nil && cur.Status == want.Status && cur.Reason == want.Reason && cur.Message == want.Message && cur.ObservedGeneration == want.ObservedGeneration {
		return nil
	}
	want.LastTransitionTime = metav1.NewTime(o.now().UTC().Truncate(time.Second))
	next := app.DeepCopy()
	meta.RemoveStatusCondition(&next.Status.Conditions, CondOnboarded)
	next.Status.Conditions = append(next.Status.Conditions, want)
	cmd, err := store.EncodeUpdate(store.KindManagedApplication, next, rv)
	if err != nil {
		return err
	}
	_, err = writes.One(ctx, o.node, cmd)
	return err
}

// condition is the Onboarded condition app should carry; false to leave the current one.
func (o *Onboarder) condition(app *aiopsv1alpha1.ManagedApplication, js *hubv1alpha1.JulesSession, st *state, startErr error) (metav1.Condition, bool) {
	c := metav1.Condition{Type: CondOnboarded, Status: metav1.ConditionFalse, ObservedGeneration: app.Generation}
	set := func(reason, format string, args ...any) (metav1.Condition, bool) {
		c.Reason, c.Message = reason, julesplan.Truncate(fmt.Sprintf(format, args...), 8<<10)
		return c, true
	}
	if js == nil {
		switch {
		case app.Spec.Cluster == "":
			return set(ReasonNoCluster, "set spec.cluster to the ManagedCluster the application is onboarded to")
		case errors.Is(startErr, jules.ErrBudgetExhausted):
			return set(ReasonBudgetExhausted, "%v", startErr)
		case startErr != nil:
			return set(ReasonStartFailed, "the Jules session could not be started (retried after a change of the spec or later): %v", startErr)
		}
		return c, false // a retry is pending: the failure stays shown
	}
	sp, hasPlan := st.plans[js.Status.PlanRef]
	if !hasPlan {
		switch js.Status.Phase {
		case hubv1alpha1.JulesPending:
			return set(ReasonStarting, "Jules session %s is being created", js.Name)
		case hubv1alpha1.JulesFailed:
			return set(ReasonFailed, "Jules session %s failed: %s", js.Name, js.Status.Message)
		case hubv1alpha1.JulesCompleted:
			return set(ReasonFailed, "Jules session %s completed without a plan people reviewed", js.Name)
		}
		return set(ReasonPlanning, "Jules session %s (%s) is %s", js.Name, js.Status.URL, js.Status.State)
	}
	p := sp.Obj
	completed := meta.FindStatusCondition(p.Status.Conditions, incident.CondCompleted)
	patch := meta.FindStatusCondition(p.Status.Conditions, CondPatch)
	switch p.Status.Phase {
	case hubv1alpha1.PlanProposed:
		return set(ReasonAwaitingApproval, "Jules plan %s awaits approval in plan %s: kubectl aiops plans approve %s", p.Annotations[julesplan.AnnotationJulesPlan], p.Name, p.Name)
	case hubv1alpha1.PlanRejected:
		return set(ReasonRejected, "plan %s was rejected; nothing was dry-run", p.Name)
	case hubv1alpha1.PlanCancelled:
		return set(ReasonCancelled, "plan %s was cancelled: %s", p.Name, messageOf(completed))
	case hubv1alpha1.PlanApproved, hubv1alpha1.PlanExecuting:
		if patch != nil {
			return set(ReasonDryRunPending, "plan %s: %s", p.Name, patch.Message)
		}
		progress := js.Status.LastProgress
		if progress == "" {
			progress = "no progress reported yet"
		}
		return set(ReasonInProgress, "Jules works on the approved plan of plan %s (session %s, %s)", p.Name, js.Status.State, progress)
	case hubv1alpha1.PlanSucceeded:
		c.Status = metav1.ConditionTrue
		return set(ReasonDryRunSucceeded, "plan %s: %s; the dry-run passed: %s", p.Name, messageOf(patch), actionResults(st.actions[p.Name]))
	case hubv1alpha1.PlanFailed:
		msg := messageOf(completed)
		if r := actionResults(st.actions[p.Name]); r != "" {
			msg += ": " + r
		}
		return set(ReasonFailed, "plan %s failed: %s", p.Name, msg)
	}
	return c, false
}

func messageOf(c *metav1.Condition) string {
	if c == nil {
		return ""
	}
	return c.Message
}

// actionResults summarises what the spoke reported on a plan's actions.
func actionResults(actions []*hubv1alpha1.Action) string {
	out := ""
	for _, a := range actions {
		if a.Status.Result == nil {
			continue
		}
		if out != "" {
			out += "; "
		}
		r := a.Status.Result
		out += fmt.Sprintf("action %s %s", a.Name, a.Status.Phase)
		if r.Reason != "" {
			out += " (" + r.Reason + ")"
		}
		if r.Message != "" {
			out += ": " + julesplan.Truncate(r.Message, 1024)
		}
	}
	return out
}
