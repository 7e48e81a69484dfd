package fleetauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type pair struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func issue(t *testing.T, parent *pair, tmpl *x509.Certificate) *pair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Minute), time.Now().Add(time.Hour)
	signer, issuer := key, tmpl
	if parent != nil {
		signer, issuer = parent.key, parent.cert
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, &key.PublicKey, signer)
	require.NoError(t, err)
	c, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return &pair{c, key}
}

func TestPinnedChain(t *testing.T) {
	ca := issue(t, nil, &x509.Certificate{Subject: pkix.Name{CommonName: "ca"}, IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign})
	other := issue(t, nil, &x509.Certificate{Subject: pkix.Name{CommonName: "other"}, IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign})
	u, _ := url.Parse(MemberURIPrefix + "m0")
	member := issue(t, ca, &x509.Certificate{Subject: pkix.Name{CommonName: "m0"}, URIs: []*url.URL{u}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	notMember := issue(t, ca, &x509.Certificate{Subject: pkix.Name{CommonName: "web"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})

	pin := CAHash(ca.cert)
	assert.True(t, strings.HasPrefix(pin, "sha256:"))
	_, err := ParseCAHash(strings.ToUpper(pin[7:]))
	assert.Error(t, err, "the prefix is required")
	got, err := ParseCAHash("SHA256:" + strings.ToUpper(pin[7:]))
	require.NoError(t, err)
	assert.Equal(t, pin, got)
	_, err = ParseCAHash("sha256:abcd")
	assert.Error(t, err)

	c, err := VerifyPinnedChain([][]byte{member.cert.Raw, ca.cert.Raw}, pin)
	require.NoError(t, err)
	assert.True(t, c.Equal(ca.cert))
	_, err = VerifyPinnedChain([][]byte{member.cert.Raw, ca.cert.Raw}, CAHash(other.cert))
	assert.ErrorContains(t, err, "matches the pinned hash")
	_, err = VerifyPinnedChain([][]byte{member.cert.Raw}, pin)
	assert.Error(t, err, "the CA must come along")
	_, err = VerifyPinnedChain([][]byte{notMember.cert.Raw, ca.cert.Raw}, pin)
	assert.ErrorContains(t, err, "not a hub member's")
	// A chain whose leaf another CA signed, with the pinned CA merely appended, is refused.
	forged := issue(t, other, &x509.Certificate{Subject: pkix.Name{CommonName: "m0"}, URIs: []*url.URL{u}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	_, err = VerifyPinnedChain([][]byte{forged.cert.Raw, ca.cert.Raw}, pin)
	assert.Error(t, err)

	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	assert.NoError(t, VerifyHubChain([][]byte{member.cert.Raw}, roots))
	assert.Error(t, VerifyHubChain([][]byte{forged.cert.Raw}, roots))

	cu, _ := url.Parse(ClusterURI("prod-eu-1"))
	name, ok := ClusterOf(&x509.Certificate{URIs: []*url.URL{cu}})
	assert.True(t, ok)
	assert.Equal(t, "prod-eu-1", name)
	_, ok = ClusterOf(member.cert)
	assert.False(t, ok)
}
