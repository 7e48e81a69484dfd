package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"strings"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	hubv1 "github.com/kubedevaiops/kubedevaiops/proto/hub/v1"
)

// applyFunc applies one command's payload within an applier's transaction. It must
// check everything before writing anything, so that a failed command applies nothing.
type applyFunc func(a *applier, payload []byte) *Result

// commands is the dispatch table, keyed by command type without the ignore flag.
var commands map[CommandType]applyFunc

func init() {
	commands = map[CommandType]applyFunc{
		CmdResourceWrite: applyResourceWrite,
		CmdAuditAppend:   applyAuditAppend,
		CmdBatch:         applyBatch,
		CmdTransaction:   applyTransaction,
	}
}

// applier applies the commands of one or more Raft entries in one memdb transaction.
//
// It never reads through txn: memdb serves a read on an index the transaction has written by
// cloning that index's radix transaction, which forgets the nodes the transaction has already
// copied, so the next write copies its whole path again (for the audit index, a node of up to
// 256 edges per record). Reads go to what this transaction wrote (written, auditSeq/auditHash)
// and else to base, the state the transaction started from; every write to the resources and
// audit tables goes through the methods below, which keep those up to date.
type applier struct {
	s      *Store
	txn    *memdb.Txn
	base   *memdb.Txn // read-only, at the state txn started from
	index  uint64     // store index, bumped by each applied mutation
	events []Event    // watch events, published after commit
	raft   uint64     // index of the Raft entry being applied

	written map[string]*Resource // by id key: what this transaction left; nil when deleted
	// The audit head (sequence 0: none), once auditLoaded.
	auditSeq    uint64
	auditHash   []byte
	auditLoaded bool
}

func newApplier(s *Store) *applier {
	db := s.db.Load()
	return &applier{s: s, txn: db.Txn(true), base: db.Txn(false), index: s.index.Load(), written: map[string]*Resource{}}
}

// current returns the resource as this transaction sees it, nil when there is none.
func (a *applier) current(kind, ns, name string) (*Resource, error) {
	if strings.IndexByte(kind, 0) < 0 && strings.IndexByte(ns, 0) < 0 && strings.IndexByte(name, 0) < 0 {
		if r, ok := a.written[string(resourceKey(kind, ns, name))]; ok {
			return r, nil
		}
	}
	raw, err := a.base.First(tableResources, indexID, kind, ns, name) // refuses a NUL, as txn would
	if err != nil || raw == nil {
		return nil, err
	}
	return raw.(*Resource), nil
}

func (a *applier) insertResource(r *Resource) error {
	if err := a.txn.Insert(tableResources, r); err != nil {
		return err
	}
	a.written[string(resourceKey(r.Kind, r.Namespace, r.Name))] = r
	return nil
}

func (a *applier) deleteResource(r *Resource) error {
	if err := a.txn.Delete(tableResources, r); err != nil {
		return err
	}
	a.written[string(resourceKey(r.Kind, r.Namespace, r.Name))] = nil
	return nil
}

// auditHead returns the sequence and hash of the last audit record (0, nil: none).
func (a *applier) auditHead() (uint64, []byte, error) {
	if !a.auditLoaded {
		raw, err := a.base.Last(tableAudit, indexID)
		if err != nil {
			return 0, nil, err
		}
		if raw != nil {
			head := raw.(*AuditRecord)
			a.auditSeq, a.auditHash = head.Sequence, head.Hash
		}
		a.auditLoaded = true
	}
	return a.auditSeq, a.auditHash, nil
}

// insertAudit appends r, which must follow the head auditHead returned.
func (a *applier) insertAudit(r *AuditRecord) error {
	if err := a.txn.Insert(tableAudit, r); err != nil {
		return err
	}
	a.auditSeq, a.auditHash, a.auditLoaded = r.Sequence, r.Hash, true
	return nil
}

// deleteAudit removes r, which must be the head: the record before it becomes the head.
func (a *applier) deleteAudit(r *AuditRecord) error {
	if err := a.txn.Delete(tableAudit, r); err != nil {
		return err
	}
	a.auditSeq, a.auditHash, a.auditLoaded = r.Sequence-1, r.PrevHash, true
	return nil
}

// Apply applies one committed Raft entry; see Result for what it returns.
func (s *Store) Apply(l *raft.Log) any {
	return s.ApplyBatch([]*raft.Log{l})[0]
}

// ApplyBatch applies consecutive committed Raft entries in one transaction and returns
// one response per entry: a *Result for each command entry, nil for others.
//
// It does not panic. Should applying an entry panic all the same (a bug), the batch's
// transaction is dropped and the entries are applied again one transaction each; the
// entry that panics gets an ErrInvalid result and changes nothing. A bug hits every
// member alike, so they stay identical.
func (s *Store) ApplyBatch(logs []*raft.Log) []any {
	if out, ok := s.applyLogs(logs); ok {
		return out
	}
	out := make([]any, len(logs))
	for i, l := range logs {
		if one, ok := s.applyLogs(logs[i : i+1]); ok {
			out[i] = one[0]
			continue
		}
		out[i] = &Result{Index: s.index.Load(), Err: fmt.Errorf("%w: internal error applying the entry at raft index %d; nothing applied", ErrInvalid, l.Index)}
		s.setApplied(l.Index)
	}
	return out
}

// applyLogs applies logs in one transaction; ok is false, and nothing is applied, if
// that panicked.
func (s *Store) applyLogs(logs []*raft.Log) (out []any, ok bool) {
	out = make([]any, len(logs))
	if len(logs) == 0 {
		return out, true
	}
	a := newApplier(s)
	if !a.run(logs, out) {
		a.txn.Abort()
		return nil, false
	}
	last := logs[len(logs)-1].Index
	if err := a.txn.Insert(tableMeta, &meta{StoreIndex: a.index, AppliedIndex: last}); err != nil {
		// Only a schema bug gets here; the in-memory indexes stay right regardless.
		s.log.Error("store: writing the meta row", "err", err)
	}
	a.txn.Commit()
	s.index.Store(a.index)
	s.hist.append(a.events, a.index)
	s.setApplied(last)
	return out, true
}

// run applies the command entries of logs into out; false if one panicked.
func (a *applier) run(logs []*raft.Log, out []any) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			a.s.log.Error("store: applying raft entries panicked; retrying them one by one",
				"raftIndex", a.raft, "panic", p, "stack", string(debug.Stack()))
			ok = false
		}
	}()
	for i, l := range logs {
		a.raft = l.Index
		if l.Type == raft.LogCommand {
			out[i] = a.entry(l.Data)
		}
	}
	return true
}

// entry applies the data of one command entry: type byte, then payload.
func (a *applier) entry(data []byte) *Result {
	if len(data) == 0 {
		return a.fail(fmt.Errorf("%w: empty command at raft index %d", ErrInvalid, a.raft))
	}
	return a.dispatch(CommandType(data[0]), data[1:])
}

func (a *applier) dispatch(t CommandType, payload []byte) *Result {
	fn, ok := commands[t&^IgnoreUnknownFlag]
	if !ok {
		if t&IgnoreUnknownFlag != 0 {
			a.s.log.Warn("store: skipping a command of unknown type flagged ignore-if-unknown; this member is older than the proposer",
				"type", uint8(t), "raftIndex", a.raft)
			return &Result{Index: a.index, Ignored: true}
		}
		return a.fail(fmt.Errorf("%w: %d at raft index %d (this member may be older than the proposer)", ErrUnknownCommand, uint8(t), a.raft))
	}
	return fn(a, payload)
}

func (a *applier) fail(err error) *Result { return &Result{Index: a.index, Err: err} }

func applyBatch(a *applier, payload []byte) *Result {
	cmds, err := decodeBatch(payload)
	if err != nil {
		return a.fail(fmt.Errorf("%w: malformed Batch payload: %v", ErrInvalid, err))
	}
	if len(cmds) > MaxBatchCommands {
		return a.fail(fmt.Errorf("%w: batch of %d commands, limit %d", ErrTooLarge, len(cmds), MaxBatchCommands))
	}
	subs := make([]*Result, len(cmds))
	for i, c := range cmds {
		switch {
		case c.typ > 0xff:
			subs[i] = a.fail(fmt.Errorf("%w: batch command %d: type %d is not a byte", ErrInvalid, i, c.typ))
		case CommandType(c.typ)&^IgnoreUnknownFlag == CmdBatch:
			subs[i] = a.fail(fmt.Errorf("%w: batch command %d is a batch; batches do not nest", ErrInvalid, i))
		default:
			subs[i] = a.dispatch(CommandType(c.typ), c.payload)
		}
	}
	return &Result{Index: a.index, Batch: subs}
}

func applyResourceWrite(a *applier, payload []byte) *Result {
	var w hubv1.ResourceWrite
	if err := proto.Unmarshal(payload, &w); err != nil {
		return a.fail(fmt.Errorf("%w: malformed ResourceWrite payload: %v", ErrInvalid, err))
	}
	ki, ok := LookupKind(w.Kind)
	if !ok {
		return a.fail(fmt.Errorf("%w: unknown kind %q", ErrInvalid, w.Kind))
	}
	if err := checkNamespace(ki, w.Namespace); err != nil {
		return a.fail(err)
	}
	if w.Name == "" || len(w.Name) > 253 || bytes.IndexByte([]byte(w.Name), 0) >= 0 {
		return a.fail(fmt.Errorf("%w: %s: invalid name %q", ErrInvalid, w.Kind, w.Name))
	}
	if len(w.ObjectJson) > MaxObjectSize {
		return a.fail(fmt.Errorf("%w: %s %s object is %d bytes, limit %d", ErrTooLarge, w.Kind, w.Name, len(w.ObjectJson), MaxObjectSize))
	}
	cur, err := a.current(w.Kind, w.Namespace, w.Name)
	if err != nil {
		return a.fail(fmt.Errorf("%w: %s %s: %v", ErrInvalid, w.Kind, w.Name, err))
	}
	if w.Audit != nil {
		if err := checkAuditAppend(w.Audit); err != nil {
			return a.fail(fmt.Errorf("%s: attached %w", ref(&w), err))
		}
	}
	var res *Result
	switch w.Op {
	case hubv1.ResourceOp_RESOURCE_OP_CREATE:
		res = a.create(ki, &w, cur)
	case hubv1.ResourceOp_RESOURCE_OP_UPDATE:
		res = a.update(&w, cur)
	case hubv1.ResourceOp_RESOURCE_OP_DELETE:
		res = a.delete(&w, cur)
	case hubv1.ResourceOp_RESOURCE_OP_APPLY:
		if cur == nil && w.ExpectedResourceVersion == 0 {
			res = a.create(ki, &w, cur)
		} else {
			res = a.update(&w, cur)
		}
	default:
		return a.fail(fmt.Errorf("%w: %s %s: unknown resource operation %d", ErrInvalid, w.Kind, w.Name, w.Op))
	}
	if res.Err != nil || w.Audit == nil {
		return res
	}
	audited := a.appendAudit(w.Audit)
	if audited.Err != nil {
		// The write is already in the transaction and memdb cannot undo half of it; the
		// applier's panic recovery drops the transaction and fails this entry alone.
		panic(fmt.Sprintf("store: audit record of %s could not be appended: %v", ref(&w), audited.Err))
	}
	res.Index, res.Audit = audited.Index, audited.Audit
	return res
}

func ref(w *hubv1.ResourceWrite) string {
	if w.Namespace != "" {
		return w.Kind + " " + w.Namespace + "/" + w.Name
	}
	return w.Kind + " " + w.Name
}

// checkPrecondition: the resource must exist and, when an expected version is given,
// be at it.
func checkPrecondition(w *hubv1.ResourceWrite, cur *Resource) error {
	if cur == nil {
		return fmt.Errorf("%w: %s", ErrNotFound, ref(w))
	}
	if w.ExpectedResourceVersion != 0 && w.ExpectedResourceVersion != cur.ResourceVersion {
		return fmt.Errorf("%w: %s: expected resourceVersion %d, current is %d",
			ErrConflict, ref(w), w.ExpectedResourceVersion, cur.ResourceVersion)
	}
	return nil
}

// parseFor parses a command's object and checks it names the resource the command does.
func parseFor(w *hubv1.ResourceWrite) (*objectDoc, map[string]string, error) {
	if len(w.ObjectJson) == 0 {
		return nil, nil, fmt.Errorf("%w: %s: object is missing", ErrInvalid, ref(w))
	}
	d, err := parseObject(w.ObjectJson)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %v", ErrInvalid, ref(w), err)
	}
	kind, err := d.str(d.top, "kind")
	if err == nil && kind != w.Kind {
		err = fmt.Errorf("object kind is %q", kind)
	}
	var name, ns string
	if err == nil {
		name, err = d.str(d.meta, "name")
	}
	if err == nil {
		ns, err = d.str(d.meta, "namespace")
	}
	if err == nil && (name != w.Name || ns != w.Namespace) {
		err = fmt.Errorf("object is named %q in namespace %q", name, ns)
	}
	var labels map[string]string
	if err == nil {
		labels, err = d.labels()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %v", ErrInvalid, ref(w), err)
	}
	return d, labels, nil
}

func (a *applier) create(ki KindInfo, w *hubv1.ResourceWrite, cur *Resource) *Result {
	if cur != nil {
		return a.fail(fmt.Errorf("%w: %s", ErrAlreadyExists, ref(w)))
	}
	if w.Uid == "" || w.CreationTimestamp == nil {
		return a.fail(fmt.Errorf("%w: %s: create without uid or creation timestamp", ErrInvalid, ref(w)))
	}
	if err := w.CreationTimestamp.CheckValid(); err != nil {
		return a.fail(fmt.Errorf("%w: %s: creation timestamp: %v", ErrInvalid, ref(w), err))
	}
	d, labels, err := parseFor(w)
	if err != nil {
		return a.fail(err)
	}
	idx := a.index + 1
	d.setOwnedString(ownUID, w.Uid)
	d.setOwnedString(ownCreationTimestamp, formatTimestamp(w.CreationTimestamp.AsTime()))
	created := d.owned[ownCreationTimestamp]
	d.setGeneration(1)
	d.setResourceVersion(idx)
	r := &Resource{
		Kind: ki.Kind, Namespace: w.Namespace, Name: w.Name, UID: w.Uid,
		ResourceVersion: idx, CreateIndex: idx, ModifyIndex: idx, Generation: 1,
		Labels: labels, specSum: d.specSum(), created: created, Object: d.marshal(),
	}
	return a.put(r, Added)
}

func (a *applier) update(w *hubv1.ResourceWrite, cur *Resource) *Result {
	if err := checkPrecondition(w, cur); err != nil {
		return a.fail(err)
	}
	d, labels, err := parseFor(w)
	if err != nil {
		return a.fail(err)
	}
	idx := a.index + 1
	sum := d.specSum()
	gen := cur.Generation
	if sum != cur.specSum {
		gen++
	}
	d.setOwnedString(ownUID, cur.UID)
	d.owned[ownCreationTimestamp] = cur.created
	if cur.created == nil {
		d.owned[ownCreationTimestamp] = []byte("null")
	}
	d.setGeneration(gen)
	d.setResourceVersion(idx)
	r := &Resource{
		Kind: cur.Kind, Namespace: cur.Namespace, Name: cur.Name, UID: cur.UID,
		ResourceVersion: idx, CreateIndex: cur.CreateIndex, ModifyIndex: idx, Generation: gen,
		Labels: labels, specSum: sum, created: cur.created, Object: d.marshal(),
	}
	return a.put(r, Modified)
}

func (a *applier) put(r *Resource, t EventType) *Result {
	if len(r.Object) > MaxObjectSize {
		return a.fail(fmt.Errorf("%w: %s %s object is %d bytes with its metadata, limit %d", ErrTooLarge, r.Kind, r.Name, len(r.Object), MaxObjectSize))
	}
	if err := a.insertResource(r); err != nil {
		return a.fail(fmt.Errorf("%w: %s %s: %v", ErrInvalid, r.Kind, r.Name, err))
	}
	a.index = r.ModifyIndex
	a.events = append(a.events, Event{Type: t, Index: r.ModifyIndex, Resource: r})
	return &Result{Index: a.index, Resource: r}
}

func (a *applier) delete(w *hubv1.ResourceWrite, cur *Resource) *Result {
	if err := checkPrecondition(w, cur); err != nil {
		return a.fail(err)
	}
	idx := a.index + 1
	// The last state, as Kubernetes reports it: at the delete's resource version.
	gone := *cur
	gone.ResourceVersion, gone.ModifyIndex = idx, idx
	if d, err := parseObject(cur.Object); err == nil {
		d.setResourceVersion(idx)
		gone.Object = d.marshal()
	}
	if err := a.deleteResource(cur); err != nil {
		return a.fail(fmt.Errorf("%w: %s: %v", ErrInvalid, ref(w), err))
	}
	a.index = idx
	a.events = append(a.events, Event{Type: Deleted, Index: idx, Resource: &gone})
	return &Result{Index: idx, Resource: &gone}
}

func applyAuditAppend(a *applier, payload []byte) *Result {
	var c hubv1.AuditAppend
	if err := proto.Unmarshal(payload, &c); err != nil {
		return a.fail(fmt.Errorf("%w: malformed AuditAppend payload: %v", ErrInvalid, err))
	}
	if err := checkAuditAppend(&c); err != nil {
		return a.fail(err)
	}
	return a.appendAudit(&c)
}

// checkAuditAppend validates an audit entry before anything of its command is applied.
func checkAuditAppend(c *hubv1.AuditAppend) error {
	if c.Actor == "" || c.Action == "" || c.Time == nil || c.Time.CheckValid() != nil {
		return fmt.Errorf("%w: audit entry needs an actor, an action and a valid time", ErrInvalid)
	}
	if len(c.DetailsJson) > MaxAuditDetailsSize {
		return fmt.Errorf("%w: audit details are %d bytes, limit %d", ErrTooLarge, len(c.DetailsJson), MaxAuditDetailsSize)
	}
	if len(c.DetailsJson) > 0 && !json.Valid(c.DetailsJson) {
		return fmt.Errorf("%w: audit details are not valid JSON", ErrInvalid)
	}
	for _, f := range []string{c.Actor, c.Action, c.Target, c.Cluster, c.TraceId} {
		if len(f) > MaxAuditFieldSize {
			return fmt.Errorf("%w: an audit field is %d bytes, limit %d", ErrTooLarge, len(f), MaxAuditFieldSize)
		}
	}
	return nil
}

// appendAudit links a validated entry into the hash chain.
func (a *applier) appendAudit(c *hubv1.AuditAppend) *Result {
	head, prev, err := a.auditHead()
	if err != nil {
		return a.fail(fmt.Errorf("%w: reading the audit head: %v", ErrInvalid, err))
	}
	seq := head + 1
	idx := a.index + 1
	r := &AuditRecord{
		Sequence: seq, Time: c.Time.AsTime().UTC(), Actor: c.Actor, Action: c.Action, Target: c.Target,
		Cluster: c.Cluster, TraceID: c.TraceId, Details: c.DetailsJson, PrevHash: prev, Index: idx,
	}
	r.Hash = AuditHash(r)
	if err := a.insertAudit(r); err != nil {
		return a.fail(fmt.Errorf("%w: appending audit record %d: %v", ErrInvalid, seq, err))
	}
	a.index = idx
	return &Result{Index: idx, Audit: r}
}
