package main

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/kubedevaiops/kubedevaiops/api/fleetauth"
	"github.com/kubedevaiops/kubedevaiops/hub/capi"
	"github.com/kubedevaiops/kubedevaiops/hub/raftnode"
	"github.com/kubedevaiops/kubedevaiops/hub/registration"
	"github.com/kubedevaiops/kubedevaiops/hub/store"
)

// capiOptions are the settings of the Cluster API importer; off without a kubeconfig.
type capiOptions struct {
	Kubeconfig   string
	AgentImage   string
	HubEndpoints []string
}

// validate checks the importer's flags; it returns the management cluster's config when on.
func (o *capiOptions) validate() (*rest.Config, error) {
	if o.Kubeconfig == "" {
		return nil, nil
	}
	if _, err := os.Stat(o.Kubeconfig); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("--capi-kubeconfig %s: no such file; give the kubeconfig of the Cluster API management cluster", o.Kubeconfig)
		}
		return nil, fmt.Errorf("--capi-kubeconfig: %w", err)
	}
	raw, err := clientcmd.LoadFromFile(o.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("--capi-kubeconfig %s is not a readable kubeconfig: %w", o.Kubeconfig, err)
	}
	cfg, err := clientcmd.NewDefaultClientConfig(*raw, &clientcmd.ConfigOverrides{}).ClientConfig()
	if clientcmd.IsEmptyConfig(err) {
		return nil, fmt.Errorf("--capi-kubeconfig %s names no cluster and user to use (no current-context?)", o.Kubeconfig)
	}
	if err != nil {
		return nil, fmt.Errorf("--capi-kubeconfig %s: %w", o.Kubeconfig, err)
	}
	if o.AgentImage == "" {
		return nil, errors.New("--agent-image is empty: give the agent image the hub installs into imported clusters")
	}
	for _, e := range o.HubEndpoints {
		if _, _, err := net.SplitHostPort(e); err != nil {
			return nil, fmt.Errorf("--capi-hub-endpoints %q: %v (want host:port of a member's gRPC address)", e, err)
		}
	}
	return cfg, nil
}

// caHashOf is the pin agents check the hub CA with.
func caHashOf(caFile string) (string, error) {
	data, err := os.ReadFile(caFile)
	if err != nil {
		return "", fmt.Errorf("hub CA: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return "", fmt.Errorf("hub CA: no PEM certificate in %s", caFile)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return "", fmt.Errorf("hub CA %s: %w", caFile, err)
	}
	return fleetauth.CAHash(cert), nil
}

// newCAPIImporter builds the importer the leader runs; nil when --capi-kubeconfig is not set.
func newCAPIImporter(o capiOptions, mgmt *rest.Config, caFile string, node *raftnode.Node, fsm *store.Store,
	registrar *registration.Registrar, log *slog.Logger) (*capi.Importer, error) {
	if mgmt == nil {
		return nil, nil
	}
	// controller-runtime's clients log through its global logger: make that the hub's.
	ctrllog.SetLogger(logr.FromSlogHandler(log.With("loop", "capi-import").Handler()))
	hash, err := caHashOf(caFile)
	if err != nil {
		return nil, err
	}
	endpoints := registrar.HubEndpoints // the members' own records, as spokes learn them
	if len(o.HubEndpoints) > 0 {
		fixed := append([]string(nil), o.HubEndpoints...)
		endpoints = func() []string { return fixed }
	}
	return capi.New(capi.Config{
		Management: mgmt, Raft: node, Store: fsm, HubEndpoints: endpoints, CAHash: hash,
		AgentImage: o.AgentImage, LeaseDuration: registrar.LeaseDuration(), Logger: log,
	})
}
