package e2e

import (
	"context"
	"encoding/base64"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// KV v2 at secret/ stores versions; transit signs with ed25519 and verifies, refusing a
// signature over different input.
func TestVaultKVAndTransit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client, err := vaultSrv.Client()
	require.NoError(t, err)

	kv := client.KVv2("secret")
	_, err = kv.Put(ctx, "kubedevaiops/providers/jules", map[string]any{"apiKey": "first"})
	require.NoError(t, err)
	_, err = kv.Put(ctx, "kubedevaiops/providers/jules", map[string]any{"apiKey": "second"})
	require.NoError(t, err)
	got, err := kv.Get(ctx, "kubedevaiops/providers/jules")
	require.NoError(t, err)
	require.Equal(t, "second", got.Data["apiKey"])
	require.Equal(t, 2, got.VersionMetadata.Version)
	old, err := kv.GetVersion(ctx, "kubedevaiops/providers/jules", 1)
	require.NoError(t, err)
	require.Equal(t, "first", old.Data["apiKey"])

	_, err = client.Logical().WriteWithContext(ctx, "transit/keys/directives", map[string]any{"type": "ed25519"})
	require.NoError(t, err)
	msg := base64.StdEncoding.EncodeToString([]byte(`{"action":"restart","cluster":"e2e-0"}`))
	signed, err := client.Logical().WriteWithContext(ctx, "transit/sign/directives", map[string]any{"input": msg})
	require.NoError(t, err)
	signature, ok := signed.Data["signature"].(string)
	require.True(t, ok, "sign returns a signature: %v", signed.Data)
	require.Contains(t, signature, "vault:v1:")

	verify := func(input string) bool {
		res, err := client.Logical().WriteWithContext(ctx, "transit/verify/directives",
			map[string]any{"input": input, "signature": signature})
		require.NoError(t, err)
		valid, ok := res.Data["valid"].(bool)
		require.True(t, ok, "verify returns valid: %v", res.Data)
		return valid
	}
	require.True(t, verify(msg), "the signature verifies over the signed input")
	tampered := base64.StdEncoding.EncodeToString([]byte(`{"action":"delete","cluster":"e2e-0"}`))
	require.False(t, verify(tampered), "the signature does not verify over other input")
}
