package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"sigs.k8s.io/yaml"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// connection says how to reach the hub: its gRPC address and the admin's mutual-TLS credentials.
// The values come from flags, else from the config file ($KUBEDEVAIOPS_CONFIG or
// ~/.kubedevaiops/config.yaml), which `kubedevaiops-hub --dev` writes for its admin.
type connection struct {
	Hub    string `json:"hub"`
	Cert   string `json:"cert"`
	Key    string `json:"key"`
	CA     string `json:"ca"`
	config string
}

func (c *connection) addFlags(f *pflag.FlagSet) {
	f.StringVar(&c.Hub, "hub", "", "gRPC address of any hub member")
	f.StringVar(&c.Cert, "cert", "", "admin client certificate (PEM)")
	f.StringVar(&c.Key, "key", "", "admin client key (PEM)")
	f.StringVar(&c.CA, "ca", "", "hub CA certificate (PEM)")
	f.StringVar(&c.config, "config", "", "connection file (default $KUBEDEVAIOPS_CONFIG or ~/.kubedevaiops/config.yaml)")
}

// resolve fills what flags left empty from the config file.
func (c *connection) resolve() error {
	path := c.config
	if path == "" {
		path = os.Getenv("KUBEDEVAIOPS_CONFIG")
	}
	if path == "" {
		if home, err := os.UserHomeDir(); err == nil {
			path = filepath.Join(home, ".kubedevaiops", "config.yaml")
		}
	}
	if data, err := os.ReadFile(path); err == nil {
		var file connection
		if err := yaml.UnmarshalStrict(data, &file); err != nil {
			return fmt.Errorf("connection file %s: %w", path, err)
		}
		base := filepath.Dir(path)
		rel := func(p string) string {
			if p != "" && !filepath.IsAbs(p) {
				return filepath.Join(base, p)
			}
			return p
		}
		for _, v := range []struct {
			dst *string
			src string
		}{
			{&c.Hub, file.Hub}, {&c.Cert, rel(file.Cert)}, {&c.Key, rel(file.Key)}, {&c.CA, rel(file.CA)},
		} {
			if *v.dst == "" {
				*v.dst = v.src
			}
		}
	} else if c.config != "" || os.Getenv("KUBEDEVAIOPS_CONFIG") != "" {
		return fmt.Errorf("connection file: %w", err)
	}
	if c.Hub == "" || c.Cert == "" || c.Key == "" || c.CA == "" {
		return errors.New("no hub connection: give --hub, --cert, --key and --ca, or a connection file (--config or $KUBEDEVAIOPS_CONFIG; `kubedevaiops-hub --dev` writes one)")
	}
	return nil
}

// dial connects to the hub with the admin's certificate.
func (c *connection) dial() (*grpc.ClientConn, fleetv1.FleetClient, error) {
	if err := c.resolve(); err != nil {
		return nil, nil, err
	}
	pair, err := tls.LoadX509KeyPair(c.Cert, c.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("admin certificate: %w", err)
	}
	caPEM, err := os.ReadFile(c.CA)
	if err != nil {
		return nil, nil, fmt.Errorf("hub CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, nil, fmt.Errorf("hub CA: no certificate in %s", c.CA)
	}
	creds := credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{pair}, RootCAs: pool})
	conn, err := grpc.NewClient(c.Hub, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, nil, fmt.Errorf("hub %s: %w", c.Hub, err)
	}
	return conn, fleetv1.NewFleetClient(conn), nil
}
