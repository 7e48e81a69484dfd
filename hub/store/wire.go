package store

import (
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// The compact result encoding: a wireResult as protobuf wire format, written and read by hand
// (there is no .proto for it), after one version byte. It replaces JSON between members that
// both know it because encoding/json spent more CPU on the leader's answer to a forwarded write
// (reflection, base64 of the object and hashes) than applying the write did. JSON starts with
// '{' or 'n', so the version byte tells the two apart.
const compactResultV1 = 0x01

// Field numbers. Numbers are forever, as for commands; a reader skips fields it does not know.
const (
	wrIndex    = 1 // uint64
	wrResource = 2 // wireResource
	wrAudit    = 3 // wireAudit
	wrBatch    = 4 // repeated wireResult; an empty message with wrNil for a nil entry
	wrIgnored  = 5 // bool
	wrErrKind  = 6 // string
	wrErrMsg   = 7 // string
	wrNil      = 8 // bool: this batch entry is nil

	resKind            = 1
	resNamespace       = 2
	resName            = 3
	resUID             = 4
	resResourceVersion = 5
	resCreateIndex     = 6
	resModifyIndex     = 7
	resGeneration      = 8  // int64 as a two's complement varint
	resLabel           = 9  // repeated: key (1), value (2)
	resLabelsEmpty     = 10 // bool: Labels is an empty, not nil, map
	resObject          = 11 // bytes; absent when nil

	audSequence = 1
	audSeconds  = 2 // int64: Time as Unix seconds and nanoseconds, in UTC
	audNanos    = 3
	audActor    = 4
	audAction   = 5
	audTarget   = 6
	audCluster  = 7
	audTraceID  = 8
	audDetails  = 9  // bytes; absent when nil
	audPrevHash = 10 // bytes; absent when nil
	audHash     = 11 // bytes; absent when nil
	audIndex    = 12
)

func marshalCompact(w *wireResult) []byte {
	return appendWireResult([]byte{compactResultV1}, w)
}

func appendWireResult(b []byte, w *wireResult) []byte {
	b = putUint(b, wrIndex, w.Index)
	if r := w.Resource; r != nil {
		b = putMessage(b, wrResource, func(b []byte) []byte { return appendResource(b, r) })
	}
	if a := w.Audit; a != nil {
		b = putMessage(b, wrAudit, func(b []byte) []byte { return appendAuditRecord(b, a) })
	}
	for _, sub := range w.Batch {
		b = putMessage(b, wrBatch, func(b []byte) []byte {
			if sub == nil {
				return putBool(b, wrNil, true)
			}
			return appendWireResult(b, sub)
		})
	}
	b = putBool(b, wrIgnored, w.Ignored)
	b = putString(b, wrErrKind, w.ErrKind)
	return putString(b, wrErrMsg, w.ErrMsg)
}

func appendResource(b []byte, r *Resource) []byte {
	b = putString(b, resKind, r.Kind)
	b = putString(b, resNamespace, r.Namespace)
	b = putString(b, resName, r.Name)
	b = putString(b, resUID, r.UID)
	b = putUint(b, resResourceVersion, r.ResourceVersion)
	b = putUint(b, resCreateIndex, r.CreateIndex)
	b = putUint(b, resModifyIndex, r.ModifyIndex)
	b = putUint(b, resGeneration, uint64(r.Generation))
	for k, v := range r.Labels {
		b = putMessage(b, resLabel, func(b []byte) []byte {
			b = protowire.AppendTag(b, 1, protowire.BytesType)
			b = protowire.AppendString(b, k)
			b = protowire.AppendTag(b, 2, protowire.BytesType)
			return protowire.AppendString(b, v)
		})
	}
	b = putBool(b, resLabelsEmpty, r.Labels != nil && len(r.Labels) == 0)
	return putBytes(b, resObject, r.Object)
}

func appendAuditRecord(b []byte, a *AuditRecord) []byte {
	b = putUint(b, audSequence, a.Sequence)
	b = putUint(b, audSeconds, uint64(a.Time.Unix()))
	b = putUint(b, audNanos, uint64(a.Time.Nanosecond()))
	b = putString(b, audActor, a.Actor)
	b = putString(b, audAction, a.Action)
	b = putString(b, audTarget, a.Target)
	b = putString(b, audCluster, a.Cluster)
	b = putString(b, audTraceID, a.TraceID)
	b = putBytes(b, audDetails, a.Details)
	b = putBytes(b, audPrevHash, a.PrevHash)
	b = putBytes(b, audHash, a.Hash)
	return putUint(b, audIndex, a.Index)
}

func putUint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func putBool(b []byte, num protowire.Number, v bool) []byte {
	if !v {
		return b
	}
	return putUint(b, num, 1)
}

func putString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// appendBytes writes v when it is not nil, so that nil and empty survive the trip.
func putBytes(b []byte, num protowire.Number, v []byte) []byte {
	if v == nil {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

// appendMessage writes a length-delimited field whose content body appends; the content is
// built in place and the length, a varint of unknown size until then, moved in front of it.
func putMessage(b []byte, num protowire.Number, body func([]byte) []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	start := len(b)
	b = body(b)
	n := len(b) - start
	size := protowire.SizeVarint(uint64(n))
	b = append(b, make([]byte, size)...)
	copy(b[start+size:], b[start:start+n])
	protowire.AppendVarint(b[start:start], uint64(n))
	return b
}

var errCompactResult = errors.New("malformed compact result")

func unmarshalCompact(data []byte) (*wireResult, error) {
	if len(data) == 0 || data[0] != compactResultV1 {
		return nil, fmt.Errorf("%w: unknown version", errCompactResult)
	}
	return decodeWireResult(data[1:], 0)
}

// maxResultDepth bounds batch nesting; the store never nests batches, so 2 would do.
const maxResultDepth = 8

func decodeWireResult(b []byte, depth int) (*wireResult, error) {
	w, _, err := decodeWireEntry(b, depth)
	return w, err
}

// decodeWireEntry decodes a result; isNil reports a batch entry that stands for nil.
func decodeWireEntry(b []byte, depth int) (w *wireResult, isNil bool, err error) {
	if depth > maxResultDepth {
		return nil, false, fmt.Errorf("%w: nested too deep", errCompactResult)
	}
	w = &wireResult{}
	err = eachField(b, func(num protowire.Number, typ protowire.Type, v uint64, raw []byte) error {
		switch {
		case num == wrIndex && typ == protowire.VarintType:
			w.Index = v
		case num == wrResource && typ == protowire.BytesType:
			r, err := decodeResource(raw)
			if err != nil {
				return err
			}
			w.Resource = r
		case num == wrAudit && typ == protowire.BytesType:
			a, err := decodeAuditRecord(raw)
			if err != nil {
				return err
			}
			w.Audit = a
		case num == wrBatch && typ == protowire.BytesType:
			sub, subNil, err := decodeWireEntry(raw, depth+1)
			if err != nil {
				return err
			}
			if subNil {
				sub = nil
			}
			w.Batch = append(w.Batch, sub)
		case num == wrIgnored && typ == protowire.VarintType:
			w.Ignored = v != 0
		case num == wrErrKind && typ == protowire.BytesType:
			w.ErrKind = string(raw)
		case num == wrErrMsg && typ == protowire.BytesType:
			w.ErrMsg = string(raw)
		case num == wrNil && typ == protowire.VarintType:
			isNil = v != 0
		}
		return nil
	})
	return w, isNil, err
}

func decodeResource(b []byte) (*Resource, error) {
	r := &Resource{}
	labelsEmpty := false
	err := eachField(b, func(num protowire.Number, typ protowire.Type, v uint64, raw []byte) error {
		if typ == protowire.VarintType {
			switch num {
			case resResourceVersion:
				r.ResourceVersion = v
			case resCreateIndex:
				r.CreateIndex = v
			case resModifyIndex:
				r.ModifyIndex = v
			case resGeneration:
				r.Generation = int64(v)
			case resLabelsEmpty:
				labelsEmpty = v != 0
			}
			return nil
		}
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case resKind:
			r.Kind = string(raw)
		case resNamespace:
			r.Namespace = string(raw)
		case resName:
			r.Name = string(raw)
		case resUID:
			r.UID = string(raw)
		case resObject:
			r.Object = append([]byte{}, raw...)
		case resLabel:
			var k, val string
			if err := eachField(raw, func(num protowire.Number, typ protowire.Type, _ uint64, raw []byte) error {
				if typ == protowire.BytesType && num == 1 {
					k = string(raw)
				} else if typ == protowire.BytesType && num == 2 {
					val = string(raw)
				}
				return nil
			}); err != nil {
				return err
			}
			if r.Labels == nil {
				r.Labels = map[string]string{}
			}
			r.Labels[k] = val
		}
		return nil
	})
	if labelsEmpty && r.Labels == nil {
		r.Labels = map[string]string{}
	}
	return r, err
}

func decodeAuditRecord(b []byte) (*AuditRecord, error) {
	a := &AuditRecord{}
	var sec, nsec int64
	err := eachField(b, func(num protowire.Number, typ protowire.Type, v uint64, raw []byte) error {
		if typ == protowire.VarintType {
			switch num {
			case audSequence:
				a.Sequence = v
			case audSeconds:
				sec = int64(v)
			case audNanos:
				nsec = int64(v)
			case audIndex:
				a.Index = v
			}
			return nil
		}
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case audActor:
			a.Actor = string(raw)
		case audAction:
			a.Action = string(raw)
		case audTarget:
			a.Target = string(raw)
		case audCluster:
			a.Cluster = string(raw)
		case audTraceID:
			a.TraceID = string(raw)
		case audDetails:
			a.Details = append([]byte{}, raw...)
		case audPrevHash:
			a.PrevHash = append([]byte{}, raw...)
		case audHash:
			a.Hash = append([]byte{}, raw...)
		}
		return nil
	})
	a.Time = time.Unix(sec, nsec).UTC()
	return a, err
}

// eachField is eachWireField with errors marked as a damaged compact result.
func eachField(b []byte, fn func(num protowire.Number, typ protowire.Type, v uint64, raw []byte) error) error {
	if err := eachWireField(b, fn); err != nil {
		if errors.Is(err, errCompactResult) {
			return err
		}
		return fmt.Errorf("%w: %v", errCompactResult, err)
	}
	return nil
}
