package signing

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubedevaiops/kubedevaiops/api/directive"
	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/raftnode"
	"github.com/kubedevaiops/kubedevaiops/hub/store"
	"github.com/kubedevaiops/kubedevaiops/hub/writes"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// DefaultKeyName is the name of the SigningKey object a ReplicatedSigner uses.
const DefaultKeyName = "directives"

// maxCreateAttempts bounds the read-or-create loop; a lost race needs one more round.
const maxCreateAttempts = 8

// ReplicatedConfig configures a ReplicatedSigner.
type ReplicatedConfig struct {
	Node  *raftnode.Node
	Store *store.Store
	// KEK is the key-encryption key (LoadKEK), the same on every member.
	KEK []byte
	// Name of the SigningKey object; DefaultKeyName when empty.
	Name   string
	Logger *slog.Logger
}

// ReplicatedSigner signs with an ed25519 key kept in the hub's replicated state as a SigningKey,
// its private half sealed under the KEK. The member that first needs the key creates it; a
// create-if-absent write makes members that race end with the one key. Safe for concurrent use.
type ReplicatedSigner struct {
	node  *raftnode.Node
	store *store.Store
	kek   []byte
	kekID string
	name  string
	log   *slog.Logger

	mu   sync.Mutex
	priv ed25519.PrivateKey
	pub  *fleetv1.DirectiveKey
}

// NewReplicated returns a signer on the replicated key. It does not touch the state: the key is
// read, or created, on first use.
func NewReplicated(cfg ReplicatedConfig) (*ReplicatedSigner, error) {
	if cfg.Node == nil || cfg.Store == nil {
		return nil, errors.New("replicated signer: Node and Store are required")
	}
	if len(cfg.KEK) != KEKSize {
		return nil, fmt.Errorf("replicated signer: key-encryption key is %d bytes, want %d", len(cfg.KEK), KEKSize)
	}
	s := &ReplicatedSigner{node: cfg.Node, store: cfg.Store, kek: bytes.Clone(cfg.KEK), kekID: kekID(cfg.KEK), name: cfg.Name, log: cfg.Logger}
	if s.name == "" {
		s.name = DefaultKeyName
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// Sign implements Signer.
func (s *ReplicatedSigner) Sign(ctx context.Context, payload []byte) (*fleetv1.SignedDirective, error) {
	if err := checkPayload(payload); err != nil {
		return nil, err
	}
	priv, pub, err := s.key(ctx)
	if err != nil {
		return nil, err
	}
	return &fleetv1.SignedDirective{
		Payload: payload, Signature: ed25519.Sign(priv, payload), KeyId: pub.GetKeyId(), Algorithm: directive.Algorithm,
	}, nil
}

// PublicKeys implements Signer: the one replicated key.
func (s *ReplicatedSigner) PublicKeys(ctx context.Context) ([]*fleetv1.DirectiveKey, error) {
	_, pub, err := s.key(ctx)
	if err != nil {
		return nil, err
	}
	return []*fleetv1.DirectiveKey{directive.NewKey(pub.GetPublicKey())}, nil
}

// key returns the unsealed key, reading it from the state or creating it on first use.
func (s *ReplicatedSigner) key(ctx context.Context) (ed25519.PrivateKey, *fleetv1.DirectiveKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.priv != nil {
		return s.priv, s.pub, nil
	}
	for attempt := 0; ; attempt++ {
		// A linearizable read: a key another member created is seen, never shadowed by a new one.
		if err := s.node.ReadBarrier(ctx); err != nil {
			return nil, nil, fmt.Errorf("read the directive signing key: %w", err)
		}
		res, err := s.store.Get(hubv1alpha1.KindSigningKey, "", s.name)
		switch {
		case err == nil:
		case errors.Is(err, store.ErrNotFound):
			res, err = s.create(ctx)
			if errors.Is(err, store.ErrAlreadyExists) || errors.Is(err, raftnode.ErrOutcomeUnknown) {
				if attempt+1 < maxCreateAttempts {
					continue // another member won the race, or ours may have landed: read it
				}
			}
			if err != nil {
				return nil, nil, fmt.Errorf("create the directive signing key SigningKey/%s: %w", s.name, err)
			}
		default:
			return nil, nil, fmt.Errorf("read the directive signing key SigningKey/%s: %w", s.name, err)
		}
		priv, pub, err := s.open(res)
		if err != nil {
			return nil, nil, err
		}
		s.priv, s.pub = priv, pub
		return priv, pub, nil
	}
}

func (s *ReplicatedSigner) aad(keyID string) []byte {
	return []byte("kubedevaiops directive signing key\x00" + s.name + "\x00" + keyID)
}

// create generates a key and writes it only if no SigningKey of that name exists yet.
func (s *ReplicatedSigner) create(ctx context.Context) (*store.Resource, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	id := directive.KeyID(pub)
	sealed, err := seal(s.kek, priv.Seed(), s.aad(id))
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	obj := &hubv1alpha1.SigningKey{
		TypeMeta:   metav1.TypeMeta{APIVersion: hubv1alpha1.GroupVersion.String(), Kind: hubv1alpha1.KindSigningKey},
		ObjectMeta: metav1.ObjectMeta{Name: s.name},
		Spec:       hubv1alpha1.SigningKeySpec{Algorithm: directive.Algorithm, KeyID: id, PublicKey: pub, SealedPrivateKey: sealed, KEKID: s.kekID},
	}
	cmd, err := store.EncodeCreate(hubv1alpha1.KindSigningKey, obj)
	if err != nil {
		return nil, err
	}
	details, _ := json.Marshal(map[string]string{"keyID": id, "algorithm": directive.Algorithm, "kekID": s.kekID})
	if cmd, err = store.WithAudit(cmd, store.AuditEntry{
		Actor: "member/" + s.node.ID(), Action: "signingkey.create", Target: hubv1alpha1.KindSigningKey + "/" + s.name, Details: details,
	}); err != nil {
		return nil, err
	}
	res, err := writes.One(ctx, s.node, cmd)
	if err != nil {
		return nil, err
	}
	s.log.Info("created the directive signing key", "key_id", id, "kek_id", s.kekID)
	return res.Resource, nil
}

// open unseals a stored key and checks it against its public half and id.
func (s *ReplicatedSigner) open(res *store.Resource) (ed25519.PrivateKey, *fleetv1.DirectiveKey, error) {
	var k hubv1alpha1.SigningKey
	if err := res.Decode(&k); err != nil {
		return nil, nil, fmt.Errorf("decode SigningKey/%s: %w", s.name, err)
	}
	spec := k.Spec
	if spec.Algorithm != directive.Algorithm {
		return nil, nil, fmt.Errorf("SigningKey/%s is an %q key; directives need %q", s.name, spec.Algorithm, directive.Algorithm)
	}
	if spec.KEKID != s.kekID {
		return nil, nil, fmt.Errorf("SigningKey/%s is sealed under key-encryption key %s, but this member was given %s: give every hub member the same key-encryption key file",
			s.name, spec.KEKID, s.kekID)
	}
	seed, err := unseal(s.kek, spec.SealedPrivateKey, s.aad(spec.KeyID))
	if err != nil {
		return nil, nil, fmt.Errorf("SigningKey/%s (key %s): %w; the stored key is damaged or was sealed under another key-encryption key", s.name, spec.KeyID, err)
	}
	if len(seed) != ed25519.SeedSize {
		return nil, nil, fmt.Errorf("SigningKey/%s: the sealed private key is %d bytes, want %d", s.name, len(seed), ed25519.SeedSize)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	pub, _ := priv.Public().(ed25519.PublicKey)
	if !bytes.Equal(pub, spec.PublicKey) || directive.KeyID(pub) != spec.KeyID {
		return nil, nil, fmt.Errorf("SigningKey/%s: the private key does not match the public key and id %s stored with it", s.name, spec.KeyID)
	}
	return priv, directive.NewKey(pub), nil
}
