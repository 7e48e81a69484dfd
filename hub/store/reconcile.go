package store

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// burstWindow is how long a loop waits after a change for the rest of a burst of changes.
const burstWindow = 200 * time.Millisecond

// RunReconciler calls pass now and then again after each change to an object of one of kinds
// (a burst of changes gathered into one pass) or after resync without one, until ctx ends. It
// is the shape of a leader loop that decides from the whole replicated state: a change it
// missed costs at most one resync. A pass's error goes to failed (nil: dropped); the next
// change or resync retries.
func (s *Store) RunReconciler(ctx context.Context, kinds []string, resync time.Duration, pass func(context.Context) error, failed func(error)) {
	for ctx.Err() == nil {
		from := s.Index()
		if err := pass(ctx); err != nil && ctx.Err() == nil && failed != nil {
			failed(err)
		}
		w, err := s.Watch(ctx, "", "", from)
		if err != nil {
			if !sleepCtx(ctx, time.Second) {
				return
			}
			continue
		}
		waitForChange(ctx, w, kinds, resync)
		w.Close()
	}
}

func waitForChange(ctx context.Context, w *Watcher, kinds []string, resync time.Duration) {
	timer := time.NewTimer(resync)
	defer timer.Stop()
	changed := make(chan struct{}, 1)
	go func() {
		for {
			ev, err := w.Next()
			if err != nil {
				return
			}
			if slices.Contains(kinds, ev.Resource.Kind) {
				changed <- struct{}{}
				return
			}
		}
	}()
	select {
	case <-ctx.Done():
	case <-timer.C:
	case <-changed:
		sleepCtx(ctx, burstWindow)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Decoded is a stored object decoded into its Go type, with the version a conditional update
// of it names.
type Decoded[T any] struct {
	Obj *T
	RV  uint64
}

// ListAs decodes every stored object of kind, for a reconciler's pass.
func ListAs[T any](s *Store, kind string) ([]Decoded[T], error) {
	items, _, err := s.List(kind, "", "")
	if err != nil {
		return nil, err
	}
	out := make([]Decoded[T], 0, len(items))
	for _, it := range items {
		obj := new(T)
		if err := it.Decode(obj); err != nil {
			return nil, fmt.Errorf("stored %s %s: %w", kind, it.Name, err)
		}
		out = append(out, Decoded[T]{obj, it.ResourceVersion})
	}
	return out, nil
}
