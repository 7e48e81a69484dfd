// Package ai tests the hub's AI providers with real processes: hub members reading the
// provider key from a Vault dev server, a local OpenAI-compatible server, key rotation, Vault
// going away (the built-in engine answers), and that the key appears nowhere it should not.
package ai
