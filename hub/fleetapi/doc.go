// Package fleetapi serves the admin Fleet gRPC service on every hub member: it authorizes the
// caller's certificate, turns requests into store commands committed through Raft, and answers
// reads linearizably unless the caller asks for a stale read.
package fleetapi
