package signing

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// KEKSize is the size of a key-encryption key: AES-256.
const KEKSize = 32

// LoadKEK reads a key-encryption key file: the base64 (standard alphabet, padded) encoding of
// exactly 32 random bytes, surrounding whitespace allowed, e.g. made by
// `head -c 32 /dev/urandom | base64 > kek`. Every hub member must be given the same file.
func LoadKEK(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("key-encryption key: %w", err)
	}
	kek, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("key-encryption key %s is not base64: give the base64 of %d random bytes, e.g. `head -c %d /dev/urandom | base64`", path, KEKSize, KEKSize)
	}
	if len(kek) != KEKSize {
		return nil, fmt.Errorf("key-encryption key %s holds %d bytes, want %d: give the base64 of %d random bytes, e.g. `head -c %d /dev/urandom | base64`", path, len(kek), KEKSize, KEKSize, KEKSize)
	}
	return kek, nil
}

// kekID names a KEK without revealing it: a domain-separated SHA-256 digest, shortened.
func kekID(kek []byte) string {
	h := sha256.New()
	h.Write([]byte("kubedevaiops key-encryption key id\x00"))
	h.Write(kek)
	return hex.EncodeToString(h.Sum(nil)[:8])
}

func newGCM(kek []byte) (cipher.AEAD, error) {
	if len(kek) != KEKSize {
		return nil, fmt.Errorf("key-encryption key is %d bytes, want %d", len(kek), KEKSize)
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// seal encrypts plaintext with AES-256-GCM under kek, bound to aad: nonce || ciphertext || tag.
func seal(kek, plaintext, aad []byte) ([]byte, error) {
	gcm, err := newGCM(kek)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return gcm.Seal(nonce, nonce, plaintext, aad), nil
}

var errUnseal = errors.New("the sealed key does not open with this key-encryption key")

// unseal reverses seal.
func unseal(kek, sealed, aad []byte) ([]byte, error) {
	gcm, err := newGCM(kek)
	if err != nil {
		return nil, err
	}
	if len(sealed) < gcm.NonceSize()+gcm.Overhead() {
		return nil, errUnseal
	}
	n := gcm.NonceSize()
	out, err := gcm.Open(nil, sealed[:n], sealed[n:], aad)
	if err != nil {
		return nil, errUnseal
	}
	return out, nil
}
