// Package hub tests the replicated hub as separate OS processes on real disk: writes through any
// member, leader crashes, restarts, log compaction and catch-up, refusals in a minority, and
// linearizability of concurrent histories checked with porcupine.
package hub
