// Package signing signs the hub's directives to spokes with ed25519 and publishes the public
// keys spokes verify them with. The key lives in Vault's transit engine when Vault is
// configured, else in the hub's replicated state, sealed under a key-encryption key.
package signing
