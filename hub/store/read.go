package store

import (
	"fmt"

	"k8s.io/apimachinery/pkg/labels"
)

// Get returns the resource kind/ns/name, or an error wrapping ErrNotFound (or
// ErrInvalid for an unknown kind or a namespace that does not fit the kind's scope).
func (s *Store) Get(kind, ns, name string) (*Resource, error) {
	ki, ok := LookupKind(kind)
	if !ok {
		return nil, fmt.Errorf("%w: unknown kind %q", ErrInvalid, kind)
	}
	if err := checkNamespace(ki, ns); err != nil {
		return nil, err
	}
	txn := s.db.Load().Txn(false)
	raw, err := txn.First(tableResources, indexID, kind, ns, name)
	if err != nil {
		return nil, fmt.Errorf("%w: %s %s: %v", ErrInvalid, kind, name, err)
	}
	if raw == nil {
		if ns != "" {
			return nil, fmt.Errorf("%w: %s %s/%s", ErrNotFound, kind, ns, name)
		}
		return nil, fmt.Errorf("%w: %s %s", ErrNotFound, kind, name)
	}
	return raw.(*Resource), nil
}

// List returns the resources of kind in namespace ns ("" for all namespaces, and
// always for a cluster-scoped kind) that match labelSelector (Kubernetes syntax, ""
// for all), ordered by namespace and name, and the store index the list is consistent
// at: Watch from that index to follow changes without a gap.
func (s *Store) List(kind, ns, labelSelector string) ([]*Resource, uint64, error) {
	ki, ok := LookupKind(kind)
	if !ok {
		return nil, 0, fmt.Errorf("%w: unknown kind %q", ErrInvalid, kind)
	}
	if !ki.Namespaced && ns != "" {
		return nil, 0, fmt.Errorf("%w: %s is cluster-scoped: namespace must be empty, got %q", ErrInvalid, kind, ns)
	}
	var sel labels.Selector
	if labelSelector != "" {
		var err error
		if sel, err = labels.Parse(labelSelector); err != nil {
			return nil, 0, fmt.Errorf("%w: label selector %q: %v", ErrInvalid, labelSelector, err)
		}
	}
	txn := s.db.Load().Txn(false)
	index := readMeta(txn).StoreIndex
	args := []any{kind}
	if ns != "" {
		args = append(args, ns)
	}
	it, err := txn.Get(tableResources, indexID+"_prefix", args...)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %s: %v", ErrInvalid, kind, err)
	}
	var out []*Resource
	for raw := it.Next(); raw != nil; raw = it.Next() {
		r := raw.(*Resource)
		if sel != nil && !sel.Matches(labels.Set(r.Labels)) {
			continue
		}
		out = append(out, r)
	}
	return out, index, nil
}

// ListAudit returns up to limit audit records (all when limit <= 0) from sequence
// from on (from the start when from is 0), in order, and the sequence number of the
// newest record at the time of the read (0 for an empty log).
func (s *Store) ListAudit(from uint64, limit int) ([]*AuditRecord, uint64) {
	txn := s.db.Load().Txn(false)
	var head uint64
	if raw, _ := txn.Last(tableAudit, indexID); raw != nil {
		head = raw.(*AuditRecord).Sequence
	}
	it, err := txn.LowerBound(tableAudit, indexID, from)
	if err != nil {
		return nil, head
	}
	var out []*AuditRecord
	for raw := it.Next(); raw != nil && (limit <= 0 || len(out) < limit); raw = it.Next() {
		out = append(out, raw.(*AuditRecord))
	}
	return out, head
}
