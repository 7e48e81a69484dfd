package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/kubedevaiops/kubedevaiops/hub/raftnode"
	"github.com/kubedevaiops/kubedevaiops/hub/secrets"
	"github.com/kubedevaiops/kubedevaiops/hub/signing"
	"github.com/kubedevaiops/kubedevaiops/hub/store"
)

// directiveOptions say where the directive-signing key lives.
type directiveOptions struct {
	// TransitMount and TransitKey name the Vault transit key, used when Vault is configured;
	// the key never leaves Vault.
	TransitMount, TransitKey string
	// KEKFile seals the key kept in the replicated state, when Vault is not used.
	KEKFile string
}

// newSigner returns the directive signer the options name: Vault transit when the hub has a
// Vault session, else the replicated key sealed under --state-encryption-key-file, else none
// (the hub then plans but cannot send directives, and says so on the plans).
func newSigner(ctx context.Context, o directiveOptions, vault *secrets.Vault, node *raftnode.Node, st *store.Store, log *slog.Logger) (signing.Signer, error) {
	switch {
	case vault != nil:
		if err := vault.Login(ctx); err != nil {
			return nil, fmt.Errorf("directive signing with Vault transit: %w", err)
		}
		s, err := signing.NewVault(ctx, signing.VaultConfig{Client: vault.Client(), Mount: o.TransitMount, Key: o.TransitKey, CreateKey: true})
		if err != nil {
			return nil, fmt.Errorf("directive signing with Vault transit: %w", err)
		}
		log.Info("directives are signed with Vault transit")
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
