package secrets

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubedevaiops/kubedevaiops/test/testbed"
)

func TestTokenLogin(t *testing.T) {
	root := rootClient(t, sharedVlt)
	const kvPath = "token-test/providers"
	providersPolicy(t, root, "token-test", kvPath)
	key := planted(t, "key")
	putKey(t, root, kvPath, "jules", map[string]any{"api_key": key})

	t.Run("from a file", func(t *testing.T) {
		v := open(t, Config{Address: sharedVlt.Address, Auth: AuthConfig{TokenFile: writeFile(t, "token", sharedVlt.RootToken)}, KV: KVConfig{Path: kvPath}}, nil)
		got, err := v.Key(ctxT(t), "jules")
		require.NoError(t, err)
		assert.Equal(t, key, got.Reveal())
		st := v.Status()
		assert.True(t, st.Authenticated)
		assert.Equal(t, AuthToken, st.Method)
		assert.True(t, st.TokenExpiry.IsZero(), "the root token does not expire")
	})

	t.Run("from the environment", func(t *testing.T) {
		t.Setenv("KDAI_TEST_VAULT_TOKEN", sharedVlt.RootToken)
		v := open(t, Config{Address: sharedVlt.Address, Auth: AuthConfig{TokenEnv: "KDAI_TEST_VAULT_TOKEN"}, KV: KVConfig{Path: kvPath}}, nil)
		got, err := v.Key(ctxT(t), "jules")
		require.NoError(t, err)
		assert.Equal(t, key, got.Reveal())
	})

	t.Run("renewed, then the new token in the file is taken", func(t *testing.T) {
		first, err := root.Auth().Token().Create(&vault.TokenCreateRequest{
			Policies: []string{"token-test"}, TTL: "2s", ExplicitMaxTTL: "6s", Renewable: new(true),
		})
		require.NoError(t, err)
		file := writeFile(t, "token", first.Auth.ClientToken)
		logs := &logBuffer{}
		v := open(t, Config{Address: sharedVlt.Address, Auth: AuthConfig{TokenFile: file}, KV: KVConfig{Path: kvPath}}, logs)
		require.NoError(t, v.Login(ctxT(t)))
		require.Eventually(t, func() bool { return v.Status().Renewals >= 1 }, waitFor, tick, "the token is renewed")

		second, err := root.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"token-test"}, TTL: "1h"})
		require.NoError(t, err)
		overwrite(t, file, second.Auth.ClientToken)
		require.Eventually(t, func() bool { return v.Status().Logins >= 2 }, waitFor, tick, "a fresh login when the first token reaches its max TTL")
		self, err := v.Client().Auth().Token().LookupSelf()
		require.NoError(t, err)
		accessor, _ := self.TokenAccessor()
		assert.Equal(t, second.Auth.Accessor, accessor, "the client now uses the token from the file")
		got, err := v.Key(ctxT(t), "jules")
		require.NoError(t, err)
		assert.Equal(t, key, got.Reveal())
		noLeak(t, evidence(t, v, logs), first.Auth.ClientToken, second.Auth.ClientToken, key)
	})

	t.Run("a token Vault does not know", func(t *testing.T) {
		bogus := planted(t, "token")
		logs := &logBuffer{}
		v := open(t, Config{Address: sharedVlt.Address, Auth: AuthConfig{TokenFile: writeFile(t, "token", bogus)}}, logs)
		err := v.Login(ctxT(t))
		require.ErrorIs(t, err, ErrLoginFailed)
		require.ErrorIs(t, err, ErrUnavailable)
		assert.Contains(t, err.Error(), "vault login with token (lookup-self) refused")
		_, kerr := v.Key(ctxT(t), "jules")
		require.ErrorIs(t, kerr, ErrUnavailable)
		noLeak(t, evidence(t, v, logs, err, kerr), bogus)
	})

	t.Run("no token at all", func(t *testing.T) {
		t.Setenv("KDAI_TEST_VAULT_TOKEN", "")
		v := open(t, Config{Address: sharedVlt.Address, Auth: AuthConfig{TokenEnv: "KDAI_TEST_VAULT_TOKEN"}}, nil)
		err := v.Login(ctxT(t))
		require.ErrorIs(t, err, ErrLoginFailed)
		assert.Contains(t, err.Error(), "$KDAI_TEST_VAULT_TOKEN")
	})
}

func TestAppRoleLogin(t *testing.T) {
	root := rootClient(t, sharedVlt)
	const kvPath = "approle-test/providers"
	providersPolicy(t, root, "approle-test", kvPath)
	key := planted(t, "key")
	putKey(t, root, kvPath, "openai", map[string]any{"api_key": key})
	r := &appRole{mount: "approle-login", role: "hub", roleID: planted(t, "roleid"), secretID: planted(t, "secretid")}
	setupAppRole(t, root, r, "approle-test", "1h", "4h")

	logs := &logBuffer{}
	v := open(t, appRoleConfig(sharedVlt, r, kvPath), logs)
	got, err := v.Key(ctxT(t), "openai")
	require.NoError(t, err)
	assert.Equal(t, key, got.Reveal())
	st := v.Status()
	assert.Equal(t, AuthAppRole, st.Method)
	assert.True(t, st.Authenticated)
	assert.False(t, st.TokenExpiry.IsZero())
	token := v.Client().Token()
	require.NotEmpty(t, token)

	t.Run("a revoked token is replaced at the next read", func(t *testing.T) {
		require.NoError(t, root.Auth().Token().RevokeOrphan(token))
		v.Invalidate("openai")
		got, err := v.Key(ctxT(t), "openai")
		require.NoError(t, err)
		assert.Equal(t, key, got.Reveal())
		assert.Equal(t, uint64(2), v.Status().Logins)
		assert.NotEqual(t, token, v.Client().Token())
	})

	t.Run("a wrong secret id", func(t *testing.T) {
		wrong := planted(t, "wrongsecretid")
		bad := *r
		bad.secretIDFile = writeFile(t, "secret-id", wrong)
		blogs := &logBuffer{}
		bv := open(t, appRoleConfig(sharedVlt, &bad, kvPath), blogs)
		err := bv.Login(ctxT(t))
		require.ErrorIs(t, err, ErrLoginFailed)
		assert.Contains(t, err.Error(), "vault login with approle at auth/approle-login/login refused")
		t.Logf("wrong secret id: %v", err)
		noLeak(t, evidence(t, bv, blogs, err), wrong, r.roleID, r.secretID)
	})

	t.Run("a missing secret id file", func(t *testing.T) {
		bad := *r
		bad.secretIDFile = r.secretIDFile + ".absent"
		bv := open(t, appRoleConfig(sharedVlt, &bad, kvPath), nil)
		err := bv.Login(ctxT(t))
		require.ErrorIs(t, err, ErrLoginFailed)
		assert.Contains(t, err.Error(), "--vault-secret-id-file")
		assert.Contains(t, err.Error(), bad.secretIDFile)
	})

	noLeak(t, evidence(t, v, logs), key, r.roleID, r.secretID, token, v.Client().Token())
}

func TestKubernetesLogin(t *testing.T) {
	ctx := ctxT(t)
	root := rootClient(t, sharedVlt)
	const kvPath = "k8s-test/providers"
	providersPolicy(t, root, "k8s-test", kvPath)
	key := planted(t, "key")
	putKey(t, root, kvPath, "jules", map[string]any{"api_key": key})

	_, err := testbed.EnableKubernetesAuth(ctx, sharedVlt, cluster, "kubernetes")
	require.NoError(t, err)
	_, err = root.Logical().Write("auth/kubernetes/role/hub", map[string]any{
		"bound_service_account_names":      []string{"kubedevaiops-hub"},
		"bound_service_account_namespaces": []string{"kubedevaiops"},
		"token_policies":                   []string{"k8s-test"},
		"token_ttl":                        "1h",
	})
	require.NoError(t, err)
	jwt, err := testbed.ServiceAccountToken(ctx, cluster, "kubedevaiops", "kubedevaiops-hub", time.Hour)
	require.NoError(t, err)
	cfg := func(jwtFile string) Config {
		return Config{Address: sharedVlt.Address, Auth: AuthConfig{Method: AuthKubernetes, Role: "hub", JWTFile: jwtFile}, KV: KVConfig{Path: kvPath}}
	}

	logs := &logBuffer{}
	v := open(t, cfg(writeFile(t, "token", jwt)), logs)
	got, err := v.Key(ctx, "jules")
	require.NoError(t, err)
	assert.Equal(t, key, got.Reveal())
	assert.Equal(t, AuthKubernetes, v.Status().Method)

	refused := func(t *testing.T, jwt string) {
		t.Helper()
		blogs := &logBuffer{}
		bv := open(t, cfg(writeFile(t, "token", jwt)), blogs)
		err := bv.Login(ctx)
		require.ErrorIs(t, err, ErrLoginFailed)
		assert.Contains(t, err.Error(), "vault login with kubernetes at auth/kubernetes/login refused")
		t.Logf("refused JWT: %v", err)
		parts := strings.Split(jwt, ".")
		noLeak(t, evidence(t, bv, blogs, err), append(parts, jwt)...)
	}

	t.Run("a forged signature is refused by the apiserver's TokenReview", func(t *testing.T) {
		parts := strings.Split(jwt, ".")
		require.Len(t, parts, 3)
		sig := []byte(parts[2])
		sig[len(sig)/2] ^= 0x01 // still base64url, no longer the apiserver's signature
		if sig[len(sig)/2] == '.' || sig[len(sig)/2] == '=' {
			sig[len(sig)/2] = 'A'
		}
		refused(t, parts[0]+"."+parts[1]+"."+string(sig))
	})

	t.Run("the token of a deleted service account is refused", func(t *testing.T) {
		// Vault checks the JWT with the apiserver, not just its claims: once the account is
		// gone its token no longer passes the TokenReview, though the claims still match the role.
		_, err := root.Logical().Write("auth/kubernetes/role/doomed", map[string]any{
			"bound_service_account_names":      []string{"doomed"},
			"bound_service_account_namespaces": []string{"kubedevaiops"},
			"token_policies":                   []string{"k8s-test"},
		})
		require.NoError(t, err)
		doomed, err := testbed.ServiceAccountToken(ctx, cluster, "kubedevaiops", "doomed", time.Hour)
		require.NoError(t, err)
		c := cfg(writeFile(t, "token", doomed))
		c.Auth.Role = "doomed"
		dv := open(t, c, nil)
		require.NoError(t, dv.Login(ctx), "the account exists: the login passes")
		cs, err := cluster.Clientset()
		require.NoError(t, err)
		require.NoError(t, cs.CoreV1().ServiceAccounts("kubedevaiops").Delete(ctx, "doomed", metav1.DeleteOptions{}))
		// The apiserver caches a token's successful authentication for a few seconds: await the refusal.
		require.Eventually(t, func() bool {
			dv, err := New(c, nil)
			require.NoError(t, err)
			defer dv.Close()
			err = dv.Login(ctx)
			if err == nil {
				return false
			}
			require.ErrorIs(t, err, ErrLoginFailed)
			noLeak(t, err.Error(), doomed)
			return true
		}, waitFor, tick, "the login of a deleted service account is refused")
	})

	t.Run("a service account the role does not name is refused", func(t *testing.T) {
		intruder, err := testbed.ServiceAccountToken(ctx, cluster, "kubedevaiops", "intruder", time.Hour)
		require.NoError(t, err)
		refused(t, intruder)
	})

	noLeak(t, evidence(t, v, logs), key, jwt, v.Client().Token())
}

func TestRenewalAndRelogin(t *testing.T) {
	root := rootClient(t, sharedVlt)
	const kvPath = "renew-test/providers"
	providersPolicy(t, root, "renew-test", kvPath)
	key := planted(t, "key")
	putKey(t, root, kvPath, "jules", map[string]any{"api_key": key})
	r := &appRole{mount: "approle-renew", role: "hub", roleID: planted(t, "roleid"), secretID: planted(t, "secretid")}
	setupAppRole(t, root, r, "renew-test", "2s", "6s")

	logs := &logBuffer{}
	v := open(t, appRoleConfig(sharedVlt, r, kvPath), logs)
	require.NoError(t, v.Login(ctxT(t)))
	first := v.Client().Token()
	require.Eventually(t, func() bool { return v.Status().Renewals >= 1 }, waitFor, tick, "the lifetime watcher renews the token")
	require.Eventually(t, func() bool { return v.Status().Logins >= 2 }, waitFor, tick, "a fresh login after the max TTL")
	second := v.Client().Token()
	assert.NotEqual(t, first, second)
	v.Invalidate("jules")
	got, err := v.Key(ctxT(t), "jules")
	require.NoError(t, err)
	assert.Equal(t, key, got.Reveal())
	assert.Contains(t, logs.String(), "logging in again")
	noLeak(t, evidence(t, v, logs), key, first, second, r.roleID, r.secretID)
}

func TestRotatedKeyPickedUpLive(t *testing.T) {
	root := rootClient(t, sharedVlt)
	const kvPath = "rotate-test/providers"
	providersPolicy(t, root, "rotate-test", kvPath)
	keys := []string{planted(t, "key1"), planted(t, "key2"), planted(t, "key3")}
	putKey(t, root, kvPath, "jules", map[string]any{"api_key": keys[0]})
	logs := &logBuffer{}
	v := open(t, Config{
		Address: sharedVlt.Address, Auth: AuthConfig{TokenFile: writeFile(t, "token", sharedVlt.RootToken)},
		KV: KVConfig{Path: kvPath, CacheTTL: 300 * time.Millisecond},
	}, logs)
	got, err := v.Key(ctxT(t), "jules")
	require.NoError(t, err)
	require.Equal(t, keys[0], got.Reveal())

	version := putKey(t, root, kvPath, "jules", map[string]any{"api_key": keys[1]})
	require.Eventually(t, func() bool {
		got, err := v.Key(ctxT(t), "jules")
		return err == nil && got.Reveal() == keys[1]
	}, waitFor, tick, "the new version is used without a restart")
	assert.Contains(t, logs.String(), `"version":`+strconv.Itoa(version))

	// A caller whose key was refused upstream need not wait for the cache.
	v2 := open(t, Config{
		Address: sharedVlt.Address, Auth: AuthConfig{TokenFile: writeFile(t, "token", sharedVlt.RootToken)},
		KV: KVConfig{Path: kvPath, CacheTTL: time.Hour},
	}, logs)
	got, err = v2.Key(ctxT(t), "jules")
	require.NoError(t, err)
	require.Equal(t, keys[1], got.Reveal())
	putKey(t, root, kvPath, "jules", map[string]any{"api_key": keys[2]})
	got, err = v2.Key(ctxT(t), "jules")
	require.NoError(t, err)
	require.Equal(t, keys[1], got.Reveal(), "served from the cache within its TTL")
	v2.Invalidate("jules")
	got, err = v2.Key(ctxT(t), "jules")
	require.NoError(t, err)
	require.Equal(t, keys[2], got.Reveal())

	noLeak(t, evidence(t, v, logs), append(keys, sharedVlt.RootToken)...)
}

func TestKeyErrors(t *testing.T) {
	root := rootClient(t, sharedVlt)
	const kvPath = "errors-test/providers"
	providersPolicy(t, root, "errors-test", kvPath)
	other := planted(t, "other")
	putKey(t, root, kvPath, "nofield", map[string]any{"token": other})
	deleted := planted(t, "deleted")
	putKey(t, root, kvPath, "deleted", map[string]any{"api_key": deleted})
	require.NoError(t, root.KVv2("secret").Delete(context.Background(), kvPath+"/deleted"))
	hidden := planted(t, "hidden")
	putKey(t, root, "errors-test/elsewhere", "jules", map[string]any{"api_key": hidden})

	r := &appRole{mount: "approle-errors", role: "hub", roleID: planted(t, "roleid"), secretID: planted(t, "secretid")}
	setupAppRole(t, root, r, "errors-test", "1h", "4h")
	logs := &logBuffer{}
	v := open(t, appRoleConfig(sharedVlt, r, kvPath), logs)
	denied := appRoleConfig(sharedVlt, r, "errors-test/elsewhere")
	dv := open(t, denied, logs)

	var seen []error
	for _, tc := range []struct {
		name     string
		v        *Vault
		provider string
		is       error
		says     []string
	}{
		{"no secret", v, "absent", ErrNotFound, []string{`"absent"`, "no secret at secret/data/errors-test/providers/absent"}},
		{"no such field", v, "nofield", ErrNotFound, []string{"version 1", `no string field "api_key"`}},
		{"latest version deleted", v, "deleted", ErrNotFound, []string{"version 1", "is deleted"}},
		{"policy says no", dv, "jules", ErrDenied, []string{"permission denied", "secret/data/errors-test/elsewhere/jules", "approle at auth/approle-errors/login"}},
		{"not a provider name", v, "../jules", nil, []string{`"../jules" is not a provider name`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.v.Key(ctxT(t), tc.provider)
			require.Error(t, err)
			seen = append(seen, err)
			if tc.is != nil {
				require.ErrorIs(t, err, tc.is)
				assert.NotErrorIs(t, err, ErrUnavailable)
			}
			t.Logf("%v", err)
			for _, s := range tc.says {
				assert.Contains(t, err.Error(), s)
			}
		})
	}
	noLeak(t, evidence(t, v, logs, seen...), other, deleted, hidden, r.roleID, r.secretID, v.Client().Token(), dv.Client().Token())
}

// TestVaultDownAndBack stops a Vault of its own: the key read fails with ErrUnavailable naming
// the address, a fresh session cannot log in, and once Vault is back (a dev server, so set up
// again from scratch, as after losing its storage) the session logs in again by itself.
func TestVaultDownAndBack(t *testing.T) {
	tv := testbed.StartVault(t)
	root := rootClient(t, tv)
	const kvPath = "down-test/providers"
	key := planted(t, "key")
	r := &appRole{mount: "approle", role: "hub", roleID: planted(t, "roleid"), secretID: planted(t, "secretid")}
	provision := func(t *testing.T) {
		providersPolicy(t, root, "down-test", kvPath)
		setupAppRole(t, root, r, "down-test", "1h", "4h")
		putKey(t, root, kvPath, "jules", map[string]any{"api_key": key})
	}
	provision(t)

	logs := &logBuffer{}
	cfg := appRoleConfig(tv, r, kvPath)
	cfg.Timeout = 5 * time.Second
	cfg.CheckInterval = 500 * time.Millisecond
	v := open(t, cfg, logs)
	got, err := v.Key(ctxT(t), "jules")
	require.NoError(t, err)
	require.Equal(t, key, got.Reveal())
	firstToken := v.Client().Token()

	tv.Halt()
	v.Invalidate("jules")
	ctx := ctxT(t)
	_, downErr := v.Key(ctx, "jules")
	require.ErrorIs(t, downErr, ErrUnavailable)
	require.NoError(t, ctx.Err(), "the error came from the request bound, not the test's deadline")
	assert.Contains(t, downErr.Error(), "vault at "+tv.Address+" unreachable")
	assert.Contains(t, downErr.Error(), "secret/data/down-test/providers/jules")

	fresh := open(t, cfg, logs)
	loginErr := fresh.Login(ctx)
	require.ErrorIs(t, loginErr, ErrUnavailable)
	assert.NotErrorIs(t, loginErr, ErrLoginFailed)
	assert.Contains(t, loginErr.Error(), "vault at "+tv.Address+" unreachable")
	assert.Contains(t, loginErr.Error(), "approle at auth/approle/login")
	_, freshErr := fresh.Key(ctx, "jules")
	require.ErrorIs(t, freshErr, ErrUnavailable)
	t.Logf("Vault down: Key: %v\nLogin: %v", downErr, loginErr)
	require.Eventually(t, func() bool { return v.Status().LastError != "" }, waitFor, tick, "the keeper's check sees the outage")

	require.NoError(t, tv.Restart(ctxT(t)))
	provision(t)
	require.Eventually(t, func() bool {
		got, err := v.Key(ctxT(t), "jules")
		return err == nil && got.Reveal() == key
	}, waitFor, tick, "the session logs in to the restarted Vault by itself")
	assert.GreaterOrEqual(t, v.Status().Logins, uint64(2))
	assert.NotEqual(t, firstToken, v.Client().Token())
	require.Eventually(t, func() bool { return fresh.Status().Authenticated }, waitFor, tick, "the keeper of the fresh session logs in once Vault is back")

	noLeak(t, evidence(t, v, logs, downErr, loginErr, freshErr), key, r.roleID, r.secretID, firstToken, v.Client().Token(), fresh.Client().Token())
}
