package testbed

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"
)

// Vault is a running Vault dev server: in memory, unsealed, KV v2 mounted at secret/ and the
// transit engine at transit/.
type Vault struct {
	// Address is the server's URL, for vault.Config.Address.
	Address string
	// RootToken is the dev server's root token.
	RootToken string
	// Dir holds the server's log (vault.log).
	Dir string

	proc *process
	once sync.Once
}

// StartVault starts a Vault dev server for a test and stops it in t.Cleanup.
func StartVault(t testing.TB) *Vault {
	t.Helper()
	v, err := NewVault(context.Background(), t.TempDir())
	if err != nil {
		t.Fatalf("start vault: %v", err)
	}
	t.Cleanup(v.Stop)
	return v
}

// NewVault starts a Vault dev server in dir; the caller must call Stop.
func NewVault(ctx context.Context, dir string) (*Vault, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	bin, err := binary(binVault)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	token, err := randomToken()
	if err != nil {
		return nil, err
	}
	v := &Vault{Address: "http://127.0.0.1:" + strconv.Itoa(ports[0]), RootToken: token, Dir: dir}
	v.proc, err = startProcess(binVault, bin, []string{
		"server", "-dev",
		"-dev-root-token-id=" + token,
		"-dev-listen-address=127.0.0.1:" + strconv.Itoa(ports[0]),
		"-dev-no-store-token",
	}, dir, []string{
		"HOME=" + dir, // the dev server would otherwise write ~/.vault-token
		"VAULT_DISABLE_MLOCK=true",
		"SKIP_SETCAP=true",
	})
	if err != nil {
		return nil, err
	}
	client, err := v.Client()
	if err != nil {
		v.Stop()
		return nil, err
	}
	if err := v.proc.await(ctx, "unsealed", func(ctx context.Context) error {
		h, err := client.Sys().HealthWithContext(ctx)
		if err != nil {
			return err
		}
		if !h.Initialized || h.Sealed {
			return fmt.Errorf("initialized=%v sealed=%v", h.Initialized, h.Sealed)
		}
		return nil
	}); err != nil {
		v.Stop()
		return nil, err
	}
	if err := client.Sys().MountWithContext(ctx, "transit", &vault.MountInput{Type: "transit"}); err != nil {
		v.Stop()
		return nil, v.proc.failure(fmt.Errorf("enable the transit engine: %w", err))
	}
	return v, nil
}

// Client returns an API client authenticated with the root token.
func (v *Vault) Client() (*vault.Client, error) {
	cfg := vault.DefaultConfig()
	cfg.Address = v.Address
	client, err := vault.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("vault client for %s: %w", v.Address, err)
	}
	client.SetToken(v.RootToken)
	return client, nil
}

// Stop stops the server; its state, being in memory, is gone. Safe to call twice.
func (v *Vault) Stop() {
	v.once.Do(func() {
		if v.proc != nil {
			v.proc.stop(10 * time.Second)
		}
	})
}

func randomToken() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "testbed-" + hex.EncodeToString(b), nil
}

// httpReady is a readiness check that wants a 200 from url.
func httpReady(url string) func(context.Context) error {
	return func(ctx context.Context) error { return httpsReady(ctx, url, nil) }
}

// httpsReady wants a 200 from url, over TLS with cfg when it is not nil.
func httpsReady(ctx context.Context, url string, cfg *tls.Config) error {
	client := http.DefaultClient
	if cfg != nil {
		client = &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
		defer client.CloseIdleConnections()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}
