package fleetapi

import (
	"context"
	"errors"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/pki"
	"github.com/kubedevaiops/kubedevaiops/hub/raftnode"
	"github.com/kubedevaiops/kubedevaiops/hub/store"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// MemberAddresses finds a member's gRPC address in its HubMember record, for forwarding to the
// leader. Records are replicated, so every member knows every address.
func MemberAddresses(s *store.Store) raftnode.AddressBook {
	return func(id string) (string, bool) {
		res, err := s.Get(store.KindHubMember, "", id)
		if err != nil {
			return "", false
		}
		var m hubv1alpha1.HubMember
		if err := res.Decode(&m); err != nil || m.Spec.GRPCAddress == "" {
			return "", false
		}
		return m.Spec.GRPCAddress, true
	}
}

func (s *Server) members() ([]*fleetv1.HubMember, error) {
	ms, err := s.node.Members()
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	book := MemberAddresses(s.store)
	out := make([]*fleetv1.HubMember, 0, len(ms))
	for _, m := range ms {
		addr, _ := book(m.ID)
		out = append(out, &fleetv1.HubMember{Id: m.ID, RaftAddress: m.RaftAddr, GrpcAddress: addr, Voter: m.Voter, Leader: m.Leader})
	}
	return out, nil
}

// ListMembers answers from this member's view of the Raft configuration.
func (s *Server) ListMembers(ctx context.Context, _ *fleetv1.ListMembersRequest) (*fleetv1.ListMembersResponse, error) {
	if _, err := canRead(ctx); err != nil {
		return nil, err
	}
	ms, err := s.members()
	if err != nil {
		return nil, err
	}
	return &fleetv1.ListMembersResponse{Members: ms, AnsweredBy: s.node.ID()}, nil
}

// JoinMember adds a member. An admin may add any member; a member may add only itself (that is
// how `kubedevaiops-hub --join` enters the hub).
func (s *Server) JoinMember(ctx context.Context, req *fleetv1.JoinMemberRequest) (*fleetv1.JoinMemberResponse, error) {
	id, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if id.Kind == pki.KindMember && id.Name != req.GetId() {
		return nil, status.Errorf(codes.PermissionDenied, "member %q may not add member %q", id.Name, req.GetId())
	}
	if id.Kind != pki.KindMember {
		if _, err := canWrite(ctx); err != nil {
			return nil, err
		}
	}
	if req.GetId() == "" || req.GetRaftAddress() == "" || req.GetGrpcAddress() == "" {
		return nil, invalid("join: id, raft_address and grpc_address are required")
	}
	// The address record goes first, so that the new member can forward to the leader as soon
	// as it is a voter.
	if err := s.putMemberRecord(ctx, req.GetId(), req.GetRaftAddress(), req.GetGrpcAddress()); err != nil {
		return nil, err
	}
	if _, err := s.node.AddMember(ctx, req.GetId(), req.GetRaftAddress()); err != nil {
		return nil, grpcError(err)
	}
	s.log.Info("member joined", "id", req.GetId(), "raft_addr", req.GetRaftAddress(), "by", id.String())
	s.audit(ctx, id.String(), "hub.member.join", "HubMember/"+req.GetId(), map[string]string{"raftAddress": req.GetRaftAddress(), "grpcAddress": req.GetGrpcAddress()})
	ms, err := s.members()
	if err != nil {
		return nil, err
	}
	return &fleetv1.JoinMemberResponse{Members: ms}, nil
}

// LeaveMember removes a member and its address record.
func (s *Server) LeaveMember(ctx context.Context, req *fleetv1.LeaveMemberRequest) (*fleetv1.LeaveMemberResponse, error) {
	who, err := canWrite(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetId() == "" {
		return nil, invalid("leave: id is required")
	}
	if _, err := s.node.RemoveMember(ctx, req.GetId()); err != nil {
		return nil, grpcError(err)
	}
	if err := s.deleteMemberRecord(ctx, req.GetId()); err != nil {
		return nil, err
	}
	s.log.Info("member removed", "id", req.GetId(), "by", who.String())
	s.audit(ctx, who.String(), "hub.member.leave", "HubMember/"+req.GetId(), nil)
	ms, err := s.members()
	if err != nil {
		return nil, err
	}
	return &fleetv1.LeaveMemberResponse{Members: ms}, nil
}

// putMemberRecord creates or updates the HubMember record of a member.
func (s *Server) putMemberRecord(ctx context.Context, id, raftAddr, grpcAddr string) error {
	rec := &hubv1alpha1.HubMember{
		TypeMeta:   metav1.TypeMeta{APIVersion: hubv1alpha1.GroupVersion.String(), Kind: hubv1alpha1.KindHubMember},
		ObjectMeta: metav1.ObjectMeta{Name: id},
		Spec:       hubv1alpha1.HubMemberSpec{RaftAddress: raftAddr, GRPCAddress: grpcAddr},
	}
	existing, err := s.store.Get(store.KindHubMember, "", id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		cmd, err := store.EncodeCreate(store.KindHubMember, rec)
		if err != nil {
			return grpcError(err)
		}
		_, err = s.commit(ctx, cmd)
		if status.Code(err) == codes.AlreadyExists {
			return nil // another call raced us to it
		}
		return err
	case err != nil:
		return grpcError(err)
	}
	var cur hubv1alpha1.HubMember
	if err := existing.Decode(&cur); err == nil && cur.Spec == rec.Spec {
		return nil
	}
	cmd, err := store.EncodeUpdate(store.KindHubMember, rec, 0)
	if err != nil {
		return grpcError(err)
	}
	_, err = s.commit(ctx, cmd)
	return err
}

func (s *Server) deleteMemberRecord(ctx context.Context, id string) error {
	cmd, err := store.EncodeDelete(store.KindHubMember, "", id, 0)
	if err != nil {
		return grpcError(err)
	}
	if _, err := s.commit(ctx, cmd); err != nil && status.Code(err) != codes.NotFound {
		return err
	}
	return nil
}

// KeepMemberRecords runs on the leader: it records the leader's own addresses (the first member
// has nobody to join through) and drops the records of members no longer in the configuration,
// e.g. after an automatic dead-member removal.
func (s *Server) KeepMemberRecords(ctx context.Context) {
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		if err := s.putMemberRecord(ctx, s.node.ID(), s.node.RaftAddr(), s.addr); err != nil && ctx.Err() == nil {
			s.log.Warn("recording this member's addresses", "err", err)
		}
		if ms, err := s.node.Members(); err == nil {
			in := map[string]bool{}
			for _, m := range ms {
				in[m.ID] = true
			}
			if recs, _, err := s.store.List(store.KindHubMember, "", ""); err == nil {
				for _, r := range recs {
					if !in[r.Name] {
						if err := s.deleteMemberRecord(ctx, r.Name); err != nil && ctx.Err() == nil {
							s.log.Warn("dropping a departed member's record", "member", r.Name, "err", err)
						}
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
