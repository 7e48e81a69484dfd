// Package audit defines the hub's hash-chained audit record and the rule that chains it: the
// canonical encoding, its hash, and verification. It is a contract, so that an admin can check
// the chain the hub serves without trusting the hub's own verdict.
package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// Record is one record of the hash-chained audit log.
type Record struct {
	// Sequence is the position in the log, from 1, without gaps.
	Sequence uint64
	// Time is when the audited event happened (UTC, nanosecond precision).
	Time                                    time.Time
	Actor, Action, Target, Cluster, TraceID string
	// Details is compact JSON, or empty.
	Details json.RawMessage
	// PrevHash is the Hash of record Sequence-1; empty for Sequence 1.
	PrevHash []byte
	// Hash is Hash of this record.
	Hash []byte
	// Index is the store index of the append. It is not covered by the hash.
	Index uint64
}

// auditDomain opens the canonical encoding, so an audit hash cannot be confused with
// a hash of anything else.
const auditDomain = "kubedevaiops.audit.v1\n"

// Canonical is the canonical encoding of a record that Hash hashes:
//
//	"kubedevaiops.audit.v1\n"
//	sequence          8 bytes, big-endian unsigned
//	time              8 bytes, big-endian signed: Unix time in nanoseconds (UTC)
//	actor, action, target, cluster, traceID, details, prevHash:
//	                  each a 4-byte big-endian length, then that many bytes
//	                  (strings as UTF-8, details as the stored compact JSON,
//	                  prevHash as the raw 32 bytes or empty for sequence 1)
//
// Every field is length-prefixed, so no two different records encode alike. The store
// index (Index) is not covered: it is where the record landed, not what it says.
func Canonical(r *Record) []byte {
	n := len(auditDomain) + 16 + 7*4 + len(r.Actor) + len(r.Action) + len(r.Target) +
		len(r.Cluster) + len(r.TraceID) + len(r.Details) + len(r.PrevHash)
	b := make([]byte, 0, n)
	b = append(b, auditDomain...)
	b = binary.BigEndian.AppendUint64(b, r.Sequence)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Time.UnixNano()))
	for _, f := range [][]byte{
		[]byte(r.Actor), []byte(r.Action), []byte(r.Target), []byte(r.Cluster), []byte(r.TraceID),
		r.Details, r.PrevHash,
	} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	return b
}

// Hash is SHA-256 of Canonical(r); r.Hash is not an input.
func Hash(r *Record) []byte {
	sum := sha256.Sum256(Canonical(r))
	return sum[:]
}

// Verify checks a run of consecutive audit records, as the hub stores them or as
// fetched over the admin API: each record's hash must match its content, its sequence
// must follow the one before, and its PrevHash must be the hash of the one before. The
// first record of the run must be sequence 1 with an empty PrevHash, or is trusted as
// the anchor (its PrevHash cannot be checked without its predecessor).
//
// It returns -1 and nil when the run is intact, else the position in records of the
// first record that does not verify and why: an edited record fails its own hash; a
// removed or reordered one breaks the sequence or the chain at the next record.
// Removing records from the end leaves a shorter chain that verifies: compare the last
// Hash with a copy kept elsewhere (the head hash) to detect truncation.
func Verify(records []*Record) (firstBroken int, err error) {
	for i, r := range records {
		if r == nil {
			return i, fmt.Errorf("audit record at position %d is missing", i)
		}
		if want := Hash(r); !bytes.Equal(r.Hash, want) {
			return i, fmt.Errorf("audit record %d: hash %s does not match its content (%s): record edited",
				r.Sequence, hex.EncodeToString(r.Hash), hex.EncodeToString(want))
		}
		if i == 0 {
			if r.Sequence == 0 {
				return i, fmt.Errorf("audit record at position 0 has sequence 0; sequences start at 1")
			}
			if r.Sequence == 1 && len(r.PrevHash) != 0 {
				return i, fmt.Errorf("audit record 1 has a previous hash; the first record has none")
			}
			continue
		}
		prev := records[i-1]
		if r.Sequence != prev.Sequence+1 {
			return i, fmt.Errorf("audit record at position %d has sequence %d after %d: records removed or reordered",
				i, r.Sequence, prev.Sequence)
		}
		if !bytes.Equal(r.PrevHash, prev.Hash) {
			return i, fmt.Errorf("audit record %d: previous hash %s is not the hash of record %d (%s): chain broken",
				r.Sequence, hex.EncodeToString(r.PrevHash), prev.Sequence, hex.EncodeToString(prev.Hash))
		}
	}
	return -1, nil
}
