package secrets

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// KeyPath is the KV v2 path of a provider's secret, as Vault's API names it.
func (v *Vault) KeyPath(provider string) string {
	return v.cfg.KV.Mount + "/data/" + v.cfg.KV.Path + "/" + provider
}

// Key returns the API key of an AI provider: field KV.Field of the KV v2 secret
// KeyPath(provider), latest version. A key is served from memory for KV.CacheTTL, then read
// again, so a new version written to Vault is in use within that time without a restart; a
// caller whose key was refused upstream can call Invalidate to read it at once. Every error means
// "no key now" and the caller answers with the built-in engine: ErrUnavailable (Vault down,
// login failed), ErrNotFound, ErrDenied, ErrClosed. An expired key is not served while Vault is
// unavailable.
func (v *Vault) Key(ctx context.Context, provider string) (Secret, error) {
	if !validName(provider) {
		return Secret{}, fmt.Errorf("provider key: %q is not a provider name (letters, digits, '-', '_', '.')", provider)
	}
	if v.ctx.Err() != nil {
		return Secret{}, ErrClosed
	}
	now := time.Now()
	v.mu.Lock()
	c, cached := v.keys[provider]
	v.mu.Unlock()
	if cached && now.Sub(c.readAt) < v.cfg.KV.CacheTTL {
		return c.secret, nil
	}
	secret, version, err := v.readKey(ctx, provider)
	if err != nil {
		return Secret{}, err
	}
	v.mu.Lock()
	prev, had := v.keys[provider]
	v.keys[provider] = cachedKey{secret: secret, version: version, readAt: now}
	v.mu.Unlock()
	if had && prev.version != version {
		v.log.Info("provider key has a new version", "provider", provider, "path", v.KeyPath(provider),
			"version", version, "previous", prev.version)
	}
	return secret, nil
}

// Invalidate drops the cached key of provider, so the next Key reads Vault.
func (v *Vault) Invalidate(provider string) {
	v.mu.Lock()
	delete(v.keys, provider)
	v.mu.Unlock()
}

// readKey reads the latest version of the provider's secret, logging in first when needed and
// once more when Vault rejects the token.
func (v *Vault) readKey(ctx context.Context, provider string) (Secret, int, error) {
	path := v.KeyPath(provider)
	for attempt := 0; ; attempt++ {
		if err := v.Login(ctx); err != nil {
			return Secret{}, 0, err
		}
		gen, _, _ := v.current()
		s, err := v.client.Logical().ReadWithContext(ctx, path)
		if err != nil {
			switch classify(ctx, err) {
			case failRejected:
				if attempt == 0 { // perhaps a token Vault forgot: log in again and retry once
					v.markStale(gen)
					continue
				}
				return Secret{}, 0, v.fail(fmt.Sprintf("read provider key %q at %s: permission denied (check the policy of the hub's Vault role, %s): %s",
					provider, path, v.where(), v.scrub(describe(err))), ErrDenied)
			case failContext:
				return Secret{}, 0, v.fail(fmt.Sprintf("read provider key %q at %s: %s", provider, path, ctx.Err()), ErrUnavailable, ctx.Err())
			case failNotFound:
				return Secret{}, 0, v.fail(fmt.Sprintf("read provider key %q: no secret at %s", provider, path), ErrNotFound)
			case failRefused:
				return Secret{}, 0, v.fail(fmt.Sprintf("read provider key %q at %s: %s", provider, path, v.scrub(describe(err))), ErrDenied)
			default:
				return Secret{}, 0, v.fail(fmt.Sprintf("vault at %s unreachable: %s (reading provider key %q at %s)",
					v.cfg.Address, v.unreachable(err), provider, path), ErrUnavailable)
			}
		}
		if s == nil || s.Data == nil {
			return Secret{}, 0, v.fail(fmt.Sprintf("read provider key %q: no secret at %s", provider, path), ErrNotFound)
		}
		version := metadataVersion(s.Data["metadata"])
		data, _ := s.Data["data"].(map[string]any)
		if data == nil { // the latest version was deleted or destroyed
			return Secret{}, 0, v.fail(fmt.Sprintf("read provider key %q: version %d at %s is deleted", provider, version, path), ErrNotFound)
		}
		value, _ := data[v.cfg.KV.Field].(string)
		if value == "" {
			return Secret{}, 0, v.fail(fmt.Sprintf("read provider key %q: version %d at %s has no string field %q",
				provider, version, path, v.cfg.KV.Field), ErrNotFound)
		}
		v.remember(value)
		return NewSecret(value), version, nil
	}
}

// metadataVersion is the version number of a KV v2 read's metadata; 0 when absent.
func metadataVersion(m any) int {
	meta, _ := m.(map[string]any)
	switch n := meta["version"].(type) {
	case json.Number:
		i, _ := strconv.Atoi(n.String())
		return i
	case float64:
		return int(n)
	}
	return 0
}
