package raftnode

import (
	"context"
	"errors"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
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
	resp, index, err := s.n.apply.submit(ctx, req.GetCommand())
	switch {
	case errors.Is(err, errRetry):
		return nil, errNotLeaderStatus // never entered the log here
	case errors.Is(err, ErrOutcomeUnknown):
		return nil, status.Error(codes.Aborted, ErrOutcomeUnknown.Error())
	case errors.Is(err, ErrShutdown):
		return nil, status.Error(codes.Unavailable, err.Error())
	case err != nil:
		return nil, status.Error(codes.Internal, err.Error())
	}
	data, err := s.n.apply.codec.MarshalResult(resp)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "encode result: %v", err)
	}
	return &hubv1.ApplyResponse{RaftIndex: index, Result: data}, nil
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
