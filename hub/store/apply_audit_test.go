package store

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// An apply creates, then updates, in one command each; an attached audit record is appended
// exactly when the write succeeds.
func TestApplyWithAuditIsAtomic(t *testing.T) {
	f := newFSM(t)
	entry := AuditEntry{Actor: "admin/alice", Action: "cluster.apply", Target: "ManagedCluster/c1"}
	withAudit := func(cmd []byte, err error) []byte {
		require.NoError(t, err)
		out, err := WithAudit(cmd, entry)
		require.NoError(t, err)
		return out
	}

	created := f.apply(withAudit(EncodeApply(KindManagedCluster, cluster("c1", map[string]string{"env": "a"}), 0)))
	require.NoError(t, created.Err)
	require.EqualValues(t, 1, created.Resource.Generation)
	require.NotNil(t, created.Audit)
	require.EqualValues(t, 1, created.Audit.Sequence)

	updated := f.apply(withAudit(EncodeApply(KindManagedCluster, cluster("c1", map[string]string{"env": "b"}), 0)))
	require.NoError(t, updated.Err)
	require.Equal(t, created.Resource.UID, updated.Resource.UID, "an apply of an existing resource updates it")
	require.Equal(t, "b", updated.Resource.Labels["env"])
	require.EqualValues(t, 2, updated.Audit.Sequence)

	// A stale version fails, and its audit record is not appended.
	stale := f.apply(withAudit(EncodeApply(KindManagedCluster, cluster("c1", nil), created.Resource.ResourceVersion)))
	require.ErrorIs(t, stale.Err, ErrConflict)
	require.Nil(t, stale.Audit)
	records, head := f.s.ListAudit(1, 10)
	require.Len(t, records, 2)
	require.EqualValues(t, 2, head)
	_, err := VerifyAudit(records)
	require.NoError(t, err)

	// An invalid attached entry refuses the whole command before anything is applied.
	bad, err := EncodeApply(KindManagedCluster, cluster("c2", nil), 0)
	require.NoError(t, err)
	_, err = WithAudit(bad, AuditEntry{Actor: "admin/alice"})
	require.ErrorIs(t, err, ErrInvalid, "an audit entry without an action")
	_, err = WithAudit([]byte{byte(CmdAuditAppend)}, entry)
	require.ErrorIs(t, err, ErrInvalid, "only resource writes carry an audit record")
	_, err = f.s.Get(KindManagedCluster, "", "c2")
	require.ErrorIs(t, err, ErrNotFound)
}
