package store

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/kubedevaiops/kubedevaiops/api/audit"
)

// Resource is one stored Kubernetes-style object. Values returned by the store are
// shared with it and with every other reader: treat them, Object and Labels included,
// as read-only.
type Resource struct {
	Kind      string
	Namespace string // empty for cluster-scoped kinds
	Name      string
	UID       string
	// ResourceVersion is the store index of the write that produced this version; it
	// equals ModifyIndex and is metadata.resourceVersion as a decimal string.
	ResourceVersion uint64
	// CreateIndex is the store index of the create, ModifyIndex that of the last write
	// (for a deleted resource in a DELETED event or a delete result: of the delete).
	CreateIndex, ModifyIndex uint64
	// Generation is metadata.generation: 1 on create, +1 on every update that changes
	// a top-level field other than metadata and status.
	Generation int64
	// Labels are metadata.labels.
	Labels map[string]string
	// Object is the full object as JSON, with the store-owned metadata set.
	Object []byte

	specSum [32]byte        // hash of everything but metadata and status
	created json.RawMessage // metadata.creationTimestamp as stored
}

// ResourceVersionString is metadata.resourceVersion.
func (r *Resource) ResourceVersionString() string {
	return strconv.FormatUint(r.ResourceVersion, 10)
}

// Decode unmarshals Object into v, e.g. a *clusterv1.ManagedCluster.
func (r *Resource) Decode(v any) error { return json.Unmarshal(r.Object, v) }

// EventType says what happened to a resource.
type EventType uint8

// The event types.
const (
	Added EventType = iota + 1
	Modified
	Deleted
)

func (t EventType) String() string {
	switch t {
	case Added:
		return "ADDED"
	case Modified:
		return "MODIFIED"
	case Deleted:
		return "DELETED"
	}
	return "EventType(" + strconv.Itoa(int(t)) + ")"
}

// Event is one change to one resource.
type Event struct {
	Type EventType
	// Index is the store index of the change (the resource's ModifyIndex).
	Index uint64
	// Resource is the state after the change; for Deleted, the last state, with
	// ModifyIndex and ResourceVersion set to the delete's index.
	Resource *Resource
}

// Result is what Apply returns for every command log entry (raft's
// ApplyFuture.Response()). It is never nil for a command entry.
//
//   - ResourceWrite: Resource is the stored resource after a create or update, the
//     last state after a delete.
//   - AuditAppend: Audit is the appended record.
//   - Batch: Batch holds one Result per sub-command, in order, each with its own Err;
//     the Batch's own Err is set only when the batch itself could not be decoded.
//   - A command type this member does not know, flagged ignore-if-unknown: Ignored
//     is true and nothing was applied.
//
// Err is nil on success, else wraps one of the sentinel errors; a failed command
// applied nothing. Index is the store index after the command (unchanged on failure).
type Result struct {
	Index    uint64
	Resource *Resource
	Audit    *AuditRecord
	Batch    []*Result
	Ignored  bool
	Err      error
}

// AuditEntry is what a proposer appends to the audit log; the store adds the
// sequence number and the hash chain.
type AuditEntry struct {
	// Time is when the audited event happened; zero means now, at encode time.
	Time time.Time
	// Actor is who did it: an admin identity, a cluster, or a hub component. Required.
	Actor string
	// Action is what was done, e.g. "cluster.accept". Required.
	Action string
	// Target is what it was done to, e.g. "ManagedCluster/prod-eu-1".
	Target string
	// Cluster is the cluster concerned, if any.
	Cluster string
	// TraceID is the trace of the AI action, if any.
	TraceID string
	// Details is further detail as a JSON value; nil for none.
	Details json.RawMessage
}

// AuditRecord is one record of the hash-chained audit log (api/audit defines it and its
// chaining rule, so that clients can verify what the hub serves).
type AuditRecord = audit.Record
