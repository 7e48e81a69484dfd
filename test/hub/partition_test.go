package hub

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kubedevaiops/kubedevaiops/test/testbed"
)

// The leader is cut off from the other two by fault-injecting proxies on the Raft transport: the
// majority elects a new leader and keeps serving; the old leader, alone, refuses linearizable
// reads and writes with a clear error but serves stale reads; after healing, all converge.
func TestPartitionedLeaderRefusesAndAllConvergeAfterHealing(t *testing.T) {
	h := testbed.StartHub(t, testbed.HubOptions{Members: 3, Partitionable: true, Args: []string{"--hold-timeout=2s"}})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	acked := map[string]string{}
	for i := range h.Members {
		_, err := putPolicy(ctx, h.Client(i), fmt.Sprintf("pre-%d", i), "1")
		require.NoError(t, err)
		acked[fmt.Sprintf("pre-%d", i)] = "1"
	}
	old, err := h.Leader(ctx)
	require.NoError(t, err)
	h.Isolate(old)

	// The majority: a new leader, writes and linearizable reads.
	majority := (old + 1) % 3
	require.Eventually(t, func() bool {
		_, err := putPolicy(ctx, h.Client(majority), "during", "majority")
		return err == nil
	}, time.Minute, 100*time.Millisecond, "the majority elects a leader and takes writes")
	acked["during"] = "majority"
	requireAll(t, ctx, h, majority, acked)
	requireAll(t, ctx, h, (old+2)%3, acked)

	// The minority: refused, not served stale data as if linearizable.
	_, err = putPolicy(ctx, h.Client(old), "minority-write", "x")
	require.Equal(t, codes.Unavailable, status.Code(err), "a write in the minority: %v", err)
	require.Contains(t, err.Error(), "cannot reach a quorum")
	_, err = getPolicy(ctx, h.Client(old), "pre-0", false)
	require.Equal(t, codes.Unavailable, status.Code(err), "a linearizable read in the minority: %v", err)
	v, err := getPolicy(ctx, h.Client(old), "pre-0", true)
	require.NoError(t, err, "a stale read is served in the minority")
	require.Equal(t, "1", v)

	h.Heal()
	require.Eventually(t, func() bool {
		got, err := getPolicy(ctx, h.Client(old), "during", false)
		return err == nil && got == "majority"
	}, time.Minute, 100*time.Millisecond, "the old leader catches up after healing")
	for i := range h.Members {
		requireAll(t, ctx, h, i, acked)
	}
	_, err = getPolicy(ctx, h.Client(majority), "minority-write", false)
	require.Equal(t, codes.NotFound, status.Code(err), "the refused minority write never appears: %v", err)
}
