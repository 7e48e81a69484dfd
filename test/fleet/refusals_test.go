package fleet

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
	"github.com/kubedevaiops/kubedevaiops/test/testbed"
)

// Each refusal names what was wrong, and creates nothing.
func testRefusals(ctx context.Context, t *testing.T, hub *testbed.Hub, clusters []*testbed.Cluster, agents []*testbed.Agent) {
	admin := hub.Client(0)
	reg := pinnedRegistration(t, hub.Members[1].GRPCAddr, hub.CAHash())
	open, err := admin.CreateToken(ctx, &fleetv1.CreateTokenRequest{Description: "refusal tests", AutoAccept: true})
	require.NoError(t, err)
	short, err := admin.CreateToken(ctx, &fleetv1.CreateTokenRequest{Ttl: durationpb.New(time.Second)})
	require.NoError(t, err)
	countClusters := func() int {
		out, err := admin.ListClusters(ctx, &fleetv1.ListClustersRequest{})
		require.NoError(t, err)
		return len(out.GetClusters())
	}
	before := countClusters()
	register := func(token, csrName, name, id string) error {
		_, err := reg.Register(ctx, &fleetv1.RegisterRequest{BootstrapToken: token, CsrPem: csrPEM(t, csrName),
			Claims: &fleetv1.ClusterClaims{ClusterName: name, ClusterId: id}})
		return err
	}
	time.Sleep(1100 * time.Millisecond) // the short token expires

	manualID := ""
	toks, err := admin.ListTokens(ctx, &fleetv1.ListTokensRequest{IncludeInactive: true})
	require.NoError(t, err)
	for _, tok := range toks.GetTokens() {
		if tok.GetDescription() == "by hand" {
			manualID = tok.GetId()
		}
	}
	require.NotEmpty(t, manualID)

	for _, tc := range []struct {
		name string
		err  error
		code codes.Code
		msg  string
	}{
		{"unknown token", register("abcdef.0123456789abcdef", "x1", "x1", "id-x1"), codes.Unauthenticated, "is not known to this hub"},
		{"malformed token", register("not-a-token", "x1", "x1", "id-x1"), codes.InvalidArgument, "malformed"},
		{"wrong secret", register(open.GetToken().GetId()+".0123456789abcdef", "x1", "x1", "id-x1"), codes.Unauthenticated, "secret does not match"},
		{"expired token", register(short.GetSecret(), "x1", "x1", "id-x1"), codes.PermissionDenied, "expired"},
		{"wrong secret of a used-up token", register(tokenWithID(t, manualID), "x1", "x1", "id-x1"), codes.Unauthenticated, "secret does not match"},
		{"CSR for another cluster's name", register(open.GetSecret(), clusters[1].Name, "x1", "id-x1"), codes.InvalidArgument, "the CSR is for"},
		{"another cluster's name", register(open.GetSecret(), clusters[1].Name, clusters[1].Name, "some-other-id"), codes.FailedPrecondition, "registered to another cluster"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Error(t, tc.err)
			assert.Equal(t, tc.code, status.Code(tc.err), "%v", tc.err)
			assert.Contains(t, status.Convert(tc.err).Message(), tc.msg)
		})
	}
	assert.Equal(t, before, countClusters(), "no cluster was created")

	t.Run("used-up token", func(t *testing.T) {
		once, err := admin.CreateToken(ctx, &fleetv1.CreateTokenRequest{UsageLimit: 1})
		require.NoError(t, err)
		require.NoError(t, register(once.GetSecret(), "x2", "x2", "id-x2"))
		err = register(once.GetSecret(), "x3", "x3", "id-x3")
		require.Equal(t, codes.PermissionDenied, status.Code(err), "%v", err)
		assert.Contains(t, status.Convert(err).Message(), "used up")
		_, err = getCluster(ctx, admin, "x3")
		assert.Equal(t, codes.NotFound, status.Code(err), "x3 was not created")
	})

	t.Run("a client without a certificate", func(t *testing.T) {
		st, err := spokeClient(t, hub, 1, nil).Connect(ctx)
		require.NoError(t, err)
		_, err = st.Recv()
		require.Equal(t, codes.Unauthenticated, status.Code(err), "%v", err)
		assert.Contains(t, status.Convert(err).Message(), "client certificate")
	})

	t.Run("cluster A asking for cluster B's certificate", func(t *testing.T) {
		cert := agentCert(ctx, t, clusters[0])
		st, err := spokeClient(t, hub, 1, &cert).Connect(ctx)
		require.NoError(t, err)
		require.NoError(t, st.Send(&fleetv1.SpokeMessage{Body: &fleetv1.SpokeMessage_Hello{Hello: &fleetv1.Hello{AgentVersion: "test", Time: timestamppb.Now()}}}))
		w, err := st.Recv()
		require.NoError(t, err)
		require.Equal(t, clusters[0].Name, w.GetWelcome().GetClusterName(), "the stream speaks for the certificate's cluster")
		require.NoError(t, st.Send(&fleetv1.SpokeMessage{Body: &fleetv1.SpokeMessage_CertificateRenewal{CertificateRenewal: &fleetv1.CertificateRenewal{CsrPem: csrPEM(t, clusters[1].Name)}}}))
		for {
			m, err := st.Recv()
			require.NoError(t, err, "the hub sends a Disconnect before closing")
			if d := m.GetDisconnect(); d != nil {
				assert.Equal(t, fleetv1.DisconnectReason_DISCONNECT_REASON_PROTOCOL_ERROR, d.GetReason())
				assert.Contains(t, d.GetMessage(), "may renew only its own certificate")
				break
			}
			require.Nil(t, m.GetCertificateIssued(), "no certificate for another cluster")
		}
	})

	t.Run("revoked: the stream closes and the certificate is refused", func(t *testing.T) {
		name := clusters[1].Name
		cert := agentCert(ctx, t, clusters[1])
		_, err := admin.DenyCluster(ctx, &fleetv1.DenyClusterRequest{Name: name, Reason: "decommissioned"})
		require.NoError(t, err)
		waitCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		exit := agents[1].Exited(waitCtx)
		require.Error(t, exit, "the agent stops when its cluster is denied (log: %s)", agents[1].Log(10))
		assert.Contains(t, exit.Error(), "exit status 3")
		assert.Contains(t, agents[1].Log(20), "decommissioned")
		for i := range hub.Members {
			if !hub.Members[i].Running() {
				continue
			}
			st, err := spokeClient(t, hub, i, &cert).Connect(ctx)
			require.NoError(t, err)
			_, err = st.Recv()
			require.Equal(t, codes.PermissionDenied, status.Code(err), "member %d: %v", i, err)
			assert.Contains(t, status.Convert(err).Message(), "denied")
		}
		// Registering again under the same name is refused while the denial stands.
		err = register(open.GetSecret(), name, name, clusterID(ctx, t, admin, name))
		require.Equal(t, codes.PermissionDenied, status.Code(err), "%v", err)
	})

	t.Run("a wrong pinned CA hash", func(t *testing.T) {
		wrong := "sha256:" + strings.Repeat("ab", 32)
		a := testbed.StartAgent(t, clusters[2], testbed.AgentOptions{ClusterName: "pinned-wrong", Hub: hub.GRPCAddrs(), Token: open.GetSecret(), CAHash: wrong,
			Args: []string{"--secret-name=pinned-wrong"}})
		waitCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		exit := a.Exited(waitCtx)
		require.Error(t, exit, "the agent gives up on a hub that does not match the pin")
		assert.Contains(t, a.Log(10), "matches the pinned hash")
		_, err := getCluster(ctx, admin, "pinned-wrong")
		assert.Equal(t, codes.NotFound, status.Code(err))
	})
}

// tokenWithID is a syntactically valid token for id with a secret that cannot match.
func tokenWithID(t *testing.T, id string) string {
	t.Helper()
	require.Len(t, id, 6)
	return fmt.Sprintf("%s.%s", id, strings.Repeat("0", 16))
}

func clusterID(ctx context.Context, t *testing.T, admin fleetv1.FleetClient, name string) string {
	t.Helper()
	mc, err := getCluster(ctx, admin, name)
	require.NoError(t, err)
	return mc.Annotations["hub.kubedevaiops.io/cluster-id"]
}
