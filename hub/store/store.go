package store

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/hashicorp/raft"
)

// Options configure a Store.
type Options struct {
	// HistorySize is how many recent events are kept for watches; 0 means
	// DefaultHistorySize.
	HistorySize int
	// Logger receives warnings about skipped log entries; nil means slog.Default().
	Logger *slog.Logger
}

// Store is the hub's replicated state and its Raft FSM (it implements raft.FSM and
// raft.BatchingFSM). Raft calls Apply, ApplyBatch, Snapshot and Restore from one
// goroutine; every read method is safe for concurrent use with them and each other.
//
// Reads see the state of this member: for a linearizable read, have Raft confirm
// leadership and wait with WaitForApplied for the index that must be visible.
type Store struct {
	log         *slog.Logger
	historySize int

	db   atomic.Pointer[memdb.MemDB]
	hist *history

	// index is the store index; applied the last Raft index reflected in the state.
	index   atomic.Uint64
	applied atomic.Uint64

	appliedMu   sync.Mutex
	appliedWake chan struct{}
}

var (
	_ raft.FSM         = (*Store)(nil)
	_ raft.BatchingFSM = (*Store)(nil)
)

// New returns an empty store.
func New(opts Options) *Store {
	s := &Store{log: opts.Logger, historySize: opts.HistorySize, appliedWake: make(chan struct{})}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.db.Store(newDB())
	s.hist = newHistory(opts.HistorySize, 0)
	return s
}

// Index is the store index: the number of mutations applied so far. Every applied
// resource write and audit append increases it by one, on every member alike; one
// Raft entry (a Batch) may increase it by many.
func (s *Store) Index() uint64 { return s.index.Load() }

// AppliedIndex is the last Raft log index reflected in the state.
func (s *Store) AppliedIndex() uint64 { return s.applied.Load() }

// WaitForApplied blocks until AppliedIndex() >= raftIndex or ctx is done.
//
// The FSM sees only command and configuration entries, not Raft's no-op and barrier
// entries: if raftIndex may be one of those (say, the commit index right after an
// election) and no command follows it, the wait does not end by itself. Either wait
// for the index of a command, or issue a raft Barrier and, once it returns, call
// MarkApplied with an index read from raft.LastIndex() before the Barrier was issued.
func (s *Store) WaitForApplied(ctx context.Context, raftIndex uint64) error {
	for {
		s.appliedMu.Lock()
		ch := s.appliedWake
		s.appliedMu.Unlock()
		if s.applied.Load() >= raftIndex {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// MarkApplied records that every Raft entry up to raftIndex is reflected in the
// state, for entries the FSM never sees (see WaitForApplied). It never lowers
// AppliedIndex. Call it only with an index you know the FSM has caught up to.
func (s *Store) MarkApplied(raftIndex uint64) {
	for {
		cur := s.applied.Load()
		if raftIndex <= cur {
			return
		}
		if s.applied.CompareAndSwap(cur, raftIndex) {
			s.wakeApplied()
			return
		}
	}
}

func (s *Store) setApplied(raftIndex uint64) { s.MarkApplied(raftIndex) }

func (s *Store) wakeApplied() {
	s.appliedMu.Lock()
	close(s.appliedWake)
	s.appliedWake = make(chan struct{})
	s.appliedMu.Unlock()
}
