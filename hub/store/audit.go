package store

import "github.com/kubedevaiops/kubedevaiops/api/audit"

// The audit record and its chaining rule are a contract shared with every verifier
// (the CLI checks the chain it fetched without trusting the hub), so they live in
// api/audit; the store uses them as they are.

// AuditCanonical is the canonical encoding a record's hash covers (see audit.Canonical).
func AuditCanonical(r *AuditRecord) []byte { return audit.Canonical(r) }

// AuditHash is SHA-256 of AuditCanonical(r) (see audit.Hash).
func AuditHash(r *AuditRecord) []byte { return audit.Hash(r) }

// VerifyAudit checks a run of consecutive records (see audit.Verify): -1 and nil when
// intact, else the position of the first record that does not verify, and why.
func VerifyAudit(records []*AuditRecord) (firstBroken int, err error) { return audit.Verify(records) }
