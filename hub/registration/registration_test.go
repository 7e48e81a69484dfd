package registration

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "open-cluster-management.io/api/cluster/v1"

	"github.com/kubedevaiops/kubedevaiops/api/fleetauth"
	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/pki"
	"github.com/kubedevaiops/kubedevaiops/hub/store"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

func TestParseToken(t *testing.T) {
	id, secret, err := ParseToken("abc123.0123456789abcdef")
	require.NoError(t, err)
	assert.Equal(t, "abc123", id)
	assert.Equal(t, "0123456789abcdef", secret)
	for _, bad := range []string{"", "abc123", "ABC123.0123456789abcdef", "abc12.0123456789abcdef", "abc123.0123456789abcde", "abc123:0123456789abcdef"} {
		_, _, err := ParseToken(bad)
		assert.Equal(t, codes.InvalidArgument, status.Code(err), bad)
	}
	tok := randomString(6) + "." + randomString(16)
	_, _, err = ParseToken(tok)
	assert.NoError(t, err, "generated tokens parse")
}

func TestCheckToken(t *testing.T) {
	now := time.Now()
	exp := metav1.NewTime(now.Add(time.Hour))
	base := hubv1alpha1.BootstrapToken{Spec: hubv1alpha1.BootstrapTokenSpec{TokenID: "abc123", SecretHash: hubv1alpha1.HashTokenSecret("s"), Expiration: &exp, UsageLimit: 2}}
	tok := base
	assert.NoError(t, checkToken(&tok, "s", now))
	assert.Equal(t, codes.Unauthenticated, status.Code(checkToken(&tok, "t", now)))
	tok.Spec.Revoked = true
	assert.ErrorContains(t, checkToken(&tok, "s", now), "revoked")
	tok = base
	assert.ErrorContains(t, checkToken(&tok, "s", now.Add(2*time.Hour)), "expired")
	tok.Status.Uses = 2
	assert.ErrorContains(t, checkToken(&tok, "s", now), "used up: 2 of 2")
}

func TestClaims(t *testing.T) {
	assert.Error(t, validateClaims(nil))
	assert.Error(t, validateClaims(&fleetv1.ClusterClaims{ClusterName: "Not_A_Name"}))
	assert.Error(t, validateClaims(&fleetv1.ClusterClaims{ClusterName: "ok", Additional: map[string]string{"bad name!": "v"}}))
	require.NoError(t, validateClaims(&fleetv1.ClusterClaims{ClusterName: "ok", Additional: map[string]string{"team.example.com": "pay"}}))
	cc := ClaimsToStatus(&fleetv1.ClusterClaims{ClusterName: "ok", ClusterId: "id-1", KubernetesVersion: "v1.37.2", NodeCount: 3, Region: "eu-west-1",
		Additional: map[string]string{"team.example.com": "pay"}})
	assert.Equal(t, []clusterv1.ManagedClusterClaim{
		{Name: ClaimID, Value: "id-1"}, {Name: ClaimKubeVer, Value: "v1.37.2"}, {Name: ClaimNodeCount, Value: "3"},
		{Name: ClaimRegion, Value: "eu-west-1"}, {Name: "team.example.com", Value: "pay"},
	}, cc)
}

func csr(t *testing.T, tmpl *x509.CertificateRequest) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

// A cluster certificate names its cluster and nothing else; only the current serials are accepted.
func TestClusterCertificates(t *testing.T) {
	ca, err := pki.NewCA("test", time.Hour)
	require.NoError(t, err)
	_, err = pki.ParseCSR(csr(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "a"}, DNSNames: []string{"evil.example"}}))
	assert.ErrorContains(t, err, "subject alternative names are not allowed")
	u, _ := url.Parse("spiffe://kubedevaiops.io/hub/admin/root")
	_, err = pki.ParseCSR(csr(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "a"}, URIs: []*url.URL{u}}))
	assert.Error(t, err)
	_, err = pki.ParseCSR([]byte("junk"))
	assert.ErrorContains(t, err, "not a PEM CERTIFICATE REQUEST")

	req, err := pki.ParseCSR(csr(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "a"}}))
	require.NoError(t, err)
	_, _, err = ca.IssueCluster(req, "b", time.Minute)
	assert.ErrorContains(t, err, `the CSR is for "a", not for cluster "b"`)
	_, leaf, err := ca.IssueCluster(req, "a", time.Minute)
	require.NoError(t, err)
	name, ok := fleetauth.ClusterOf(leaf)
	require.True(t, ok)
	assert.Equal(t, "a", name)
	assert.Equal(t, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, leaf.ExtKeyUsage, "a client certificate only")
	id, err := pki.IdentityOf(leaf)
	require.NoError(t, err)
	assert.Equal(t, pki.KindCluster, id.Kind, "never an admin or a member")

	mc := &ManagedCluster{ObjectMeta: metav1.ObjectMeta{Name: "a", Annotations: map[string]string{}}, Spec: clusterv1.ManagedClusterSpec{HubAcceptsClient: true}}
	assert.ErrorContains(t, CertificateAccepted(mc, leaf), "revoked or superseded")
	mc.Annotations[hubv1alpha1.AnnotationCertificateSerials] = "ff," + pki.SerialHex(leaf)
	assert.NoError(t, CertificateAccepted(mc, leaf))
	mc.Spec.HubAcceptsClient = false
	mc.Annotations[hubv1alpha1.AnnotationDeniedReason] = "gone"
	assert.ErrorContains(t, CertificateAccepted(mc, leaf), "was denied: gone")
}

func TestPaginate(t *testing.T) {
	items := []string{"a", "b", "c", "d", "e"}
	key := func(s string) string { return s }
	page, next, err := paginate(items, 2, "", key)
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, page)
	page, next, _ = paginate(items, 2, next, key)
	assert.Equal(t, []string{"c", "d"}, page)
	page, next, _ = paginate(items, 2, next, key)
	assert.Equal(t, []string{"e"}, page)
	assert.Empty(t, next)
	_, _, err = paginate(items, -1, "", key)
	assert.Error(t, err)
}

func TestExpiredRegistrations(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	res := func(name string, state hubv1alpha1.RegistrationState, decided *time.Time) *store.Resource {
		reg := hubv1alpha1.ClusterRegistration{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: hubv1alpha1.ClusterRegistrationStatus{State: state}}
		if decided != nil {
			reg.Status.DecidedTime = decidedAt(*decided)
		}
		b, err := json.Marshal(reg)
		require.NoError(t, err)
		return &store.Resource{Kind: store.KindClusterRegistration, Name: name, ResourceVersion: 7, Object: b}
	}
	old, recent := now.Add(-2*time.Hour), now.Add(-time.Minute)
	cmds := expiredDeletes([]*store.Resource{
		res("pending", hubv1alpha1.RegistrationPending, nil),
		res("old-accepted", hubv1alpha1.RegistrationAccepted, &old),
		res("old-denied", hubv1alpha1.RegistrationDenied, &old),
		res("recent", hubv1alpha1.RegistrationAccepted, &recent),
	}, now)
	assert.Len(t, cmds, 2, "only requests decided over an hour ago go")
}

func TestSpentTokens(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	tok := func(name string, exp time.Time, limit, uses int32, lastUse *time.Time) *store.Resource {
		e := metav1.NewTime(exp)
		bt := hubv1alpha1.BootstrapToken{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: hubv1alpha1.BootstrapTokenSpec{TokenID: name, Expiration: &e, UsageLimit: limit}, Status: hubv1alpha1.BootstrapTokenStatus{Uses: uses}}
		if lastUse != nil {
			bt.Status.LastUsedTime = decidedAt(*lastUse)
		}
		b, err := json.Marshal(bt)
		require.NoError(t, err)
		return &store.Resource{Kind: store.KindBootstrapToken, Name: name, ResourceVersion: 3, Object: b}
	}
	old, recent, later := now.Add(-2*time.Hour), now.Add(-time.Minute), now.Add(time.Hour)
	cmds := spentTokenDeletes([]*store.Resource{
		tok("active", later, 0, 5, &old),      // unlimited and valid: kept
		tok("expired", old, 0, 0, nil),        // expired two hours ago: removed
		tok("justexp", recent, 0, 0, nil),     // expired a minute ago: kept for now
		tok("usedup", later, 1, 1, &old),      // its one use two hours ago: removed
		tok("justused", later, 1, 1, &recent), // used a minute ago: kept for now
		tok("partly", later, 3, 1, &old),      // uses left: kept
	}, now)
	assert.Len(t, cmds, 2)
}

func TestRegistrationsCollectedOnConnect(t *testing.T) {
	ca, err := pki.NewCA("test", time.Hour)
	require.NoError(t, err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "c1"}}, key)
	require.NoError(t, err)
	req, err := x509.ParseCertificateRequest(der)
	require.NoError(t, err)
	certPEM, cert, err := ca.IssueCluster(req, "c1", time.Hour)
	require.NoError(t, err)
	rec := func(name string, state hubv1alpha1.RegistrationState, certPEM []byte) registrationRecord {
		return registrationRecord{
			obj: &hubv1alpha1.ClusterRegistration{ObjectMeta: metav1.ObjectMeta{Name: name},
				Status: hubv1alpha1.ClusterRegistrationStatus{State: state, Certificate: certPEM}},
			res: &store.Resource{Kind: store.KindClusterRegistration, Name: name, ResourceVersion: 4},
		}
	}
	regs := []registrationRecord{
		rec("connected", hubv1alpha1.RegistrationAccepted, certPEM),
		rec("pending", hubv1alpha1.RegistrationPending, nil),
		rec("denied", hubv1alpha1.RegistrationDenied, nil),
		rec("garbled", hubv1alpha1.RegistrationAccepted, []byte("not a certificate")),
	}
	assert.Len(t, connectedDeletes(regs, pki.SerialHex(cert)), 1, "only the accepted request whose certificate connected goes")
	assert.Empty(t, connectedDeletes(regs, "ff"), "another serial removes nothing")
}
