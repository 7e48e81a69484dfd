package inventory

import (
	"context"
	"fmt"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// Tracker follows the watched kinds through the manager's cache. Changes wait in a map keyed
// by object, so an object that changes ten times while the hub is away is sent once, and a
// deleted one as a delete: what is held never exceeds one entry per object of the cluster.
type Tracker struct {
	cache cache.Cache
	kinds []Kind

	mu      sync.Mutex
	pending map[string]*fleetv1.InventoryChange
	notify  chan struct{}
}

// NewTracker returns a tracker of kinds over c; Start registers it with the informers.
func NewTracker(c cache.Cache, kinds []Kind) *Tracker {
	return &Tracker{cache: c, kinds: kinds, pending: map[string]*fleetv1.InventoryChange{}, notify: make(chan struct{}, 1)}
}

// Start adds the tracker's handlers to the informers of every kind.
func (t *Tracker) Start(ctx context.Context) error {
	for _, k := range t.kinds {
		inf, err := t.cache.GetInformer(ctx, k.New())
		if err != nil {
			return fmt.Errorf("watch %s: %w", k.GVK.Kind, err)
		}
		gvk := k.GVK
		upsert := func(obj any) {
			if o, ok := obj.(client.Object); ok {
				t.record(&fleetv1.InventoryChange{Type: fleetv1.InventoryChangeType_INVENTORY_CHANGE_TYPE_UPSERT, Object: Summarize(gvk, o)})
			}
		}
		if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc:    upsert,
			UpdateFunc: func(_, obj any) { upsert(obj) },
			DeleteFunc: func(obj any) {
				if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
					obj = d.Obj
				}
				if o, ok := obj.(client.Object); ok {
					t.record(&fleetv1.InventoryChange{Type: fleetv1.InventoryChangeType_INVENTORY_CHANGE_TYPE_DELETE,
						Object: &fleetv1.InventoryObject{Ref: Ref(gvk, o)}})
				}
			},
		}); err != nil {
			return fmt.Errorf("watch %s: %w", gvk.Kind, err)
		}
	}
	return nil
}

func (t *Tracker) record(c *fleetv1.InventoryChange) {
	t.mu.Lock()
	t.pending[Key(c.Object.Ref)] = c
	t.mu.Unlock()
	select {
	case t.notify <- struct{}{}:
	default:
	}
}

// Changed is signalled when changes are waiting.
func (t *Tracker) Changed() <-chan struct{} { return t.notify }

// Pending is the number of objects with a change waiting.
func (t *Tracker) Pending() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.pending)
}

// Drain takes up to max waiting changes (all when max <= 0).
func (t *Tracker) Drain(max int) []*fleetv1.InventoryChange {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]*fleetv1.InventoryChange, 0, min(len(t.pending), max))
	for k, c := range t.pending {
		if max > 0 && len(out) >= max {
			break
		}
		out = append(out, c)
		delete(t.pending, k)
	}
	return out
}

// Snapshot lists every watched object from the cache and drops the waiting changes, which the
// snapshot contains. Changes that arrive while it lists wait for the next delta; resending one
// the snapshot already holds is harmless.
func (t *Tracker) Snapshot(ctx context.Context) ([]*fleetv1.InventoryObject, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []*fleetv1.InventoryObject
	for _, k := range t.kinds {
		list := k.NewList()
		if err := t.cache.List(ctx, list); err != nil {
			return nil, fmt.Errorf("list %s: %w", k.GVK.Kind, err)
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			if o, ok := it.(client.Object); ok {
				out = append(out, Summarize(k.GVK, o))
			}
		}
	}
	clear(t.pending)
	return out, nil
}
