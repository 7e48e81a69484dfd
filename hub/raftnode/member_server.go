package raftnode

import (
	"context"
	"errors"
	"slices"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/kubedevaiops/kubedevaiops/hub/pki"
	hubv1 "github.com/kubedevaiops/kubedevaiops/proto/hub/v1"
)

// memberServer is the member API: what other members call on the leader.
type memberServer struct {
	hubv1.UnimplementedMemberServer
	n *Node
}

func registerMemberServer(s *grpc.Server, n *Node) {
	hubv1.RegisterMemberServer(s, &memberServer{n: n})
}

// callerMember returns the member id in the caller's verified certificate.
func callerMember(ctx context.Context) (string, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return "", status.Error(codes.Unauthenticated, "no peer")
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return "", status.Error(codes.Unauthenticated, "the member API needs a verified client certificate")
	}
	id, err := pki.IdentityOf(info.State.VerifiedChains[0][0])
	if err != nil {
		return "", status.Error(codes.PermissionDenied, err.Error())
	}
	if id.Kind != pki.KindMember {
		return "", status.Errorf(codes.PermissionDenied, "%s may not call the member API", id)
	}
	return id.Name, nil
}

var errNotLeaderStatus = status.Error(codes.FailedPrecondition, "not the leader")

func (s *memberServer) Apply(ctx context.Context, req *hubv1.ApplyRequest) (*hubv1.ApplyResponse, error) {
	if _, err := callerMember(ctx); err != nil {
		return nil, err
	}
	if !s.n.IsLeader() {
		return nil, errNotLeaderStatus
	}
	// Every command joins the leader's batcher before any is waited for, so a forwarded group
	// rides in the same Raft entries as the leader's own writes.
	compact := slices.Contains(metadata.ValueFromIncomingContext(ctx, resultEncodingKey), resultEncodingCompact)
	cmds := req.GetCommands()
	queued := make([]*pending, len(cmds))
	errs := make([]error, len(cmds))
	for i, cmd := range cmds {
		queued[i], errs[i] = s.n.apply.enqueue(ctx, cmd)
	}
	results := make([]*hubv1.ApplyResult, len(cmds))
	for i, p := range queued {
		var (
			resp  any
			index uint64
			err   = errs[i]
		)
		if p != nil {
			resp, index, err = p.wait()
		}
		results[i] = s.result(resp, index, err, compact)
	}
	return &hubv1.ApplyResponse{Results: results}, nil
}

func (s *memberServer) result(resp any, index uint64, err error, compact bool) *hubv1.ApplyResult {
	switch {
	case errors.Is(err, errRetry), errors.Is(err, ErrShutdown): // never proposed
		return &hubv1.ApplyResult{Outcome: hubv1.ApplyOutcome_APPLY_OUTCOME_NOT_APPLIED, Message: "not proposed: " + errMessage(err)}
	case errors.Is(err, ErrOutcomeUnknown):
		return &hubv1.ApplyResult{Outcome: hubv1.ApplyOutcome_APPLY_OUTCOME_UNKNOWN, Message: err.Error()}
	case err != nil:
		return &hubv1.ApplyResult{Outcome: hubv1.ApplyOutcome_APPLY_OUTCOME_FAILED, Message: err.Error()}
	}
	data, err := s.n.cfg.Codec.MarshalResult(resp, compact)
	if err != nil {
		return &hubv1.ApplyResult{Outcome: hubv1.ApplyOutcome_APPLY_OUTCOME_UNKNOWN, Message: "encode result: " + err.Error()}
	}
	return &hubv1.ApplyResult{RaftIndex: index, Result: data}
}

func errMessage(err error) string {
	if errors.Is(err, errRetry) {
		return "leadership moved"
	}
	return err.Error()
}

func (s *memberServer) ReadIndex(ctx context.Context, _ *hubv1.ReadIndexRequest) (*hubv1.ReadIndexResponse, error) {
	if _, err := callerMember(ctx); err != nil {
		return nil, err
	}
	if !s.n.IsLeader() {
		return nil, errNotLeaderStatus
	}
	index, err := s.n.readIndex(ctx)
	if errors.Is(err, errRetry) {
		return nil, errNotLeaderStatus
	}
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	return &hubv1.ReadIndexResponse{Index: index}, nil
}

func (s *memberServer) AddMember(ctx context.Context, req *hubv1.AddMemberRequest) (*hubv1.AddMemberResponse, error) {
	if _, err := callerMember(ctx); err != nil {
		return nil, err
	}
	if !s.n.IsLeader() {
		return nil, errNotLeaderStatus
	}
	index, err := s.n.addVoter(req.GetId(), req.GetRaftAddress())
	if errors.Is(err, errRetry) {
		return nil, errNotLeaderStatus
	}
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return &hubv1.AddMemberResponse{Index: index}, nil
}

func (s *memberServer) RemoveMember(ctx context.Context, req *hubv1.RemoveMemberRequest) (*hubv1.RemoveMemberResponse, error) {
	if _, err := callerMember(ctx); err != nil {
		return nil, err
	}
	if !s.n.IsLeader() {
		return nil, errNotLeaderStatus
	}
	index, err := s.n.removeServer(req.GetId())
	if errors.Is(err, errRetry) {
		return nil, errNotLeaderStatus
	}
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return &hubv1.RemoveMemberResponse{Index: index}, nil
}
