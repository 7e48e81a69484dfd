package hub

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
	"github.com/kubedevaiops/kubedevaiops/test/testbed"
)

// Writes through every member, a kill -9 of the leader, a new leader, more writes, then every
// member restarted from disk: no acknowledged write is lost.
func TestWritesAnywhereSurviveLeaderKillAndFullRestart(t *testing.T) {
	h := testbed.StartHub(t, testbed.HubOptions{Members: 3})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	acked := map[string]string{}
	write := func(member int, name, value string) {
		t.Helper()
		_, err := putPolicy(ctx, h.Client(member), name, value)
		require.NoError(t, err, "write %s through %s", name, h.Members[member].ID)
		acked[name] = value
	}
	for i := range h.Members {
		for k := range 5 {
			write(i, fmt.Sprintf("p-%d-%d", i, k), fmt.Sprintf("v%d", k))
		}
	}
	for i := range h.Members {
		requireAll(t, ctx, h, i, acked)
	}

	leader, err := h.Leader(ctx)
	require.NoError(t, err)
	h.Kill(leader)
	newLeader, err := h.Leader(ctx)
	require.NoError(t, err)
	require.NotEqual(t, leader, newLeader, "a new leader is elected")
	for i := range h.Members {
		if i != leader {
			write(i, fmt.Sprintf("after-kill-%d", i), "x")
			write(i, fmt.Sprintf("p-%d-0", i), "overwritten")
		}
	}
	for i := range h.Members {
		if i != leader {
			requireAll(t, ctx, h, i, acked)
		}
	}

	// The killed member comes back from its disk and catches up.
	require.NoError(t, h.Start(leader))
	requireAll(t, ctx, h, leader, acked)

	// All members stop and start again from disk.
	for i := range h.Members {
		h.StopMember(i)
	}
	for i := range h.Members {
		require.NoError(t, h.Start(i))
	}
	_, err = h.Leader(ctx)
	require.NoError(t, err)
	for i := range h.Members {
		requireAll(t, ctx, h, i, acked)
	}
}

// With two of three members down, the last one refuses linearizable reads and writes with a
// clear error, still serves stale reads, and recovers when a quorum is back.
func TestMinorityRefusesLinearizableReadsAndWrites(t *testing.T) {
	h := testbed.StartHub(t, testbed.HubOptions{Members: 3, Args: []string{"--hold-timeout=2s"}})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, err := putPolicy(ctx, h.Client(0), "before", "1")
	require.NoError(t, err)
	_, err = getPolicy(ctx, h.Client(2), "before", false) // member 2 has it applied
	require.NoError(t, err)

	h.Kill(0)
	h.Kill(1)

	_, err = putPolicy(ctx, h.Client(2), "during", "1")
	require.Equal(t, codes.Unavailable, status.Code(err), "write in a minority: %v", err)
	require.Contains(t, err.Error(), "cannot reach a quorum")

	_, err = getPolicy(ctx, h.Client(2), "before", false)
	require.Equal(t, codes.Unavailable, status.Code(err), "linearizable read in a minority: %v", err)

	v, err := getPolicy(ctx, h.Client(2), "before", true)
	require.NoError(t, err, "a stale read is served")
	require.Equal(t, "1", v)

	require.NoError(t, h.Start(0))
	require.NoError(t, h.Start(1))
	_, err = putPolicy(ctx, h.Client(2), "after", "1")
	require.NoError(t, err, "writes work again once a quorum is back")
	_, err = getPolicy(ctx, h.Client(2), "during", false)
	require.Equal(t, codes.NotFound, status.Code(err), "the refused write was not applied: %v", err)
}

// A small snapshot threshold compacts the log; a member that joins afterwards catches up from a
// snapshot rather than the (truncated) log.
func TestLogCompactionAndNewMemberCatchesUpFromSnapshot(t *testing.T) {
	h := testbed.StartHub(t, testbed.HubOptions{Members: 3, Args: []string{
		"--snapshot-threshold=50", "--snapshot-interval=200ms", "--trailing-logs=10",
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	acked := map[string]string{}
	for k := range 200 {
		name := fmt.Sprintf("c-%03d", k)
		_, err := putPolicy(ctx, h.Client(k%3), name, "v")
		require.NoError(t, err)
		acked[name] = "v"
	}
	// Every member has taken a snapshot of its own.
	for _, m := range h.Members {
		require.Eventually(t, func() bool { return snapshotCount(m.DataDir) > 0 }, time.Minute, 100*time.Millisecond,
			"member %s compacted its log", m.ID)
	}

	m, err := h.AddMember()
	require.NoError(t, err)
	i := len(h.Members) - 1
	requireAll(t, ctx, h, i, acked)
	require.Eventually(t, func() bool { return logContains(m.LogPath(), "Installed remote snapshot") }, time.Minute, 100*time.Millisecond,
		"the new member installed a snapshot")
}

// Bad input is refused with a message naming what was wrong, and nothing is applied.
func TestBadInputIsRefusedAndNothingApplied(t *testing.T) {
	h := testbed.StartHub(t, testbed.HubOptions{Members: 1})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := h.Client(0)
	stored, err := putPolicy(ctx, c, "good", "1")
	require.NoError(t, err)
	_, err = putPolicy(ctx, c, "good", "2") // now at a newer version
	require.NoError(t, err)

	huge := strings.Repeat("x", 2<<20)
	cases := []struct {
		name    string
		res     *fleetv1.Resource
		code    codes.Code
		message string
	}{
		{"malformed JSON", &fleetv1.Resource{Name: "bad", ObjectJson: []byte(`{"metadata":`)}, codes.InvalidArgument, "AIOpsPolicy"},
		{"unknown field", &fleetv1.Resource{Name: "bad", ObjectJson: []byte(`{"apiVersion":"aiops.kubedevaiops.io/v1alpha1","kind":"AIOpsPolicy","metadata":{"name":"bad"},"spec":{"autonomy":"observe","autonomyy":"x"}}`)}, codes.InvalidArgument, "autonomyy"},
		{"wrong kind", &fleetv1.Resource{Kind: "ManagedCluster", Name: "bad", ObjectJson: policyJSON("bad", "1")}, codes.InvalidArgument, "not ManagedCluster"},
		{"invalid name", &fleetv1.Resource{Name: "Bad_Name", ObjectJson: policyJSON("Bad_Name", "1")}, codes.InvalidArgument, "Bad_Name"},
		{"oversized", &fleetv1.Resource{Name: "bad", ObjectJson: policyJSON("bad", huge)}, codes.InvalidArgument, "too large"},
		{"stale resource version", &fleetv1.Resource{Name: "good", ResourceVersion: stored.GetResourceVersion(), ObjectJson: policyJSON("good", "3")}, codes.Aborted, "conflict"},
		{"foreign resource version", &fleetv1.Resource{Name: "good", ResourceVersion: "abc", ObjectJson: policyJSON("good", "3")}, codes.InvalidArgument, "resource_version"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.ApplyPolicy(ctx, &fleetv1.ApplyPolicyRequest{Policy: tc.res})
			require.Equal(t, tc.code, status.Code(err), "%v", err)
			require.Contains(t, err.Error(), tc.message)
		})
	}
	_, err = getPolicy(ctx, c, "bad", false)
	require.Equal(t, codes.NotFound, status.Code(err), "no refused object was stored")
	v, err := getPolicy(ctx, c, "good", false)
	require.NoError(t, err)
	require.Equal(t, "2", v, "the stale write changed nothing")
}

func snapshotCount(dataDir string) int {
	entries, err := os.ReadDir(filepath.Join(dataDir, "snapshots"))
	if err != nil {
		return 0
	}
	return len(entries)
}

func logContains(path, s string) bool {
	data, err := os.ReadFile(path)
	return err == nil && strings.Contains(string(data), s)
}
