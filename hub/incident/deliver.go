package incident

import (
	"context"
	"time"

	"google.golang.org/protobuf/proto"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/store"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// RunDelivery runs on every member until ctx ends: it sends the signed directive of each
// dispatched action on the cluster's stream when this member holds it. The directive travels
// in the replicated Action, so whichever member holds the stream (after a failover too)
// delivers it, and the spoke's idempotency by action id makes a second delivery harmless.
func (h *Hub) RunDelivery(ctx context.Context) {
	for ctx.Err() == nil {
		from := h.store.Index()
		h.deliverPending("")
		w, err := h.store.Watch(ctx, store.KindAction, "", from)
		if err != nil {
			if !sleep(ctx, time.Second) {
				return
			}
			continue
		}
		for {
			ev, err := w.Next()
			if err != nil {
				break // compacted or ended: list again
			}
			if ev.Type == store.Deleted {
				continue
			}
			var a hubv1alpha1.Action
			if ev.Resource.Decode(&a) == nil {
				h.deliver(&a)
			}
		}
		w.Close()
	}
}

// StreamAttached is called when a cluster's stream attaches to this member: the directives
// still waiting for it go out on the new stream.
func (h *Hub) StreamAttached(cluster string) {
	h.mu.Lock()
	delete(h.sent, cluster)
	h.mu.Unlock()
	h.deliverPending(cluster)
}

// StreamDetached forgets a cluster's per-stream state.
func (h *Hub) StreamDetached(cluster string) {
	h.mu.Lock()
	delete(h.sent, cluster)
	h.mu.Unlock()
	h.forgetCluster(cluster)
}

// deliverPending delivers every dispatched action of cluster (all clusters when "").
func (h *Hub) deliverPending(cluster string) {
	sel := ""
	if cluster != "" {
		sel = hubv1alpha1.LabelCluster + "=" + cluster
	}
	items, _, err := h.store.List(store.KindAction, "", sel)
	if err != nil {
		return
	}
	for _, it := range items {
		var a hubv1alpha1.Action
		if it.Decode(&a) == nil {
			h.deliver(&a)
		}
	}
}

// deliver sends a dispatched action's directive once per stream.
func (h *Hub) deliver(a *hubv1alpha1.Action) {
	if a.Status.Phase != hubv1alpha1.ActionDispatched || len(a.Status.Directive) == 0 {
		h.mu.Lock()
		delete(h.sent[a.Spec.Cluster], a.Name)
		h.mu.Unlock()
		return
	}
	if a.Status.ExpiresTime != nil && h.now().After(a.Status.ExpiresTime.Time) {
		return // the spoke would refuse it; the leader fails the action
	}
	h.mu.Lock()
	streams := h.streams
	if h.sent[a.Spec.Cluster][a.Name] {
		h.mu.Unlock()
		return
	}
	h.mu.Unlock()
	if streams == nil {
		return
	}
	var sd fleetv1.SignedDirective
	if err := proto.Unmarshal(a.Status.Directive, &sd); err != nil {
		h.log.Error("stored directive does not decode", "action", a.Name, "err", err)
		return
	}
	if !streams.Send(a.Spec.Cluster, &fleetv1.HubMessage{Body: &fleetv1.HubMessage_ActionDirective{ActionDirective: &sd}}) {
		return
	}
	h.mu.Lock()
	if h.sent[a.Spec.Cluster] == nil {
		h.sent[a.Spec.Cluster] = map[string]bool{}
	}
	h.sent[a.Spec.Cluster][a.Name] = true
	h.mu.Unlock()
	h.log.Info("directive delivered", "action", a.Name, "cluster", a.Spec.Cluster, "type", a.Spec.Type)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
