package store

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	clusterv1 "open-cluster-management.io/api/cluster/v1"

	hubv1 "github.com/kubedevaiops/kubedevaiops/proto/hub/v1"
)

func TestCreateGetUpdateDelete(t *testing.T) {
	f := newFSM(t)
	res := f.create(KindManagedCluster, cluster("east-1", map[string]string{"env": "prod"}))
	assert.Equal(t, uint64(1), res.Index)
	r := res.Resource
	assert.Equal(t, KindManagedCluster, r.Kind)
	assert.Equal(t, "east-1", r.Name)
	assert.Equal(t, "uid-1", r.UID)
	assert.Equal(t, uint64(1), r.ResourceVersion)
	assert.Equal(t, uint64(1), r.CreateIndex)
	assert.Equal(t, int64(1), r.Generation)
	assert.Equal(t, map[string]string{"env": "prod"}, r.Labels)
	m := objMeta(t, r)
	assert.Equal(t, "1", m["resourceVersion"])
	assert.Equal(t, "uid-1", m["uid"])
	assert.Equal(t, "2026-03-01T12:00:01Z", m["creationTimestamp"])
	assert.EqualValues(t, 1, m["generation"])

	got, err := f.s.Get(KindManagedCluster, "", "east-1")
	require.NoError(t, err)
	assert.Same(t, r, got)
	var mc clusterv1.ManagedCluster
	require.NoError(t, got.Decode(&mc))
	assert.True(t, mc.Spec.HubAcceptsClient)
	assert.Equal(t, "cluster.open-cluster-management.io/v1", mc.APIVersion)
	assert.Equal(t, "ManagedCluster", mc.Kind)

	// A status-only change keeps the generation; the store keeps uid and creation time
	// whatever the update says.
	mc.Status.Version.Kubernetes = "v1.37.2"
	mc.UID = "forged"
	mc.CreationTimestamp.Time = t0.AddDate(-1, 0, 0)
	res = f.must(EncodeUpdate(KindManagedCluster, &mc, 1))
	assert.Equal(t, uint64(2), res.Index)
	assert.Equal(t, int64(1), res.Resource.Generation)
	assert.Equal(t, uint64(1), res.Resource.CreateIndex)
	assert.Equal(t, uint64(2), res.Resource.ModifyIndex)
	m = objMeta(t, res.Resource)
	assert.Equal(t, "uid-1", m["uid"])
	assert.Equal(t, "2026-03-01T12:00:01Z", m["creationTimestamp"])
	assert.Equal(t, "2", m["resourceVersion"])

	// A spec change bumps it.
	mc.Spec.LeaseDurationSeconds = 90
	res = f.must(EncodeUpdate(KindManagedCluster, &mc, 0))
	assert.Equal(t, int64(2), res.Resource.Generation)
	assert.EqualValues(t, 2, objMeta(t, res.Resource)["generation"])

	res = f.must(EncodeDelete(KindManagedCluster, "", "east-1", 3))
	assert.Equal(t, uint64(4), res.Index)
	assert.Equal(t, uint64(4), res.Resource.ResourceVersion, "the deleted state is reported at the delete's version")
	assert.Equal(t, "4", objMeta(t, res.Resource)["resourceVersion"])
	_, err = f.s.Get(KindManagedCluster, "", "east-1")
	assert.ErrorIs(t, err, ErrNotFound)
	assert.Equal(t, uint64(4), f.s.Index())
	assert.Equal(t, uint64(4), f.s.AppliedIndex())
}

func TestWriteErrors(t *testing.T) {
	f := newFSM(t)
	f.create(KindManagedCluster, cluster("a", nil)) // index 1
	f.create(KindManagedCluster, cluster("b", nil)) // index 2
	mustEnc := func(b []byte, err error) []byte { require.NoError(t, err); return b }
	tests := []struct {
		name    string
		cmd     []byte
		want    error
		message string
	}{
		{"create existing", mustEnc(EncodeCreateWith(KindManagedCluster, cluster("a", nil), "u", t0)), ErrAlreadyExists, "ManagedCluster a"},
		{"update missing", mustEnc(EncodeUpdate(KindManagedCluster, cluster("zz", nil), 0)), ErrNotFound, "ManagedCluster zz"},
		{"delete missing", mustEnc(EncodeDelete(KindPlacement, "ns1", "p", 0)), ErrNotFound, "Placement ns1/p"},
		{"stale update", mustEnc(EncodeUpdate(KindManagedCluster, cluster("a", map[string]string{"x": "y"}), 2)), ErrConflict, "expected resourceVersion 2, current is 1"},
		{"stale delete", mustEnc(EncodeDelete(KindManagedCluster, "", "b", 1)), ErrConflict, "expected resourceVersion 1, current is 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := snapshotBytes(t, f.s)
			idx := f.s.Index()
			res := f.apply(tt.cmd)
			require.ErrorIs(t, res.Err, tt.want)
			assert.Contains(t, res.Err.Error(), tt.message)
			assert.Nil(t, res.Resource)
			assert.Equal(t, idx, res.Index)
			assert.Equal(t, idx, f.s.Index(), "nothing applied")
			after := snapshotBytes(t, f.s)
			// Only the applied raft index in the header may differ.
			assert.Equal(t, stripHeader(t, before), stripHeader(t, after), "state unchanged")
		})
	}
	a, err := f.s.Get(KindManagedCluster, "", "a")
	require.NoError(t, err)
	assert.Nil(t, a.Labels)
}

// stripHeader drops the magic and header of a snapshot stream.
func stripHeader(t *testing.T, b []byte) []byte {
	t.Helper()
	b = b[len(snapshotMagic):]
	l, k := decodeVarint(b)
	return b[k+int(l):]
}

func decodeVarint(b []byte) (uint64, int) {
	var x uint64
	for i, c := range b {
		x |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return x, i + 1
		}
	}
	return 0, 0
}

func TestBatchMixedResults(t *testing.T) {
	f := newFSM(t)
	f.create(KindManagedCluster, cluster("a", nil)) // index 1
	enc := func(b []byte, err error) []byte { require.NoError(t, err); return b }
	batch := enc(EncodeBatch([][]byte{
		enc(EncodeCreateWith(KindManagedCluster, cluster("b", nil), "ub", t0)),              // ok -> 2
		enc(EncodeCreateWith(KindManagedCluster, cluster("a", nil), "ua", t0)),              // exists
		enc(EncodeUpdate(KindManagedCluster, cluster("a", map[string]string{"k": "v"}), 7)), // conflict
		enc(EncodeUpdate(KindManagedCluster, cluster("a", map[string]string{"k": "v"}), 1)), // ok -> 3
		{byte(0x7e), 1, 2, 3},                     // unknown, no flag
		{byte(IgnoreUnknownFlag | 0x7e), 1, 2, 3}, // unknown, flagged
		enc(EncodeAuditAppend(AuditEntry{Time: t0, Actor: "alice", Action: "cluster.accept", Target: "ManagedCluster/b"})), // ok -> 4
		enc(EncodeDelete(KindManagedCluster, "", "b", 0)),                                                                  // ok -> 5
	}))
	res := f.apply(batch)
	require.NoError(t, res.Err)
	require.Len(t, res.Batch, 8)
	assert.Equal(t, uint64(5), res.Index)
	sub := res.Batch
	assert.NoError(t, sub[0].Err)
	assert.Equal(t, uint64(2), sub[0].Index)
	assert.ErrorIs(t, sub[1].Err, ErrAlreadyExists)
	assert.Equal(t, uint64(2), sub[1].Index)
	assert.ErrorIs(t, sub[2].Err, ErrConflict)
	assert.NoError(t, sub[3].Err)
	assert.Equal(t, uint64(3), sub[3].Resource.ResourceVersion)
	assert.ErrorIs(t, sub[4].Err, ErrUnknownCommand)
	assert.NoError(t, sub[5].Err)
	assert.True(t, sub[5].Ignored)
	assert.NoError(t, sub[6].Err)
	assert.Equal(t, uint64(1), sub[6].Audit.Sequence)
	assert.Equal(t, uint64(4), sub[6].Audit.Index)
	assert.NoError(t, sub[7].Err)
	assert.Equal(t, uint64(5), sub[7].Index)

	a, err := f.s.Get(KindManagedCluster, "", "a")
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"k": "v"}, a.Labels)
	assert.Equal(t, "uid-1", a.UID, "the failed create did not touch a")
	_, err = f.s.Get(KindManagedCluster, "", "b")
	assert.ErrorIs(t, err, ErrNotFound)
	assert.Equal(t, uint64(5), f.s.Index())
	assert.Equal(t, uint64(2), f.s.AppliedIndex())
}

func TestUnknownAndMalformedCommands(t *testing.T) {
	create := func(mut func(w *hubv1.ResourceWrite)) []byte {
		w := &hubv1.ResourceWrite{
			Op: hubv1.ResourceOp_RESOURCE_OP_CREATE, Kind: KindManagedCluster, Name: "c", Uid: "u",
			CreationTimestamp: timestamppb.New(t0),
			ObjectJson:        []byte(`{"apiVersion":"cluster.open-cluster-management.io/v1","kind":"ManagedCluster","metadata":{"name":"c"},"spec":{}}`),
		}
		mut(w)
		b, err := proto.Marshal(w)
		require.NoError(t, err)
		return append([]byte{byte(CmdResourceWrite)}, b...)
	}
	big := make([]byte, MaxObjectSize+1)
	tests := []struct {
		name    string
		data    []byte
		want    error // nil: ignored
		message string
	}{
		{"empty entry", nil, ErrInvalid, "empty command"},
		{"unknown type", []byte{0x7f, 1, 2}, ErrUnknownCommand, "127"},
		{"unknown type zero", []byte{0}, ErrUnknownCommand, "0"},
		{"unknown type flagged", []byte{0xff, 1, 2}, nil, ""},
		{"garbage resource write", []byte{byte(CmdResourceWrite), 0xff, 0xff, 0xff}, ErrInvalid, "malformed ResourceWrite"},
		{"garbage audit", []byte{byte(CmdAuditAppend), 0x0a, 0x05}, ErrInvalid, "malformed AuditAppend"},
		{"garbage batch", []byte{byte(CmdBatch), 0x0a, 0x09, 0x01}, ErrInvalid, "malformed Batch"},
		{"no op", create(func(w *hubv1.ResourceWrite) { w.Op = 0 }), ErrInvalid, "unknown resource operation"},
		{"unknown kind", create(func(w *hubv1.ResourceWrite) { w.Kind = "Pod" }), ErrInvalid, `unknown kind "Pod"`},
		{"namespace on cluster-scoped", create(func(w *hubv1.ResourceWrite) { w.Namespace = "x" }), ErrInvalid, "cluster-scoped"},
		{"no name", create(func(w *hubv1.ResourceWrite) { w.Name = "" }), ErrInvalid, "invalid name"},
		{"no uid", create(func(w *hubv1.ResourceWrite) { w.Uid = "" }), ErrInvalid, "without uid"},
		{"no object", create(func(w *hubv1.ResourceWrite) { w.ObjectJson = nil }), ErrInvalid, "object is missing"},
		{"object not JSON", create(func(w *hubv1.ResourceWrite) { w.ObjectJson = []byte("{nope") }), ErrInvalid, "not valid JSON"},
		{"object with trailing data", create(func(w *hubv1.ResourceWrite) { w.ObjectJson = append(w.ObjectJson, []byte(" {}")...) }), ErrInvalid, "data after the object"},
		{"object an array", create(func(w *hubv1.ResourceWrite) { w.ObjectJson = []byte("[]") }), ErrInvalid, "not a JSON object"},
		{"duplicate metadata", create(func(w *hubv1.ResourceWrite) {
			w.ObjectJson = []byte(`{"kind":"ManagedCluster","metadata":{"name":"c"},"metadata":{"name":"c"}}`)
		}), ErrInvalid, `duplicate field "metadata"`},
		{"duplicate name", create(func(w *hubv1.ResourceWrite) {
			w.ObjectJson = []byte(`{"kind":"ManagedCluster","metadata":{"name":"c","name":"d"}}`)
		}), ErrInvalid, `duplicate field "metadata.name"`},
		{"labels not strings", create(func(w *hubv1.ResourceWrite) {
			w.ObjectJson = []byte(`{"kind":"ManagedCluster","metadata":{"name":"c","labels":{"a":1}}}`)
		}), ErrInvalid, "is not a string"},
		{"object names another", create(func(w *hubv1.ResourceWrite) {
			w.ObjectJson = []byte(`{"kind":"ManagedCluster","metadata":{"name":"other"}}`)
		}), ErrInvalid, `named "other"`},
		{"object of another kind", create(func(w *hubv1.ResourceWrite) {
			w.ObjectJson = []byte(`{"kind":"Placement","metadata":{"name":"c"}}`)
		}), ErrInvalid, `kind is "Placement"`},
		{"oversized object", create(func(w *hubv1.ResourceWrite) { w.ObjectJson = big }), ErrTooLarge, "limit 1048576"},
		{"nested batch", func() []byte {
			b, _ := proto.Marshal(&hubv1.Batch{Commands: []*hubv1.BatchEntry{{Type: uint32(CmdBatch)}}})
			return append([]byte{byte(CmdBatch)}, b...)
		}(), nil, "do not nest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFSM(t)
			var res *Result
			require.NotPanics(t, func() { res = f.apply(tt.data) })
			if tt.message == "do not nest" {
				require.NoError(t, res.Err)
				require.Len(t, res.Batch, 1)
				assert.ErrorIs(t, res.Batch[0].Err, ErrInvalid)
				assert.Contains(t, res.Batch[0].Err.Error(), tt.message)
			} else if tt.want == nil {
				assert.NoError(t, res.Err)
				assert.True(t, res.Ignored)
				assert.Contains(t, f.logs.String(), "level=WARN")
				assert.Contains(t, f.logs.String(), "ignore-if-unknown")
			} else {
				require.ErrorIs(t, res.Err, tt.want)
				assert.Contains(t, res.Err.Error(), tt.message)
				assert.False(t, res.Ignored)
			}
			assert.Equal(t, uint64(0), f.s.Index(), "nothing applied")
			assert.Equal(t, uint64(1), f.s.AppliedIndex(), "the entry is consumed")
			items, _, err := f.s.List(KindManagedCluster, "", "")
			require.NoError(t, err)
			assert.Empty(t, items)
		})
	}
	// The good command the table mutates is itself fine.
	f := newFSM(t)
	assert.NoError(t, f.apply(create(func(*hubv1.ResourceWrite) {})).Err)
}

func TestNonCommandEntries(t *testing.T) {
	s := New(Options{})
	out := s.ApplyBatch([]*raft.Log{
		{Index: 1, Type: raft.LogConfiguration},
		{Index: 2, Type: raft.LogCommand, Data: []byte{0x7f}},
		{Index: 3, Type: raft.LogConfiguration},
	})
	require.Len(t, out, 3)
	assert.Nil(t, out[0])
	assert.ErrorIs(t, out[1].(*Result).Err, ErrUnknownCommand)
	assert.Nil(t, out[2])
	assert.Equal(t, uint64(3), s.AppliedIndex())
}

func TestEncodeValidation(t *testing.T) {
	mc := `"apiVersion":"cluster.open-cluster-management.io/v1","kind":"ManagedCluster"`
	tests := []struct {
		name    string
		kind    string
		obj     any
		want    error
		message string
	}{
		{"unknown kind", "Pod", []byte(`{}`), ErrInvalid, `unknown kind "Pod"`},
		{"nil object", KindManagedCluster, nil, ErrInvalid, "object is nil"},
		{"not JSON", KindManagedCluster, []byte(`{"metadata":`), ErrInvalid, "ManagedCluster"},
		{"unknown field", KindManagedCluster, []byte(`{` + mc + `,"metadata":{"name":"a"},"spec":{"hubAcceptsClients":true}}`), ErrInvalid, `unknown field "spec.hubAcceptsClients"`},
		{"duplicate field", KindManagedCluster, []byte(`{"metadata":{"name":"a","name":"b"}}`), ErrInvalid, `duplicate field "metadata.name"`},
		{"wrong case", KindManagedCluster, []byte(`{"Metadata":{"name":"a"}}`), ErrInvalid, `unknown field "Metadata"`},
		{"wrong type", KindManagedCluster, []byte(`{"metadata":{"name":"a"},"spec":{"hubAcceptsClient":"yes"}}`), ErrInvalid, "hubAcceptsClient"},
		{"missing name", KindManagedCluster, []byte(`{"spec":{}}`), ErrInvalid, "metadata.name is required"},
		{"upper-case name", KindManagedCluster, []byte(`{"metadata":{"name":"East-1"}}`), ErrInvalid, `ManagedCluster name "East-1"`},
		{"name too long", KindPlan, []byte(`{"metadata":{"name":"` + strings.Repeat("a", 254) + `"}}`), ErrInvalid, "no more than 253"},
		{"namespace on cluster-scoped", KindManagedCluster, []byte(`{"metadata":{"name":"a","namespace":"ns"}}`), ErrInvalid, "cluster-scoped: metadata.namespace must be empty"},
		{"no namespace on namespaced", KindPlacement, []byte(`{"metadata":{"name":"p"}}`), ErrInvalid, "namespaced: metadata.namespace is required"},
		{"invalid namespace", KindPlacement, []byte(`{"metadata":{"name":"p","namespace":"a.b"}}`), ErrInvalid, `namespace "a.b"`},
		{"wrong kind", KindManagedCluster, []byte(`{"kind":"Placement","metadata":{"name":"a"}}`), ErrInvalid, `object kind is "Placement"`},
		{"wrong apiVersion", KindManagedCluster, []byte(`{"apiVersion":"cluster.open-cluster-management.io/v2","metadata":{"name":"a"}}`), ErrInvalid, "apiVersion"},
		{"oversized", KindManagedCluster, []byte(`{"metadata":{"name":"a","annotations":{"x":"` + strings.Repeat("x", MaxObjectSize) + `"}}}`), ErrTooLarge, "limit 1048576"},
		{"typed of another kind", KindPlacement, cluster("a", nil), ErrInvalid, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := EncodeCreate(tt.kind, tt.obj)
			require.ErrorIs(t, err, tt.want)
			assert.Contains(t, err.Error(), tt.message)
			_, err = EncodeUpdate(tt.kind, tt.obj, 0)
			require.ErrorIs(t, err, tt.want)
		})
	}

	t.Run("good", func(t *testing.T) {
		for _, obj := range []any{
			[]byte(`{"metadata":{"name":"a"},"spec":{"hubAcceptsClient":true}}`),
			json.RawMessage(`{` + mc + `,"metadata":{"name":"a"}}`),
			cluster("a", nil),
			*cluster("a", nil),
		} {
			b, err := EncodeCreate(KindManagedCluster, obj)
			require.NoError(t, err)
			assert.Equal(t, byte(CmdResourceWrite), b[0])
		}
		_, err := EncodeCreate(KindPlacement, placement("ns1", "p", 2))
		require.NoError(t, err)
	})

	t.Run("delete and create arguments", func(t *testing.T) {
		_, err := EncodeDelete(KindPlacement, "", "p", 0)
		assert.ErrorIs(t, err, ErrInvalid)
		_, err = EncodeDelete("Nope", "", "p", 0)
		assert.ErrorIs(t, err, ErrInvalid)
		_, err = EncodeDelete(KindManagedCluster, "", "Bad_Name", 0)
		assert.ErrorIs(t, err, ErrInvalid)
		_, err = EncodeCreateWith(KindManagedCluster, cluster("a", nil), "", t0)
		assert.ErrorIs(t, err, ErrInvalid)
		_, err = EncodeCreateWith(KindManagedCluster, cluster("a", nil), "u", time.Time{})
		assert.ErrorIs(t, err, ErrInvalid)
	})

	t.Run("audit", func(t *testing.T) {
		_, err := EncodeAuditAppend(AuditEntry{Action: "x"})
		assert.ErrorIs(t, err, ErrInvalid)
		_, err = EncodeAuditAppend(AuditEntry{Actor: "a", Action: "x", Details: json.RawMessage(`{"a":`)})
		assert.ErrorIs(t, err, ErrInvalid)
		_, err = EncodeAuditAppend(AuditEntry{Actor: "a", Action: "x", Details: json.RawMessage(`"` + strings.Repeat("x", MaxAuditDetailsSize) + `"`)})
		assert.ErrorIs(t, err, ErrTooLarge)
		_, err = EncodeAuditAppend(AuditEntry{Actor: strings.Repeat("a", MaxAuditFieldSize+1), Action: "x"})
		assert.ErrorIs(t, err, ErrTooLarge)
	})

	t.Run("batch", func(t *testing.T) {
		_, err := EncodeBatch([][]byte{{}})
		assert.ErrorIs(t, err, ErrInvalid)
		inner, err := EncodeBatch(nil)
		require.NoError(t, err)
		_, err = EncodeBatch([][]byte{inner})
		assert.ErrorIs(t, err, ErrInvalid)
		_, err = EncodeBatch(make([][]byte, MaxBatchCommands+1))
		assert.ErrorIs(t, err, ErrTooLarge)
	})
}

func TestErrorsAreDistinct(t *testing.T) {
	all := []error{ErrNotFound, ErrAlreadyExists, ErrConflict, ErrInvalid, ErrTooLarge, ErrUnknownCommand, ErrCompacted}
	for i, a := range all {
		for j, b := range all {
			assert.Equal(t, i == j, errors.Is(a, b))
		}
	}
}

func TestList(t *testing.T) {
	f := newFSM(t)
	f.create(KindManagedCluster, cluster("c", map[string]string{"env": "prod", "region": "eu"}))
	f.create(KindManagedCluster, cluster("a", map[string]string{"env": "prod", "region": "us"}))
	f.create(KindManagedCluster, cluster("b", map[string]string{"env": "dev"}))
	f.create(KindPlacement, placement("team-b", "p1", 1))
	f.create(KindPlacement, placement("team-a", "p2", 1))
	f.create(KindPlacement, placement("team-a", "p1", 1))
	f.create(KindPlacement, placement("team-a-b", "p0", 1))

	names := func(rs []*Resource) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.Namespace+"/"+r.Name)
		}
		return out
	}
	tests := []struct {
		kind, ns, sel string
		want          []string
	}{
		{KindManagedCluster, "", "", []string{"/a", "/b", "/c"}},
		{KindManagedCluster, "", "env=prod", []string{"/a", "/c"}},
		{KindManagedCluster, "", "env=prod,region in (eu)", []string{"/c"}},
		{KindManagedCluster, "", "!region", []string{"/b"}},
		{KindManagedCluster, "", "env=staging", nil},
		{KindPlacement, "", "", []string{"team-a/p1", "team-a/p2", "team-a-b/p0", "team-b/p1"}},
		{KindPlacement, "team-a", "", []string{"team-a/p1", "team-a/p2"}},
		{KindPlacement, "team-c", "", nil},
		{KindPlan, "", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.kind+"/"+tt.ns+"?"+tt.sel, func(t *testing.T) {
			items, idx, err := f.s.List(tt.kind, tt.ns, tt.sel)
			require.NoError(t, err)
			assert.Equal(t, tt.want, names(items))
			assert.Equal(t, uint64(7), idx)
		})
	}
	_, _, err := f.s.List(KindManagedCluster, "", "env in (")
	assert.ErrorIs(t, err, ErrInvalid)
	_, _, err = f.s.List(KindManagedCluster, "ns", "")
	assert.ErrorIs(t, err, ErrInvalid)
	_, _, err = f.s.List("Pod", "", "")
	assert.ErrorIs(t, err, ErrInvalid)
	_, err = f.s.Get("Pod", "", "a")
	assert.ErrorIs(t, err, ErrInvalid)
	_, err = f.s.Get(KindPlacement, "", "p1")
	assert.ErrorIs(t, err, ErrInvalid)
	_, err = f.s.Get(KindPlacement, "team-a", "p9")
	assert.ErrorIs(t, err, ErrNotFound)
	assert.Contains(t, err.Error(), "Placement team-a/p9")
}

// A command that panics (a bug) fails alone; the rest of the raft batch applies.
func TestApplyRecoversFromPanic(t *testing.T) {
	const cmdPanic CommandType = 0x7d
	commands[cmdPanic] = func(a *applier, payload []byte) *Result {
		a.index++ // a half-done write that must not survive
		panic("boom")
	}
	defer delete(commands, cmdPanic)

	f := newFSM(t)
	good, err := EncodeCreateWith(KindManagedCluster, cluster("a", nil), "u", t0)
	require.NoError(t, err)
	good2, err := EncodeCreateWith(KindManagedCluster, cluster("b", nil), "u2", t0)
	require.NoError(t, err)
	var out []any
	require.NotPanics(t, func() {
		out = f.s.ApplyBatch([]*raft.Log{f.log(good), f.log([]byte{byte(cmdPanic)}), f.log(good2)})
	})
	require.Len(t, out, 3)
	assert.NoError(t, out[0].(*Result).Err)
	assert.ErrorIs(t, out[1].(*Result).Err, ErrInvalid)
	assert.Contains(t, out[1].(*Result).Err.Error(), "internal error")
	assert.NoError(t, out[2].(*Result).Err)
	assert.Equal(t, uint64(2), out[2].(*Result).Index)
	assert.Equal(t, uint64(2), f.s.Index())
	assert.Equal(t, uint64(3), f.s.AppliedIndex())
	assert.Contains(t, f.logs.String(), "panicked")
	items, _, err := f.s.List(KindManagedCluster, "", "")
	require.NoError(t, err)
	assert.Len(t, items, 2)
}
