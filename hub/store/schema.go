package store

import (
	"encoding/binary"
	"fmt"
	"strings"

	memdb "github.com/hashicorp/go-memdb"
)

// memdb tables and indexes.
const (
	tableResources = "resources"
	tableAudit     = "audit"
	tableMeta      = "meta"
	indexID        = "id"
)

// meta is the single row of the meta table: the indexes the state is consistent at.
type meta struct {
	// StoreIndex is the store index of the last applied mutation.
	StoreIndex uint64
	// AppliedIndex is the last Raft log index reflected in the state.
	AppliedIndex uint64
}

// The id index of resources is kind NUL namespace NUL name NUL. NUL sorts first, so
// iteration is in (kind, namespace, name) order, and a prefix of kind NUL (all of a
// kind) or kind NUL namespace NUL (one namespace of a kind) serves the by-kind and
// by-kind-and-namespace queries from the one index, at no extra cost per write.
func dbSchema() *memdb.DBSchema {
	return &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{
		tableResources: {
			Name:    tableResources,
			Indexes: map[string]*memdb.IndexSchema{indexID: {Name: indexID, Unique: true, Indexer: resourceIndexer{}}},
		},
		tableAudit: {
			Name:    tableAudit,
			Indexes: map[string]*memdb.IndexSchema{indexID: {Name: indexID, Unique: true, Indexer: auditIndexer{}}},
		},
		tableMeta: {
			Name:    tableMeta,
			Indexes: map[string]*memdb.IndexSchema{indexID: {Name: indexID, Unique: true, Indexer: metaIndexer{}}},
		},
	}}
}

// newDB returns an empty database. It is a memdb Snapshot of a new database: a
// snapshot is a full read-write MemDB that only skips memdb's per-node mutation
// tracking (the watch channels of memdb's blocking queries). The store does not use
// those — Watch has its own notification — and tracking costs about a tenth of each
// write.
func newDB() *memdb.MemDB {
	db, err := memdb.NewMemDB(dbSchema())
	if err != nil {
		panic(fmt.Sprintf("store: invalid memdb schema: %v", err)) // a programming error, caught by any test
	}
	return db.Snapshot()
}

func resourceKey(parts ...string) []byte {
	n := 0
	for _, p := range parts {
		n += len(p) + 1
	}
	b := make([]byte, 0, n)
	for _, p := range parts {
		b = append(b, p...)
		b = append(b, 0)
	}
	return b
}

type resourceIndexer struct{}

func (resourceIndexer) FromObject(raw any) (bool, []byte, error) {
	r, ok := raw.(*Resource)
	if !ok {
		return false, nil, fmt.Errorf("resource index: %T is not a *Resource", raw)
	}
	return true, resourceKey(r.Kind, r.Namespace, r.Name), nil
}

func stringArgs(args []any) ([]string, error) {
	out := make([]string, len(args))
	for i, a := range args {
		s, ok := a.(string)
		if !ok {
			return nil, fmt.Errorf("resource index: argument %d is %T, want string", i, a)
		}
		if strings.IndexByte(s, 0) >= 0 {
			return nil, fmt.Errorf("resource index: argument %d contains NUL", i)
		}
		out[i] = s
	}
	return out, nil
}

// FromArgs takes kind, namespace, name.
func (resourceIndexer) FromArgs(args ...any) ([]byte, error) {
	if len(args) != 3 {
		return nil, fmt.Errorf("resource index: want kind, namespace, name; got %d arguments", len(args))
	}
	s, err := stringArgs(args)
	if err != nil {
		return nil, err
	}
	return resourceKey(s...), nil
}

// PrefixFromArgs takes kind, or kind and namespace.
func (resourceIndexer) PrefixFromArgs(args ...any) ([]byte, error) {
	if len(args) < 1 || len(args) > 2 {
		return nil, fmt.Errorf("resource index: want kind [, namespace]; got %d arguments", len(args))
	}
	s, err := stringArgs(args)
	if err != nil {
		return nil, err
	}
	return resourceKey(s...), nil
}

type auditIndexer struct{}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

func (auditIndexer) FromObject(raw any) (bool, []byte, error) {
	r, ok := raw.(*AuditRecord)
	if !ok {
		return false, nil, fmt.Errorf("audit index: %T is not an *AuditRecord", raw)
	}
	return true, seqKey(r.Sequence), nil
}

func (auditIndexer) FromArgs(args ...any) ([]byte, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("audit index: want a sequence number")
	}
	seq, ok := args[0].(uint64)
	if !ok {
		return nil, fmt.Errorf("audit index: argument is %T, want uint64", args[0])
	}
	return seqKey(seq), nil
}

type metaIndexer struct{}

var metaKey = []byte("m")

func (metaIndexer) FromObject(raw any) (bool, []byte, error) {
	if _, ok := raw.(*meta); !ok {
		return false, nil, fmt.Errorf("meta index: %T is not a *meta", raw)
	}
	return true, metaKey, nil
}

func (metaIndexer) FromArgs(...any) ([]byte, error) { return metaKey, nil }

func readMeta(txn *memdb.Txn) meta {
	raw, err := txn.First(tableMeta, indexID)
	if err != nil || raw == nil {
		return meta{}
	}
	return *raw.(*meta)
}
