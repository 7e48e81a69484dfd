package store

import (
	"bytes"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	hubv1 "github.com/kubedevaiops/kubedevaiops/proto/hub/v1"
)

// EncodeBatch writes the bytes the generated code writes, and decodeBatch reads any input as
// proto.Unmarshal does: the same entries, or an error for the same damaged inputs.
func TestBatchWireMatchesGeneratedCode(t *testing.T) {
	cmds := [][]byte{
		{byte(CmdResourceWrite), 0x0a, 0x01, 'x'},
		{byte(CmdAuditAppend)},
		{byte(CmdResourceWrite | IgnoreUnknownFlag), 1, 2, 3},
		append([]byte{byte(CmdTransaction)}, bytes.Repeat([]byte{7}, 300)...),
	}
	got, err := EncodeBatch(cmds)
	require.NoError(t, err)
	want := &hubv1.Batch{}
	for _, c := range cmds {
		want.Commands = append(want.Commands, &hubv1.BatchEntry{Type: uint32(c[0]), Payload: c[1:]})
	}
	wantBytes, err := proto.MarshalOptions{Deterministic: true}.Marshal(want)
	require.NoError(t, err)
	require.Equal(t, append([]byte{byte(CmdBatch)}, wantBytes...), got)

	// Inputs the generated code accepts in ways a hand-written reader could miss.
	var odd []byte
	odd = protowire.AppendTag(odd, 7, protowire.VarintType) // unknown field
	odd = protowire.AppendVarint(odd, 9)
	odd = protowire.AppendTag(odd, batchCommands, protowire.VarintType) // wrong wire type: unknown
	odd = protowire.AppendVarint(odd, 1)
	var entry []byte
	entry = protowire.AppendTag(entry, batchEntryType, protowire.VarintType)
	entry = protowire.AppendVarint(entry, 1<<40|3) // truncated to a uint32
	entry = protowire.AppendTag(entry, batchEntryType, protowire.VarintType)
	entry = protowire.AppendVarint(entry, 2) // the last one wins
	entry = protowire.AppendTag(entry, batchEntryPayload, protowire.Fixed32Type)
	entry = protowire.AppendFixed32(entry, 5)
	entry = protowire.AppendTag(entry, 9, protowire.StartGroupType)
	entry = protowire.AppendTag(entry, 9, protowire.EndGroupType)
	odd = protowire.AppendTag(odd, batchCommands, protowire.BytesType)
	odd = protowire.AppendBytes(odd, entry)

	var oddRef hubv1.Batch
	require.NoError(t, proto.Unmarshal(odd, &oddRef), "the odd input is a valid Batch")
	require.Len(t, oddRef.Commands, 1)
	require.EqualValues(t, 2, oddRef.Commands[0].Type)

	inputs := [][]byte{wantBytes, odd, nil, {0x0a, 0x09, 0x01}, {0x00}, {0x0b}, {0x0a, 0x02, 0x08}}
	r := rand.New(rand.NewSource(1))
	for range 2000 {
		in := append([]byte{}, [][]byte{wantBytes, odd}[r.Intn(2)]...)
		for range 1 + r.Intn(3) {
			switch i := r.Intn(len(in)); r.Intn(3) {
			case 0:
				in[i] = byte(r.Intn(256))
			case 1:
				in = in[:i]
			default:
				in = append(in[:i], append([]byte{byte(r.Intn(256))}, in[i:]...)...)
			}
			if len(in) == 0 {
				break
			}
		}
		inputs = append(inputs, in)
	}
	accepted := 0
	for _, in := range inputs {
		var ref hubv1.Batch
		refErr := proto.Unmarshal(in, &ref)
		entries, err := decodeBatch(in)
		if refErr != nil {
			require.Error(t, err, "%x: proto.Unmarshal refuses it: %v", in, refErr)
			continue
		}
		require.NoError(t, err, "%x", in)
		accepted++
		require.Len(t, entries, len(ref.Commands), "%x", in)
		for i, c := range ref.Commands {
			require.Equal(t, c.Type, entries[i].typ, "%x", in)
			require.True(t, bytes.Equal(c.Payload, entries[i].payload), "%x", in)
		}
	}
	require.Greater(t, accepted, 100, "the damaged inputs include some that still parse")
	require.Less(t, accepted, len(inputs)-100, "and many that do not")
}

// WithAudit appends the audit field to the encoded write; the result is what encoding the
// whole message writes.
func TestWithAuditWritesTheWholeMessage(t *testing.T) {
	entry := AuditEntry{Actor: "admin/alice", Action: "cluster.apply", Target: "ManagedCluster/c1", Time: t0}
	for _, mk := range []func() ([]byte, error){
		func() ([]byte, error) {
			return EncodeApply(KindManagedCluster, cluster("c1", map[string]string{"a": "b"}), 3)
		},
		func() ([]byte, error) { return EncodeDelete(KindManagedCluster, "", "c1", 0) },
	} {
		cmd, err := mk()
		require.NoError(t, err)
		got, err := WithAudit(cmd, entry)
		require.NoError(t, err)
		var w hubv1.ResourceWrite
		require.NoError(t, proto.Unmarshal(cmd[1:], &w))
		w.Audit, err = auditCommand(entry)
		require.NoError(t, err)
		want, err := encode(CmdResourceWrite, &w)
		require.NoError(t, err)
		require.Equal(t, want, got)

		// Attaching again replaces the record, as before.
		again, err := WithAudit(got, AuditEntry{Actor: "admin/bob", Action: "x", Time: t0})
		require.NoError(t, err)
		var back hubv1.ResourceWrite
		require.NoError(t, proto.Unmarshal(again[1:], &back))
		require.Equal(t, "admin/bob", back.Audit.Actor)
	}
}

// Commands after a rolled-back transaction in the same Raft entry see the state from before it:
// the applier reads what its own transaction wrote from its overlay, which the rollback undoes.
func TestRollbackThenWriteInOneEntry(t *testing.T) {
	f := newFSM(t)
	f.create(KindManagedCluster, cluster("a", nil)) // index 1
	f.must(EncodeAuditAppend(AuditEntry{Time: t0, Actor: "alice", Action: "x"}))
	enc := func(b []byte, err error) []byte { require.NoError(t, err); return b }
	audit := func(cmd []byte, action string) []byte {
		return enc(WithAudit(cmd, AuditEntry{Time: t0, Actor: "hub", Action: action}))
	}
	txn := enc(EncodeTransaction([][]byte{
		audit(enc(EncodeUpdate(KindManagedCluster, cluster("a", map[string]string{"k": "v"}), 1)), "txn.a"),
		audit(enc(EncodeCreateWith(KindManagedCluster, cluster("b", nil), "ub", t0)), "txn.b"),
		enc(EncodeDelete(KindManagedCluster, "", "a", 0)),
		enc(EncodeUpdate(KindManagedCluster, cluster("nope", nil), 0)), // fails: all of it rolls back
	}))
	batch := enc(EncodeBatch([][]byte{
		txn,
		audit(enc(EncodeUpdate(KindManagedCluster, cluster("a", map[string]string{"k": "after"}), 1)), "after.a"),
		audit(enc(EncodeCreateWith(KindManagedCluster, cluster("b", nil), "ub2", t0)), "after.b"),
	}))
	res := f.apply(batch)
	require.Len(t, res.Batch, 3)
	require.ErrorIs(t, res.Batch[0].Err, ErrNotFound)
	require.NoError(t, res.Batch[1].Err, "a is back at version 1 after the rollback")
	require.NoError(t, res.Batch[2].Err, "b does not exist after the rollback")
	assert.Equal(t, "ub2", res.Batch[2].Resource.UID)
	assert.EqualValues(t, 2, res.Batch[1].Audit.Sequence, "the chain continues from before the transaction")
	assert.EqualValues(t, 3, res.Batch[2].Audit.Sequence)

	records, head := f.s.ListAudit(1, 100)
	require.Len(t, records, 3)
	assert.EqualValues(t, 3, head)
	_, err := VerifyAudit(records)
	require.NoError(t, err)
	a, err := f.s.Get(KindManagedCluster, "", "a")
	require.NoError(t, err)
	assert.Equal(t, "after", a.Labels["k"])

	// And the next entry, in a new transaction, reads the committed state.
	next := f.apply(audit(enc(EncodeUpdate(KindManagedCluster, cluster("a", nil), a.ResourceVersion)), "next"))
	require.NoError(t, next.Err)
	assert.EqualValues(t, 4, next.Audit.Sequence)
}
