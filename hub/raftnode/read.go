package raftnode

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	hubv1 "github.com/kubedevaiops/kubedevaiops/proto/hub/v1"
)

// ReadBarrier makes the next local read linearizable: it returns once this member's FSM holds
// every write acknowledged before the call. The leader confirms with a quorum that it still leads
// (so a deposed leader in a minority cannot serve stale data) and reports how far its FSM has
// applied; a follower asks the leader for that index and waits until its own FSM reaches it.
func (n *Node) ReadBarrier(ctx context.Context) error {
	hold, cancel := context.WithTimeout(ctx, n.cfg.HoldTimeout)
	defer cancel()
	for {
		var (
			index uint64
			err   error
		)
		if n.IsLeader() {
			index, err = n.readIndex(hold)
		} else {
			index, err = n.forwardReadIndex(hold)
		}
		if err == nil {
			return n.cfg.FSM.WaitForApplied(ctx, index)
		}
		if !errors.Is(err, errRetry) {
			return err
		}
		select {
		case <-hold.Done():
			return ErrNoLeader
		case <-n.stop:
			return ErrShutdown
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// readIndex is the leader's half of ReadBarrier. Once the per-term barrier has run, the
// leader's FSM holds every acknowledged write: earlier leaders' through the barrier, its own
// because it acknowledges a write only after applying it. Confirming leadership with a quorum
// then rules out a newer leader with writes this one lacks. The index returned is the FSM's
// applied index, which a follower's FSM reaches too (Raft's no-op and barrier entries, which
// the FSM never sees, would never be "applied" there).
func (n *Node) readIndex(ctx context.Context) (uint64, error) {
	term := n.raft.CurrentTerm()
	if err := n.ensureBarrier(ctx, term); err != nil {
		return 0, err
	}
	if err := n.raft.VerifyLeader().Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return 0, errRetry
		}
		return 0, classifyRaftErr(err)
	}
	if n.raft.CurrentTerm() != term {
		return 0, errRetry
	}
	return n.cfg.FSM.AppliedIndex(), nil
}

// ensureBarrier makes sure that, in this term, the leader's FSM has applied everything committed
// by earlier leaders: until then its commit index may trail writes they acknowledged.
func (n *Node) ensureBarrier(ctx context.Context, term uint64) error {
	n.leaderMu.Lock()
	ready := n.readyTerm == term
	n.leaderMu.Unlock()
	if ready {
		return nil
	}
	timeout := n.cfg.HoldTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	if err := n.raft.Barrier(timeout).Error(); err != nil {
		return classifyRaftErr(err)
	}
	n.leaderMu.Lock()
	if n.raft.CurrentTerm() == term {
		n.readyTerm = term
	}
	n.leaderMu.Unlock()
	return nil
}

func (n *Node) forwardReadIndex(ctx context.Context) (uint64, error) {
	client, err := n.leaderClient(ctx)
	if err != nil {
		return 0, err
	}
	out, err := client.ReadIndex(ctx, &hubv1.ReadIndexRequest{})
	if err != nil {
		if st, _ := status.FromError(err); st.Code() == codes.FailedPrecondition || st.Code() == codes.Unavailable {
			return 0, errRetry // a read changes nothing: always safe to ask again
		}
		return 0, fmt.Errorf("read index from the leader: %w", err)
	}
	return out.GetIndex(), nil
}
