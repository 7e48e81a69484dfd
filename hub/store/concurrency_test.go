package store

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Readers, watchers and a snapshot run while the FSM applies (run with -race).
func TestConcurrentReadsWatchesAndApply(t *testing.T) {
	const writes = 1500
	f := newFSM(t, Options{HistorySize: 2 * writes})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			watch, err := f.s.Watch(ctx, KindManagedCluster, "", 0)
			if err != nil {
				errs <- err
				return
			}
			var last uint64
			var buf []Event
			for last < writes {
				buf, err = watch.NextBatch(buf[:0], 64)
				if err != nil {
					errs <- err
					return
				}
				for _, ev := range buf {
					if ev.Index <= last {
						errs <- fmt.Errorf("event %d after %d", ev.Index, last)
						return
					}
					last = ev.Index
				}
			}
		}()
	}
	stop := make(chan struct{})
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				items, idx, err := f.s.List(KindManagedCluster, "", "")
				if err != nil {
					errs <- err
					return
				}
				// A list is a consistent snapshot: item versions never exceed its index.
				for _, it := range items {
					if it.ModifyIndex > idx {
						errs <- fmt.Errorf("item at %d in a list at %d", it.ModifyIndex, idx)
						return
					}
				}
				_, _ = f.s.Get(KindManagedCluster, "", "c7")
			}
		}()
	}
	for i := 0; i < writes; i++ {
		name := fmt.Sprintf("c%d", i%50)
		if i < 50 {
			f.create(KindManagedCluster, cluster(name, nil))
		} else {
			f.must(EncodeUpdate(KindManagedCluster, cluster(name, map[string]string{"i": fmt.Sprint(i)}), 0))
		}
		if i == writes/2 {
			snap, err := f.s.Snapshot()
			require.NoError(t, err)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer snap.Release()
				if err := snap.Persist(&sink{Buffer: new(bytes.Buffer)}); err != nil {
					errs <- err
				}
			}()
		}
	}
	require.NoError(t, f.s.WaitForApplied(ctx, writes))
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
}
