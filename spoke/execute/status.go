package execute

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// Reasons set on the statuses the engine reports.
const (
	// ReasonDryRunSucceeded: the server accepted the change in dry-run; nothing was changed.
	ReasonDryRunSucceeded = "DryRunSucceeded"
	// ReasonApplying / ReasonVerifying accompany the APPLYING and VERIFYING phases.
	ReasonApplying  = "Applying"
	ReasonVerifying = "Verifying"
	// ReasonVerified: applied and verified (SUCCEEDED).
	ReasonVerified = "Verified"

	// FAILED with nothing changed:
	ReasonInvalidDirective  = "InvalidDirective"  // no action id, no target, or similar
	ReasonUnsupportedAction = "UnsupportedAction" // action_type is not one this engine executes
	ReasonInvalidParameters = "InvalidParameters" // unknown field, wrong type or value out of range
	ReasonExpired           = "Expired"           // expires_at has passed
	ReasonTargetNotFound    = "TargetNotFound"
	ReasonUnsupportedTarget = "UnsupportedTarget"       // kind not supported by the action, or the object cannot take it
	ReasonTargetChanged     = "ResourceVersionMismatch" // uid or resourceVersion differ from the directive's
	ReasonPrecondition      = "PreconditionFailed"      // e.g. no previous revision, workload managed by an HPA
	ReasonDryRunFailed      = "DryRunFailed"            // the server refused the change in dry-run
	ReasonConflict          = "Conflict"                // the object changed between the checks and the write
	ReasonSnapshotTooLarge  = "SnapshotTooLarge"        // the previous state does not fit in the ledger

	// After something may have changed:
	ReasonApplyFailed        = "ApplyFailed"        // the write failed; the saved state was restored (ROLLED_BACK) or nothing changed (FAILED)
	ReasonVerificationFailed = "VerificationFailed" // ROLLED_BACK, or FAILED when the change cannot be undone (DeletePod)
	ReasonRollbackFailed     = "RollbackFailed"     // FAILED: restoring the saved state failed too
	ReasonInterrupted        = "Interrupted"        // ROLLED_BACK/FAILED: a previous agent stopped mid-execution
	ReasonLedgerUnavailable  = "LedgerUnavailable"  // FAILED: the idempotency ledger could not be read or written; nothing changed

	// Duplicates:
	ReasonInProgress = "InProgress" // the action is being executed (phase = the last one recorded)
)

// failure is an error that carries the reason it is reported with.
type failure struct {
	reason string
	err    error
}

func (f *failure) Error() string { return f.reason + ": " + f.err.Error() }
func (f *failure) Unwrap() error { return f.err }

func fail(reason, format string, args ...any) error {
	return &failure{reason: reason, err: fmt.Errorf(format, args...)}
}

func failWrap(reason string, err error) error {
	var f *failure
	if errors.As(err, &f) {
		return err
	}
	return &failure{reason: reason, err: err}
}

func reasonOf(err error, fallback string) string {
	var f *failure
	if errors.As(err, &f) {
		return f.reason
	}
	return fallback
}

func newStatus(id string, phase fleetv1.ActionPhase, reason, msg string, now time.Time) *fleetv1.ActionStatus {
	return &fleetv1.ActionStatus{ActionId: id, Phase: phase, Reason: reason, Message: msg, Time: timestamppb.New(now)}
}

// objectJSON renders objects for before_json / after_json without managedFields, which are
// bookkeeping and often larger than the object itself.
func objectJSON(v any) []byte {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(stripManaged(v))
	if err != nil {
		return []byte(fmt.Sprintf("{%q:%q}", "error", err.Error()))
	}
	return b
}

func stripManaged(v any) any {
	switch o := v.(type) {
	case runtime.Object:
		c := o.DeepCopyObject()
		if m, ok := c.(metav1.Object); ok {
			m.SetManagedFields(nil)
		}
		return c
	case []any:
		out := make([]any, len(o))
		for i := range o {
			out[i] = stripManaged(o[i])
		}
		return out
	default:
		return v
	}
}
