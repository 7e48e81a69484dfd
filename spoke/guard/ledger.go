package guard

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// LedgerDataKey is the ConfigMap data key that holds the ledger, as JSON.
const LedgerDataKey = "ledger.json"

// blastWindow is the rolling window of blastRadius.maxActionsPerClusterPerHour.
const blastWindow = time.Hour

// maxWriteAttempts bounds retries of the ledger update when another writer got in between.
const maxWriteAttempts = 16

// ledger records accepted directives in a ConfigMap, so that neither a replay nor the blast
// radius count is forgotten across agent restarts. Check and record are one optimistic update
// on the ConfigMap's resourceVersion.
type ledger struct {
	client     Client
	key        client.ObjectKey
	maxEntries int
	skew       time.Duration
}

// ledgerDoc is the ledger's JSON.
type ledgerDoc struct {
	Entries []ledgerEntry `json:"entries"`
}

// ledgerEntry is one accepted directive. The nonce is kept as a digest: equality is all that
// is needed of it.
type ledgerEntry struct {
	ActionID string `json:"actionID"`
	Nonce    string `json:"nonce"`
	// Accepted and Expires are Unix seconds.
	Accepted int64 `json:"accepted"`
	Expires  int64 `json:"expires"`
	// Counted is false for dry-runs, which change nothing and do not count against the blast radius.
	Counted bool `json:"counted,omitempty"`
}

func nonceDigest(nonce []byte) string {
	sum := sha256.Sum256(nonce)
	return base64.RawStdEncoding.EncodeToString(sum[:16])
}

// keep reports whether an entry is still needed at now: until its directive can no longer be
// accepted (expiry, plus the skew a clock stepped back may bring), and for the blast radius window.
func (e ledgerEntry) keep(now time.Time, skew time.Duration) bool {
	return now.Before(time.Unix(e.Expires, 0).Add(skew)) || now.Before(time.Unix(e.Accepted, 0).Add(blastWindow))
}

// record checks p against the ledger and records it, or refuses it (Replayed,
// BlastRadiusExceeded) without writing.
func (l *ledger) record(ctx context.Context, p *fleetv1.DirectivePayload, now time.Time, maxPerHour int) error {
	entry := ledgerEntry{
		ActionID: p.GetActionId(), Nonce: nonceDigest(p.GetNonce()),
		Accepted: now.Unix(), Expires: p.GetExpiresAt().AsTime().Unix(), Counted: !p.GetDryRun(),
	}
	for range maxWriteAttempts {
		cm := &corev1.ConfigMap{}
		create := false
		if err := l.client.Get(ctx, l.key, cm); err != nil {
			if !apierrors.IsNotFound(err) {
				return fmt.Errorf("read the directive ledger ConfigMap %s: %w", l.key, err)
			}
			create = true
			cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
				Namespace: l.key.Namespace, Name: l.key.Name,
				Labels: map[string]string{"app.kubernetes.io/managed-by": "kubedevaiops-agent", "app.kubernetes.io/component": "directive-ledger"},
			}}
		}
		var doc ledgerDoc
		if raw, ok := cm.Data[LedgerDataKey]; ok {
			if err := json.Unmarshal([]byte(raw), &doc); err != nil {
				// Refuse rather than start afresh: an empty ledger would let replays through.
				return fmt.Errorf("the directive ledger ConfigMap %s is damaged (%v): directives are refused until it is repaired; "+
					"deleting it re-admits replays of directives that have not expired (at most %s old)", l.key, err, blastWindow)
			}
		}
		kept := doc.Entries[:0]
		for _, e := range doc.Entries {
			if e.keep(now, l.skew) {
				kept = append(kept, e)
			}
		}
		counted := 0
		for _, e := range kept {
			switch {
			case e.Nonce == entry.Nonce:
				return &Refusal{Reason: ReasonReplayed, Message: fmt.Sprintf("action %s: a directive with this nonce (action %s) was accepted at %s",
					p.GetActionId(), e.ActionID, stamp(time.Unix(e.Accepted, 0)))}
			case e.ActionID == entry.ActionID:
				return &Refusal{Reason: ReasonReplayed, Message: fmt.Sprintf("action %s was accepted before, at %s", p.GetActionId(), stamp(time.Unix(e.Accepted, 0)))}
			}
			if e.Counted && now.Sub(time.Unix(e.Accepted, 0)) < blastWindow {
				counted++
			}
		}
		if entry.Counted && counted >= maxPerHour {
			return &Refusal{Reason: ReasonBlastRadiusExceeded, Message: fmt.Sprintf("action %s: %d actions ran on this cluster in the last hour, and policy %q allows %d",
				p.GetActionId(), counted, p.GetPolicyName(), maxPerHour)}
		}
		if len(kept) >= l.maxEntries {
			return &Refusal{Reason: ReasonBlastRadiusExceeded, Message: fmt.Sprintf("action %s: the directive ledger holds %d directives that have not expired, its limit",
				p.GetActionId(), len(kept))}
		}
		doc.Entries = append(kept, entry)
		b, err := json.Marshal(doc)
		if err != nil {
			return fmt.Errorf("encode the directive ledger: %w", err)
		}
		if cm.Data == nil {
			cm.Data = map[string]string{}
		}
		cm.Data[LedgerDataKey] = string(b)
		if create {
			err = l.client.Create(ctx, cm)
		} else {
			err = l.client.Update(ctx, cm)
		}
		switch {
		case err == nil:
			return nil
		case apierrors.IsConflict(err), apierrors.IsAlreadyExists(err):
			continue // another check got in first: decide again on its result
		default:
			return fmt.Errorf("record action %s in the directive ledger ConfigMap %s: %w", p.GetActionId(), l.key, err)
		}
	}
	return fmt.Errorf("record action %s in the directive ledger ConfigMap %s: %d concurrent updates in a row won the race", p.GetActionId(), l.key, maxWriteAttempts)
}
