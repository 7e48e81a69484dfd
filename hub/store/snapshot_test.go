package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protodelim"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
	hubv1 "github.com/kubedevaiops/kubedevaiops/proto/hub/v1"
)

// workload returns a deterministic mixed log of n commands, some batched, some failing.
func workload(t testing.TB, n int) [][]byte {
	rng := rand.New(rand.NewSource(42))
	enc := func(b []byte, err error) []byte { require.NoError(t, err); return b }
	var out [][]byte
	one := func(i int) []byte {
		name := fmt.Sprintf("c%d", rng.Intn(20))
		switch rng.Intn(6) {
		case 0, 1:
			return enc(EncodeCreateWith(KindManagedCluster, cluster(name, map[string]string{"i": fmt.Sprint(i)}), fmt.Sprintf("u%d", i), t0.Add(time.Duration(i)*time.Minute)))
		case 2:
			return enc(EncodeUpdate(KindManagedCluster, cluster(name, map[string]string{"i": fmt.Sprint(i)}), uint64(rng.Intn(3))))
		case 3:
			return enc(EncodeDelete(KindManagedCluster, "", name, 0))
		case 4:
			return enc(EncodeCreateWith(KindPlacement, placement(fmt.Sprintf("ns%d", rng.Intn(3)), name, int32(i)), fmt.Sprintf("u%d", i), t0))
		default:
			return enc(EncodeAuditAppend(AuditEntry{
				Time: t0.Add(time.Duration(i) * time.Millisecond), Actor: "ctrl", Action: "test.step",
				Target: name, Details: json.RawMessage(fmt.Sprintf(`{ "i" : %d }`, i)),
			}))
		}
	}
	for i := 0; i < n; i++ {
		if rng.Intn(5) == 0 {
			batch := make([][]byte, 1+rng.Intn(8))
			for j := range batch {
				batch[j] = one(i*100 + j)
			}
			out = append(out, enc(EncodeBatch(batch)))
			continue
		}
		out = append(out, one(i))
	}
	return out
}

func TestDeterminism(t *testing.T) {
	cmds := workload(t, 400)
	// One member applies entry by entry, the other in raft batches of varying size:
	// same state, byte for byte.
	a, b := newFSM(t), newFSM(t)
	for _, c := range cmds {
		a.apply(c)
	}
	rng := rand.New(rand.NewSource(7))
	for i := 0; i < len(cmds); {
		n := 1 + rng.Intn(16)
		if i+n > len(cmds) {
			n = len(cmds) - i
		}
		logs := make([]*raft.Log, n)
		for j := range logs {
			logs[j] = b.log(cmds[i+j])
		}
		out := b.s.ApplyBatch(logs)
		require.Len(t, out, n)
		i += n
	}
	require.Equal(t, a.s.Index(), b.s.Index())
	require.Greater(t, a.s.Index(), uint64(100))
	sa, sb := snapshotBytes(t, a.s), snapshotBytes(t, b.s)
	requireSameBytes(t, sa, sb, "snapshots of the two members")
}

func TestSnapshotRestore(t *testing.T) {
	f := newFSM(t)
	for _, c := range workload(t, 300) {
		f.apply(c)
	}
	f.create(KindPlan, &hubv1alpha1.Plan{
		ObjectMeta: objectMeta("cost-q3"),
		Spec: hubv1alpha1.PlanSpec{Type: hubv1alpha1.PlanCost, Targets: hubv1alpha1.PlanTargets{ClusterSet: "prod"},
			Actions: []hubv1alpha1.PlannedAction{{Cluster: "c1", Type: aiopsv1alpha1.ActionScaleWorkload, Risk: aiopsv1alpha1.RiskLow,
				Target: hubv1alpha1.ObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "web", Name: "api"}}}},
	})
	snap := snapshotBytes(t, f.s)

	g := newFSM(t)
	require.NoError(t, g.s.Restore(readCloser(snap)))
	assert.Equal(t, f.s.Index(), g.s.Index())
	assert.Equal(t, f.s.AppliedIndex(), g.s.AppliedIndex())
	for _, k := range Kinds() {
		want, wi, err := f.s.List(k.Kind, "", "")
		require.NoError(t, err)
		got, gi, err := g.s.List(k.Kind, "", "")
		require.NoError(t, err)
		assert.Equal(t, wi, gi)
		assert.Equal(t, want, got, k.Kind)
		for _, r := range want {
			gr, err := g.s.Get(r.Kind, r.Namespace, r.Name)
			require.NoError(t, err)
			assert.Equal(t, r, gr)
		}
	}
	wa, wh := f.s.ListAudit(0, 0)
	ga, gh := g.s.ListAudit(0, 0)
	require.NotEmpty(t, wa)
	assert.Equal(t, wh, gh)
	assert.Equal(t, wa, ga)
	i, err := VerifyAudit(ga)
	assert.NoError(t, err)
	assert.Equal(t, -1, i)
	requireSameBytes(t, snap, snapshotBytes(t, g.s), "restore then snapshot round-trips")

	// Both keep applying identically: update/generation bookkeeping survived.
	g.raft = g.s.AppliedIndex() // raft carries on after the snapshot's index
	more := workload(t, 50)
	for _, c := range more {
		f.apply(c)
		g.apply(c)
	}
	requireSameBytes(t, snapshotBytes(t, f.s), snapshotBytes(t, g.s), "after more writes")

	// Restore replaces everything, including state the target had.
	h := history6(t)
	require.NoError(t, h.s.Restore(readCloser(snap)))
	_, err = h.s.Get(KindManagedCluster, "", "a")
	assert.ErrorIs(t, err, ErrNotFound)
	requireSameBytes(t, snap, snapshotBytes(t, h.s), "restore over existing state")

	// A backup is the same stream with the applied Raft index left out.
	var w bytes.Buffer
	_, err = g.s.WriteSnapshot(&w)
	require.NoError(t, err)
	raftSnap := snapshotBytes(t, g.s)
	requireSameBytes(t, stripHeader(t, raftSnap), stripHeader(t, w.Bytes()), "WriteSnapshot")
	backup := New(Options{})
	backup.MarkApplied(3)
	require.NoError(t, backup.Restore(readCloser(w.Bytes())))
	assert.Equal(t, uint64(3), backup.AppliedIndex(), "a backup does not move the applied index")
	assert.Equal(t, g.s.Index(), backup.Index())
	// A Raft snapshot moves it forward, never back.
	require.NoError(t, backup.Restore(readCloser(raftSnap)))
	assert.Equal(t, g.s.AppliedIndex(), backup.AppliedIndex())
	backup.MarkApplied(1 << 40)
	require.NoError(t, backup.Restore(readCloser(raftSnap)))
	assert.Equal(t, uint64(1<<40), backup.AppliedIndex())
}

func objectMetaJSON(name string) string { return `{"name":"` + name + `"}` }

func TestRestoreRejectsBadSnapshots(t *testing.T) {
	f := history6(t)
	good := snapshotBytes(t, f.s)
	frame := func(m *hubv1.SnapshotRecord) []byte {
		var b bytes.Buffer
		_, err := protodelim.MarshalTo(&b, m)
		require.NoError(t, err)
		return b.Bytes()
	}
	hdr := func(v uint32) []byte {
		var b bytes.Buffer
		b.WriteString(snapshotMagic)
		_, err := protodelim.MarshalTo(&b, &hubv1.SnapshotHeader{FormatVersion: v, StoreIndex: 1})
		require.NoError(t, err)
		return b.Bytes()
	}
	// Tamper with the audit record: its action "b" (field 4) becomes "B".
	require.Equal(t, 1, bytes.Count(good, []byte("\x22\x01b")))
	tampered := bytes.Replace(good, []byte("\x22\x01b"), []byte("\x22\x01B"), 1)
	require.NotEqual(t, good, tampered)
	tests := []struct {
		name    string
		data    []byte
		message string
	}{
		{"empty", nil, "bad magic"},
		{"bad magic", []byte("NOTASNAPSHOT"), "bad magic"},
		{"future version", hdr(99), "format version 99"},
		{"truncated", good[:len(good)-3], "snapshot"},
		{"no trailer", hdr(1), "truncated"},
		{"wrong counts", append(hdr(1), frame(&hubv1.SnapshotRecord{Record: &hubv1.SnapshotRecord_Trailer{Trailer: &hubv1.SnapshotTrailer{Resources: 1}}})...), "trailer counts"},
		{"empty record", append(hdr(1), frame(&hubv1.SnapshotRecord{})...), "no content"},
		{"bad object", append(hdr(1), frame(&hubv1.SnapshotRecord{Record: &hubv1.SnapshotRecord_Resource{Resource: &hubv1.StoredResource{Kind: "Plan", Name: "x", ObjectJson: []byte("[")}}})...), "not a JSON object"},
		{"tampered audit", tampered, "audit chain broken"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := history6(t)
			before := snapshotBytes(t, s.s)
			err := s.s.Restore(readCloser(tt.data))
			require.ErrorIs(t, err, ErrInvalid)
			assert.Contains(t, err.Error(), tt.message)
			requireSameBytes(t, before, snapshotBytes(t, s.s), "a failed restore keeps the old state")
		})
	}
}

func TestPersistCancelsOnError(t *testing.T) {
	f := history6(t)
	snap, err := f.s.Snapshot()
	require.NoError(t, err)
	// Writes after the snapshot do not show in it.
	f.create(KindManagedCluster, cluster("late", nil))
	s := &failingSink{}
	assert.Error(t, snap.Persist(s))
	assert.True(t, s.cancelled)

	var ok sink
	ok.Buffer = &bytes.Buffer{}
	require.NoError(t, snap.Persist(&ok))
	assert.True(t, ok.closed)
	g := New(Options{})
	require.NoError(t, g.Restore(readCloser(ok.Bytes())))
	assert.Equal(t, uint64(6), g.Index())
	_, err = g.Get(KindManagedCluster, "", "late")
	assert.ErrorIs(t, err, ErrNotFound)
}

type failingSink struct{ cancelled bool }

func (s *failingSink) Write([]byte) (int, error) { return 0, fmt.Errorf("disk full") }
func (s *failingSink) Close() error              { return nil }
func (s *failingSink) ID() string                { return "x" }
func (s *failingSink) Cancel() error             { s.cancelled = true; return nil }
