package raftnode

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"google.golang.org/grpc"
)

// FSM is the replicated state machine the node drives: the store in production.
type FSM interface {
	raft.FSM
	// AppliedIndex is the last Raft log index the FSM has applied.
	AppliedIndex() uint64
	// WaitForApplied returns once the FSM has applied the Raft log index, or ctx ends.
	WaitForApplied(ctx context.Context, index uint64) error
}

// AddressBook finds the member API (gRPC) address of a member, for forwarding to the leader.
type AddressBook func(id string) (grpcAddr string, ok bool)

// Config configures one member.
type Config struct {
	// ID is this member's stable Raft server id; it is also the id in its certificate.
	ID string
	// DataDir holds raft.db (log and stable store) and snapshots/.
	DataDir string
	// RaftBind is the address the Raft transport listens on; RaftAdvertise, when set, is the
	// address other members dial.
	RaftBind, RaftAdvertise string
	// ServerTLS and ClientTLS authenticate members to each other (see MemberTLS).
	ServerTLS, ClientTLS *tls.Config
	FSM                  FSM
	// Codec packs batches and carries results for FSM (see Codec).
	Codec Codec
	// Bootstrap forms a new cluster with this member as its only voter when the data dir holds
	// no Raft state yet. It is ignored once state exists.
	Bootstrap bool
	// Members finds the leader's member API for forwarded writes and read indexes.
	Members AddressBook
	Logger  *slog.Logger
	// RaftLog receives the Raft library's own log at RaftLogLevel ("debug", "info", "warn",
	// "error"; default info); nil discards it.
	RaftLog      io.Writer
	RaftLogLevel string

	// HoldTimeout bounds how long a write or linearizable read waits for a leader (default 5s).
	HoldTimeout time.Duration
	// MaxBatch caps how many commands the leader packs into one Raft entry (default 256).
	MaxBatch int
	// SnapshotThreshold and SnapshotInterval decide when Raft compacts its log into a snapshot;
	// TrailingLogs is how many entries it keeps after one (defaults from hashicorp/raft).
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	TrailingLogs      uint64
	// DeadMemberTimeout is how long a voter may be unreachable before the leader removes it,
	// never below MinQuorum voters. Zero disables automatic removal.
	DeadMemberTimeout time.Duration
	// MinQuorum is the smallest number of voters automatic removal leaves (default 3).
	MinQuorum int
	// Fast shortens Raft's timers for tests on loopback.
	Fast bool
}

// logCacheEntries is how many recent Raft entries each member keeps decoded in memory; an entry
// holds up to MaxBatch writes.
const logCacheEntries = 64

// Node is one running hub member.
type Node struct {
	cfg       Config
	log       *slog.Logger
	raft      *raft.Raft
	transport *raft.NetworkTransport
	store     *raftboltdb.BoltStore

	apply   *batcher // leader: groups of writes become Raft entries
	forward *batcher // follower: groups of writes are forwarded to the leader
	conns   *connCache

	leaderMu    sync.Mutex
	readyTerm   uint64 // the term in which this member, as leader, finished its barrier
	leaderLoops []leaderLoop

	shutdownOnce sync.Once
	stop         chan struct{}
	wg           sync.WaitGroup
}

// Errors a caller can act on.
var (
	// ErrNoLeader: no leader was reachable within the hold timeout, e.g. in a minority partition.
	ErrNoLeader = errors.New("no hub leader is reachable: this member cannot reach a quorum of the hub; linearizable reads and writes are refused until it can (stale reads still work)")
	// ErrOutcomeUnknown: the write may or may not have been committed (leadership was lost while
	// it was in flight); read before retrying.
	ErrOutcomeUnknown = errors.New("the write's outcome is unknown: leadership changed while it was in flight; read the resource before retrying")
	// ErrShutdown: the member is shutting down.
	ErrShutdown = errors.New("hub member is shutting down")
)

// New opens the member's Raft state in cfg.DataDir and starts Raft. The member serves its
// member API once RegisterMemberServer is called on a gRPC server.
func New(cfg Config) (*Node, error) {
	if cfg.ID == "" || cfg.DataDir == "" || cfg.RaftBind == "" || cfg.FSM == nil || cfg.Codec == nil {
		return nil, errors.New("raftnode: ID, DataDir, RaftBind, FSM and Codec are required")
	}
	if cfg.ServerTLS == nil || cfg.ClientTLS == nil {
		return nil, errors.New("raftnode: member TLS is required (mutual TLS between members)")
	}
	if cfg.HoldTimeout <= 0 {
		cfg.HoldTimeout = 5 * time.Second
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 256
	}
	if cfg.MinQuorum <= 0 {
		cfg.MinQuorum = 3
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.RaftLog == nil {
		cfg.RaftLog = io.Discard
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("raftnode: data dir: %w", err)
	}
	n := &Node{cfg: cfg, log: cfg.Logger.With("member", cfg.ID), stop: make(chan struct{})}

	level := hclog.LevelFromString(cfg.RaftLogLevel)
	if level == hclog.NoLevel {
		level = hclog.Info
	}
	hlog := hclog.New(&hclog.LoggerOptions{Name: "raft", Output: cfg.RaftLog, Level: level, JSONFormat: true})
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.ID)
	rc.Logger = hlog
	if cfg.SnapshotThreshold > 0 {
		rc.SnapshotThreshold = cfg.SnapshotThreshold
	}
	if cfg.SnapshotInterval > 0 {
		rc.SnapshotInterval = cfg.SnapshotInterval
	}
	if cfg.TrailingLogs > 0 {
		rc.TrailingLogs = cfg.TrailingLogs
	}
	if cfg.Fast {
		rc.HeartbeatTimeout = 300 * time.Millisecond
		rc.ElectionTimeout = 300 * time.Millisecond
		rc.LeaderLeaseTimeout = 250 * time.Millisecond
		rc.CommitTimeout = 5 * time.Millisecond
	}

	var advertise net.Addr
	if cfg.RaftAdvertise != "" {
		a, err := net.ResolveTCPAddr("tcp", cfg.RaftAdvertise)
		if err != nil {
			return nil, fmt.Errorf("raftnode: advertise address %q: %w", cfg.RaftAdvertise, err)
		}
		advertise = a
	}
	layer, err := newTLSStreamLayer(cfg.RaftBind, advertise, cfg.ServerTLS, cfg.ClientTLS)
	if err != nil {
		return nil, err
	}
	n.transport = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: layer, MaxPool: 4, Timeout: 10 * time.Second, Logger: hlog,
	})

	n.store, err = raftboltdb.New(raftboltdb.Options{Path: filepath.Join(cfg.DataDir, "raft.db")})
	if err != nil {
		_ = n.transport.Close()
		return nil, fmt.Errorf("raftnode: open log store: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.DataDir, 2, hlog)
	if err != nil {
		n.closeStores()
		return nil, fmt.Errorf("raftnode: open snapshot store: %w", err)
	}

	if cfg.Bootstrap {
		has, err := raft.HasExistingState(n.store, n.store, snaps)
		if err != nil {
			n.closeStores()
			return nil, fmt.Errorf("raftnode: inspect state: %w", err)
		}
		if !has {
			err := raft.BootstrapCluster(rc, n.store, n.store, snaps, n.transport, raft.Configuration{
				Servers: []raft.Server{{ID: rc.LocalID, Address: n.transport.LocalAddr(), Suffrage: raft.Voter}},
			})
			if err != nil {
				n.closeStores()
				return nil, fmt.Errorf("raftnode: bootstrap: %w", err)
			}
			n.log.Info("bootstrapped a new hub", "raft_addr", n.transport.LocalAddr())
		}
	}

	// Recent entries stay in memory: the leader replicates them to every follower and each
	// member hands them to its FSM right after writing them, and each read from BoltDB would
	// decode the whole entry again. Writes still go to BoltDB (and fsync) before they count.
	logs, err := raft.NewLogCache(logCacheEntries, n.store)
	if err != nil {
		n.closeStores()
		return nil, fmt.Errorf("raftnode: log cache: %w", err)
	}
	n.raft, err = raft.NewRaft(rc, cfg.FSM, logs, n.store, snaps, n.transport)
	if err != nil {
		n.closeStores()
		return nil, fmt.Errorf("raftnode: start raft: %w", err)
	}
	n.conns = newConnCache(cfg.ClientTLS)
	n.apply = newBatcher(n, cfg.MaxBatch, n.proposeEntry)
	n.forward = newBatcher(n, cfg.MaxBatch, n.forwardBatch)
	n.wg.Add(3)
	go func() { defer n.wg.Done(); n.apply.run(n.stop) }()
	go func() { defer n.wg.Done(); n.forward.run(n.stop) }()
	go func() { defer n.wg.Done(); n.watchLeadership() }()
	return n, nil
}

func (n *Node) closeStores() {
	_ = n.transport.Close()
	if n.store != nil {
		_ = n.store.Close()
	}
}

// Shutdown stops Raft and every background loop, and closes the stores.
func (n *Node) Shutdown() error {
	var err error
	n.shutdownOnce.Do(func() {
		close(n.stop)
		err = n.raft.Shutdown().Error()
		n.wg.Wait()
		n.conns.close()
		_ = n.transport.Close()
		if cerr := n.store.Close(); err == nil {
			err = cerr
		}
	})
	return err
}

// ID is this member's id.
func (n *Node) ID() string { return n.cfg.ID }

// RaftAddr is the address other members reach this member's Raft transport at.
func (n *Node) RaftAddr() string { return string(n.transport.LocalAddr()) }

// IsLeader reports whether this member is the leader now.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// Leader returns the current leader's id and Raft address, empty when none is known.
func (n *Node) Leader() (id, raftAddr string) {
	addr, sid := n.raft.LeaderWithID()
	return string(sid), string(addr)
}

// State is this member's Raft state: Follower, Candidate, Leader or Shutdown.
func (n *Node) State() string { return n.raft.State().String() }

// Stats are Raft's own counters, for status output.
func (n *Node) Stats() map[string]string { return n.raft.Stats() }

// RegisterMemberServer serves the member API (forwarded writes, read indexes) on s.
func (n *Node) RegisterMemberServer(s *grpc.Server) { registerMemberServer(s, n) }

// Snapshot asks Raft to take a snapshot now (log compaction).
func (n *Node) Snapshot() error { return n.raft.Snapshot().Error() }

// awaitLeader returns the current leader, waiting up to the hold timeout for one.
func (n *Node) awaitLeader(ctx context.Context) (id string, err error) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.HoldTimeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, sid := n.raft.LeaderWithID(); sid != "" {
			return string(sid), nil
		}
		select {
		case <-n.stop:
			return "", ErrShutdown
		case <-ctx.Done():
			return "", ErrNoLeader
		case <-tick.C:
		}
	}
}

// Restore replaces the whole replicated state with a user snapshot (a backup), on the leader;
// Raft then ships it to the followers. Run it on a fresh hub: every write since is replaced.
func (n *Node) Restore(r io.Reader, size int64) error {
	if !n.IsLeader() {
		id, addr := n.Leader()
		return fmt.Errorf("restore must run on the leader (%s at %s): %w", id, addr, raft.ErrNotLeader)
	}
	meta := &raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Size: size}
	if err := n.raft.Restore(meta, r, 5*time.Minute); err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	return nil
}
