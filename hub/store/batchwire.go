package store

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// A Batch (hubv1.Batch of hubv1.BatchEntry) is written and read with protowire rather than the
// generated code: the generated decoder allocates an entry and copies every payload, only for
// each payload to be decoded once more, and on the leader the encoder does the same work again
// for every entry. The bytes are those proto.Marshal writes (deterministically), and reading
// follows proto.Unmarshal: unknown fields and fields of an unexpected wire type are skipped,
// the last of a repeated scalar wins, and damage is an error.

// Field numbers of hubv1.Batch and hubv1.BatchEntry (proto/hub/v1/store.proto).
const (
	batchCommands     protowire.Number = 1
	batchEntryType    protowire.Number = 1
	batchEntryPayload protowire.Number = 2
)

// batchEntry is one command of a Batch; payload aliases the Batch's bytes.
type batchEntry struct {
	typ     uint32
	payload []byte
}

// appendBatch appends the Batch of cmds (each a type byte and its payload).
func appendBatch(b []byte, cmds [][]byte) []byte {
	for _, c := range cmds {
		b = protowire.AppendTag(b, batchCommands, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(batchEntrySize(c)))
		if c[0] != 0 {
			b = protowire.AppendTag(b, batchEntryType, protowire.VarintType)
			b = protowire.AppendVarint(b, uint64(c[0]))
		}
		if len(c) > 1 {
			b = protowire.AppendTag(b, batchEntryPayload, protowire.BytesType)
			b = protowire.AppendBytes(b, c[1:])
		}
	}
	return b
}

func batchEntrySize(c []byte) int {
	n := 0
	if c[0] != 0 {
		n += protowire.SizeTag(batchEntryType) + protowire.SizeVarint(uint64(c[0]))
	}
	if len(c) > 1 {
		n += protowire.SizeTag(batchEntryPayload) + protowire.SizeBytes(len(c)-1)
	}
	return n
}

func batchSize(cmds [][]byte) int {
	n := 0
	for _, c := range cmds {
		n += protowire.SizeTag(batchCommands) + protowire.SizeBytes(batchEntrySize(c))
	}
	return n
}

// decodeBatch reads a Batch payload.
func decodeBatch(b []byte) ([]batchEntry, error) {
	var out []batchEntry
	err := eachWireField(b, func(num protowire.Number, typ protowire.Type, _ uint64, raw []byte) error {
		if num != batchCommands || typ != protowire.BytesType {
			return nil
		}
		var e batchEntry
		err := eachWireField(raw, func(num protowire.Number, typ protowire.Type, v uint64, raw []byte) error {
			switch {
			case num == batchEntryType && typ == protowire.VarintType:
				e.typ = uint32(v) // as the generated code reads a uint32
			case num == batchEntryPayload && typ == protowire.BytesType:
				e.payload = raw
			}
			return nil
		})
		if err != nil {
			return err
		}
		out = append(out, e)
		return nil
	})
	return out, err
}

// eachWireField calls fn with every field of a message in wire format: a varint's value, or a
// length-delimited field's content (aliasing b). Fields of other wire types are checked and
// skipped.
func eachWireField(b []byte, fn func(num protowire.Number, typ protowire.Type, v uint64, raw []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		var (
			v   uint64
			raw []byte
		)
		switch typ {
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(b)
		case protowire.BytesType:
			raw, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return fmt.Errorf("field %d: %w", num, protowire.ParseError(n))
		}
		b = b[n:]
		if typ == protowire.VarintType || typ == protowire.BytesType {
			if err := fn(num, typ, v, raw); err != nil {
				return err
			}
		}
	}
	return nil
}
