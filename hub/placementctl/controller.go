// Package placementctl keeps PlacementDecisions and Placement status current on the leader: it
// runs the scheduler of hub/placement over the stored clusters, sets and placements whenever
// any of them changes, and writes only what differs.
package placementctl

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"reflect"
	"sort"
	"time"

	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1beta1 "open-cluster-management.io/api/cluster/v1beta1"
	clusterv1beta2 "open-cluster-management.io/api/cluster/v1beta2"

	"github.com/kubedevaiops/kubedevaiops/hub/placement"
	"github.com/kubedevaiops/kubedevaiops/hub/raftnode"
	"github.com/kubedevaiops/kubedevaiops/hub/store"
	"github.com/kubedevaiops/kubedevaiops/hub/writes"
)

const (
	// debounce gathers a burst of changes (a cluster joining touches several objects) into one pass.
	debounce = 500 * time.Millisecond
	// resync re-runs every placement now and then even without changes, as a safety net.
	resync = 30 * time.Second
)

// Controller schedules placements on the leader.
type Controller struct {
	node  *raftnode.Node
	store *store.Store
	log   *slog.Logger
	now   func() time.Time
}

// New returns a placement controller.
func New(node *raftnode.Node, st *store.Store, log *slog.Logger) *Controller {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Controller{node: node, store: st, log: log.With("controller", "placement"), now: time.Now}
}

func relevant(kind string) bool {
	switch kind {
	case store.KindManagedCluster, store.KindManagedClusterSet, store.KindPlacement, store.KindPlacementDecision:
		return true
	}
	return false
}

// Run schedules until ctx ends (leadership is lost).
func (c *Controller) Run(ctx context.Context) {
	for ctx.Err() == nil {
		from := c.store.Index()
		requeue := c.reconcile(ctx)
		w, err := c.store.Watch(ctx, "", "", from)
		if err != nil {
			if !sleep(ctx, time.Second) {
				return
			}
			continue
		}
		c.waitForChange(ctx, w, requeue)
		w.Close()
	}
}

// waitForChange returns after a relevant change (and a short debounce), the requeue deadline,
// the resync period, or a watch error.
func (c *Controller) waitForChange(ctx context.Context, w *store.Watcher, requeue time.Duration) {
	wait := resync
	if requeue > 0 && requeue < wait {
		wait = requeue
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	changed := make(chan error, 1)
	go func() {
		for {
			ev, err := w.Next()
			if err != nil {
				changed <- err
				return
			}
			// Our own writes come back here too; they settle after one more pass, which
			// finds nothing to change.
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

type stored[T any] struct {
	obj *T
	res *store.Resource
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
			return nil, err
		}
		out = append(out, stored[T]{obj, it})
	}
	return out, nil
}

// reconcile runs every placement once and writes the differences; it returns the earliest
// requeue any placement asked for.
func (c *Controller) reconcile(ctx context.Context) time.Duration {
	placements, err1 := list[clusterv1beta1.Placement](c.store, store.KindPlacement)
	decisions, err2 := list[clusterv1beta1.PlacementDecision](c.store, store.KindPlacementDecision)
	// Only placements read the clusters and sets: with none, a large fleet is not decoded on
	// every change of one of its clusters.
	var clusters []stored[clusterv1.ManagedCluster]
	var sets []stored[clusterv1beta2.ManagedClusterSet]
	var err3, err4 error
	if len(placements) > 0 {
		clusters, err3 = list[clusterv1.ManagedCluster](c.store, store.KindManagedCluster)
		sets, err4 = list[clusterv1beta2.ManagedClusterSet](c.store, store.KindManagedClusterSet)
	}
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		c.log.Error("read the fleet for scheduling", "err", err)
		return time.Second
	}
	in := placement.Input{Now: c.now()}
	for _, mc := range clusters {
		in.Clusters = append(in.Clusters, mc.obj)
	}
	for _, s := range sets {
		in.Sets = append(in.Sets, s.obj)
	}
	type key struct{ ns, name string }
	byPlacement := map[key][]stored[clusterv1beta1.PlacementDecision]{}
	for _, d := range decisions {
		k := key{d.obj.Namespace, d.obj.Labels[clusterv1beta1.PlacementLabel]}
		byPlacement[k] = append(byPlacement[k], d)
	}
	var cmds [][]byte
	var requeue time.Duration
	for _, p := range placements {
		k := key{p.obj.Namespace, p.obj.Name}
		existing := byPlacement[k]
		delete(byPlacement, k)
		pin := in
		pin.Placement = p.obj
		for _, d := range existing {
			pin.Existing = append(pin.Existing, d.obj)
		}
		out := placement.Schedule(pin)
		if out.RequeueAfter > 0 && (requeue == 0 || out.RequeueAfter < requeue) {
			requeue = out.RequeueAfter
		}
		cmds = append(cmds, c.diff(p, existing, out)...)
	}
	// Decisions whose placement is gone.
	for _, orphans := range byPlacement {
		for _, d := range orphans {
			if d.obj.Labels[clusterv1beta1.PlacementLabel] == "" {
				continue // not a placement's decision; not ours to remove
			}
			if cmd, err := store.EncodeDelete(store.KindPlacementDecision, d.obj.Namespace, d.obj.Name, d.res.ResourceVersion); err == nil {
				cmds = append(cmds, cmd)
			}
		}
	}
	c.propose(ctx, cmds)
	return requeue
}

// diff returns the writes that bring a placement's decisions and status to out.
func (c *Controller) diff(p stored[clusterv1beta1.Placement], existing []stored[clusterv1beta1.PlacementDecision], out placement.Output) [][]byte {
	var cmds [][]byte
	have := map[string]stored[clusterv1beta1.PlacementDecision]{}
	for _, d := range existing {
		have[d.obj.Name] = d
	}
	for _, want := range out.Decisions {
		cur, ok := have[want.Name]
		delete(have, want.Name)
		var cmd []byte
		var err error
		switch {
		case !ok:
			cmd, err = store.EncodeCreate(store.KindPlacementDecision, want)
		case !sameDecision(cur.obj, want):
			cmd, err = store.EncodeUpdate(store.KindPlacementDecision, want, cur.res.ResourceVersion)
		default:
			continue
		}
		if err != nil {
			c.log.Error("encode placement decision", "placement", p.obj.Namespace+"/"+p.obj.Name, "decision", want.Name, "err", err)
			continue
		}
		cmds = append(cmds, cmd)
	}
	names := make([]string, 0, len(have))
	for n := range have {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		d := have[n]
		if cmd, err := store.EncodeDelete(store.KindPlacementDecision, d.obj.Namespace, d.obj.Name, d.res.ResourceVersion); err == nil {
			cmds = append(cmds, cmd)
		}
	}
	if !sameJSON(p.obj.Status, out.Status) {
		next := p.obj.DeepCopy()
		next.Status = out.Status
		cmd, err := store.EncodeUpdate(store.KindPlacement, next, p.res.ResourceVersion)
		if err != nil {
			c.log.Error("encode placement status", "placement", p.obj.Namespace+"/"+p.obj.Name, "err", err)
		} else {
			cmds = append(cmds, cmd)
		}
	}
	return cmds
}

func sameDecision(a, b *clusterv1beta1.PlacementDecision) bool {
	return reflect.DeepEqual(a.Labels, b.Labels) && sameJSON(a.OwnerReferences, b.OwnerReferences) && sameJSON(a.Status, b.Status)
}

// sameJSON compares as stored: through JSON, so that nil and empty, and time precision, agree.
func sameJSON(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}

func (c *Controller) propose(ctx context.Context, cmds [][]byte) {
	for _, err := range writes.Commit(ctx, c.node, cmds) {
		if err != nil && !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
			c.log.Warn("placement write not committed; the next pass retries", "err", err)
		}
	}
}
