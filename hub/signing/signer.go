package signing

import (
	"context"
	"fmt"

	"github.com/kubedevaiops/kubedevaiops/api/directive"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// Signer signs directive payloads and lists the keys that verify them.
type Signer interface {
	// Sign signs payload, a serialized DirectivePayload (directive.EncodePayload), and returns
	// the envelope to send. It refuses a payload the spoke would refuse as malformed.
	Sign(ctx context.Context, payload []byte) (*fleetv1.SignedDirective, error)
	// PublicKeys lists the keys directives may be signed with, newest first, for Welcome.
	PublicKeys(ctx context.Context) ([]*fleetv1.DirectiveKey, error)
}

var (
	_ Signer = (*VaultSigner)(nil)
	_ Signer = (*ReplicatedSigner)(nil)
)

// checkPayload refuses to sign what no spoke would accept, so that a bug upstream shows here,
// at the hub, and the signer signs directive payloads only.
func checkPayload(payload []byte) error {
	if _, err := directive.DecodePayload(payload); err != nil {
		return fmt.Errorf("sign directive: %w", err)
	}
	return nil
}
