package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	vault "github.com/hashicorp/vault/api"

	"github.com/kubedevaiops/kubedevaiops/hub/raftnode"
	"github.com/kubedevaiops/kubedevaiops/hub/signing"
	"github.com/kubedevaiops/kubedevaiops/hub/store"
)

// directiveOptions say where the directive-signing key lives.
type directiveOptions struct {
	// VaultAddr and VaultTokenFile select Vault transit; the key never leaves Vault.
	VaultAddr, VaultTokenFile, TransitMount, TransitKey string
	// KEKFile seals the key kept in the replicated state, when Vault is not used.
	KEKFile string
}

// newSigner returns the directive signer the options name: Vault transit when --vault-addr is
// set, else the replicated key sealed under --state-encryption-key-file, else none (the hub then
// plans but cannot send directives, and says so on the plans).
func newSigner(ctx context.Context, o directiveOptions, node *raftnode.Node, st *store.Store, log *slog.Logger) (signing.Signer, error) {
	switch {
	case o.VaultAddr != "":
		cfg := vault.DefaultConfig()
		cfg.Address = o.VaultAddr
		client, err := vault.NewClient(cfg)
		if err != nil {
			return nil, fmt.Errorf("--vault-addr %s: %w", o.VaultAddr, err)
		}
		token := os.Getenv("VAULT_TOKEN")
		if o.VaultTokenFile != "" {
			b, err := os.ReadFile(o.VaultTokenFile)
			if err != nil {
				return nil, fmt.Errorf("--vault-token-file: %w", err)
			}
			token = strings.TrimSpace(string(b))
		}
		if token == "" {
			return nil, fmt.Errorf("--vault-addr is set but no Vault token: give --vault-token-file or VAULT_TOKEN")
		}
		client.SetToken(token)
		s, err := signing.NewVault(ctx, signing.VaultConfig{Client: client, Mount: o.TransitMount, Key: o.TransitKey, CreateKey: true})
		if err != nil {
			return nil, fmt.Errorf("directive signing with Vault transit at %s: %w", o.VaultAddr, err)
		}
		log.Info("directives are signed with Vault transit", "addr", o.VaultAddr)
		return s, nil
	case o.KEKFile != "":
		kek, err := signing.LoadKEK(o.KEKFile)
		if err != nil {
			return nil, fmt.Errorf("--state-encryption-key-file: %w", err)
		}
		s, err := signing.NewReplicated(signing.ReplicatedConfig{Node: node, Store: st, KEK: kek, Logger: log})
		if err != nil {
			return nil, err
		}
		log.Info("directives are signed with the key in the replicated state, sealed under the key-encryption key")
		return s, nil
	}
	log.Warn("no --vault-addr or --state-encryption-key-file: this hub cannot sign directives; approved plans wait")
	return nil, nil
}
