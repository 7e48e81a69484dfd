package guard

import (
	"errors"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// Reason is the machine-readable cause of a refusal; its string is what ActionStatus.reason
// carries. The values are part of the protocol: never change one.
type Reason string

// The refusal reasons.
const (
	// ReasonMalformed: the envelope has no payload or signature, the payload does not decode
	// strictly (api/directive.DecodePayload), or its validity window is longer than the guard
	// accepts (Options.MaxValidity).
	ReasonMalformed Reason = "Malformed"
	// ReasonUnsupportedAlgorithm: the envelope names an algorithm other than "ed25519".
	ReasonUnsupportedAlgorithm Reason = "UnsupportedAlgorithm"
	// ReasonUnknownKey: key_id is not a trusted key (not in the hub's Welcome, or not pinned).
	ReasonUnknownKey Reason = "UnknownKey"
	// ReasonSignatureInvalid: the signature does not verify over the payload with the named key.
	ReasonSignatureInvalid Reason = "SignatureInvalid"
	// ReasonWrongAudience: the directive is addressed to another cluster.
	ReasonWrongAudience Reason = "WrongAudience"
	// ReasonExpired: the spoke's clock is past expires_at.
	ReasonExpired Reason = "Expired"
	// ReasonNotYetValid: issued_at is later than the spoke's clock plus the allowed clock skew.
	ReasonNotYetValid Reason = "NotYetValid"
	// ReasonReplayed: a directive with the same nonce or the same action id was accepted before
	// (the ledger survives agent restarts).
	ReasonReplayed Reason = "Replayed"
	// ReasonNoLocalPolicy: the AIOpsPolicy the directive names does not exist in the cluster
	// (or is being deleted).
	ReasonNoLocalPolicy Reason = "NoLocalPolicy"
	// ReasonObserveOnly: the policy's autonomy is observe: nothing is executed.
	ReasonObserveOnly Reason = "ObserveOnly"
	// ReasonNotAllowedByPolicy: the action type is not in the policy's allowedActions.
	ReasonNotAllowedByPolicy Reason = "NotAllowedByPolicy"
	// ReasonOutsideMaintenanceWindow: the action type is disruptive
	// (api/directive.Disruptive), the policy has maintenance windows, and none is open now.
	ReasonOutsideMaintenanceWindow Reason = "OutsideMaintenanceWindow"
	// ReasonBlastRadiusExceeded: accepting the directive would exceed the policy's
	// blastRadius.maxActionsPerClusterPerHour over the last rolling hour, or the ledger is full.
	ReasonBlastRadiusExceeded Reason = "BlastRadiusExceeded"
)

// Reasons lists every reason, in the order the guard checks them.
var Reasons = []Reason{
	ReasonMalformed, ReasonUnsupportedAlgorithm, ReasonUnknownKey, ReasonSignatureInvalid,
	ReasonWrongAudience, ReasonExpired, ReasonNotYetValid, ReasonNoLocalPolicy, ReasonObserveOnly,
	ReasonNotAllowedByPolicy, ReasonOutsideMaintenanceWindow, ReasonReplayed, ReasonBlastRadiusExceeded,
}

// Refusal is the error Check returns when the directive must not run.
type Refusal struct {
	// Reason is the machine-readable cause.
	Reason Reason
	// Message says what exactly was wrong, for people and audit.
	Message string
	// Payload is the directive's payload as far as it decodes, so the refusal can be reported
	// under its action id and trace; nil when it does not decode at all. Unless Authenticated,
	// it is what the sender claims, not what the hub signed.
	Payload *fleetv1.DirectivePayload
	// Authenticated is true when the refusal came after the signature was verified.
	Authenticated bool
}

func (r *Refusal) Error() string { return "directive refused: " + string(r.Reason) + ": " + r.Message }

// AsRefusal returns the Refusal in err's chain, if any.
func AsRefusal(err error) (*Refusal, bool) {
	var r *Refusal
	ok := errors.As(err, &r)
	return r, ok
}
