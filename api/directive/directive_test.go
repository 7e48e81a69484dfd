package directive

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

func newKey(t *testing.T) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	return pub, priv
}

func validPayload() *fleetv1.DirectivePayload {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	return &fleetv1.DirectivePayload{
		ActionId: "act-1", Audience: "prod-eu-1", ActionType: string(aiopsv1alpha1.ActionRollbackWorkload),
		Target:         &fleetv1.ObjectRef{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "shop", Name: "web"},
		ParametersJson: []byte(`{"revision":3}`),
		IssuedAt:       timestamppb.New(now), ExpiresAt: timestamppb.New(now.Add(5 * time.Minute)),
		Nonce: make([]byte, 16), PolicyName: "default", Issuer: "hub-1",
		TraceContext: &fleetv1.TraceContext{Traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
	}
}

func TestKeyID(t *testing.T) {
	pub, _ := newKey(t)
	sum := sha256.Sum256(pub)
	id := KeyID(pub)
	assert.Equal(t, hex.EncodeToString(sum[:16]), id)
	assert.Len(t, id, 32)
	other, _ := newKey(t)
	assert.NotEqual(t, id, KeyID(other))

	k := NewKey(pub)
	assert.Equal(t, Algorithm, k.GetAlgorithm())
	got, err := PublicKey(k)
	require.NoError(t, err)
	assert.Equal(t, pub, got)
}

func TestPublicKeyRefusesBadKeys(t *testing.T) {
	pub, _ := newKey(t)
	other, _ := newKey(t)
	tests := []struct {
		name string
		key  *fleetv1.DirectiveKey
		want error
	}{
		{"nil", nil, ErrInvalidKey},
		{"other algorithm", &fleetv1.DirectiveKey{KeyId: KeyID(pub), Algorithm: "rsa", PublicKey: pub}, ErrUnsupportedAlgorithm},
		{"short key", &fleetv1.DirectiveKey{KeyId: KeyID(pub), Algorithm: Algorithm, PublicKey: pub[:31]}, ErrInvalidKey},
		{"id of another key", &fleetv1.DirectiveKey{KeyId: KeyID(other), Algorithm: Algorithm, PublicKey: pub}, ErrInvalidKey},
		{"no id", &fleetv1.DirectiveKey{Algorithm: Algorithm, PublicKey: pub}, ErrInvalidKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := PublicKey(tt.key)
			assert.ErrorIs(t, err, tt.want)
		})
	}
}

func TestVerify(t *testing.T) {
	pub, priv := newKey(t)
	other, _ := newKey(t)
	payload, err := EncodePayload(validPayload())
	require.NoError(t, err)
	good := &fleetv1.SignedDirective{Payload: payload, Signature: ed25519.Sign(priv, payload), KeyId: KeyID(pub), Algorithm: Algorithm}
	require.NoError(t, Verify(good, pub))

	flipped := append([]byte(nil), payload...)
	flipped[len(flipped)-1] ^= 1
	tests := []struct {
		name string
		sd   *fleetv1.SignedDirective
		pub  ed25519.PublicKey
		want error
	}{
		{"nil", nil, pub, ErrMalformed},
		{"no payload", &fleetv1.SignedDirective{Signature: good.Signature, Algorithm: Algorithm}, pub, ErrMalformed},
		{"other algorithm", &fleetv1.SignedDirective{Payload: payload, Signature: good.Signature, Algorithm: "ed448"}, pub, ErrUnsupportedAlgorithm},
		{"no algorithm", &fleetv1.SignedDirective{Payload: payload, Signature: good.Signature}, pub, ErrUnsupportedAlgorithm},
		{"unsigned", &fleetv1.SignedDirective{Payload: payload, Algorithm: Algorithm}, pub, ErrSignatureInvalid},
		{"changed payload", &fleetv1.SignedDirective{Payload: flipped, Signature: good.Signature, Algorithm: Algorithm}, pub, ErrSignatureInvalid},
		{"other key", good, other, ErrSignatureInvalid},
		{"truncated key", good, pub[:16], ErrInvalidKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.ErrorIs(t, Verify(tt.sd, tt.pub), tt.want)
		})
	}
}

func TestDecodePayloadRoundTrip(t *testing.T) {
	want := validPayload()
	b, err := EncodePayload(want)
	require.NoError(t, err)
	again, err := EncodePayload(want)
	require.NoError(t, err)
	assert.Equal(t, b, again, "deterministic")
	got, err := DecodePayload(b)
	require.NoError(t, err)
	assert.True(t, proto.Equal(want, got))
}

func TestDecodePayloadIsStrict(t *testing.T) {
	encode := func(p *fleetv1.DirectivePayload) []byte {
		b, err := proto.Marshal(p)
		require.NoError(t, err)
		return b
	}
	valid := encode(validPayload())
	// A field number DirectivePayload does not define, at the top and inside the target.
	unknownTop := protowire.AppendString(protowire.AppendTag(append([]byte(nil), valid...), 99, protowire.BytesType), "x")
	withUnknownTarget := validPayload()
	withUnknownTarget.Target.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 42, protowire.VarintType), 1))

	with := func(f func(p *fleetv1.DirectivePayload)) []byte {
		p := validPayload()
		f(p)
		return encode(p)
	}
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"not protobuf", []byte{0xff, 0xff, 0xff}},
		{"unknown field", unknownTop},
		{"unknown field in target", encode(withUnknownTarget)},
		{"no action id", with(func(p *fleetv1.DirectivePayload) { p.ActionId = "" })},
		{"action id with a space", with(func(p *fleetv1.DirectivePayload) { p.ActionId = "a b" })},
		{"action id too long", with(func(p *fleetv1.DirectivePayload) { p.ActionId = string(make([]byte, MaxActionIDLength+1)) })},
		{"no audience", with(func(p *fleetv1.DirectivePayload) { p.Audience = "" })},
		{"no action type", with(func(p *fleetv1.DirectivePayload) { p.ActionType = "" })},
		{"no policy", with(func(p *fleetv1.DirectivePayload) { p.PolicyName = "" })},
		{"no issue time", with(func(p *fleetv1.DirectivePayload) { p.IssuedAt = nil })},
		{"no expiry", with(func(p *fleetv1.DirectivePayload) { p.ExpiresAt = nil })},
		{"expiry before issue", with(func(p *fleetv1.DirectivePayload) {
			p.ExpiresAt = timestamppb.New(p.IssuedAt.AsTime().Add(-time.Second))
		})},
		{"short nonce", with(func(p *fleetv1.DirectivePayload) { p.Nonce = make([]byte, MinNonceSize-1) })},
		{"long nonce", with(func(p *fleetv1.DirectivePayload) { p.Nonce = make([]byte, MaxNonceSize+1) })},
		{"parameters not an object", with(func(p *fleetv1.DirectivePayload) { p.ParametersJson = []byte(`[1]`) })},
		{"parameters null", with(func(p *fleetv1.DirectivePayload) { p.ParametersJson = []byte(`null`) })},
		{"parameters not JSON", with(func(p *fleetv1.DirectivePayload) { p.ParametersJson = []byte(`{`) })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodePayload(tt.b)
			assert.ErrorIs(t, err, ErrMalformed)
		})
	}
	_, err := EncodePayload(&fleetv1.DirectivePayload{ActionId: "x"})
	assert.ErrorIs(t, err, ErrMalformed, "the signer refuses what the spoke would")
}

func TestDisruptive(t *testing.T) {
	want := map[aiopsv1alpha1.ActionType]bool{
		aiopsv1alpha1.ActionRestartWorkload: true, aiopsv1alpha1.ActionRollbackWorkload: true,
		aiopsv1alpha1.ActionSetResources: true, aiopsv1alpha1.ActionDeletePod: true, aiopsv1alpha1.ActionApplyManifests: true,
		aiopsv1alpha1.ActionScaleWorkload: false, aiopsv1alpha1.ActionPatchHPA: false,
	}
	require.Len(t, want, len(aiopsv1alpha1.AllActionTypes), "every action type is classified here")
	for _, a := range aiopsv1alpha1.AllActionTypes {
		assert.Equal(t, want[a], Disruptive(string(a)), a)
	}
	assert.True(t, Disruptive("SomethingNew"), "unknown types are disruptive")
}
