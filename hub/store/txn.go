package store

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	hubv1 "github.com/kubedevaiops/kubedevaiops/proto/hub/v1"
)

// A transaction applies all of its commands or none: a registration consumes a token use,
// creates the cluster and records the request together, and must never do half of that.
// Its payload is a Batch of resource writes and audit appends.

// EncodeTransaction packs encoded resource writes and audit appends into one all-or-nothing
// command. When any of them fails, none is applied and the result's Err is that failure,
// prefixed with the position of the command that failed; Batch then holds each command's own
// result.
func EncodeTransaction(cmds [][]byte) ([]byte, error) {
	if len(cmds) == 0 {
		return nil, fmt.Errorf("%w: transaction without commands", ErrInvalid)
	}
	if len(cmds) > MaxBatchCommands {
		return nil, fmt.Errorf("%w: transaction of %d commands, limit %d", ErrTooLarge, len(cmds), MaxBatchCommands)
	}
	b := &hubv1.Batch{Commands: make([]*hubv1.BatchEntry, len(cmds))}
	for i, c := range cmds {
		if len(c) == 0 {
			return nil, fmt.Errorf("%w: transaction command %d is empty", ErrInvalid, i)
		}
		if t := CommandType(c[0]) &^ IgnoreUnknownFlag; t != CmdResourceWrite && t != CmdAuditAppend {
			return nil, fmt.Errorf("%w: transaction command %d is a %v; a transaction holds resource writes and audit appends", ErrInvalid, i, t)
		}
		b.Commands[i] = &hubv1.BatchEntry{Type: uint32(c[0]), Payload: c[1:]}
	}
	return encode(CmdTransaction, b)
}

// undo restores what one applied sub-command changed.
type undo struct {
	prev     *Resource // resource state before a write; nil when it did not exist
	written  *Resource // resource state the write left; nil after a delete
	appended *AuditRecord
}

func applyTransaction(a *applier, payload []byte) *Result {
	var b hubv1.Batch
	if err := proto.Unmarshal(payload, &b); err != nil {
		return a.fail(fmt.Errorf("%w: malformed Transaction payload: %v", ErrInvalid, err))
	}
	if len(b.Commands) == 0 || len(b.Commands) > MaxBatchCommands {
		return a.fail(fmt.Errorf("%w: transaction of %d commands; want 1 to %d", ErrInvalid, len(b.Commands), MaxBatchCommands))
	}
	startIndex, startEvents := a.index, len(a.events)
	undos := make([]undo, 0, len(b.Commands))
	subs := make([]*Result, len(b.Commands))
	failed := -1
	for i, c := range b.Commands {
		t := CommandType(c.Type) &^ IgnoreUnknownFlag
		if c.Type > 0xff || (t != CmdResourceWrite && t != CmdAuditAppend) {
			subs[i] = a.fail(fmt.Errorf("%w: transaction command %d: type %d is not a resource write or audit append", ErrInvalid, i, c.Type))
			failed = i
			break
		}
		var (
			prev     *Resource
			deleting bool
		)
		if t == CmdResourceWrite {
			prev, deleting = a.currentOf(c.Payload)
		}
		subs[i] = a.dispatch(CommandType(c.Type), c.Payload)
		if subs[i].Err != nil {
			failed = i
			break
		}
		u := undo{prev: prev, appended: subs[i].Audit}
		if t == CmdResourceWrite && !deleting {
			u.written = subs[i].Resource
		}
		undos = append(undos, u)
	}
	if failed < 0 {
		return &Result{Index: a.index, Batch: subs}
	}
	// Roll back in reverse order; memdb's transaction holds every change until commit, so
	// putting the previous rows back leaves it as it was before the transaction.
	for i := len(undos) - 1; i >= 0; i-- {
		u := undos[i]
		if u.appended != nil {
			if err := a.deleteAudit(u.appended); err != nil {
				panic(fmt.Sprintf("store: undo audit append %d: %v", u.appended.Sequence, err))
			}
		}
		if u.written != nil {
			if err := a.deleteResource(u.written); err != nil {
				panic(fmt.Sprintf("store: undo write of %s %s: %v", u.written.Kind, u.written.Name, err))
			}
		}
		if u.prev != nil {
			if err := a.insertResource(u.prev); err != nil {
				panic(fmt.Sprintf("store: undo write of %s %s: %v", u.prev.Kind, u.prev.Name, err))
			}
		}
	}
	a.index, a.events = startIndex, a.events[:startEvents]
	for i := range subs[:failed] {
		subs[i] = &Result{Index: startIndex, Err: fmt.Errorf("%w: rolled back with the transaction", ErrAborted)}
	}
	return &Result{Index: startIndex, Batch: subs[:failed+1],
		Err: fmt.Errorf("transaction command %d: %w", failed, subs[failed].Err)}
}

// currentOf returns the stored resource a ResourceWrite payload names, if any, and whether
// the write deletes it.
func (a *applier) currentOf(payload []byte) (*Resource, bool) {
	var w hubv1.ResourceWrite
	if proto.Unmarshal(payload, &w) != nil {
		return nil, false // the write itself fails on the same payload
	}
	deleting := w.Op == hubv1.ResourceOp_RESOURCE_OP_DELETE
	cur, err := a.current(w.Kind, w.Namespace, w.Name)
	if err != nil {
		return nil, deleting
	}
	return cur, deleting
}
