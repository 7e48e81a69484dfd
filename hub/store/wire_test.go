package store

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A result reaches a forwarding member as the leader's store returned it, in the compact
// encoding as in JSON: resources, audit records, batches with per-command errors, nil against
// empty where the encoding can tell them apart.
func TestResultEncodings(t *testing.T) {
	f := newFSM(t)
	entry := AuditEntry{Actor: "admin/alice", Action: "cluster.apply", Target: "ManagedCluster/c1", Details: []byte(`{"why":"test"}`)}
	created := f.create(KindManagedCluster, cluster("c1", map[string]string{"env": "prod", "tier": "1"}))
	applyCmd, err := EncodeApply(KindManagedCluster, cluster("c1", map[string]string{}), 0)
	require.NoError(t, err)
	applyCmd, err = WithAudit(applyCmd, entry)
	require.NoError(t, err)
	conflict, err := EncodeUpdate(KindManagedCluster, cluster("c1", nil), 1)
	require.NoError(t, err)
	gone, err := EncodeDelete(KindManagedCluster, "", "nope", 0)
	require.NoError(t, err)
	batch, err := EncodeBatch([][]byte{applyCmd, conflict, gone})
	require.NoError(t, err)
	batched := f.apply(batch)
	require.Len(t, batched.Batch, 3)
	require.NotNil(t, batched.Batch[0].Audit)
	plain, err := EncodeAuditAppend(AuditEntry{Actor: "hub", Action: "member.join", Time: time.Unix(1700000000, 123456789)})
	require.NoError(t, err)
	audited := f.apply(plain)

	results := map[string]*Result{
		"create":              created,
		"batch":               batched,
		"audit":               audited,
		"ignored":             {Index: 7, Ignored: true},
		"refused":             {Index: 3, Err: errors.Join(ErrInvalid, errors.New("bad"))},
		"nil batch entry":     {Index: 4, Batch: []*Result{nil, {Index: 4}}},
		"negative generation": {Resource: &Resource{Kind: "K", Name: "n", Generation: -1}},
		"first audit hash":    {Audit: &AuditRecord{Sequence: 1, Hash: []byte{1}, PrevHash: nil}},
	}
	var c Codec
	for name, res := range results {
		for _, compact := range []bool{true, false} {
			data, err := c.MarshalResult(res, compact)
			require.NoError(t, err, name)
			if compact {
				require.EqualValues(t, compactResultV1, data[0], name)
			}
			back, err := c.UnmarshalResult(data)
			require.NoError(t, err, name)
			requireSameResult(t, res, back.(*Result), name, compact)
		}
	}
}

func requireSameResult(t *testing.T, want, got *Result, name string, compact bool) {
	t.Helper()
	if want == nil {
		require.Nil(t, got, name)
		return
	}
	require.NotNil(t, got, name)
	require.Equal(t, want.Index, got.Index, name)
	require.Equal(t, want.Ignored, got.Ignored, name)
	if want.Err == nil {
		require.NoError(t, got.Err, name)
	} else {
		require.EqualError(t, got.Err, want.Err.Error(), name)
		for _, s := range sentinels {
			require.Equal(t, errors.Is(want.Err, s), errors.Is(got.Err, s), "%s: %v", name, s)
		}
	}
	if w := want.Resource; w != nil {
		g := got.Resource
		require.NotNil(t, g, name)
		require.Equal(t, w.Kind, g.Kind, name)
		require.Equal(t, w.Namespace, g.Namespace, name)
		require.Equal(t, w.Name, g.Name, name)
		require.Equal(t, w.UID, g.UID, name)
		require.Equal(t, w.ResourceVersion, g.ResourceVersion, name)
		require.Equal(t, w.CreateIndex, g.CreateIndex, name)
		require.Equal(t, w.ModifyIndex, g.ModifyIndex, name)
		require.Equal(t, w.Generation, g.Generation, name)
		require.Equal(t, w.Labels, g.Labels, name)
		require.Equal(t, w.Labels == nil, g.Labels == nil, name)
		require.Equal(t, w.Object, g.Object, name)
	} else {
		require.Nil(t, got.Resource, name)
	}
	if w := want.Audit; w != nil {
		g := got.Audit
		require.NotNil(t, g, name)
		require.True(t, w.Time.Equal(g.Time), "%s: time %v, got %v", name, w.Time, g.Time)
		wc, gc := *w, *g
		wc.Time, gc.Time = time.Time{}, time.Time{}
		if !compact && wc.Details == nil {
			wc.Details = []byte("null") // what JSON always made of no details
		}
		require.Equal(t, wc, gc, name)
	} else {
		require.Nil(t, got.Audit, name)
	}
	require.Len(t, got.Batch, len(want.Batch), name)
	for i := range want.Batch {
		requireSameResult(t, want.Batch[i], got.Batch[i], name, compact)
	}
}

// A damaged compact result is an error, never a panic or a half-read result.
func TestCompactResultDamaged(t *testing.T) {
	f := newFSM(t)
	res := f.create(KindManagedCluster, cluster("c1", map[string]string{"env": "prod"}))
	data, err := Codec{}.MarshalResult(res, true)
	require.NoError(t, err)
	for n := 1; n < len(data); n++ {
		// Every proper prefix either fails or decodes (a prefix may end on a field boundary);
		// it must not panic.
		_, _ = Codec{}.UnmarshalResult(data[:n])
	}
	_, err = Codec{}.UnmarshalResult(append(append([]byte{}, data...), 0x0a, 0x80))
	require.Error(t, err, "a length running past the end")
}
