package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1beta1 "open-cluster-management.io/api/cluster/v1beta1"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)

// fsm drives a Store with raft log entries, as raft would.
type fsm struct {
	t    testing.TB
	s    *Store
	raft uint64
	uids int
	logs *bytes.Buffer // what the store logged
}

func newFSM(t testing.TB, opts ...Options) *fsm {
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	logs := &bytes.Buffer{}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	}
	return &fsm{t: t, s: New(o), logs: logs}
}

func (f *fsm) log(data []byte) *raft.Log {
	f.raft++
	return &raft.Log{Index: f.raft, Term: 1, Type: raft.LogCommand, Data: data}
}

func (f *fsm) apply(data []byte) *Result {
	f.t.Helper()
	res, ok := f.s.Apply(f.log(data)).(*Result)
	require.True(f.t, ok, "Apply must return a *Result")
	require.NotNil(f.t, res)
	return res
}

// must applies and requires success.
func (f *fsm) must(data []byte, err error) *Result {
	f.t.Helper()
	require.NoError(f.t, err)
	res := f.apply(data)
	require.NoError(f.t, res.Err)
	return res
}

func (f *fsm) create(kind string, obj any) *Result {
	f.t.Helper()
	f.uids++
	return f.must(EncodeCreateWith(kind, obj, fmt.Sprintf("uid-%d", f.uids), t0.Add(time.Duration(f.uids)*time.Second)))
}

func cluster(name string, labels map[string]string) *clusterv1.ManagedCluster {
	return &clusterv1.ManagedCluster{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec:       clusterv1.ManagedClusterSpec{HubAcceptsClient: true},
	}
}

func placement(ns, name string, n int32) *clusterv1beta1.Placement {
	return &clusterv1beta1.Placement{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       clusterv1beta1.PlacementSpec{NumberOfClusters: &n, ClusterSets: []string{"prod"}},
	}
}

func objMeta(t testing.TB, r *Resource) map[string]any {
	t.Helper()
	var o struct {
		Metadata map[string]any `json:"metadata"`
	}
	require.NoError(t, json.Unmarshal(r.Object, &o))
	return o.Metadata
}

func snapshotBytes(t testing.TB, s *Store) []byte {
	t.Helper()
	var buf bytes.Buffer
	snap, err := s.Snapshot()
	require.NoError(t, err)
	require.NoError(t, snap.Persist(&sink{Buffer: &buf}))
	snap.Release()
	return buf.Bytes()
}

// sink is an in-memory raft.SnapshotSink.
type sink struct {
	*bytes.Buffer
	closed, cancelled bool
}

func (s *sink) ID() string    { return "test" }
func (s *sink) Cancel() error { s.cancelled = true; return nil }
func (s *sink) Close() error  { s.closed = true; return nil }

func readCloser(b []byte) *nopCloser { return &nopCloser{bytes.NewReader(b)} }

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

func objectMeta(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name} }

// requireSameBytes compares byte streams without dumping them.
func requireSameBytes(t testing.TB, want, got []byte, msg string) {
	t.Helper()
	if bytes.Equal(want, got) {
		return
	}
	i := 0
	for i < len(want) && i < len(got) && want[i] == got[i] {
		i++
	}
	lo := max(0, i-40)
	t.Fatalf("%s: streams differ at byte %d (len %d vs %d):\nwant %q\ngot  %q", msg, i, len(want), len(got),
		want[lo:min(len(want), i+40)], got[lo:min(len(got), i+40)])
}
