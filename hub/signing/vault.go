package signing

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	vault "github.com/hashicorp/vault/api"
	"google.golang.org/protobuf/proto"

	"github.com/kubedevaiops/kubedevaiops/api/directive"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// Defaults of a VaultSigner.
const (
	DefaultTransitMount = "transit"
	DefaultTransitKey   = "kubedevaiops-directives"
	// DefaultKeyRefresh is how long the transit key's public keys are cached before PublicKeys
	// reads them again (a new version also shows as soon as a signature names it).
	DefaultKeyRefresh = 5 * time.Minute
)

// VaultConfig configures a VaultSigner.
type VaultConfig struct {
	// Client talks to Vault, authenticated; it needs update on <mount>/sign/<key> and read on
	// <mount>/keys/<key> (and update there with CreateKey).
	Client *vault.Client
	// Mount is the transit engine's mount path; DefaultTransitMount when empty.
	Mount string
	// Key is the transit key's name; DefaultTransitKey when empty.
	Key string
	// CreateKey creates the key, of type ed25519, when it does not exist; otherwise a missing
	// key is an error.
	CreateKey bool
	// KeyRefresh bounds how long public keys are cached; DefaultKeyRefresh when zero.
	KeyRefresh time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// VaultSigner signs with an ed25519 key of Vault's transit engine; the private key never leaves
// Vault. Safe for concurrent use.
type VaultSigner struct {
	client     *vault.Client
	mount, key string
	refresh    time.Duration
	now        func() time.Time

	mu      sync.Mutex
	keys    map[int]*fleetv1.DirectiveKey // by transit key version
	fetched time.Time
}

// NewVault returns a signer on the transit key cfg names, after checking that the key exists
// (creating it when cfg.CreateKey) and is an ed25519 key.
func NewVault(ctx context.Context, cfg VaultConfig) (*VaultSigner, error) {
	if cfg.Client == nil {
		return nil, errors.New("vault signer: no Vault client")
	}
	s := &VaultSigner{client: cfg.Client, mount: strings.Trim(cfg.Mount, "/"), key: cfg.Key, refresh: cfg.KeyRefresh, now: cfg.Now}
	if s.mount == "" {
		s.mount = DefaultTransitMount
	}
	if s.key == "" {
		s.key = DefaultTransitKey
	}
	if strings.Contains(s.key, "/") {
		return nil, fmt.Errorf("vault signer: transit key name %q has a slash", s.key)
	}
	if s.refresh <= 0 {
		s.refresh = DefaultKeyRefresh
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.fetchLocked(ctx)
	if errors.Is(err, errNoKey) && cfg.CreateKey {
		if _, err = s.client.Logical().WriteWithContext(ctx, s.keyPath(), map[string]any{"type": "ed25519"}); err != nil {
			return nil, fmt.Errorf("vault signer: create ed25519 transit key %s: %w", s.keyPath(), err)
		}
		err = s.fetchLocked(ctx)
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

var errNoKey = errors.New("no such transit key")

func (s *VaultSigner) keyPath() string { return s.mount + "/keys/" + s.key }

// fetchLocked reads the key's versions and their public keys.
func (s *VaultSigner) fetchLocked(ctx context.Context) error {
	sec, err := s.client.Logical().ReadWithContext(ctx, s.keyPath())
	if err != nil {
		return fmt.Errorf("vault signer: read transit key %s: %w", s.keyPath(), err)
	}
	if sec == nil || sec.Data == nil {
		return fmt.Errorf("vault signer: transit key %s: %w (create it with type ed25519, or let the hub create it)", s.keyPath(), errNoKey)
	}
	if t, _ := sec.Data["type"].(string); t != "ed25519" {
		return fmt.Errorf("vault signer: transit key %s is of type %q; directives need an ed25519 key", s.keyPath(), t)
	}
	versions, ok := sec.Data["keys"].(map[string]any)
	if !ok || len(versions) == 0 {
		return fmt.Errorf("vault signer: transit key %s lists no key versions", s.keyPath())
	}
	keys := make(map[int]*fleetv1.DirectiveKey, len(versions))
	for v, raw := range versions {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return fmt.Errorf("vault signer: transit key %s: version %q is not a positive number", s.keyPath(), v)
		}
		entry, _ := raw.(map[string]any)
		b64, _ := entry["public_key"].(string)
		pub, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(pub) != ed25519.PublicKeySize {
			return fmt.Errorf("vault signer: transit key %s version %d: public key is not a base64 ed25519 key", s.keyPath(), n)
		}
		keys[n] = directive.NewKey(pub)
	}
	s.keys, s.fetched = keys, s.now()
	return nil
}

// Sign implements Signer with transit/sign: pure ed25519 over the payload, with the key's
// latest version.
func (s *VaultSigner) Sign(ctx context.Context, payload []byte) (*fleetv1.SignedDirective, error) {
	if err := checkPayload(payload); err != nil {
		return nil, err
	}
	path := s.mount + "/sign/" + s.key
	sec, err := s.client.Logical().WriteWithContext(ctx, path, map[string]any{"input": base64.StdEncoding.EncodeToString(payload)})
	if err != nil {
		return nil, fmt.Errorf("vault signer: sign with %s: %w", path, err)
	}
	if sec == nil || sec.Data == nil {
		return nil, fmt.Errorf("vault signer: sign with %s: Vault returned no signature", path)
	}
	out, _ := sec.Data["signature"].(string)
	version, sig, err := parseTransitSignature(out)
	if err != nil {
		return nil, fmt.Errorf("vault signer: sign with %s: %w", path, err)
	}
	key, err := s.keyVersion(ctx, version)
	if err != nil {
		return nil, err
	}
	return &fleetv1.SignedDirective{Payload: payload, Signature: sig, KeyId: key.GetKeyId(), Algorithm: directive.Algorithm}, nil
}

// parseTransitSignature splits Vault's "vault:v<N>:<base64>" into the key version and the raw
// signature.
func parseTransitSignature(s string) (int, []byte, error) {
	parts := strings.SplitN(s, ":", 3)
	if len(parts) != 3 || parts[0] != "vault" || !strings.HasPrefix(parts[1], "v") {
		return 0, nil, errors.New(`signature is not of the form "vault:v<version>:<base64>"`)
	}
	version, err := strconv.Atoi(parts[1][1:])
	if err != nil || version <= 0 {
		return 0, nil, fmt.Errorf("signature names key version %q", parts[1])
	}
	sig, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil {
		return 0, nil, fmt.Errorf("signature is not base64: %v", err)
	}
	if len(sig) != ed25519.SignatureSize {
		return 0, nil, fmt.Errorf("signature is %d bytes, an ed25519 signature is %d", len(sig), ed25519.SignatureSize)
	}
	return version, sig, nil
}

// keyVersion returns the public key of one version, reading the key again when the version is
// new to this signer.
func (s *VaultSigner) keyVersion(ctx context.Context, version int) (*fleetv1.DirectiveKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k, ok := s.keys[version]; ok {
		return k, nil
	}
	if err := s.fetchLocked(ctx); err != nil {
		return nil, err
	}
	if k, ok := s.keys[version]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("vault signer: transit key %s signed with version %d, which it does not list", s.keyPath(), version)
}

// PublicKeys implements Signer: every version the transit key lists, newest first.
func (s *VaultSigner) PublicKeys(ctx context.Context) ([]*fleetv1.DirectiveKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.now().Sub(s.fetched) >= s.refresh {
		if err := s.fetchLocked(ctx); err != nil {
			return nil, err
		}
	}
	versions := make([]int, 0, len(s.keys))
	for v := range s.keys {
		versions = append(versions, v)
	}
	sort.Sort(sort.Reverse(sort.IntSlice(versions)))
	out := make([]*fleetv1.DirectiveKey, len(versions))
	for i, v := range versions {
		out[i] = proto.CloneOf(s.keys[v])
	}
	return out, nil
}
