package store

import (
	"context"
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
