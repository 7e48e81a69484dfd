package pki

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/kubedevaiops/kubedevaiops/api/fleetauth"
)

// PublicKeyHash is the hex SHA-256 of a DER SubjectPublicKeyInfo: how the hub recognises the
// same key across requests.
func PublicKeyHash(spki []byte) string {
	sum := sha256.Sum256(spki)
	return hex.EncodeToString(sum[:])
}

// ParseCSR decodes a PEM certificate request, checks its signature and key, and that it asks
// for nothing but a common name: the hub decides every other field of a cluster certificate.
func ParseCSR(csrPEM []byte) (*x509.CertificateRequest, error) {
	block, rest := pem.Decode(csrPEM)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("CSR: not a PEM CERTIFICATE REQUEST block")
	}
	if len(strings.TrimSpace(string(rest))) > 0 {
		return nil, errors.New("CSR: trailing data after the PEM block")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("CSR: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("CSR: signature does not verify: %w", err)
	}
	switch k := csr.PublicKey.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return nil, fmt.Errorf("CSR: ECDSA curve %s is not allowed; use P-256 or P-384", k.Curve.Params().Name)
		}
	case ed25519.PublicKey:
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("CSR: RSA key of %d bits; at least 2048 are required", k.N.BitLen())
		}
	default:
		return nil, fmt.Errorf("CSR: unsupported key type %T", csr.PublicKey)
	}
	if len(csr.DNSNames)+len(csr.IPAddresses)+len(csr.EmailAddresses)+len(csr.URIs) > 0 {
		return nil, errors.New("CSR: subject alternative names are not allowed; the hub sets the cluster's identity")
	}
	return csr, nil
}

// IssueCluster signs a cluster's client certificate for a request already checked with
// ParseCSR: CN is the cluster name, the one URI SAN is spiffe://kubedevaiops.io/cluster/<name>,
// usable for TLS client authentication only. It returns the certificate PEM and the parsed leaf.
func (ca *CA) IssueCluster(csr *x509.CertificateRequest, cluster string, ttl time.Duration) ([]byte, *x509.Certificate, error) {
	if cluster == "" {
		return nil, nil, errors.New("issue cluster certificate: empty cluster name")
	}
	if csr.Subject.CommonName != cluster {
		return nil, nil, fmt.Errorf("issue cluster certificate: the CSR is for %q, not for cluster %q", csr.Subject.CommonName, cluster)
	}
	uri, err := url.Parse(fleetauth.ClusterURI(cluster))
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	notAfter := now.Add(ttl)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serialNumber(),
		Subject:      pkix.Name{CommonName: cluster, Organization: []string{"kubedevaiops:clusters"}},
		// A minute of slack for spoke clocks slightly behind the hub's.
		NotBefore:   now.Add(-time.Minute),
		NotAfter:    notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		URIs:        []*url.URL{uri},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, csr.PublicKey, ca.key)
	if err != nil {
		return nil, nil, fmt.Errorf("issue certificate for cluster %s: %w", cluster, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	return encodePEM("CERTIFICATE", der), leaf, nil
}

// SerialHex is how the hub records a certificate serial number.
func SerialHex(cert *x509.Certificate) string { return cert.SerialNumber.Text(16) }
