package store

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	hubv1 "github.com/kubedevaiops/kubedevaiops/proto/hub/v1"
)

// Snapshot stream format, version SnapshotFormatVersion:
//
//	magic    the 8 bytes "KDAOSTOR"
//	header   one SnapshotHeader (format version, store index, applied Raft index —
//	         0 in a backup from WriteSnapshot, where it means unknown)
//	records  SnapshotRecords: every resource in (kind, namespace, name) order, then
//	         every audit record in sequence order
//	trailer  one SnapshotRecord holding a SnapshotTrailer with the counts
//
// Each message is length-delimited: its size as a protobuf varint, then the message
// (google.golang.org/protobuf/encoding/protodelim), marshalled deterministically, so
// the same state always gives the same bytes.
const (
	snapshotMagic = "KDAOSTOR"
	// SnapshotFormatVersion is the version of the snapshot stream this package writes.
	SnapshotFormatVersion = 1
	maxSnapshotRecord     = 2*MaxObjectSize + 64<<10
)

type fsmSnapshot struct {
	txn  *memdb.Txn
	meta meta
}

// Snapshot captures the current state in O(1) (an immutable memdb read transaction);
// the returned snapshot's Persist writes it out while Apply carries on.
func (s *Store) Snapshot() (raft.FSMSnapshot, error) {
	txn := s.db.Load().Txn(false)
	return &fsmSnapshot{txn: txn, meta: readMeta(txn)}, nil
}

// WriteSnapshot writes the current state to w in the snapshot format, for a backup
// (kubectl aiops hub snapshot save). Unlike a Raft snapshot it records the applied Raft
// index as 0, unknown: a backup may be restored into another hub, whose Raft indexes
// have nothing to do with this one's. Use it, not Snapshot().Persist, for backups.
// It returns the store index the snapshot is consistent at.
func (s *Store) WriteSnapshot(w io.Writer) (uint64, error) {
	txn := s.db.Load().Txn(false)
	m := readMeta(txn)
	m.AppliedIndex = 0
	return m.StoreIndex, (&fsmSnapshot{txn: txn, meta: m}).writeTo(w)
}

// Persist writes the snapshot to sink and closes it, or cancels it on error.
func (f *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := f.writeTo(sink); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

// Release does nothing: the read transaction holds no locks.
func (f *fsmSnapshot) Release() {}

func (f *fsmSnapshot) writeTo(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	opts := protodelim.MarshalOptions{MarshalOptions: proto.MarshalOptions{Deterministic: true}}
	write := func(m proto.Message) error {
		_, err := opts.MarshalTo(bw, m)
		return err
	}
	if _, err := bw.WriteString(snapshotMagic); err != nil {
		return fmt.Errorf("store snapshot: %w", err)
	}
	if err := write(&hubv1.SnapshotHeader{
		FormatVersion: SnapshotFormatVersion, StoreIndex: f.meta.StoreIndex, AppliedIndex: f.meta.AppliedIndex,
	}); err != nil {
		return fmt.Errorf("store snapshot: header: %w", err)
	}
	var trailer hubv1.SnapshotTrailer
	it, err := f.txn.Get(tableResources, indexID)
	if err != nil {
		return fmt.Errorf("store snapshot: %w", err)
	}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		r := raw.(*Resource)
		if err := write(&hubv1.SnapshotRecord{Record: &hubv1.SnapshotRecord_Resource{Resource: &hubv1.StoredResource{
			Kind: r.Kind, Namespace: r.Namespace, Name: r.Name, Uid: r.UID,
			CreateIndex: r.CreateIndex, ModifyIndex: r.ModifyIndex, ObjectJson: r.Object,
		}}}); err != nil {
			return fmt.Errorf("store snapshot: resource %s %s: %w", r.Kind, r.Name, err)
		}
		trailer.Resources++
	}
	if it, err = f.txn.Get(tableAudit, indexID); err != nil {
		return fmt.Errorf("store snapshot: %w", err)
	}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		a := raw.(*AuditRecord)
		if err := write(&hubv1.SnapshotRecord{Record: &hubv1.SnapshotRecord_Audit{Audit: &hubv1.StoredAuditRecord{
			Sequence: a.Sequence, Time: timestamppb.New(a.Time), Actor: a.Actor, Action: a.Action,
			Target: a.Target, Cluster: a.Cluster, TraceId: a.TraceID, DetailsJson: a.Details,
			PrevHash: a.PrevHash, Hash: a.Hash, Index: a.Index,
		}}}); err != nil {
			return fmt.Errorf("store snapshot: audit record %d: %w", a.Sequence, err)
		}
		trailer.AuditRecords++
	}
	if err := write(&hubv1.SnapshotRecord{Record: &hubv1.SnapshotRecord_Trailer{Trailer: &trailer}}); err != nil {
		return fmt.Errorf("store snapshot: trailer: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("store snapshot: %w", err)
	}
	return nil
}

// Restore replaces the whole state with a snapshot stream. The new state is built
// aside and swapped in at once; on error the old state stays. Watchers from before
// get ErrCompacted.
//
// AppliedIndex becomes the snapshot's applied Raft index if that is higher (a member
// restarting from, or catching up with, a Raft snapshot); it never goes down, and a
// backup (applied index 0, see WriteSnapshot) leaves it as it is: Raft's own index
// after a user restore is past this member's entries anyway, and the next applied
// entry sets it.
func (s *Store) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	db, m, err := readSnapshot(rc)
	if err != nil {
		return err
	}
	s.db.Store(db)
	s.index.Store(m.StoreIndex)
	s.hist.reset(m.StoreIndex)
	s.MarkApplied(m.AppliedIndex)
	return nil
}

func readSnapshot(r io.Reader) (*memdb.MemDB, meta, error) {
	br := bufio.NewReaderSize(r, 256<<10)
	var m meta
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != snapshotMagic {
		return nil, m, fmt.Errorf("%w: store snapshot: not a store snapshot (bad magic)", ErrInvalid)
	}
	opts := protodelim.UnmarshalOptions{MaxSize: maxSnapshotRecord}
	var hdr hubv1.SnapshotHeader
	if err := opts.UnmarshalFrom(br, &hdr); err != nil {
		return nil, m, fmt.Errorf("%w: store snapshot: header: %v", ErrInvalid, err)
	}
	if hdr.FormatVersion != SnapshotFormatVersion {
		return nil, m, fmt.Errorf("%w: store snapshot: format version %d, this member reads %d", ErrInvalid, hdr.FormatVersion, SnapshotFormatVersion)
	}
	m = meta{StoreIndex: hdr.StoreIndex, AppliedIndex: hdr.AppliedIndex}
	db := newDB()
	txn := db.Txn(true)
	defer txn.Abort()
	var resources, audits uint64
	var chain []*AuditRecord
	for {
		var rec hubv1.SnapshotRecord
		if err := opts.UnmarshalFrom(br, &rec); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, m, fmt.Errorf("%w: store snapshot: truncated: no trailer after %d resources and %d audit records", ErrInvalid, resources, audits)
			}
			return nil, m, fmt.Errorf("%w: store snapshot: record %d: %v", ErrInvalid, resources+audits, err)
		}
		switch v := rec.Record.(type) {
		case *hubv1.SnapshotRecord_Resource:
			r, err := restoredResource(v.Resource)
			if err != nil {
				return nil, m, err
			}
			if err := txn.Insert(tableResources, r); err != nil {
				return nil, m, fmt.Errorf("%w: store snapshot: %s %s: %v", ErrInvalid, r.Kind, r.Name, err)
			}
			resources++
		case *hubv1.SnapshotRecord_Audit:
			a := v.Audit
			r := &AuditRecord{
				Sequence: a.Sequence, Time: a.Time.AsTime().UTC(), Actor: a.Actor, Action: a.Action,
				Target: a.Target, Cluster: a.Cluster, TraceID: a.TraceId, Details: a.DetailsJson,
				PrevHash: a.PrevHash, Hash: a.Hash, Index: a.Index,
			}
			if len(r.Details) == 0 {
				r.Details = nil
			}
			if len(r.PrevHash) == 0 {
				r.PrevHash = nil
			}
			chain = append(chain, r)
			if err := txn.Insert(tableAudit, r); err != nil {
				return nil, m, fmt.Errorf("%w: store snapshot: audit record %d: %v", ErrInvalid, r.Sequence, err)
			}
			audits++
		case *hubv1.SnapshotRecord_Trailer:
			if v.Trailer.Resources != resources || v.Trailer.AuditRecords != audits {
				return nil, m, fmt.Errorf("%w: store snapshot: trailer counts %d resources and %d audit records, stream had %d and %d",
					ErrInvalid, v.Trailer.Resources, v.Trailer.AuditRecords, resources, audits)
			}
			if len(chain) > 0 && chain[0].Sequence != 1 {
				return nil, m, fmt.Errorf("%w: store snapshot: audit log starts at sequence %d", ErrInvalid, chain[0].Sequence)
			}
			if i, err := VerifyAudit(chain); err != nil {
				return nil, m, fmt.Errorf("%w: store snapshot: audit chain broken at position %d: %v", ErrInvalid, i, err)
			}
			if err := txn.Insert(tableMeta, &m); err != nil {
				return nil, m, fmt.Errorf("%w: store snapshot: %v", ErrInvalid, err)
			}
			txn.Commit()
			return db, m, nil
		default:
			return nil, m, fmt.Errorf("%w: store snapshot: record %d has no content", ErrInvalid, resources+audits)
		}
	}
}

// restoredResource rebuilds a Resource, with the fields derived from its object.
func restoredResource(p *hubv1.StoredResource) (*Resource, error) {
	r := &Resource{
		Kind: p.Kind, Namespace: p.Namespace, Name: p.Name, UID: p.Uid,
		ResourceVersion: p.ModifyIndex, CreateIndex: p.CreateIndex, ModifyIndex: p.ModifyIndex, Object: p.ObjectJson,
	}
	if r.Kind == "" || r.Name == "" || bytes.IndexByte([]byte(r.Kind+r.Namespace+r.Name), 0) >= 0 {
		return nil, fmt.Errorf("%w: store snapshot: resource %q %q %q has an invalid key", ErrInvalid, r.Kind, r.Namespace, r.Name)
	}
	d, err := parseObject(r.Object)
	if err == nil {
		r.Labels, err = d.labels()
	}
	if err != nil {
		return nil, fmt.Errorf("%w: store snapshot: %s %s: %v", ErrInvalid, r.Kind, r.Name, err)
	}
	r.Generation = d.generation()
	r.specSum = d.specSum()
	if raw := d.rawMeta("creationTimestamp"); raw != nil {
		r.created = append([]byte(nil), raw...)
	}
	return r, nil
}
