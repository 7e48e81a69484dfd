package secrets

import (
	"testing"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConfigValidate(t *testing.T) {
	valid := func() Config {
		return Config{Address: "https://vault.example:8200", Auth: AuthConfig{Method: AuthAppRole, RoleIDFile: "/r", SecretIDFile: "/s"}}
	}
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   []string // substrings of the error; none: valid
	}{
		{"valid approle", func(*Config) {}, nil},
		{"token by default", func(c *Config) { c.Auth = AuthConfig{} }, nil},
		{"kubernetes", func(c *Config) { c.Auth = AuthConfig{Method: AuthKubernetes, Role: "hub"} }, nil},
		{"no address", func(c *Config) { c.Address = "" }, []string{"Address (--vault-addr): required"}},
		{"address without scheme", func(c *Config) { c.Address = "vault:8200" }, []string{"Address (--vault-addr)", "not an http(s) URL"}},
		{"address with other scheme", func(c *Config) { c.Address = "ftp://vault" }, []string{"--vault-addr"}},
		{"unknown method", func(c *Config) { c.Auth.Method = "ldap" }, []string{"Auth.Method (--vault-auth-method)", `"ldap"`}},
		{"approle without files", func(c *Config) { c.Auth.RoleIDFile, c.Auth.SecretIDFile = "", "" },
			[]string{"Auth.RoleIDFile (--vault-role-id-file)", "Auth.SecretIDFile (--vault-secret-id-file)"}},
		{"kubernetes without role", func(c *Config) { c.Auth = AuthConfig{Method: AuthKubernetes} }, []string{"Auth.Role (--vault-role)"}},
		{"bad auth mount", func(c *Config) { c.Auth.Mount = "a/../b" }, []string{"Auth.Mount (--vault-auth-mount)"}},
		{"bad kv mount", func(c *Config) { c.KV.Mount = "se cret" }, []string{"KV.Mount (--vault-kv-mount)"}},
		{"bad kv path", func(c *Config) { c.KV.Path = "a//b" }, []string{"KV.Path (--vault-kv-path)"}},
		{"negative ttl", func(c *Config) { c.KV.CacheTTL = -1 }, []string{"KV.CacheTTL (--vault-key-cache-ttl)"}},
		{"negative timeout", func(c *Config) { c.Timeout = -1 }, []string{"Timeout (--vault-timeout)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.change(&c)
			err := c.Validate()
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{Address: "http://127.0.0.1:8200", Auth: AuthConfig{Method: AuthKubernetes, Role: "hub", Mount: "/k8s/"}}
	require.NoError(t, c.Validate())
	assert.Equal(t, "k8s", c.Auth.Mount)
	assert.Equal(t, DefaultJWTFile, c.Auth.JWTFile)
	assert.Equal(t, KVConfig{Mount: DefaultKVMount, Path: DefaultKVPath, Field: DefaultKVField, CacheTTL: DefaultCacheTTL}, c.KV)
	assert.Equal(t, DefaultTimeout, c.Timeout)

	c = Config{Address: "http://127.0.0.1:8200", Auth: AuthConfig{Method: AuthAppRole, RoleIDFile: "r", SecretIDFile: "s"}}
	require.NoError(t, c.Validate())
	assert.Equal(t, "approle", c.Auth.Mount)
}

func TestConfigFlags(t *testing.T) {
	var c Config
	f := pflag.NewFlagSet("hub", pflag.ContinueOnError)
	c.RegisterFlags(f)
	require.NoError(t, f.Parse([]string{
		"--vault-addr=https://vault:8200", "--vault-auth-method=kubernetes", "--vault-role=hub",
		"--vault-kv-path=team/ai", "--vault-key-cache-ttl=5s",
	}))
	require.NoError(t, c.Validate())
	assert.Equal(t, AuthKubernetes, c.Auth.Method)
	assert.Equal(t, "kubernetes", c.Auth.Mount)
	assert.Equal(t, "team/ai", c.KV.Path)
	assert.Equal(t, "5s", c.KV.CacheTTL.String())

	v, err := New(c, nil)
	require.NoError(t, err)
	defer v.Close()
	assert.Equal(t, "secret/data/team/ai/jules", v.KeyPath("jules"))
}
