package store

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTransactionAppliesAll(t *testing.T) {
	f := newFSM(t)
	f.create(KindManagedCluster, cluster("a", nil)) // index 1
	enc := func(b []byte, err error) []byte { require.NoError(t, err); return b }
	txn := enc(EncodeTransaction([][]byte{
		enc(EncodeUpdate(KindManagedCluster, cluster("a", map[string]string{"k": "v"}), 1)),
		enc(EncodeCreateWith(KindManagedCluster, cluster("b", nil), "ub", t0)),
		enc(EncodeAuditAppend(AuditEntry{Time: t0, Actor: "hub", Action: "cluster.register", Target: "ManagedCluster/b"})),
	}))
	res := f.apply(txn)
	require.NoError(t, res.Err)
	require.Len(t, res.Batch, 3)
	assert.Equal(t, uint64(4), res.Index)
	assert.Equal(t, uint64(2), res.Batch[0].Resource.ResourceVersion)
	assert.Equal(t, uint64(1), res.Batch[2].Audit.Sequence)
	_, err := f.s.Get(KindManagedCluster, "", "b")
	require.NoError(t, err)
}

// A failing command undoes every earlier one: updates, creates, deletes, attached and plain
// audit records, and the watch events they would have produced.
func TestTransactionRollsBackOnFailure(t *testing.T) {
	f := newFSM(t)
	f.create(KindManagedCluster, cluster("a", nil)) // 1
	f.create(KindManagedCluster, cluster("c", nil)) // 2
	f.must(EncodeAuditAppend(AuditEntry{Time: t0, Actor: "alice", Action: "x"}))
	w, err := f.s.Watch(t.Context(), KindManagedCluster, "", f.s.Index())
	require.NoError(t, err)
	defer w.Close()

	enc := func(b []byte, err error) []byte { require.NoError(t, err); return b }
	audited := enc(WithAudit(enc(EncodeCreateWith(KindManagedCluster, cluster("b", nil), "ub", t0)),
		AuditEntry{Time: t0, Actor: "hub", Action: "cluster.register"}))
	txn := enc(EncodeTransaction([][]byte{
		enc(EncodeUpdate(KindManagedCluster, cluster("a", map[string]string{"k": "v"}), 1)),
		enc(EncodeUpdate(KindManagedCluster, cluster("a", map[string]string{"k": "w"}), 0)), // same object twice
		audited,
		enc(EncodeDelete(KindManagedCluster, "", "c", 0)),
		enc(EncodeAuditAppend(AuditEntry{Time: t0, Actor: "hub", Action: "y"})),
		enc(EncodeUpdate(KindManagedCluster, cluster("c", nil), 0)), // c is deleted above: not found
	}))
	before := f.s.Index()
	res := f.apply(txn)
	require.Error(t, res.Err)
	assert.ErrorIs(t, res.Err, ErrNotFound)
	assert.Contains(t, res.Err.Error(), "transaction command 5")
	assert.Equal(t, before, res.Index)
	assert.Equal(t, before, f.s.Index())
	require.Len(t, res.Batch, 6)
	for i := range 5 {
		assert.ErrorIs(t, res.Batch[i].Err, ErrAborted, "command %d", i)
	}

	a, err := f.s.Get(KindManagedCluster, "", "a")
	require.NoError(t, err)
	assert.Empty(t, a.Labels)
	assert.Equal(t, uint64(1), a.ResourceVersion)
	_, err = f.s.Get(KindManagedCluster, "", "b")
	assert.ErrorIs(t, err, ErrNotFound)
	_, err = f.s.Get(KindManagedCluster, "", "c")
	assert.NoError(t, err)
	records, _ := f.s.ListAudit(0, 100)
	require.Len(t, records, 1)
	assert.Equal(t, "x", records[0].Action)

	// The store carries on from where it was; the next write gets the next index and the
	// watcher sees it as the first event.
	f.must(EncodeUpdate(KindManagedCluster, cluster("a", map[string]string{"k": "z"}), 1))
	ev, err := w.Next()
	require.NoError(t, err)
	assert.Equal(t, "a", ev.Resource.Name)
	assert.Equal(t, before+1, ev.Index)
}

func TestTransactionRefusesOtherCommands(t *testing.T) {
	enc := func(b []byte, err error) []byte { require.NoError(t, err); return b }
	inner := enc(EncodeBatch([][]byte{enc(EncodeDelete(KindManagedCluster, "", "a", 0))}))
	_, err := EncodeTransaction([][]byte{inner})
	assert.ErrorIs(t, err, ErrInvalid)
	_, err = EncodeTransaction(nil)
	assert.ErrorIs(t, err, ErrInvalid)

	// A transaction inside a batch is one sub-command with its own result.
	f := newFSM(t)
	txn := enc(EncodeTransaction([][]byte{enc(EncodeDelete(KindManagedCluster, "", "missing", 0))}))
	res := f.apply(enc(EncodeBatch([][]byte{txn, enc(EncodeCreateWith(KindManagedCluster, cluster("a", nil), "ua", t0))})))
	require.NoError(t, res.Err)
	assert.ErrorIs(t, res.Batch[0].Err, ErrNotFound)
	assert.NoError(t, res.Batch[1].Err)
}
