package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// CA is the hub's certificate authority.
type CA struct {
	Cert *x509.Certificate
	key  crypto.Signer
	// CertPEM is the CA certificate, the trust root everyone pins.
	CertPEM []byte
}

// NewCA creates a self-signed CA valid for ttl.
func NewCA(commonName string, ttl time.Duration) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serialNumber(),
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"KubeDevAIOps"}},
		NotBefore:             now.Add(-5 * time.Minute),
		NotAfter:              now.Add(ttl),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, key: key, CertPEM: encodePEM("CERTIFICATE", der)}, nil
}

// LoadCA reads a CA certificate and its private key from PEM files.
func LoadCA(certPath, keyPath string) (*CA, error) {
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return nil, fmt.Errorf("load hub CA from %s and %s: %w", certPath, keyPath, err)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, err
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("load hub CA: %s is not a CA certificate", certPath)
	}
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("load hub CA: the key in %s cannot sign", keyPath)
	}
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, key: signer, CertPEM: certPEM}, nil
}

// Pool is a cert pool holding only this CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// KeyPEM returns the CA's private key, for writing it to the member's disk.
func (ca *CA) KeyPEM() ([]byte, error) { return keyPEM(ca.key) }

// Issued is a certificate and key in PEM form.
type Issued struct {
	CertPEM, KeyPEM []byte
}

// TLSCertificate parses the pair for a tls.Config.
func (i Issued) TLSCertificate() (tls.Certificate, error) {
	return tls.X509KeyPair(i.CertPEM, i.KeyPEM)
}

// WriteFiles writes cert.pem and key.pem style files (key mode 0600).
func (i Issued) WriteFiles(certPath, keyPath string) error {
	if err := os.MkdirAll(filepath.Dir(certPath), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(certPath, i.CertPEM, 0o644); err != nil {
		return err
	}
	return os.WriteFile(keyPath, i.KeyPEM, 0o600)
}

// IssueMember issues a hub member certificate: usable as TLS server and client, with the member
// URI and the given DNS names / IPs, so that members authenticate each other both ways.
func (ca *CA) IssueMember(id string, hosts []string, ttl time.Duration) (Issued, error) {
	if id == "" {
		return Issued{}, errors.New("issue member certificate: empty member id")
	}
	return ca.issue(pkix.Name{CommonName: "hub-member-" + id}, identityURI(KindMember, id), hosts,
		[]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, ttl)
}

// IssueAdmin issues an admin client certificate carrying the admin's roles.
func (ca *CA) IssueAdmin(name string, roles []string, ttl time.Duration) (Issued, error) {
	if name == "" {
		return Issued{}, errors.New("issue admin certificate: empty admin name")
	}
	return ca.issue(pkix.Name{CommonName: name, Organization: roles}, identityURI(KindAdmin, name), nil,
		[]x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, ttl)
}

func (ca *CA) issue(subject pkix.Name, uri *url.URL, hosts []string, usage []x509.ExtKeyUsage, ttl time.Duration) (Issued, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Issued{}, err
	}
	now := time.Now()
	notAfter := now.Add(ttl)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serialNumber(),
		Subject:      subject,
		NotBefore:    now.Add(-5 * time.Minute),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  usage,
		URIs:         []*url.URL{uri},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.key)
	if err != nil {
		return Issued{}, fmt.Errorf("issue certificate for %s: %w", uri, err)
	}
	k, err := keyPEM(key)
	if err != nil {
		return Issued{}, err
	}
	return Issued{CertPEM: encodePEM("CERTIFICATE", der), KeyPEM: k}, nil
}

func keyPEM(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return encodePEM("PRIVATE KEY", der), nil
}

func encodePEM(kind string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der})
}

func serialNumber() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	return n
}
