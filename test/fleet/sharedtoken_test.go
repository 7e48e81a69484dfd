package fleet

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
	"github.com/kubedevaiops/kubedevaiops/test/testbed"
	"github.com/kubedevaiops/kubedevaiops/tools/fleetsim/sim"
)

// Many spokes registering at once under one token, through all three members: every one is
// admitted, the use count is exact, and the limit holds.
func TestSharedTokenUnderConcurrency(t *testing.T) {
	hub := testbed.StartHub(t, testbed.HubOptions{Members: 3})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const n = 60
	tok, err := hub.Client(0).CreateToken(ctx, &fleetv1.CreateTokenRequest{UsageLimit: n, AutoAccept: true})
	require.NoError(t, err)
	f, err := sim.New(sim.Config{Hub: hub.GRPCAddrs(), CAHash: hub.CAHash(), Tokens: []string{tok.GetSecret()}, Prefix: "shared", Spokes: n, Parallel: n})
	require.NoError(t, err)
	require.NoError(t, f.Register(ctx))

	toks, err := hub.Client(1).ListTokens(ctx, &fleetv1.ListTokensRequest{IncludeInactive: true})
	require.NoError(t, err)
	require.Len(t, toks.GetTokens(), 1)
	assert.Equal(t, uint32(n), toks.GetTokens()[0].GetUsageCount())
	clusters, err := hub.Client(2).ListClusters(ctx, &fleetv1.ListClustersRequest{})
	require.NoError(t, err)
	assert.Len(t, clusters.GetClusters(), n)

	over, err := sim.New(sim.Config{Hub: hub.GRPCAddrs(), CAHash: hub.CAHash(), Tokens: []string{tok.GetSecret()}, Prefix: "over", Spokes: 1})
	require.NoError(t, err)
	err = over.Register(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "used up")
	_, err = getCluster(ctx, hub.Client(0), "over-0")
	assert.Equal(t, codes.NotFound, status.Code(err))
}
