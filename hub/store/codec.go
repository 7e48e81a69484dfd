package store

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Codec is what hub/raftnode needs of the store's commands: packing concurrent commands into one
// Batch entry, splitting the batch's result, and carrying a result from the leader to a member
// that forwarded the write. It has no state.
type Codec struct{}

// Batch packs encoded commands into one Batch command.
func (Codec) Batch(cmds [][]byte) ([]byte, error) { return EncodeBatch(cmds) }

// SplitBatch returns the per-command results of a Batch entry, in order.
func (Codec) SplitBatch(resp any, n int) ([]any, error) {
	res, ok := resp.(*Result)
	if !ok || res == nil {
		return nil, fmt.Errorf("batch result is %T, not *store.Result", resp)
	}
	if res.Err != nil && len(res.Batch) == 0 {
		return nil, res.Err // the batch itself was refused
	}
	if len(res.Batch) != n {
		return nil, fmt.Errorf("batch of %d commands returned %d results", n, len(res.Batch))
	}
	out := make([]any, n)
	for i, r := range res.Batch {
		out[i] = r
	}
	return out, nil
}

// wireResult is a Result on the wire between members. Errors travel as the sentinel they wrap
// (by name) and their message, so errors.Is keeps working on the forwarding member.
type wireResult struct {
	Index    uint64        `json:"index,omitempty"`
	Resource *Resource     `json:"resource,omitempty"`
	Audit    *AuditRecord  `json:"audit,omitempty"`
	Batch    []*wireResult `json:"batch,omitempty"`
	Ignored  bool          `json:"ignored,omitempty"`
	ErrKind  string        `json:"errKind,omitempty"`
	ErrMsg   string        `json:"errMsg,omitempty"`
}

var sentinels = map[string]error{
	"NotFound": ErrNotFound, "AlreadyExists": ErrAlreadyExists, "Conflict": ErrConflict,
	"Invalid": ErrInvalid, "TooLarge": ErrTooLarge, "UnknownCommand": ErrUnknownCommand, "Compacted": ErrCompacted,
	"Aborted": ErrAborted,
}

func toWire(r *Result) *wireResult {
	if r == nil {
		return nil
	}
	w := &wireResult{Index: r.Index, Resource: r.Resource, Audit: r.Audit, Ignored: r.Ignored}
	for _, b := range r.Batch {
		w.Batch = append(w.Batch, toWire(b))
	}
	if r.Err != nil {
		w.ErrMsg = r.Err.Error()
		for name, s := range sentinels {
			if errors.Is(r.Err, s) {
				w.ErrKind = name
				break
			}
		}
	}
	return w
}

func fromWire(w *wireResult) *Result {
	if w == nil {
		return nil
	}
	r := &Result{Index: w.Index, Resource: w.Resource, Audit: w.Audit, Ignored: w.Ignored}
	for _, b := range w.Batch {
		r.Batch = append(r.Batch, fromWire(b))
	}
	if w.ErrMsg != "" {
		r.Err = &remoteError{msg: w.ErrMsg, sentinel: sentinels[w.ErrKind]}
	}
	return r
}

// remoteError is an error the leader's store returned, as seen on the forwarding member.
type remoteError struct {
	msg      string
	sentinel error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.sentinel }

// MarshalResult encodes one result for the member API: compact (see wire.go) for a member that
// reads it, else JSON, which every version reads.
func (Codec) MarshalResult(resp any, compact bool) ([]byte, error) {
	res, ok := resp.(*Result)
	if !ok {
		return nil, fmt.Errorf("result is %T, not *store.Result", resp)
	}
	if compact {
		return marshalCompact(toWire(res)), nil
	}
	return json.Marshal(toWire(res))
}

// UnmarshalResult decodes a result from the member API, in either encoding.
func (Codec) UnmarshalResult(data []byte) (any, error) {
	if len(data) > 0 && data[0] == compactResultV1 {
		w, err := unmarshalCompact(data)
		if err != nil {
			return nil, err
		}
		return fromWire(w), nil
	}
	var w wireResult
	if err := json.Unmarshal(data, &w); err != nil {
		return nil, err
	}
	return fromWire(&w), nil
}
