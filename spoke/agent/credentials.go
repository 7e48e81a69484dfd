package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Keys of the agent's Secret. It holds the cluster's private key from the moment it is made,
// the pending registration while an admin decides, and then the hub's certificate: the agent
// never needs the bootstrap token again.
const (
	keyPrivateKey     = "tls.key"
	keyCertificate    = "tls.crt"
	keyCA             = "ca.crt"
	keyEndpoints      = "hub-endpoints"
	keyCluster        = "cluster-name"
	keyRegistrationID = "registration-id"
	keyPollSecret     = "poll-secret"
)

// hubCredentials are what the agent keeps in its Secret.
type hubCredentials struct {
	Cluster        string
	KeyPEM         []byte
	CertPEM        []byte
	CAPEM          []byte
	Endpoints      []string
	RegistrationID string
	PollSecret     string
}

func (c *hubCredentials) registered() bool { return len(c.CertPEM) > 0 && len(c.KeyPEM) > 0 }

func (c *hubCredentials) leaf() (*x509.Certificate, error) {
	block, _ := pem.Decode(c.CertPEM)
	if block == nil {
		return nil, errors.New("the stored certificate is not PEM")
	}
	return x509.ParseCertificate(block.Bytes)
}

func (c *hubCredentials) tlsCertificate() (tls.Certificate, error) {
	return tls.X509KeyPair(c.CertPEM, c.KeyPEM)
}

func (c *hubCredentials) caPool() (*x509.CertPool, error) {
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(c.CAPEM) {
		return nil, errors.New("the stored hub CA bundle holds no certificate")
	}
	return p, nil
}

// secretStore reads and writes the agent's Secret.
type secretStore struct {
	client          client.Client
	namespace, name string
}

func (s *secretStore) load(ctx context.Context) (*hubCredentials, error) {
	var sec corev1.Secret
	err := s.client.Get(ctx, client.ObjectKey{Namespace: s.namespace, Name: s.name}, &sec)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read Secret %s/%s: %w", s.namespace, s.name, err)
	}
	d := sec.Data
	c := &hubCredentials{
		Cluster: string(d[keyCluster]), KeyPEM: d[keyPrivateKey], CertPEM: d[keyCertificate], CAPEM: d[keyCA],
		RegistrationID: string(d[keyRegistrationID]), PollSecret: string(d[keyPollSecret]),
	}
	for _, e := range strings.Split(string(d[keyEndpoints]), "\n") {
		if e = strings.TrimSpace(e); e != "" {
			c.Endpoints = append(c.Endpoints, e)
		}
	}
	return c, nil
}

func (s *secretStore) save(ctx context.Context, c *hubCredentials) error {
	if err := s.client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: s.namespace}}); err != nil && !apierrors.IsAlreadyExists(err) && !apierrors.IsForbidden(err) {
		return fmt.Errorf("create namespace %s: %w", s.namespace, err)
	}
	data := map[string][]byte{
		keyCluster: []byte(c.Cluster), keyPrivateKey: c.KeyPEM, keyCertificate: c.CertPEM, keyCA: c.CAPEM,
		keyEndpoints: []byte(strings.Join(c.Endpoints, "\n")), keyRegistrationID: []byte(c.RegistrationID), keyPollSecret: []byte(c.PollSecret),
	}
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: s.namespace, Name: s.name, Labels: map[string]string{"app.kubernetes.io/name": "kubedevaiops-agent"}},
		Type:       corev1.SecretTypeOpaque,
		Data:       data,
	}
	err := s.client.Create(ctx, sec)
	if apierrors.IsAlreadyExists(err) {
		var cur corev1.Secret
		if err := s.client.Get(ctx, client.ObjectKeyFromObject(sec), &cur); err != nil {
			return fmt.Errorf("read Secret %s/%s: %w", s.namespace, s.name, err)
		}
		cur.Data = data
		err = s.client.Update(ctx, &cur)
	}
	if err != nil {
		return fmt.Errorf("write Secret %s/%s: %w", s.namespace, s.name, err)
	}
	return nil
}
