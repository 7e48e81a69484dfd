// Package secrets is the hub's one way into HashiCorp Vault: it logs in (Kubernetes, AppRole or a
// token), keeps the token alive and logs in again when it ends, hands other hub code the
// authenticated client, and reads AI provider keys from KV v2 as values that never print.
package secrets
