package hub

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
	"github.com/kubedevaiops/kubedevaiops/test/testbed"
)

func memberIDs(t *testing.T, ctx context.Context, c fleetv1.FleetClient) []string {
	t.Helper()
	out, err := c.ListMembers(ctx, &fleetv1.ListMembersRequest{})
	require.NoError(t, err)
	var ids []string
	for _, m := range out.GetMembers() {
		ids = append(ids, m.GetId())
	}
	return ids
}

// A member dead past --dead-member-timeout is removed by the leader, but never below three
// voters: of five members, two dead ones go; with three left, a third dead one stays.
func TestDeadMembersAreRemovedWithoutDroppingBelowQuorum(t *testing.T) {
	h := testbed.StartHub(t, testbed.HubOptions{Members: 5, Args: []string{"--dead-member-timeout=2s"}})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	leader, err := h.Leader(ctx)
	require.NoError(t, err)

	// Kill two followers.
	var killed []int
	for i := range h.Members {
		if i != leader && len(killed) < 2 {
			h.Kill(i)
			killed = append(killed, i)
		}
	}
	require.Eventually(t, func() bool { return len(memberIDs(t, ctx, h.Client(leader))) == 3 }, time.Minute, 200*time.Millisecond,
		"the two dead members are removed")
	ids := memberIDs(t, ctx, h.Client(leader))
	for _, i := range killed {
		require.NotContains(t, ids, h.Members[i].ID)
	}

	// A third dead member is not removed: that would leave fewer than three voters.
	for i := range h.Members {
		if i != leader && h.Members[i].Running() {
			h.Kill(i)
			break
		}
	}
	require.Never(t, func() bool { return len(memberIDs(t, ctx, h.Client(leader))) < 3 }, 6*time.Second, 500*time.Millisecond,
		"the hub never drops below three voters")
	_, err = putPolicy(ctx, h.Client(leader), "still-serving", "1")
	require.NoError(t, err, "two of three voters still form a quorum")
}
