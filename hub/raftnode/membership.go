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

// Member is one server of the Raft configuration.
type Member struct {
	ID       string
	RaftAddr string
	Voter    bool
	Leader   bool
}

// Members lists the Raft configuration as this member knows it.
func (n *Node) Members() ([]Member, error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("read the hub's membership: %w", err)
	}
	_, leader := n.raft.LeaderWithID()
	var out []Member
	for _, s := range f.Configuration().Servers {
		out = append(out, Member{
			ID: string(s.ID), RaftAddr: string(s.Address),
			Voter: s.Suffrage == raft.Voter, Leader: s.ID == leader,
		})
	}
	return out, nil
}

// AddMember adds a voter, on the leader or forwarded to it. Adding a member that is already
// there with the same address does nothing.
func (n *Node) AddMember(ctx context.Context, id, raftAddr string) (uint64, error) {
	if id == "" || raftAddr == "" {
		return 0, errors.New("add member: id and Raft address are required")
	}
	return n.changeMembership(ctx, func() (uint64, error) {
		return n.addVoter(id, raftAddr)
	}, func(c hubv1.MemberClient) (uint64, error) {
		out, err := c.AddMember(ctx, &hubv1.AddMemberRequest{Id: id, RaftAddress: raftAddr})
		return out.GetIndex(), err
	})
}

// RemoveMember removes a member, on the leader or forwarded to it. Removing the leader itself
// makes it step down after the change commits.
func (n *Node) RemoveMember(ctx context.Context, id string) (uint64, error) {
	if id == "" {
		return 0, errors.New("remove member: id is required")
	}
	return n.changeMembership(ctx, func() (uint64, error) {
		return n.removeServer(id)
	}, func(c hubv1.MemberClient) (uint64, error) {
		out, err := c.RemoveMember(ctx, &hubv1.RemoveMemberRequest{Id: id})
		return out.GetIndex(), err
	})
}

func (n *Node) changeMembership(ctx context.Context, local func() (uint64, error), remote func(hubv1.MemberClient) (uint64, error)) (uint64, error) {
	hold, cancel := context.WithTimeout(ctx, n.cfg.HoldTimeout)
	defer cancel()
	for {
		var (
			index uint64
			err   error
		)
		if n.IsLeader() {
			index, err = local()
		} else {
			var c hubv1.MemberClient
			if c, err = n.leaderClient(hold); err == nil {
				// Any other error is the leader's gRPC status, passed on with its code.
				if index, err = remote(c); status.Code(err) == codes.FailedPrecondition {
					err = errRetry
				}
			}
		}
		if !errors.Is(err, errRetry) {
			return index, err
		}
		select {
		case <-hold.Done():
			return 0, ErrNoLeader
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (n *Node) addVoter(id, raftAddr string) (uint64, error) {
	members, err := n.Members()
	if err != nil {
		return 0, err
	}
	for _, m := range members {
		switch {
		case m.ID == id && m.RaftAddr == raftAddr && m.Voter:
			return 0, nil
		case m.ID == id:
			return 0, fmt.Errorf("add member %q: a member with that id is already there at %s; remove it first", id, m.RaftAddr)
		case m.RaftAddr == raftAddr:
			return 0, fmt.Errorf("add member %q: Raft address %s already belongs to member %q", id, raftAddr, m.ID)
		}
	}
	f := n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(raftAddr), 0, n.cfg.HoldTimeout)
	if err := f.Error(); err != nil {
		if e := classifyRaftErr(err); errors.Is(e, errRetry) {
			return 0, e
		}
		return 0, fmt.Errorf("add member %q: %w", id, err)
	}
	n.log.Info("member added", "id", id, "raft_addr", raftAddr)
	return f.Index(), nil
}

func (n *Node) removeServer(id string) (uint64, error) {
	members, err := n.Members()
	if err != nil {
		return 0, err
	}
	found := false
	for _, m := range members {
		found = found || m.ID == id
	}
	if !found {
		return 0, fmt.Errorf("remove member %q: no such member", id)
	}
	f := n.raft.RemoveServer(raft.ServerID(id), 0, n.cfg.HoldTimeout)
	if err := f.Error(); err != nil {
		if e := classifyRaftErr(err); errors.Is(e, errRetry) {
			return 0, e
		}
		return 0, fmt.Errorf("remove member %q: %w", id, err)
	}
	n.log.Info("member removed", "id", id)
	return f.Index(), nil
}
