package main

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/kubedevaiops/kubedevaiops/hub/pki"
	"github.com/kubedevaiops/kubedevaiops/hub/signing"
)

// prepareDev turns --dev into a complete single-member configuration: a temp data dir, a new CA,
// a member certificate for loopback, and an admin certificate with a connection file for
// kubectl-aiops. The caller removes dir when the member stops: nothing of it outlives the demo.
func prepareDev(opts *memberOptions, out io.Writer) (dir string, err error) {
	dir, err = os.MkdirTemp("", "kubedevaiops-hub-dev-")
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(dir)
		}
	}()
	if opts.DataDir == "" {
		opts.DataDir = filepath.Join(dir, "data")
	}
	authority, err := pki.NewCA("kubedevaiops-dev-ca", 30*24*time.Hour)
	if err != nil {
		return dir, err
	}
	caKey, err := authority.KeyPEM()
	if err != nil {
		return dir, err
	}
	tlsDir := filepath.Join(dir, "tls")
	opts.CACert, opts.CAKey = filepath.Join(tlsDir, "ca.crt"), filepath.Join(tlsDir, "ca.key")
	if err := (pki.Issued{CertPEM: authority.CertPEM, KeyPEM: caKey}).WriteFiles(opts.CACert, opts.CAKey); err != nil {
		return dir, err
	}
	member, err := authority.IssueMember(opts.ID, []string{"127.0.0.1", "localhost", "::1"}, 30*24*time.Hour)
	if err != nil {
		return dir, err
	}
	opts.TLSCert, opts.TLSKey = filepath.Join(tlsDir, opts.ID+".crt"), filepath.Join(tlsDir, opts.ID+".key")
	if err := member.WriteFiles(opts.TLSCert, opts.TLSKey); err != nil {
		return dir, err
	}
	admin, err := authority.IssueAdmin("dev-admin", []string{"admin"}, 30*24*time.Hour)
	if err != nil {
		return dir, err
	}
	adminCert, adminKey := filepath.Join(tlsDir, "dev-admin.crt"), filepath.Join(tlsDir, "dev-admin.key")
	if err := admin.WriteFiles(adminCert, adminKey); err != nil {
		return dir, err
	}
	conn, err := yaml.Marshal(map[string]string{"hub": opts.grpcAdvertise(), "cert": adminCert, "key": adminKey, "ca": opts.CACert})
	if err != nil {
		return dir, err
	}
	connPath := filepath.Join(dir, "admin.yaml")
	if err := os.WriteFile(connPath, conn, 0o600); err != nil {
		return dir, err
	}
	if opts.Vault.Address == "" && opts.Directives.KEKFile == "" {
		// A throw-away key-encryption key, so the dev hub can sign directives.
		kek := make([]byte, signing.KEKSize)
		if _, err := rand.Read(kek); err != nil {
			return dir, err
		}
		opts.Directives.KEKFile = filepath.Join(tlsDir, "state-encryption.key")
		if err := os.WriteFile(opts.Directives.KEKFile, []byte(base64.StdEncoding.EncodeToString(kek)+"\n"), 0o600); err != nil {
			return dir, err
		}
	}
	opts.Bootstrap = true
	opts.FastRaft = true
	fmt.Fprintf(out, "dev hub: data and certificates in %s\n", dir)
	fmt.Fprintf(out, "dev hub: for the CLI, export KUBEDEVAIOPS_CONFIG=%s\n", connPath)
	return dir, nil
}
