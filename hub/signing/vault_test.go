package signing

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kubedevaiops/kubedevaiops/api/directive"
	"github.com/kubedevaiops/kubedevaiops/test/testbed"
)

func TestVaultSigner(t *testing.T) {
	srv := testbed.StartVault(t)
	client, err := srv.Client()
	require.NoError(t, err)
	ctx := context.Background()

	t.Run("a missing key is an error unless the signer may create it", func(t *testing.T) {
		_, err := NewVault(ctx, VaultConfig{Client: client, Key: "absent"})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "transit/keys/absent")
		assert.Contains(t, err.Error(), "create it with type ed25519")
	})

	// The clock only decides when PublicKeys reads Vault again.
	now := time.Now()
	clock := func() time.Time { return now }
	s, err := NewVault(ctx, VaultConfig{Client: client, Key: "directives", CreateKey: true, Now: clock})
	require.NoError(t, err)
	sec, err := client.Logical().Read("transit/keys/directives")
	require.NoError(t, err)
	require.NotNil(t, sec)
	assert.Equal(t, "ed25519", sec.Data["type"])
	v1pub := transitPublicKey(t, client, "directives", "1")

	t.Run("signatures verify with the published key of the signing version", func(t *testing.T) {
		keys, err := s.PublicKeys(ctx)
		require.NoError(t, err)
		require.Len(t, keys, 1)
		assert.Equal(t, directive.KeyID(v1pub), keys[0].GetKeyId())
		payload := testPayload(t, "act-1")
		sd, err := s.Sign(ctx, payload)
		require.NoError(t, err)
		assert.Equal(t, payload, sd.GetPayload())
		assert.Equal(t, directive.Algorithm, sd.GetAlgorithm())
		assert.Equal(t, directive.KeyID(v1pub), sd.GetKeyId())
		assert.True(t, ed25519.Verify(v1pub, payload, sd.GetSignature()), "pure ed25519 over the payload bytes")
		verifyWith(t, sd, keys)
	})

	t.Run("an existing key is used, not replaced", func(t *testing.T) {
		again, err := NewVault(ctx, VaultConfig{Client: client, Key: "directives", CreateKey: true})
		require.NoError(t, err)
		keys, err := again.PublicKeys(ctx)
		require.NoError(t, err)
		require.Len(t, keys, 1)
		assert.Equal(t, directive.KeyID(v1pub), keys[0].GetKeyId())
	})

	t.Run("after a rotation in Vault the new version signs and both are published", func(t *testing.T) {
		_, err := client.Logical().Write("transit/keys/directives/rotate", nil)
		require.NoError(t, err)
		v2pub := transitPublicKey(t, client, "directives", "2")
		sd, err := s.Sign(ctx, testPayload(t, "act-2"))
		require.NoError(t, err)
		assert.Equal(t, directive.KeyID(v2pub), sd.GetKeyId(), "the signature's version is looked up")
		keys, err := s.PublicKeys(ctx)
		require.NoError(t, err)
		require.Len(t, keys, 2)
		assert.Equal(t, directive.KeyID(v2pub), keys[0].GetKeyId(), "newest first")
		assert.Equal(t, directive.KeyID(v1pub), keys[1].GetKeyId())
		verifyWith(t, sd, keys)
	})

	t.Run("public keys are read again once the cache is old", func(t *testing.T) {
		fresh, err := NewVault(ctx, VaultConfig{Client: client, Key: "directives", Now: clock, KeyRefresh: time.Minute})
		require.NoError(t, err)
		_, err = client.Logical().Write("transit/keys/directives/rotate", nil)
		require.NoError(t, err)
		keys, err := fresh.PublicKeys(ctx)
		require.NoError(t, err)
		assert.Len(t, keys, 2, "still cached")
		now = now.Add(time.Minute)
		keys, err = fresh.PublicKeys(ctx)
		require.NoError(t, err)
		assert.Len(t, keys, 3)
	})

	t.Run("a key of another type is refused", func(t *testing.T) {
		_, err := client.Logical().Write("transit/keys/symmetric", map[string]any{"type": "aes256-gcm96"})
		require.NoError(t, err)
		_, err = NewVault(ctx, VaultConfig{Client: client, Key: "symmetric", CreateKey: true})
		assert.ErrorContains(t, err, `is of type "aes256-gcm96"; directives need an ed25519 key`)
	})

	t.Run("a malformed payload is not sent to Vault", func(t *testing.T) {
		_, err := s.Sign(ctx, []byte{1, 2, 3})
		assert.ErrorIs(t, err, directive.ErrMalformed)
	})

	t.Run("errors name what failed and never the token", func(t *testing.T) {
		cfg := vault.DefaultConfig()
		cfg.Address = srv.Address
		bad, err := vault.NewClient(cfg)
		require.NoError(t, err)
		const token = "hvs.not-a-real-token-0123456789"
		bad.SetToken(token)
		_, err = NewVault(ctx, VaultConfig{Client: bad, Key: "directives"})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "read transit key transit/keys/directives")
		assert.Contains(t, err.Error(), "403")
		assert.NotContains(t, err.Error(), token)

		// A token that may read the key but not sign with it.
		require.NoError(t, client.Sys().PutPolicy("read-only-directives", `path "transit/keys/directives" { capabilities = ["read"] }`))
		tok, err := client.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"read-only-directives"}, NoDefaultPolicy: true})
		require.NoError(t, err)
		limited, err := client.Clone()
		require.NoError(t, err)
		limited.SetToken(tok.Auth.ClientToken)
		ls, err := NewVault(ctx, VaultConfig{Client: limited, Key: "directives"})
		require.NoError(t, err)
		_, err = ls.Sign(ctx, testPayload(t, "act-3"))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "sign with transit/sign/directives")
		assert.Contains(t, err.Error(), "permission denied")
		assert.NotContains(t, err.Error(), tok.Auth.ClientToken)
		assert.NotContains(t, err.Error(), srv.RootToken)
	})
}

// transitPublicKey reads one version's public key from Vault directly.
func transitPublicKey(t *testing.T, c *vault.Client, key, version string) ed25519.PublicKey {
	t.Helper()
	sec, err := c.Logical().Read("transit/keys/" + key)
	require.NoError(t, err)
	require.NotNil(t, sec)
	keys, ok := sec.Data["keys"].(map[string]any)
	require.True(t, ok)
	entry, ok := keys[version].(map[string]any)
	require.True(t, ok, "version %s", version)
	b64, _ := entry["public_key"].(string)
	pub, err := base64.StdEncoding.DecodeString(b64)
	require.NoError(t, err)
	require.Len(t, pub, ed25519.PublicKeySize)
	return pub
}

func TestParseTransitSignature(t *testing.T) {
	sig := make([]byte, ed25519.SignatureSize)
	sig[0] = 7
	v, got, err := parseTransitSignature("vault:v12:" + base64.StdEncoding.EncodeToString(sig))
	require.NoError(t, err)
	assert.Equal(t, 12, v)
	assert.Equal(t, sig, got)
	for _, bad := range []string{
		"", "vault:v1", "v1:" + base64.StdEncoding.EncodeToString(sig), "vault:1:" + base64.StdEncoding.EncodeToString(sig),
		"vault:v0:" + base64.StdEncoding.EncodeToString(sig), "vault:vx:" + base64.StdEncoding.EncodeToString(sig),
		"vault:v1:!!!", "vault:v1:" + base64.StdEncoding.EncodeToString(sig[:10]),
	} {
		_, _, err := parseTransitSignature(bad)
		assert.Error(t, err, bad)
	}
}
