package incident

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/store"
	"github.com/kubedevaiops/kubedevaiops/hub/writes"
)

const (
	// debounce gathers a burst of changes into one pass.
	debounce = 200 * time.Millisecond
	// resync re-runs a pass now and then without changes: expiries and blast-radius waits.
	resync = 5 * time.Second
)

func relevant(kind string) bool {
	switch kind {
	case store.KindIncident, store.KindPlan, store.KindAction, store.KindAIOpsPolicy, store.KindPlacementDecision:
		return true
	}
	return false
}

// Run is the leader's loop until ctx ends (leadership is lost): it plans open incidents,
// dispatches approved plans and fails actions whose directive expired unanswered. Everything
// it decides is in the replicated state, so the next leader carries on where it stopped, and
// no step runs twice: each is one transaction conditional on the version it read.
func (h *Hub) Run(ctx context.Context) {
	for ctx.Err() == nil {
		from := h.store.Index()
		if err := h.reconcile(ctx); err != nil && ctx.Err() == nil {
			h.log.Warn("incident pass incomplete; retrying", "err", err)
		}
		w, err := h.store.Watch(ctx, "", "", from)
		if err != nil {
			if !sleep(ctx, time.Second) {
				return
			}
			continue
		}
		h.waitForChange(ctx, w)
		w.Close()
	}
}

func (h *Hub) waitForChange(ctx context.Context, w *store.Watcher) {
	timer := time.NewTimer(resync)
	defer timer.Stop()
	changed := make(chan error, 1)
	go func() {
		for {
			ev, err := w.Next()
			if err != nil {
				changed <- err
				return
			}
			if relevant(ev.Resource.Kind) {
				changed <- nil
				return
			}
		}
	}()
	select {
	case <-ctx.Done():
	case <-timer.C:
	case err := <-changed:
		if err == nil {
			sleep(ctx, debounce)
		}
	}
}

type stored[T any] struct {
	obj *T
	rv  uint64
}

func list[T any](s *store.Store, kind string) ([]stored[T], error) {
	items, _, err := s.List(kind, "", "")
	if err != nil {
		return nil, err
	}
	out := make([]stored[T], 0, len(items))
	for _, it := range items {
		obj := new(T)
		if err := it.Decode(obj); err != nil {
			return nil, fmt.Errorf("stored %s %s: %w", kind, it.Name, err)
		}
		out = append(out, stored[T]{obj, it.ResourceVersion})
	}
	return out, nil
}

func (h *Hub) reconcile(ctx context.Context) error {
	incidents, err := list[hubv1alpha1.Incident](h.store, store.KindIncident)
	if err != nil {
		return err
	}
	plans, err := list[hubv1alpha1.Plan](h.store, store.KindPlan)
	if err != nil {
		return err
	}
	actions, err := list[hubv1alpha1.Action](h.store, store.KindAction)
	if err != nil {
		return err
	}
	entries, err := list[hubv1alpha1.KnowledgeEntry](h.store, store.KindKnowledgeEntry)
	if err != nil {
		return err
	}
	knowledge := make([]hubv1alpha1.KnowledgeEntry, len(entries))
	for i, e := range entries {
		knowledge[i] = *e.obj
	}
	plansOf := map[string][]*hubv1alpha1.Plan{}
	busy := map[string]string{} // target -> the unfinished plan that changes it
	for _, p := range plans {
		if ref := p.obj.Spec.IncidentRef; ref != "" {
			plansOf[ref] = append(plansOf[ref], p.obj)
		}
		switch p.obj.Status.Phase {
		case hubv1alpha1.PlanProposed, hubv1alpha1.PlanApproved, hubv1alpha1.PlanExecuting:
			for _, a := range p.obj.Spec.Actions {
				busy[targetKey(a.Cluster, a.Target)] = p.obj.Name
			}
		}
	}
	all := make([]*hubv1alpha1.Action, len(actions))
	for i, a := range actions {
		all[i] = a.obj
	}
	var errs []error
	sort.Slice(incidents, func(i, j int) bool { return incidents[i].obj.Name < incidents[j].obj.Name })
	for _, inc := range incidents {
		attempt, ok := needsPlan(inc.obj, plansOf[inc.obj.Name])
		if !ok {
			continue
		}
		if err := h.propose(ctx, inc.obj, inc.rv, knowledge, attempt, busy); err != nil && !errors.Is(err, store.ErrConflict) {
			errs = append(errs, err)
		}
	}
	resolved := map[string]bool{}
	for _, inc := range incidents {
		resolved[inc.obj.Name] = inc.obj.Status.Phase == hubv1alpha1.IncidentResolved
	}
	sort.Slice(plans, func(i, j int) bool { return plans[i].obj.CreationTimestamp.Before(&plans[j].obj.CreationTimestamp) })
	for _, p := range plans {
		waiting := p.obj.Status.Phase == hubv1alpha1.PlanProposed || p.obj.Status.Phase == hubv1alpha1.PlanApproved
		if waiting && resolved[p.obj.Spec.IncidentRef] {
			if err := h.cancel(ctx, p.obj, p.rv, "the incident resolved before the plan ran"); err != nil && !errors.Is(err, store.ErrConflict) {
				errs = append(errs, err)
			}
			continue
		}
		if p.obj.Status.Phase != hubv1alpha1.PlanApproved || p.obj.Spec.Type != hubv1alpha1.PlanRemediation {
			continue // other plan types are dispatched by their own loops (hub/onboard), through Dispatch
		}
		if _, err := h.dispatch(ctx, p.obj, p.rv, all); err != nil && !errors.Is(err, store.ErrConflict) {
			errs = append(errs, err)
		}
	}
	for _, a := range actions {
		if err := h.expire(ctx, a.obj, a.rv); err != nil && !errors.Is(err, store.ErrConflict) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// needsPlan says whether an incident needs a (new) plan and which attempt it would be: an
// open incident whose current spec was not diagnosed yet, when its earlier plans all failed to
// fix it and fewer than maxAttempts were made. A rejected plan ends the proposals for it.
func needsPlan(inc *hubv1alpha1.Incident, plans []*hubv1alpha1.Plan) (int, bool) {
	if inc.Status.Phase == hubv1alpha1.IncidentResolved || inc.Status.ObservedGeneration >= inc.Generation && inc.Generation > 0 {
		return 0, false
	}
	for _, p := range plans {
		switch p.Status.Phase {
		case hubv1alpha1.PlanProposed, hubv1alpha1.PlanApproved, hubv1alpha1.PlanExecuting:
			return 0, false // one plan at a time
		case hubv1alpha1.PlanRejected, hubv1alpha1.PlanCancelled:
			return 0, false // a person said no (or it was called off): not proposed again
		}
	}
	if len(plans) >= maxAttempts {
		return 0, false
	}
	return len(plans) + 1, true
}

// expire fails a dispatched action whose directive expired before the spoke answered.
func (h *Hub) expire(ctx context.Context, a *hubv1alpha1.Action, rv uint64) error {
	if a.Status.Phase != hubv1alpha1.ActionDispatched || a.Status.ExpiresTime == nil || !h.now().After(a.Status.ExpiresTime.Add(time.Minute)) {
		return nil
	}
	next := a.DeepCopy()
	at := metav1.NewTime(h.now().UTC().Truncate(time.Second))
	next.Status.Phase, next.Status.Directive = hubv1alpha1.ActionFailed, nil
	next.Status.Result = &hubv1alpha1.ActionResult{Reason: "DirectiveExpired", Message: "the spoke did not answer before the directive expired; nothing is known to have run", CompletionTime: &at}
	ops := []op{update(store.KindAction, next, rv)}
	planOps, traceparent, err := h.planOutcome(next)
	if err != nil {
		return err
	}
	ops = append(ops, planOps...)
	ops = append(ops, audit(store.AuditEntry{Actor: "hub/" + h.node.ID(), Action: "action.expired", Target: "Action/" + a.Name, Cluster: a.Spec.Cluster,
		TraceID: traceIDOf(traceparent), Details: mustJSON(map[string]string{"plan": a.Spec.PlanRef, "expired": a.Status.ExpiresTime.UTC().Format(time.RFC3339)})}))
	cmd, err := transaction(ops...)
	if err != nil {
		return err
	}
	_, err = writes.One(ctx, h.node, cmd)
	return err
}

// cancel ends a plan that has not run, with the reason, audited.
func (h *Hub) cancel(ctx context.Context, p *hubv1alpha1.Plan, rv uint64, reason string) error {
	next := p.DeepCopy()
	next.Status.Phase = hubv1alpha1.PlanCancelled
	meta.SetStatusCondition(&next.Status.Conditions, metav1.Condition{Type: CondCompleted, Status: metav1.ConditionFalse, Reason: "Cancelled", Message: reason})
	cmd, err := transaction(update(store.KindPlan, next, rv), audit(store.AuditEntry{Actor: "hub/" + h.node.ID(), Action: "plan.cancel",
		Target: "Plan/" + p.Name, Cluster: planCluster(p), TraceID: traceIDOf(p.Spec.TraceParent), Details: mustJSON(map[string]string{"reason": reason})}))
	if err != nil {
		return err
	}
	_, err = writes.One(ctx, h.node, cmd)
	return err
}
