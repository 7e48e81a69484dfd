// Package store is the hub's replicated state: the Raft FSM that applies typed commands
// to an indexed in-memory store of fleet resources and the hash-chained audit log, with
// reads, watches from an index, and snapshots for log compaction and restore.
package store
