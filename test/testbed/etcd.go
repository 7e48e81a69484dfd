package testbed

import (
	"context"
	"crypto/tls"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubedevaiops/kubedevaiops/hub/pki"
)

// EtcdCluster is a multi-member etcd cluster from the test binaries, with mutual TLS between
// peers and for clients (as the hub has), for side-by-side measurements.
type EtcdCluster struct {
	// Endpoints are the members' client URLs.
	Endpoints []string
	// ClientTLS authenticates a client to every member.
	ClientTLS *tls.Config
	procs     []*process
}

// StartEtcdCluster starts n etcd members on loopback in t's temp dir and stops them in
// t.Cleanup.
func StartEtcdCluster(t testing.TB, n int) *EtcdCluster {
	t.Helper()
	bin, err := binary(binEtcd)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.NewCA("testbed-etcd-ca", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	caPath := filepath.Join(dir, "ca.crt")
	caKey, err := ca.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	if err := (pki.Issued{CertPEM: ca.CertPEM, KeyPEM: caKey}).WriteFiles(caPath, filepath.Join(dir, "ca.key")); err != nil {
		t.Fatal(err)
	}
	ports, err := freePorts(2 * n)
	if err != nil {
		t.Fatal(err)
	}
	e := &EtcdCluster{}
	t.Cleanup(func() {
		for _, p := range e.procs {
			p.stop(10 * time.Second)
		}
	})
	var initial []string
	for i := range n {
		initial = append(initial, fmt.Sprintf("e%d=https://127.0.0.1:%d", i, ports[2*i+1]))
	}
	for i := range n {
		name := fmt.Sprintf("e%d", i)
		// A member certificate serves as etcd's server, peer and client certificate alike.
		cert, err := ca.IssueMember(name, []string{"127.0.0.1", "localhost"}, 24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		certPath, keyPath := filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
		if err := cert.WriteFiles(certPath, keyPath); err != nil {
			t.Fatal(err)
		}
		client := fmt.Sprintf("https://127.0.0.1:%d", ports[2*i])
		peer := fmt.Sprintf("https://127.0.0.1:%d", ports[2*i+1])
		p, err := startProcess("etcd-"+name, bin, []string{
			"--name=" + name, "--data-dir=" + filepath.Join(dir, name),
			"--listen-client-urls=" + client, "--advertise-client-urls=" + client,
			"--listen-peer-urls=" + peer, "--initial-advertise-peer-urls=" + peer,
			"--initial-cluster=" + strings.Join(initial, ","), "--initial-cluster-state=new",
			"--cert-file=" + certPath, "--key-file=" + keyPath, "--trusted-ca-file=" + caPath, "--client-cert-auth",
			"--peer-cert-file=" + certPath, "--peer-key-file=" + keyPath, "--peer-trusted-ca-file=" + caPath, "--peer-client-cert-auth",
			"--log-level=warn",
		}, dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		e.procs = append(e.procs, p)
		e.Endpoints = append(e.Endpoints, client)
	}
	admin, err := ca.IssueMember("client", nil, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := admin.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	e.ClientTLS = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}, RootCAs: ca.Pool()}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i, p := range e.procs {
		if err := p.await(ctx, "healthy", e.healthy(i)); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// healthy is a readiness check of member i: its /health answers 200 over mutual TLS.
func (e *EtcdCluster) healthy(i int) func(context.Context) error {
	return func(ctx context.Context) error {
		return httpsReady(ctx, e.Endpoints[i]+"/health", e.ClientTLS)
	}
}
