package secrets

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// AuthMethod is how the hub logs in to Vault.
type AuthMethod string

// The supported auth methods.
const (
	// AuthToken uses a token from a file or an environment variable (issued by an operator or a
	// Vault Agent); when it ends, the file or variable is read again.
	AuthToken AuthMethod = "token"
	// AuthKubernetes logs in with the hub's service-account JWT, which Vault verifies with a
	// TokenReview against the cluster the hub runs in.
	AuthKubernetes AuthMethod = "kubernetes"
	// AuthAppRole logs in with a role id and a secret id, each read from a file.
	AuthAppRole AuthMethod = "approle"
)

// Defaults filled in by Config.Validate.
const (
	DefaultJWTFile       = "/var/run/secrets/kubernetes.io/serviceaccount/token"
	DefaultTokenEnv      = "VAULT_TOKEN"
	DefaultKVMount       = "secret"
	DefaultKVPath        = "kubedevaiops/providers"
	DefaultKVField       = "api_key"
	DefaultCacheTTL      = 30 * time.Second
	DefaultTimeout       = 10 * time.Second
	DefaultCheckInterval = time.Minute
)

// Config says where Vault is, how to log in and where the provider keys are. The hub's flags
// (RegisterFlags) or its config file fill it; Validate fills defaults and names a bad field.
type Config struct {
	// Address is Vault's URL, e.g. https://vault.example:8200. Required.
	Address string
	// CAFile is a PEM bundle that verifies Vault's serving certificate; the system roots when empty.
	CAFile string
	// TLSServerName overrides the name checked in Vault's certificate.
	TLSServerName string
	// Namespace is the Vault Enterprise / HCP namespace; none when empty.
	Namespace string
	// Timeout bounds each request to Vault; DefaultTimeout when zero.
	Timeout time.Duration
	// CheckInterval is how often the token is checked (lookup-self) so that a token Vault no
	// longer knows, after a restart or a revocation, is replaced; DefaultCheckInterval when zero.
	CheckInterval time.Duration

	Auth AuthConfig
	KV   KVConfig
}

// AuthConfig selects the auth method and its parameters.
type AuthConfig struct {
	// Method is token, kubernetes or approle; token when empty.
	Method AuthMethod
	// Mount is the auth method's mount path; the method's name when empty.
	Mount string
	// Role is the Vault role (kubernetes).
	Role string
	// JWTFile holds the service-account JWT (kubernetes), read at each login so a projected token
	// that the kubelet rotates is followed; DefaultJWTFile when empty.
	JWTFile string
	// RoleIDFile and SecretIDFile hold the AppRole credentials (approle), read at each login.
	RoleIDFile, SecretIDFile string
	// TokenFile holds the token (token); when empty the variable TokenEnv is used.
	TokenFile string
	// TokenEnv names the environment variable holding the token; DefaultTokenEnv when empty.
	TokenEnv string
}

// KVConfig says where the provider keys live: field Field of the KV v2 secret
// <Mount>/data/<Path>/<provider>.
type KVConfig struct {
	// Mount is the KV v2 engine's mount path; DefaultKVMount when empty.
	Mount string
	// Path is the folder of the provider secrets under the mount; DefaultKVPath when empty.
	Path string
	// Field is the field holding the key; DefaultKVField when empty.
	Field string
	// CacheTTL is how long a key read is served before Vault is asked again, which bounds how
	// long a rotated key takes to be used; DefaultCacheTTL when zero.
	CacheTTL time.Duration
}

// RegisterFlags binds c to the hub's flags (the config file's keys are the same names) and sets
// the defaults the flags show.
func (c *Config) RegisterFlags(f *pflag.FlagSet) {
	f.StringVar(&c.Address, "vault-addr", "", "Vault address: AI provider keys and the directive-signing key live there")
	f.StringVar(&c.CAFile, "vault-ca-file", "", "PEM file with the CA certificates that verify Vault's certificate (default: system roots)")
	f.StringVar(&c.TLSServerName, "vault-tls-server-name", "", "name to check in Vault's certificate, when it differs from the address")
	f.StringVar(&c.Namespace, "vault-namespace", "", "Vault namespace (Vault Enterprise, HCP)")
	f.DurationVar(&c.Timeout, "vault-timeout", DefaultTimeout, "bound on each request to Vault")
	f.DurationVar(&c.CheckInterval, "vault-check-interval", DefaultCheckInterval, "how often the Vault token is checked, to log in again when Vault no longer knows it")
	f.StringVar((*string)(&c.Auth.Method), "vault-auth-method", string(AuthToken), "how to log in to Vault: token, kubernetes or approle")
	f.StringVar(&c.Auth.Mount, "vault-auth-mount", "", "mount path of the auth method (default: the method's name)")
	f.StringVar(&c.Auth.Role, "vault-role", "", "Vault role for --vault-auth-method=kubernetes")
	f.StringVar(&c.Auth.JWTFile, "vault-jwt-file", DefaultJWTFile, "service-account token file for --vault-auth-method=kubernetes")
	f.StringVar(&c.Auth.RoleIDFile, "vault-role-id-file", "", "file holding the AppRole role id")
	f.StringVar(&c.Auth.SecretIDFile, "vault-secret-id-file", "", "file holding the AppRole secret id")
	f.StringVar(&c.Auth.TokenFile, "vault-token-file", "", "file holding the Vault token for --vault-auth-method=token (default: $VAULT_TOKEN)")
	f.StringVar(&c.KV.Mount, "vault-kv-mount", DefaultKVMount, "mount path of the KV v2 engine holding the AI provider keys")
	f.StringVar(&c.KV.Path, "vault-kv-path", DefaultKVPath, "folder of the provider secrets: the key of provider P is <mount>/data/<path>/P")
	f.StringVar(&c.KV.Field, "vault-kv-field", DefaultKVField, "field of a provider secret that holds its key")
	f.DurationVar(&c.KV.CacheTTL, "vault-key-cache-ttl", DefaultCacheTTL, "how long a provider key is used before Vault is asked again (a rotated key is in use after at most this)")
}

// Validate fills defaults and checks c; an error names the field and its flag.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, flag, format string, args ...any) {
		errs = append(errs, fmt.Errorf("vault config %s (--%s): %s", field, flag, fmt.Sprintf(format, args...)))
	}
	if c.Address == "" {
		bad("Address", "vault-addr", "required")
	} else if u, err := url.Parse(c.Address); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("Address", "vault-addr", "%q is not an http(s) URL with a host", c.Address)
	}
	if c.Timeout < 0 {
		bad("Timeout", "vault-timeout", "negative")
	} else if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.CheckInterval < 0 {
		bad("CheckInterval", "vault-check-interval", "negative")
	} else if c.CheckInterval == 0 {
		c.CheckInterval = DefaultCheckInterval
	}

	a := &c.Auth
	if a.Method == "" {
		a.Method = AuthToken
	}
	a.Mount = strings.Trim(a.Mount, "/")
	if a.Mount == "" {
		a.Mount = string(a.Method)
	}
	if !validPath(a.Mount) {
		bad("Auth.Mount", "vault-auth-mount", "%q is not a mount path", a.Mount)
	}
	switch a.Method {
	case AuthToken:
		if a.TokenEnv == "" {
			a.TokenEnv = DefaultTokenEnv
		}
	case AuthKubernetes:
		if a.Role == "" {
			bad("Auth.Role", "vault-role", "required with --vault-auth-method=kubernetes")
		}
		if a.JWTFile == "" {
			a.JWTFile = DefaultJWTFile
		}
	case AuthAppRole:
		if a.RoleIDFile == "" {
			bad("Auth.RoleIDFile", "vault-role-id-file", "required with --vault-auth-method=approle")
		}
		if a.SecretIDFile == "" {
			bad("Auth.SecretIDFile", "vault-secret-id-file", "required with --vault-auth-method=approle")
		}
	default:
		bad("Auth.Method", "vault-auth-method", "%q is not one of token, kubernetes, approle", a.Method)
	}

	kv := &c.KV
	kv.Mount = strings.Trim(kv.Mount, "/")
	if kv.Mount == "" {
		kv.Mount = DefaultKVMount
	}
	if !validPath(kv.Mount) {
		bad("KV.Mount", "vault-kv-mount", "%q is not a mount path", kv.Mount)
	}
	kv.Path = strings.Trim(kv.Path, "/")
	if kv.Path == "" {
		kv.Path = DefaultKVPath
	}
	if !validPath(kv.Path) {
		bad("KV.Path", "vault-kv-path", "%q is not a path", kv.Path)
	}
	if kv.Field == "" {
		kv.Field = DefaultKVField
	}
	if kv.CacheTTL < 0 {
		bad("KV.CacheTTL", "vault-key-cache-ttl", "negative")
	} else if kv.CacheTTL == 0 {
		kv.CacheTTL = DefaultCacheTTL
	}
	return errors.Join(errs...)
}

// validPath accepts slash-separated names without empty, "." or ".." segments.
func validPath(p string) bool {
	if p == "" {
		return false
	}
	for seg := range strings.SplitSeq(p, "/") {
		if !validName(seg) {
			return false
		}
	}
	return true
}

// validName accepts one path segment: letters, digits, '-', '_' and '.', not "." or "..".
func validName(s string) bool {
	if s == "" || s == "." || s == ".." {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
		default:
			return false
		}
	}
	return true
}
