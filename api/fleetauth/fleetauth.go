// Package fleetauth holds the trust conventions the hub, the spoke and the CLI share: how the
// hub CA is pinned and how a cluster's certificate names the cluster.
package fleetauth

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
)

// CAHashPrefix starts a pinned CA hash, in the form kubeadm uses for its discovery hashes.
const CAHashPrefix = "sha256:"

// ClusterURIPrefix starts the one URI SAN of a cluster certificate; the rest is the cluster name.
const ClusterURIPrefix = "spiffe://kubedevaiops.io/cluster/"

// MemberURIPrefix starts the URI SAN of a hub member's certificate; the rest is the member id.
const MemberURIPrefix = "spiffe://kubedevaiops.io/hub/member/"

// CAHash is the pin of a CA certificate: "sha256:" and the hex SHA-256 of its DER
// SubjectPublicKeyInfo. A spoke given it trusts the hub before it has any other credential.
func CAHash(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return CAHashPrefix + hex.EncodeToString(sum[:])
}

// ParseCAHash checks a pin's form and returns it normalised to lower case.
func ParseCAHash(pin string) (string, error) {
	h, ok := strings.CutPrefix(strings.ToLower(strings.TrimSpace(pin)), CAHashPrefix)
	if b, err := hex.DecodeString(h); !ok || err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("CA hash %q: want %s followed by 64 hex digits (kubectl aiops token create prints it)", pin, CAHashPrefix)
	}
	return CAHashPrefix + h, nil
}

func parseChain(rawCerts [][]byte) ([]*x509.Certificate, error) {
	if len(rawCerts) == 0 {
		return nil, fmt.Errorf("the hub presented no certificate")
	}
	certs := make([]*x509.Certificate, len(rawCerts))
	for i, raw := range rawCerts {
		c, err := x509.ParseCertificate(raw)
		if err != nil {
			return nil, fmt.Errorf("hub certificate %d: %w", i, err)
		}
		certs[i] = c
	}
	return certs, nil
}

// VerifyPinnedChain checks a hub member's certificate chain against a CA pin: some
// certificate in the chain (members send their CA along) must be a CA whose hash is pin, and
// the leaf must be a hub member's, issued by it. It returns that CA. The member's host name is
// not checked: the pin and the member identity are what a spoke trusts.
func VerifyPinnedChain(rawCerts [][]byte, pin string) (*x509.Certificate, error) {
	certs, err := parseChain(rawCerts)
	if err != nil {
		return nil, err
	}
	for _, c := range certs {
		if !c.IsCA || CAHash(c) != pin {
			continue
		}
		roots := x509.NewCertPool()
		roots.AddCert(c)
		if err := verifyMember(certs, roots); err != nil {
			return nil, err
		}
		return c, nil
	}
	return nil, fmt.Errorf("no CA in the hub's certificate chain matches the pinned hash %s: wrong --hub-ca-hash, or not the hub you meant", pin)
}

// VerifyHubChain checks a hub member's certificate chain against the hub CA bundle a spoke
// received with its credentials; host names are not checked, as for VerifyPinnedChain.
func VerifyHubChain(rawCerts [][]byte, roots *x509.CertPool) error {
	certs, err := parseChain(rawCerts)
	if err != nil {
		return err
	}
	return verifyMember(certs, roots)
}

func verifyMember(certs []*x509.Certificate, roots *x509.CertPool) error {
	inter := x509.NewCertPool()
	for _, o := range certs[1:] {
		inter.AddCert(o)
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return fmt.Errorf("the hub's certificate is not issued by the hub CA: %w", err)
	}
	for _, u := range certs[0].URIs {
		if strings.HasPrefix(u.String(), MemberURIPrefix) {
			return nil
		}
	}
	return fmt.Errorf("the server's certificate %q is not a hub member's", certs[0].Subject.CommonName)
}

// ClusterURI is the identity URI of a cluster's certificate.
func ClusterURI(cluster string) string { return ClusterURIPrefix + url.PathEscape(cluster) }

// ClusterOf returns the cluster a verified certificate speaks for, if it is a cluster's.
func ClusterOf(cert *x509.Certificate) (string, bool) {
	for _, u := range cert.URIs {
		if name, ok := strings.CutPrefix(u.String(), ClusterURIPrefix); ok && name != "" {
			if n, err := url.PathUnescape(name); err == nil {
				return n, true
			}
		}
	}
	return "", false
}
