package store

import (
	"fmt"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
)

// benchObject is a KnowledgeEntry of about 256 bytes of JSON, the benchmark's value size.
func benchObject(i int) *hubv1alpha1.KnowledgeEntry {
	return &hubv1alpha1.KnowledgeEntry{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("k%d", i%1024), Labels: map[string]string{"bench": "true"}},
		Spec: hubv1alpha1.KnowledgeEntrySpec{
			Signature:  fmt.Sprintf("crashloop/oomkilled/%08d", i),
			ActionType: "SetResources", Successes: int64(i), Failures: 1,
		},
	}
}

func benchCommands(b *testing.B, n int) [][]byte {
	cmds := make([][]byte, n)
	for i := range cmds {
		var err error
		if i < 1024 {
			cmds[i], err = EncodeCreateWith(KindKnowledgeEntry, benchObject(i), fmt.Sprintf("u%d", i), t0)
		} else {
			cmds[i], err = EncodeUpdate(KindKnowledgeEntry, benchObject(i), 0)
		}
		require.NoError(b, err)
	}
	return cmds
}

// BenchmarkApply measures the FSM alone: one write per Raft entry; 64 writes batched
// in one entry (the lead's batcher); and 64 one-write entries handed over together
// (raft's BatchingFSM path). The batched cases also report per write.
func BenchmarkApply(b *testing.B) {
	b.Run("single", func(b *testing.B) {
		cmds := benchCommands(b, 4096)
		s := New(Options{})
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			res := s.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: cmds[i%len(cmds)]}).(*Result)
			if res.Err != nil && i < len(cmds) {
				b.Fatal(res.Err)
			}
		}
	})
	b.Run("batch64", func(b *testing.B) {
		cmds := benchCommands(b, 4096)
		var batches [][]byte
		for i := 0; i < len(cmds); i += 64 {
			batch, err := EncodeBatch(cmds[i : i+64])
			require.NoError(b, err)
			batches = append(batches, batch)
		}
		s := New(Options{})
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			s.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: batches[i%len(batches)]})
		}
		b.StopTimer()
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*64), "ns/write")
	})
	b.Run("raftbatch64", func(b *testing.B) {
		cmds := benchCommands(b, 4096)
		s := New(Options{})
		logs := make([]*raft.Log, 64)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			for j := range logs {
				n := i*64 + j
				logs[j] = &raft.Log{Index: uint64(n + 1), Type: raft.LogCommand, Data: cmds[n%len(cmds)]}
			}
			s.ApplyBatch(logs)
		}
		b.StopTimer()
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*64), "ns/write")
	})
}

// BenchmarkEncode measures the proposer side: strict decoding and re-encoding.
func BenchmarkEncode(b *testing.B) {
	obj := benchObject(1)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := EncodeUpdate(KindKnowledgeEntry, obj, 0); err != nil {
			b.Fatal(err)
		}
	}
}
