// Package directive holds what the hub's signer and the spoke's guard must agree on about a
// signed directive: how a key id is derived from an ed25519 public key, how a payload is
// encoded and strictly decoded, how a signature is checked, and which action types disrupt.
package directive
