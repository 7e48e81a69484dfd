package fleet

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"k8s.io/apimachinery/pkg/api/meta"
	clusterv1 "open-cluster-management.io/api/cluster/v1"

	"github.com/kubedevaiops/kubedevaiops/api/fleetauth"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
	"github.com/kubedevaiops/kubedevaiops/test/testbed"
)

// eventually polls check every 200 ms until it returns nil, failing the test with the last error
// after timeout.
func eventually(t *testing.T, timeout time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for {
		if last = check(); last == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, timeout, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func getCluster(ctx context.Context, c fleetv1.FleetClient, name string) (*clusterv1.ManagedCluster, error) {
	out, err := c.GetCluster(ctx, &fleetv1.GetClusterRequest{Name: name})
	if err != nil {
		return nil, err
	}
	var mc clusterv1.ManagedCluster
	if err := json.Unmarshal(out.GetCluster().GetObjectJson(), &mc); err != nil {
		return nil, err
	}
	return &mc, nil
}

// conditionIs checks a condition's status and, when given, its reason.
func conditionIs(mc *clusterv1.ManagedCluster, typ, status, reason string) error {
	c := meta.FindStatusCondition(mc.Status.Conditions, typ)
	if c == nil {
		return fmt.Errorf("cluster %s has no %s condition yet (conditions %v)", mc.Name, typ, mc.Status.Conditions)
	}
	if string(c.Status) != status || (reason != "" && c.Reason != reason) {
		return fmt.Errorf("cluster %s: %s is %s/%s, want %s/%s", mc.Name, typ, c.Status, c.Reason, status, reason)
	}
	return nil
}

func hasTaint(mc *clusterv1.ManagedCluster, key string) bool {
	for _, t := range mc.Spec.Taints {
		if t.Key == key {
			return true
		}
	}
	return false
}

// pinnedRegistration is a Registration client that trusts the hub by its CA pin, as an agent does.
func pinnedRegistration(t *testing.T, addr, pin string) fleetv1.RegistrationClient {
	t.Helper()
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true, //nolint:gosec // pinned below
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			_, err := fleetauth.VerifyPinnedChain(raw, pin)
			return err
		}}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return fleetv1.NewRegistrationClient(conn)
}

// spokeClient connects to the Spoke service with the given client certificate (none when nil).
func spokeClient(t *testing.T, h *testbed.Hub, i int, cert *tls.Certificate) fleetv1.SpokeClient {
	t.Helper()
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: h.CA.Pool(), ServerName: "127.0.0.1"}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	conn, err := grpc.NewClient(h.Members[i].GRPCAddr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return fleetv1.NewSpokeClient(conn)
}

func csrPEM(t *testing.T, cn string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}
