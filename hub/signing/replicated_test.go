package signing

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kubedevaiops/kubedevaiops/api/directive"
	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/store"
	"github.com/kubedevaiops/kubedevaiops/hub/writes"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
	"github.com/kubedevaiops/kubedevaiops/test/testbed"
)

func randomKEK(t *testing.T) []byte {
	k := make([]byte, KEKSize)
	_, err := rand.Read(k)
	require.NoError(t, err)
	return k
}

func testPayload(t *testing.T, actionID string) []byte {
	now := time.Now()
	nonce := make([]byte, 16)
	_, err := rand.Read(nonce)
	require.NoError(t, err)
	b, err := directive.EncodePayload(&fleetv1.DirectivePayload{
		ActionId: actionID, Audience: "prod-1", ActionType: "RestartWorkload",
		Target:   &fleetv1.ObjectRef{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "shop", Name: "web"},
		IssuedAt: timestamppb.New(now), ExpiresAt: timestamppb.New(now.Add(time.Minute)), Nonce: nonce, PolicyName: "default",
	})
	require.NoError(t, err)
	return b
}

// verifyWith checks sd against the listed keys as a spoke would: by key id, then signature.
func verifyWith(t *testing.T, sd *fleetv1.SignedDirective, keys []*fleetv1.DirectiveKey) {
	t.Helper()
	for _, k := range keys {
		if k.GetKeyId() != sd.GetKeyId() {
			continue
		}
		pub, err := directive.PublicKey(k)
		require.NoError(t, err)
		require.NoError(t, directive.Verify(sd, pub))
		return
	}
	t.Fatalf("key %q is not among the published keys", sd.GetKeyId())
}

func newReplicated(t *testing.T, m *testbed.InProcessMember, kek []byte) *ReplicatedSigner {
	s, err := NewReplicated(ReplicatedConfig{Node: m.Node, Store: m.Store, KEK: kek})
	require.NoError(t, err)
	return s
}

func TestReplicatedSigner(t *testing.T) {
	h := testbed.NewInProcessHub(t)
	m1 := h.Start("m1", nil, nil)
	m2 := h.Start("m2", m1, nil)
	kek := randomKEK(t)
	ctx := context.Background()

	// Members race for the first key: several signers on each member ask at once.
	var wg sync.WaitGroup
	ids := make([]string, 8)
	errs := make([]error, len(ids))
	for i := range ids {
		m := m1
		if i%2 == 1 {
			m = m2
		}
		s := newReplicated(t, m, kek)
		wg.Go(func() {
			keys, err := s.PublicKeys(ctx)
			errs[i] = err
			if err == nil && len(keys) == 1 {
				ids[i] = keys[0].GetKeyId()
			}
		})
	}
	wg.Wait()
	for i := range ids {
		require.NoError(t, errs[i])
		assert.Equal(t, ids[0], ids[i], "every signer ends with the one key")
	}
	require.NoError(t, m2.Node.ReadBarrier(ctx))
	stored, _, err := m2.Store.List(hubv1alpha1.KindSigningKey, "", "")
	require.NoError(t, err)
	require.Len(t, stored, 1)
	var sk hubv1alpha1.SigningKey
	require.NoError(t, stored[0].Decode(&sk))
	assert.Equal(t, ids[0], sk.Spec.KeyID)
	assert.Len(t, sk.Spec.PublicKey, ed25519.PublicKeySize)
	assert.NotContains(t, string(stored[0].Object), base64.StdEncoding.EncodeToString(kek), "the KEK is never stored")
	audit, _ := m2.Store.ListAudit(0, 0)
	var creates int
	for _, a := range audit {
		if a.Action == "signingkey.create" {
			creates++
			assert.Equal(t, "SigningKey/"+DefaultKeyName, a.Target)
		}
	}
	assert.Equal(t, 1, creates, "one key created, one audit record")

	t.Run("signatures from any member verify with the published key", func(t *testing.T) {
		for _, m := range []*testbed.InProcessMember{m1, m2} {
			s := newReplicated(t, m, kek) // a fresh signer, as after a restart, reads the stored key
			sd, err := s.Sign(ctx, testPayload(t, "act-"+m.Node.ID()))
			require.NoError(t, err)
			assert.Equal(t, directive.Algorithm, sd.GetAlgorithm())
			assert.Equal(t, ids[0], sd.GetKeyId())
			keys, err := newReplicated(t, m1, kek).PublicKeys(ctx)
			require.NoError(t, err)
			verifyWith(t, sd, keys)
		}
	})

	t.Run("a malformed payload is not signed", func(t *testing.T) {
		_, err := newReplicated(t, m1, kek).Sign(ctx, []byte("not a directive"))
		assert.ErrorIs(t, err, directive.ErrMalformed)
	})

	t.Run("a wrong KEK is an error, never a new key", func(t *testing.T) {
		_, err := newReplicated(t, m2, randomKEK(t)).PublicKeys(ctx)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "sealed under key-encryption key "+kekID(kek))
		assert.Contains(t, err.Error(), "give every hub member the same key-encryption key")
		again, _, err := m2.Store.List(hubv1alpha1.KindSigningKey, "", "")
		require.NoError(t, err)
		require.Len(t, again, 1)
		assert.Equal(t, stored[0].ResourceVersion, again[0].ResourceVersion, "the stored key is untouched")
	})

	t.Run("a damaged sealed key is an error", func(t *testing.T) {
		res, err := m1.Store.Get(hubv1alpha1.KindSigningKey, "", DefaultKeyName)
		require.NoError(t, err)
		var k hubv1alpha1.SigningKey
		require.NoError(t, res.Decode(&k))
		k.Spec.SealedPrivateKey[len(k.Spec.SealedPrivateKey)-1] ^= 1
		k.Name = "damaged"
		cmd, err := store.EncodeCreate(hubv1alpha1.KindSigningKey, &k)
		require.NoError(t, err)
		_, err = writes.One(ctx, m1.Node, cmd)
		require.NoError(t, err)
		s, err := NewReplicated(ReplicatedConfig{Node: m2.Node, Store: m2.Store, KEK: kek, Name: "damaged"})
		require.NoError(t, err)
		_, err = s.PublicKeys(ctx)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "does not open with this key-encryption key")
	})
}

func TestNewReplicatedChecksKEK(t *testing.T) {
	h := testbed.NewInProcessHub(t)
	m := h.Start("m1", nil, nil)
	_, err := NewReplicated(ReplicatedConfig{Node: m.Node, Store: m.Store, KEK: make([]byte, 16)})
	assert.ErrorContains(t, err, "16 bytes, want 32")
	_, err = NewReplicated(ReplicatedConfig{KEK: randomKEK(t)})
	assert.Error(t, err)
}

func TestLoadKEK(t *testing.T) {
	kek := randomKEK(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}
	got, err := LoadKEK(write("good", base64.StdEncoding.EncodeToString(kek)+"\n"))
	require.NoError(t, err)
	assert.Equal(t, kek, got)

	tests := []struct{ name, content, want string }{
		{"short", base64.StdEncoding.EncodeToString(kek[:31]), "holds 31 bytes, want 32"},
		{"long", base64.StdEncoding.EncodeToString(append(kek, 0)), "holds 33 bytes, want 32"},
		{"raw bytes", string(kek), "is not base64"},
		{"empty", "", "holds 0 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadKEK(write(tt.name, tt.content))
			assert.ErrorContains(t, err, tt.want)
		})
	}
	_, err = LoadKEK(filepath.Join(dir, "missing"))
	assert.ErrorContains(t, err, "key-encryption key")
}

func TestSealBindsKeyID(t *testing.T) {
	kek := randomKEK(t)
	sealed, err := seal(kek, []byte("seed"), []byte("id-1"))
	require.NoError(t, err)
	out, err := unseal(kek, sealed, []byte("id-1"))
	require.NoError(t, err)
	assert.Equal(t, []byte("seed"), out)
	_, err = unseal(kek, sealed, []byte("id-2"))
	assert.ErrorIs(t, err, errUnseal, "a sealed key moved to another id does not open")
	_, err = unseal(randomKEK(t), sealed, []byte("id-1"))
	assert.ErrorIs(t, err, errUnseal)
	_, err = unseal(kek, sealed[:10], []byte("id-1"))
	assert.ErrorIs(t, err, errUnseal)
}
