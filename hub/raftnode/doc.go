// Package raftnode runs one hub member's Raft: the mutually authenticated TLS transport, the
// BoltDB log and file snapshots, batched and forwarded writes, linearizable reads, membership,
// and the loops that run only on the leader.
package raftnode
