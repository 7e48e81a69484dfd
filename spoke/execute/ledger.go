package execute

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// The ledger is one ConfigMap per action id in the agent's namespace. Creating it claims the
// action: the apiserver lets exactly one create succeed, across goroutines and agent restarts.
const (
	// LedgerNamePrefix + the first 40 hex digits of sha256(action id) names an action's ConfigMap.
	LedgerNamePrefix = "kubedevaiops-action-"
	// LedgerLabel (value LedgerLabelValue) marks the ledger's ConfigMaps.
	LedgerLabel      = "kubedevaiops.io/ledger"
	LedgerLabelValue = "actions"
	// ActionIDAnnotation holds the action id in clear, for people reading the ConfigMap.
	ActionIDAnnotation = "kubedevaiops.io/action-id"
	// MaxEntryBytes bounds one entry (ConfigMaps hold at most 1 MiB).
	MaxEntryBytes = 900 << 10

	entryKey = "entry"
)

// entry is what the ledger records about one action.
type entry struct {
	ActionID   string    `json:"actionId"`
	PlanID     string    `json:"planId,omitempty"`
	ActionType string    `json:"actionType"`
	ExpiresAt  time.Time `json:"expiresAt"`
	// DropAfter is when garbage collection may remove the entry: after the directive expired,
	// when the guard refuses a redelivery anyway.
	DropAfter time.Time `json:"dropAfter"`
	// Owner is the engine instance executing the action; Heartbeat its last sign of life.
	Owner     string    `json:"owner"`
	Heartbeat time.Time `json:"heartbeat"`
	Final     bool      `json:"final"`
	// Status is the last status reached (protojson), the final one once Final.
	Status json.RawMessage `json:"status,omitempty"`
	// Saved is the previous state, recorded before anything is applied and dropped once final,
	// so an agent that finds the action interrupted can restore it.
	Saved []savedObject `json:"saved,omitempty"`
}

func (e *entry) status() *fleetv1.ActionStatus {
	st := &fleetv1.ActionStatus{}
	if len(e.Status) == 0 || protojson.Unmarshal(e.Status, st) != nil {
		return &fleetv1.ActionStatus{ActionId: e.ActionID, Phase: fleetv1.ActionPhase_ACTION_PHASE_RECEIVED}
	}
	return st
}

func (e *entry) phase() fleetv1.ActionPhase { return e.status().GetPhase() }

// applyStarted: from APPLYING on, the cluster may have changed.
func (e *entry) applyStarted() bool {
	switch e.phase() {
	case fleetv1.ActionPhase_ACTION_PHASE_APPLYING, fleetv1.ActionPhase_ACTION_PHASE_VERIFYING:
		return true
	}
	return false
}

type ledger struct {
	c         client.Client
	namespace string
	owner     string
	lease     time.Duration
	now       func() time.Time
}

func ledgerName(actionID string) string {
	sum := sha256.Sum256([]byte(actionID))
	return LedgerNamePrefix + hex.EncodeToString(sum[:])[:40]
}

// record is a claimed entry and the ConfigMap it lives in. Writes are serialised and
// conditional on the resourceVersion last written, so a takeover by another agent shows up as a
// conflict (errLostOwnership) instead of being overwritten.
type record struct {
	l  *ledger
	mu sync.Mutex
	cm *corev1.ConfigMap
	e  entry
}

var errLostOwnership = errors.New("another agent took the action over")

// claim creates the action's entry. It returns the new record, or (nil, existing) when the action
// already has one.
func (l *ledger) claim(ctx context.Context, e entry) (*record, *record, error) {
	r := &record{l: l, e: e}
	cm, err := r.encode(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
		Namespace:   l.namespace,
		Name:        ledgerName(e.ActionID),
		Labels:      map[string]string{LedgerLabel: LedgerLabelValue, "app.kubernetes.io/managed-by": "kubedevaiops-agent"},
		Annotations: map[string]string{ActionIDAnnotation: e.ActionID},
	}})
	if err != nil {
		return nil, nil, err
	}
	if err := l.c.Create(ctx, cm); err != nil {
		if !apierrors.IsAlreadyExists(err) {
			return nil, nil, fmt.Errorf("create ledger entry %s/%s: %w", l.namespace, cm.Name, err)
		}
		existing, err := l.get(ctx, e.ActionID)
		if err != nil {
			return nil, nil, err
		}
		return nil, existing, nil
	}
	r.cm = cm
	return r, nil, nil
}

func (l *ledger) get(ctx context.Context, actionID string) (*record, error) {
	var cm corev1.ConfigMap
	if err := l.c.Get(ctx, client.ObjectKey{Namespace: l.namespace, Name: ledgerName(actionID)}, &cm); err != nil {
		return nil, fmt.Errorf("get ledger entry of action %q: %w", actionID, err)
	}
	return decodeRecord(l, &cm)
}

func decodeRecord(l *ledger, cm *corev1.ConfigMap) (*record, error) {
	r := &record{l: l, cm: cm}
	if err := json.Unmarshal([]byte(cm.Data[entryKey]), &r.e); err != nil {
		return nil, fmt.Errorf("decode ledger entry %s/%s: %w", cm.Namespace, cm.Name, err)
	}
	return r, nil
}

// stale: the owner has not shown a sign of life for a lease; it has stopped.
func (r *record) stale() bool {
	return !r.e.Final && r.l.now().Sub(r.e.Heartbeat) > r.l.lease
}

func (r *record) encode(cm *corev1.ConfigMap) (*corev1.ConfigMap, error) {
	raw, err := json.Marshal(r.e)
	if err != nil {
		return nil, fmt.Errorf("encode ledger entry of action %q: %w", r.e.ActionID, err)
	}
	if len(raw) > MaxEntryBytes {
		return nil, fail(ReasonSnapshotTooLarge, "ledger entry of action %q would be %d bytes, more than %d", r.e.ActionID, len(raw), MaxEntryBytes)
	}
	cm = cm.DeepCopy()
	cm.Data = map[string]string{entryKey: string(raw)}
	return cm, nil
}

// update changes the entry and writes it; on failure the in-memory entry is left unchanged.
func (r *record) update(ctx context.Context, change func(*entry)) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.e
	change(&r.e)
	r.e.Heartbeat = r.l.now()
	cm, err := r.encode(r.cm)
	if err == nil {
		err = r.l.c.Update(ctx, cm)
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			err = fmt.Errorf("ledger entry %s/%s: %w: %v", r.cm.Namespace, r.cm.Name, errLostOwnership, err)
		}
	}
	if err != nil {
		r.e = old
		return err
	}
	r.cm = cm
	return nil
}

// takeOver makes this engine the owner of a stale entry; a conflict means another agent did.
func (r *record) takeOver(ctx context.Context) error {
	return r.update(ctx, func(e *entry) { e.Owner = r.l.owner })
}

// setStatus records st (and, when final, drops the saved state no longer needed).
func (r *record) setStatus(ctx context.Context, st *fleetv1.ActionStatus, final bool, saved []savedObject) error {
	raw, err := protojson.Marshal(st)
	if err != nil {
		return err
	}
	err = r.update(ctx, func(e *entry) {
		e.Status, e.Final = raw, final
		if saved != nil {
			e.Saved = saved
		}
		if final {
			e.Saved = nil
		}
	})
	if err != nil && final && reasonOf(err, "") == ReasonSnapshotTooLarge {
		// A final status too large for the ledger keeps its verdict; the objects are dropped.
		slim := cloneStatus(st)
		slim.BeforeJson, slim.AfterJson = nil, nil
		slim.Message += " (before/after not kept in the ledger: too large)"
		raw, _ = protojson.Marshal(slim)
		err = r.update(ctx, func(e *entry) { e.Status, e.Final, e.Saved = raw, true, nil })
	}
	return err
}

// collect removes entries past their drop time and, beyond max, the final entries closest to
// their drop time. In-progress entries are never removed here.
func (l *ledger) collect(ctx context.Context, max int) (int, error) {
	list, err := l.list(ctx)
	if err != nil {
		return 0, err
	}
	now := l.now()
	var keep []*record
	removed := 0
	for _, r := range list {
		if r.e.Final && now.After(r.e.DropAfter) {
			if err := l.remove(ctx, r); err != nil {
				return removed, err
			}
			removed++
			continue
		}
		keep = append(keep, r)
	}
	if len(keep) > max {
		sort.Slice(keep, func(i, j int) bool { return keep[i].e.DropAfter.Before(keep[j].e.DropAfter) })
		excess := len(keep) - max
		for _, r := range keep {
			if excess == 0 {
				break
			}
			if !r.e.Final {
				continue
			}
			if err := l.remove(ctx, r); err != nil {
				return removed, err
			}
			removed++
			excess--
		}
	}
	return removed, nil
}

func (l *ledger) list(ctx context.Context) ([]*record, error) {
	var cms corev1.ConfigMapList
	if err := l.c.List(ctx, &cms, client.InNamespace(l.namespace), client.MatchingLabels{LedgerLabel: LedgerLabelValue}); err != nil {
		return nil, fmt.Errorf("list ledger entries in %s: %w", l.namespace, err)
	}
	out := make([]*record, 0, len(cms.Items))
	for i := range cms.Items {
		r, err := decodeRecord(l, &cms.Items[i])
		if err != nil {
			continue // not ours to interpret; left alone
		}
		out = append(out, r)
	}
	return out, nil
}

func (l *ledger) remove(ctx context.Context, r *record) error {
	rv := r.cm.ResourceVersion
	if err := l.c.Delete(ctx, r.cm, client.Preconditions{ResourceVersion: &rv}); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete ledger entry %s/%s: %w", r.cm.Namespace, r.cm.Name, err)
	}
	return nil
}
