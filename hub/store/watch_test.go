package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type seen struct {
	Type  EventType
	Index uint64
	Name  string
}

func collect(t *testing.T, w *Watcher, n int) []seen {
	t.Helper()
	var out []seen
	for len(out) < n {
		ev, err := w.Next()
		require.NoError(t, err)
		out = append(out, seen{ev.Type, ev.Index, ev.Resource.Namespace + "/" + ev.Resource.Name})
	}
	return out
}

// history applies: 1 create a, 2 create b, 3 create placement ns1/p, 4 update a,
// 5 audit (no event), 6 delete b.
func history6(t *testing.T, opts ...Options) *fsm {
	f := newFSM(t, opts...)
	f.create(KindManagedCluster, cluster("a", nil))
	f.create(KindManagedCluster, cluster("b", nil))
	f.create(KindPlacement, placement("ns1", "p", 1))
	f.must(EncodeUpdate(KindManagedCluster, cluster("a", map[string]string{"x": "1"}), 0))
	f.must(EncodeAuditAppend(AuditEntry{Time: t0, Actor: "a", Action: "b"}))
	f.must(EncodeDelete(KindManagedCluster, "", "b", 0))
	return f
}

func TestWatchReplay(t *testing.T) {
	f := history6(t)
	ctx := context.Background()
	tests := []struct {
		name      string
		kind, ns  string
		from      uint64
		want      []seen
		wantIndex uint64
	}{
		{"all from 0", "", "", 0, []seen{{Added, 1, "/a"}, {Added, 2, "/b"}, {Added, 3, "ns1/p"}, {Modified, 4, "/a"}, {Deleted, 6, "/b"}}, 6},
		{"clusters from 0", KindManagedCluster, "", 0, []seen{{Added, 1, "/a"}, {Added, 2, "/b"}, {Modified, 4, "/a"}, {Deleted, 6, "/b"}}, 6},
		{"clusters from the middle", KindManagedCluster, "", 2, []seen{{Modified, 4, "/a"}, {Deleted, 6, "/b"}}, 6},
		{"placements in ns1", KindPlacement, "ns1", 0, []seen{{Added, 3, "ns1/p"}}, 6},
		{"placements in ns2", KindPlacement, "ns2", 0, nil, 6},
		{"from the head", "", "", 6, nil, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := f.s.Watch(ctx, tt.kind, tt.ns, tt.from)
			require.NoError(t, err)
			defer w.Close()
			if tt.want == nil {
				// Nothing to deliver: NextBatch would block. Check with a done context.
				cctx, cancel := context.WithCancel(ctx)
				cancel()
				w2, err := f.s.Watch(cctx, tt.kind, tt.ns, tt.from)
				require.NoError(t, err)
				_, err = w2.Next()
				assert.ErrorIs(t, err, context.Canceled)
				return
			}
			evs, err := w.NextBatch(nil, 0)
			require.NoError(t, err)
			var got []seen
			for _, ev := range evs {
				got = append(got, seen{ev.Type, ev.Index, ev.Resource.Namespace + "/" + ev.Resource.Name})
			}
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.wantIndex, w.Index())
		})
	}
	_, err := f.s.Watch(ctx, "Pod", "", 0)
	assert.ErrorIs(t, err, ErrInvalid)
	_, err = f.s.Watch(ctx, KindManagedCluster, "ns", 0)
	assert.ErrorIs(t, err, ErrInvalid)
}

func TestWatchDeletedCarriesLastState(t *testing.T) {
	f := history6(t)
	w, err := f.s.Watch(context.Background(), KindManagedCluster, "", 5)
	require.NoError(t, err)
	ev, err := w.Next()
	require.NoError(t, err)
	assert.Equal(t, Deleted, ev.Type)
	assert.Equal(t, uint64(6), ev.Resource.ResourceVersion)
	assert.Equal(t, uint64(2), ev.Resource.CreateIndex)
	assert.Equal(t, "uid-2", ev.Resource.UID)
}

func TestWatchLive(t *testing.T) {
	f := newFSM(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	clusters, err := f.s.Watch(ctx, KindManagedCluster, "", f.s.Index())
	require.NoError(t, err)
	placements, err := f.s.Watch(ctx, KindPlacement, "", f.s.Index())
	require.NoError(t, err)

	got := make(chan []seen, 1)
	go func() {
		var out []seen
		for len(out) < 3 {
			ev, err := clusters.Next()
			if err != nil {
				break
			}
			out = append(out, seen{ev.Type, ev.Index, ev.Resource.Name})
		}
		got <- out
	}()
	f.create(KindManagedCluster, cluster("a", nil))
	f.create(KindPlacement, placement("ns", "p", 1))
	f.must(EncodeUpdate(KindManagedCluster, cluster("a", nil), 1))
	f.must(EncodeDelete(KindManagedCluster, "", "a", 0))
	assert.Equal(t, []seen{{Added, 1, "a"}, {Modified, 3, "a"}, {Deleted, 4, "a"}}, <-got)

	ev, err := placements.Next()
	require.NoError(t, err)
	assert.Equal(t, "p", ev.Resource.Name)

	// A blocked Next ends on Close and on context cancellation.
	done := make(chan error, 1)
	go func() { _, err := placements.Next(); done <- err }()
	placements.Close()
	assert.ErrorIs(t, <-done, ErrWatcherClosed)

	go func() { _, err := clusters.Next(); done <- err }()
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
}

func TestWatchCompactedAndSlow(t *testing.T) {
	f := newFSM(t, Options{HistorySize: 4})
	ctx := context.Background()
	slow, err := f.s.Watch(ctx, "", "", 0)
	require.NoError(t, err)
	for i := 0; i < 6; i++ {
		f.create(KindManagedCluster, cluster(fmt.Sprintf("c%d", i), nil))
	}
	// History holds indexes 3..6: from 2 on is complete, from 1 is not.
	_, err = f.s.Watch(ctx, "", "", 1)
	require.ErrorIs(t, err, ErrCompacted)
	assert.Contains(t, err.Error(), "list again")
	w, err := f.s.Watch(ctx, KindManagedCluster, "", 2)
	require.NoError(t, err)
	assert.Equal(t, []seen{{Added, 3, "/c2"}, {Added, 4, "/c3"}}, collect(t, w, 2))

	// The watcher created at 0 never read: it fell behind and is closed with an error.
	_, err = slow.Next()
	require.ErrorIs(t, err, ErrCompacted)
	assert.Contains(t, err.Error(), "fell behind")

	// w keeps up for now, then falls behind too.
	for i := 6; i < 12; i++ {
		f.create(KindManagedCluster, cluster(fmt.Sprintf("c%d", i), nil))
	}
	_, err = w.Next()
	assert.ErrorIs(t, err, ErrCompacted)
}

func TestWatchAfterRestore(t *testing.T) {
	f := history6(t)
	snap := snapshotBytes(t, f.s)
	w, err := f.s.Watch(context.Background(), "", "", 6)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { _, err := w.Next(); done <- err }()
	require.NoError(t, f.s.Restore(readCloser(snap)))
	err = <-done
	require.ErrorIs(t, err, ErrCompacted)
	assert.Contains(t, err.Error(), "restored")

	// After a restore the history starts at the snapshot's index.
	_, err = f.s.Watch(context.Background(), "", "", 5)
	assert.ErrorIs(t, err, ErrCompacted)
	w, err = f.s.Watch(context.Background(), "", "", 6)
	require.NoError(t, err)
	f.create(KindManagedCluster, cluster("z", nil))
	assert.Equal(t, []seen{{Added, 7, "/z"}}, collect(t, w, 1))
}

func TestWaitForApplied(t *testing.T) {
	f := newFSM(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, f.s.WaitForApplied(ctx, 0))
	done := make(chan error, 1)
	go func() { done <- f.s.WaitForApplied(ctx, 2) }()
	f.create(KindManagedCluster, cluster("a", nil))
	f.create(KindManagedCluster, cluster("b", nil))
	require.NoError(t, <-done)

	short, cancelShort := context.WithCancel(ctx)
	cancelShort()
	assert.ErrorIs(t, f.s.WaitForApplied(short, 3), context.Canceled)

	go func() { done <- f.s.WaitForApplied(ctx, 10) }()
	f.s.MarkApplied(10)
	require.NoError(t, <-done)
	f.s.MarkApplied(4)
	assert.Equal(t, uint64(10), f.s.AppliedIndex(), "MarkApplied never lowers")
}
