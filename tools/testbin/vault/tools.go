//go:build tools

// Package vault pins the Vault server built by tools/testbin/build.sh.
package vault

import _ "github.com/hashicorp/vault"
