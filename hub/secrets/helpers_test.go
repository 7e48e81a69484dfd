package secrets

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kubedevaiops/kubedevaiops/test/testbed"
)

// Bounds for conditions the tests await; generous because the machine is shared.
const (
	waitFor = 60 * time.Second
	tick    = 100 * time.Millisecond
)

// logBuffer collects a Vault's log lines (JSON, debug level) so tests can read and search them.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// planted returns a recognisable random value for leak checks.
func planted(t *testing.T, what string) string {
	t.Helper()
	b := make([]byte, 8)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return "planted-" + what + "-" + hex.EncodeToString(b)
}

func rootClient(t *testing.T, tv *testbed.Vault) *vault.Client {
	t.Helper()
	c, err := tv.Client()
	require.NoError(t, err)
	return c
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(content+"\n"), 0o600))
	return path
}

// overwrite replaces a file's content atomically, as a kubelet or Vault Agent would.
func overwrite(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".new"
	require.NoError(t, os.WriteFile(tmp, []byte(content+"\n"), 0o600))
	require.NoError(t, os.Rename(tmp, path))
}

// providersPolicy lets a token read the provider keys under kvPath of KV mount secret/.
func providersPolicy(t *testing.T, c *vault.Client, name, kvPath string) {
	t.Helper()
	require.NoError(t, c.Sys().PutPolicy(name, fmt.Sprintf(`path "secret/data/%s/*" { capabilities = ["read"] }`, kvPath)))
}

// putKey writes a provider key as a new version and returns that version.
func putKey(t *testing.T, c *vault.Client, kvPath, provider string, data map[string]any) int {
	t.Helper()
	s, err := c.KVv2("secret").Put(context.Background(), kvPath+"/"+provider, data)
	require.NoError(t, err)
	return s.VersionMetadata.Version
}

// appRole is an AppRole set up in Vault with custom role and secret ids, which a restarted dev
// server can be given again.
type appRole struct {
	mount, role, roleID, secretID string
	roleIDFile, secretIDFile      string
}

func setupAppRole(t *testing.T, c *vault.Client, r *appRole, policy string, ttl, maxTTL string) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, c.Sys().EnableAuthWithOptionsWithContext(ctx, r.mount, &vault.EnableAuthOptions{Type: "approle"}))
	_, err := c.Logical().Write("auth/"+r.mount+"/role/"+r.role, map[string]any{
		"token_policies": []string{policy}, "token_ttl": ttl, "token_max_ttl": maxTTL,
	})
	require.NoError(t, err)
	_, err = c.Logical().Write("auth/"+r.mount+"/role/"+r.role+"/role-id", map[string]any{"role_id": r.roleID})
	require.NoError(t, err)
	_, err = c.Logical().Write("auth/"+r.mount+"/role/"+r.role+"/custom-secret-id", map[string]any{"secret_id": r.secretID})
	require.NoError(t, err)
	if r.roleIDFile == "" {
		r.roleIDFile = writeFile(t, "role-id", r.roleID)
		r.secretIDFile = writeFile(t, "secret-id", r.secretID)
	}
}

func appRoleConfig(tv *testbed.Vault, r *appRole, kvPath string) Config {
	return Config{
		Address: tv.Address,
		Auth:    AuthConfig{Method: AuthAppRole, Mount: r.mount, RoleIDFile: r.roleIDFile, SecretIDFile: r.secretIDFile},
		KV:      KVConfig{Path: kvPath},
	}
}

// open starts a Vault session logging into logs, closed at the test's end.
func open(t *testing.T, cfg Config, logs *logBuffer) *Vault {
	t.Helper()
	var log *slog.Logger
	if logs != nil {
		log = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	v, err := New(cfg, log)
	require.NoError(t, err)
	t.Cleanup(v.Close)
	return v
}

// evidence gathers what the hub could show of a session: its log, status (as text and JSON)
// and the errors the test saw.
func evidence(t *testing.T, v *Vault, logs *logBuffer, errs ...error) string {
	t.Helper()
	var sb strings.Builder
	if logs != nil {
		sb.WriteString(logs.String())
	}
	st := v.Status()
	j, err := json.Marshal(st)
	require.NoError(t, err)
	fmt.Fprintf(&sb, "\n%+v\n%#v\n%s\n", st, st, j)
	for _, e := range errs {
		if e != nil {
			fmt.Fprintf(&sb, "%v\n%+v\n", e, e)
		}
	}
	return sb.String()
}

// noLeak fails when any credential value appears in text.
func noLeak(t *testing.T, text string, values ...string) {
	t.Helper()
	for _, val := range values {
		require.NotEmpty(t, val)
		assert.NotContains(t, text, val, "a credential value leaked")
	}
}

// ctxT is a context bounded well beyond any request timeout, so a hang fails the test rather
// than blocking it.
func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
