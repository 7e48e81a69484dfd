package directive

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"unicode"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// Algorithm is the only signature algorithm defined for directives: pure Ed25519 over the
// payload bytes (RFC 8032, no pre-hash, no context).
const Algorithm = "ed25519"

// Limits a payload must keep to.
const (
	// MaxPayloadSize bounds a serialized payload; manifests to apply are the largest part.
	MaxPayloadSize = 4 << 20
	// MaxActionIDLength bounds an action id, so the spoke's ledger stays small.
	MaxActionIDLength = 253
	// MinNonceSize and MaxNonceSize bound the random nonce.
	MinNonceSize, MaxNonceSize = 16, 64
)

// Errors the functions of this package wrap; test with errors.Is.
var (
	// ErrMalformed: the envelope or the payload is not a well-formed directive.
	ErrMalformed = errors.New("malformed directive")
	// ErrUnsupportedAlgorithm: the directive or key names an algorithm other than Algorithm.
	ErrUnsupportedAlgorithm = errors.New("unsupported signature algorithm")
	// ErrSignatureInvalid: the signature does not verify over the payload with the key.
	ErrSignatureInvalid = errors.New("signature does not verify")
	// ErrInvalidKey: a DirectiveKey is not a usable ed25519 key, or its id does not match it.
	ErrInvalidKey = errors.New("invalid directive key")
)

// KeyID derives the id of an ed25519 public key: the first 16 bytes of its SHA-256, in
// lowercase hex (32 characters). Deriving rather than choosing ids means a key id pins its key.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:16])
}

// NewKey describes pub as a DirectiveKey, with its derived id.
func NewKey(pub ed25519.PublicKey) *fleetv1.DirectiveKey {
	return &fleetv1.DirectiveKey{KeyId: KeyID(pub), Algorithm: Algorithm, PublicKey: append([]byte(nil), pub...)}
}

// PublicKey returns the ed25519 key of k after checking its algorithm, its length and that its
// id is the one derived from it.
func PublicKey(k *fleetv1.DirectiveKey) (ed25519.PublicKey, error) {
	if k == nil {
		return nil, fmt.Errorf("%w: nil", ErrInvalidKey)
	}
	if k.GetAlgorithm() != Algorithm {
		return nil, fmt.Errorf("%w: key %q has algorithm %q, want %q", ErrUnsupportedAlgorithm, k.GetKeyId(), k.GetAlgorithm(), Algorithm)
	}
	if len(k.GetPublicKey()) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: key %q is %d bytes, an ed25519 public key is %d", ErrInvalidKey, k.GetKeyId(), len(k.GetPublicKey()), ed25519.PublicKeySize)
	}
	pub := ed25519.PublicKey(append([]byte(nil), k.GetPublicKey()...))
	if id := KeyID(pub); id != k.GetKeyId() {
		return nil, fmt.Errorf("%w: key id %q does not match its public key (whose id is %q)", ErrInvalidKey, k.GetKeyId(), id)
	}
	return pub, nil
}

// Verify checks that sd is an ed25519 signature by pub over sd.payload exactly as carried. It
// does not look at key_id: the caller picks pub by it.
func Verify(sd *fleetv1.SignedDirective, pub ed25519.PublicKey) error {
	if sd == nil || len(sd.GetPayload()) == 0 {
		return fmt.Errorf("%w: no payload", ErrMalformed)
	}
	if sd.GetAlgorithm() != Algorithm {
		return fmt.Errorf("%w: %q, want %q", ErrUnsupportedAlgorithm, sd.GetAlgorithm(), Algorithm)
	}
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: public key is %d bytes, want %d", ErrInvalidKey, len(pub), ed25519.PublicKeySize)
	}
	if len(sd.GetSignature()) != ed25519.SignatureSize {
		return fmt.Errorf("%w: signature is %d bytes, an ed25519 signature is %d", ErrSignatureInvalid, len(sd.GetSignature()), ed25519.SignatureSize)
	}
	if !ed25519.Verify(pub, sd.GetPayload(), sd.GetSignature()) {
		return fmt.Errorf("%w with key %q", ErrSignatureInvalid, sd.GetKeyId())
	}
	return nil
}

var marshalOpts = proto.MarshalOptions{Deterministic: true}

// EncodePayload checks p as DecodePayload would and serializes it, deterministically, for
// signing.
func EncodePayload(p *fleetv1.DirectivePayload) ([]byte, error) {
	if err := Validate(p); err != nil {
		return nil, err
	}
	b, err := marshalOpts.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("%w: encoding: %v", ErrMalformed, err)
	}
	if len(b) > MaxPayloadSize {
		return nil, fmt.Errorf("%w: payload is %d bytes, limit %d", ErrMalformed, len(b), MaxPayloadSize)
	}
	return b, nil
}

// DecodePayload strictly decodes a serialized DirectivePayload: a field this version does not
// know, anywhere in the message, makes it malformed (it might carry a restriction the spoke would
// then ignore), and so does a missing or out-of-range required field (see Validate).
func DecodePayload(b []byte) (*fleetv1.DirectivePayload, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty payload", ErrMalformed)
	}
	if len(b) > MaxPayloadSize {
		return nil, fmt.Errorf("%w: payload is %d bytes, limit %d", ErrMalformed, len(b), MaxPayloadSize)
	}
	p := &fleetv1.DirectivePayload{}
	if err := proto.Unmarshal(b, p); err != nil {
		return nil, fmt.Errorf("%w: payload does not decode: %v", ErrMalformed, err)
	}
	if path := unknownFields(p.ProtoReflect(), "payload"); path != "" {
		return nil, fmt.Errorf("%w: %s has fields this version does not know", ErrMalformed, path)
	}
	if err := Validate(p); err != nil {
		return nil, err
	}
	return p, nil
}

// unknownFields returns the path of the first message under m that holds unknown fields, or "".
func unknownFields(m protoreflect.Message, path string) string {
	if len(m.GetUnknown()) > 0 {
		return path
	}
	var found string
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Message() == nil || fd.IsList() || fd.IsMap() {
			return true // DirectivePayload has no repeated message fields
		}
		found = unknownFields(v.Message(), path+"."+string(fd.Name()))
		return found == ""
	})
	return found
}

// Validate checks the fields every directive needs: action_id (at most MaxActionIDLength
// bytes, no spaces or control characters), audience, action_type, policy_name, issued_at
// and expires_at (valid, expiry after issue), a nonce of MinNonceSize to MaxNonceSize bytes,
// and parameters_json, when set, a JSON object.
func Validate(p *fleetv1.DirectivePayload) error {
	if p == nil {
		return fmt.Errorf("%w: no payload", ErrMalformed)
	}
	id := p.GetActionId()
	switch {
	case id == "":
		return fmt.Errorf("%w: action_id is empty", ErrMalformed)
	case len(id) > MaxActionIDLength:
		return fmt.Errorf("%w: action_id is %d bytes, limit %d", ErrMalformed, len(id), MaxActionIDLength)
	}
	for _, r := range id {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return fmt.Errorf("%w: action_id %q has a space or control character", ErrMalformed, id)
		}
	}
	for _, f := range []struct{ name, v string }{
		{"audience", p.GetAudience()}, {"action_type", p.GetActionType()}, {"policy_name", p.GetPolicyName()},
	} {
		if f.v == "" {
			return fmt.Errorf("%w: action %s: %s is empty", ErrMalformed, id, f.name)
		}
	}
	if err := p.GetIssuedAt().CheckValid(); err != nil {
		return fmt.Errorf("%w: action %s: issued_at: %v", ErrMalformed, id, err)
	}
	if err := p.GetExpiresAt().CheckValid(); err != nil {
		return fmt.Errorf("%w: action %s: expires_at: %v", ErrMalformed, id, err)
	}
	if !p.GetExpiresAt().AsTime().After(p.GetIssuedAt().AsTime()) {
		return fmt.Errorf("%w: action %s: expires_at %s is not after issued_at %s", ErrMalformed, id,
			p.GetExpiresAt().AsTime().Format("2006-01-02T15:04:05Z07:00"), p.GetIssuedAt().AsTime().Format("2006-01-02T15:04:05Z07:00"))
	}
	if n := len(p.GetNonce()); n < MinNonceSize || n > MaxNonceSize {
		return fmt.Errorf("%w: action %s: nonce is %d bytes, want %d to %d", ErrMalformed, id, n, MinNonceSize, MaxNonceSize)
	}
	if raw := p.GetParametersJson(); len(raw) > 0 {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
			return fmt.Errorf("%w: action %s: parameters_json is not a JSON object", ErrMalformed, id)
		}
	}
	return nil
}

// Disruptive reports whether an action type interrupts running workloads, and so may run only
// inside a policy's maintenance windows: it replaces or kills running pods (RestartWorkload,
// RollbackWorkload, SetResources, DeletePod) or changes arbitrary objects (ApplyManifests).
// ScaleWorkload and PatchHPA change capacity without replacing the pods that serve, and run at
// any time. An action type this version does not know counts as disruptive.
func Disruptive(actionType string) bool {
	switch aiopsv1alpha1.ActionType(actionType) {
	case aiopsv1alpha1.ActionScaleWorkload, aiopsv1alpha1.ActionPatchHPA:
		return false
	default:
		return true
	}
}
