package raftnode

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	hubv1 "github.com/kubedevaiops/kubedevaiops/proto/hub/v1"
)

// Codec is what the node needs to know of the store's commands: how to pack several into one
// Raft entry, how to split the FSM's answer to such an entry, and how results cross the wire
// when a follower forwards a write.
type Codec interface {
	// Batch packs encoded commands into one command.
	Batch(cmds [][]byte) ([]byte, error)
	// SplitBatch returns the per-command results of a batch, in order.
	SplitBatch(resp any, n int) ([]any, error)
	// MarshalResult and UnmarshalResult carry one result to a forwarding member. compact asks
	// for the codec's cheaper encoding, which members of earlier versions cannot read: the
	// leader uses it only when the forwarding member said it reads it (resultEncodingKey).
	// UnmarshalResult reads both.
	MarshalResult(resp any, compact bool) ([]byte, error)
	UnmarshalResult(data []byte) (any, error)
}

// resultEncodingKey is the request metadata by which a forwarding member asks the leader for
// compact results; a leader of an earlier version ignores it and answers as before.
const (
	resultEncodingKey     = "kubedevaiops-result-encoding"
	resultEncodingCompact = "compact-v1"
)

// Apply commits one encoded store command and returns the FSM's result for it and the Raft index
// it was committed at. On the leader, concurrent commands are packed into shared Raft entries; on
// a follower the command is forwarded to the leader. A leader change is waited out up to the hold
// timeout when the command was certainly not applied; when it may have been, ErrOutcomeUnknown.
func (n *Node) Apply(ctx context.Context, cmd []byte) (any, uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.HoldTimeout)
	defer cancel()
	for {
		var (
			resp  any
			index uint64
			err   error
		)
		if n.IsLeader() {
			resp, index, err = n.apply.submit(ctx, cmd)
		} else {
			resp, index, err = n.forward.submit(ctx, cmd)
		}
		if !errors.Is(err, errRetry) {
			return resp, index, err
		}
		select {
		case <-ctx.Done():
			return nil, 0, ErrNoLeader
		case <-n.stop:
			return nil, 0, ErrShutdown
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// errRetry marks a failure that certainly applied nothing, so Apply may try again.
var errRetry = errors.New("retry: not applied")

// classifyRaftErr maps the Raft library's apply errors onto retry / unknown outcome.
func classifyRaftErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrEnqueueTimeout):
		return errRetry // never entered the log
	case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrAbortedByRestore):
		return ErrOutcomeUnknown
	case errors.Is(err, raft.ErrRaftShutdown):
		// The entry may have been replicated before the shutdown.
		return ErrOutcomeUnknown
	default:
		return fmt.Errorf("raft apply: %w", err)
	}
}

// forwardBatch sends the commands that queued up on this follower to the leader in one call.
func (n *Node) forwardBatch(batch []*pending) {
	fail := func(err error) {
		for _, p := range batch {
			p.done <- outcome{err: err}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.HoldTimeout)
	defer cancel()
	client, err := n.leaderClient(ctx)
	if err != nil {
		fail(err)
		return
	}
	cmds := make([][]byte, len(batch))
	for i, p := range batch {
		cmds[i] = p.cmd
	}
	ctx = metadata.AppendToOutgoingContext(ctx, resultEncodingKey, resultEncodingCompact)
	out, err := client.Apply(ctx, &hubv1.ApplyRequest{Commands: cmds, FromMember: n.cfg.ID})
	if err != nil {
		fail(classifyForwardErr(err))
		return
	}
	if len(out.GetResults()) != len(batch) {
		fail(fmt.Errorf("%w: the leader answered %d results for %d forwarded writes", ErrOutcomeUnknown, len(out.GetResults()), len(batch)))
		return
	}
	for i, r := range out.GetResults() {
		o := outcome{index: r.GetRaftIndex()}
		switch r.GetOutcome() {
		case hubv1.ApplyOutcome_APPLY_OUTCOME_APPLIED_UNSPECIFIED:
			if o.resp, err = n.cfg.Codec.UnmarshalResult(r.GetResult()); err != nil {
				o.err = fmt.Errorf("forwarded write: decode the leader's result: %w", err)
			}
		case hubv1.ApplyOutcome_APPLY_OUTCOME_NOT_APPLIED:
			o.err = errRetry
		case hubv1.ApplyOutcome_APPLY_OUTCOME_UNKNOWN:
			o.err = ErrOutcomeUnknown
		default:
			o.err = fmt.Errorf("forwarded write: %s", r.GetMessage())
		}
		batch[i].done <- o
	}
}

// classifyForwardErr decides whether a failed forward may be retried. The leader answers
// FAILED_PRECONDITION when it is not the leader and did nothing; a transport failure after the
// request may have reached the leader leaves the outcome unknown.
func classifyForwardErr(err error) error {
	st, _ := status.FromError(err)
	switch st.Code() {
	case codes.FailedPrecondition:
		return errRetry
	case codes.Unavailable:
		// The connection was up when the request went out: it may have reached the leader.
		return ErrOutcomeUnknown
	case codes.DeadlineExceeded:
		return ErrOutcomeUnknown
	}
	return fmt.Errorf("forwarded write: %w", err)
}

// pending is one command waiting for the batcher.
type pending struct {
	cmd  []byte
	done chan outcome
}

type outcome struct {
	resp  any
	index uint64
	err   error
}

// batcher groups concurrent commands. It keeps at most maxInflight groups in flight; commands
// arriving meanwhile wait and go out together in the next group, so groups grow with
// concurrency and throughput with them. On the leader a group is one Raft entry; on a follower
// it is one forward to the leader. Groups are proposed by maxInflight long-lived workers rather
// than a goroutine each: a fresh goroutine's small stack is grown and copied on every proposal.
type batcher struct {
	n        *Node
	propose  func([]*pending)
	in       chan *pending
	max      int
	inflight chan struct{}
	work     chan []*pending
}

const maxInflight = 2

func newBatcher(n *Node, max int, propose func([]*pending)) *batcher {
	return &batcher{
		n: n, propose: propose, in: make(chan *pending, 4*max), max: max,
		inflight: make(chan struct{}, maxInflight), work: make(chan []*pending),
	}
}

func (b *batcher) submit(ctx context.Context, cmd []byte) (any, uint64, error) {
	p, err := b.enqueue(ctx, cmd)
	if err != nil {
		return nil, 0, err
	}
	return p.wait()
}

// enqueue hands cmd to the batcher; errRetry or ErrShutdown when it was never queued.
func (b *batcher) enqueue(ctx context.Context, cmd []byte) (*pending, error) {
	p := &pending{cmd: cmd, done: make(chan outcome, 1)}
	select {
	case b.in <- p:
		return p, nil
	case <-ctx.Done():
		return nil, errRetry // never queued
	case <-b.n.stop:
		return nil, ErrShutdown
	}
}

// wait returns the outcome of a queued command. Once queued the command will be proposed, so
// it waits even if the caller's context ends: a committed write must never look failed.
func (p *pending) wait() (any, uint64, error) {
	o := <-p.done
	return o.resp, o.index, o.err
}

func (b *batcher) run(stop <-chan struct{}) {
	// A proposal in flight at shutdown finishes on its own (Raft or the forward fails it);
	// stopping does not wait for it.
	defer close(b.work)
	for range maxInflight {
		go func() {
			for batch := range b.work {
				b.propose(batch)
				<-b.inflight
			}
		}()
	}
	for {
		select {
		case <-stop:
			b.drainWith(ErrShutdown)
			return
		case b.inflight <- struct{}{}:
		}
		var batch []*pending
		select {
		case <-stop:
			b.drainWith(ErrShutdown)
			return
		case p := <-b.in:
			batch = append(batch, p)
		}
	fill:
		for len(batch) < b.max {
			select {
			case p := <-b.in:
				batch = append(batch, p)
			default:
				break fill
			}
		}
		b.work <- batch // a worker is free: this group holds one of the maxInflight tokens
	}
}

func (b *batcher) drainWith(err error) {
	for {
		select {
		case p := <-b.in:
			p.done <- outcome{err: err}
		default:
			return
		}
	}
}

// proposeEntry commits a group of commands as one Raft entry (a Batch command when more than one).
func (n *Node) proposeEntry(batch []*pending) {
	data := batch[0].cmd
	if len(batch) > 1 {
		cmds := make([][]byte, len(batch))
		for i, p := range batch {
			cmds[i] = p.cmd
		}
		var err error
		if data, err = n.cfg.Codec.Batch(cmds); err != nil {
			for _, p := range batch {
				p.done <- outcome{err: fmt.Errorf("pack batch: %w", err)}
			}
			return
		}
	}
	f := n.raft.Apply(data, n.cfg.HoldTimeout)
	if err := classifyRaftErr(f.Error()); err != nil {
		for _, p := range batch {
			p.done <- outcome{err: err}
		}
		return
	}
	if len(batch) == 1 {
		batch[0].done <- outcome{resp: f.Response(), index: f.Index()}
		return
	}
	results, err := n.cfg.Codec.SplitBatch(f.Response(), len(batch))
	for i, p := range batch {
		if err != nil {
			p.done <- outcome{err: fmt.Errorf("batch committed at %d but its results are unreadable: %w", f.Index(), err), index: f.Index()}
			continue
		}
		p.done <- outcome{resp: results[i], index: f.Index()}
	}
}
