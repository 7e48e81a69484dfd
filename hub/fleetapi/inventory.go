package fleetapi

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/pki"
	"github.com/kubedevaiops/kubedevaiops/hub/store"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// InventorySource is the live inventory of the streams this member holds.
type InventorySource interface {
	// Inventory returns a cluster's inventory if this member holds its stream (held); the
	// inventory is nil while its first snapshot is still arriving.
	Inventory(cluster string, kinds []string, namespace string) (inv *fleetv1.GetClusterInventoryResponse, held bool)
}

// GetClusterInventory answers from this member when it holds the cluster's stream, and else
// forwards to the member that does, as its ClusterLease records. A member calling is such a
// forward and is answered locally only, so a call never travels more than one hop.
func (s *Server) GetClusterInventory(ctx context.Context, req *fleetv1.GetClusterInventoryRequest) (*fleetv1.GetClusterInventoryResponse, error) {
	id, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	forwarded := id.Kind == pki.KindMember
	if !forwarded {
		if _, err := canRead(ctx); err != nil {
			return nil, err
		}
	}
	if req.GetName() == "" {
		return nil, invalid("name is required")
	}
	if s.inv != nil {
		if inv, held := s.inv.Inventory(req.GetName(), req.GetKinds(), req.GetNamespace()); held {
			if inv == nil {
				return nil, status.Errorf(codes.Unavailable, "the inventory of cluster %s is still arriving at member %s; try again shortly", req.GetName(), s.node.ID())
			}
			return inv, nil
		}
	}
	if forwarded {
		return nil, status.Errorf(codes.Unavailable, "member %s no longer holds the stream of cluster %s", s.node.ID(), req.GetName())
	}
	if _, err := s.store.Get(store.KindManagedCluster, "", req.GetName()); err != nil {
		return nil, status.Errorf(codes.NotFound, "cluster %s is not registered with this hub", req.GetName())
	}
	res, err := s.store.Get(store.KindClusterLease, "", req.GetName())
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "cluster %s has not connected to the hub yet; its inventory is unknown", req.GetName())
	}
	var lease hubv1alpha1.ClusterLease
	if err := res.Decode(&lease); err != nil {
		return nil, status.Errorf(codes.Internal, "stored lease of %s: %v", req.GetName(), err)
	}
	holder := lease.Spec.HolderMember
	if holder == "" || holder == s.node.ID() {
		return nil, status.Errorf(codes.Unavailable, "cluster %s is not connected to any hub member now", req.GetName())
	}
	memberRes, err := s.store.Get(store.KindHubMember, "", holder)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "cluster %s streams to member %s, which is no longer a member", req.GetName(), holder)
	}
	var m hubv1alpha1.HubMember
	if err := memberRes.Decode(&m); err != nil || m.Spec.GRPCAddress == "" {
		return nil, status.Errorf(codes.Internal, "member %s has no gRPC address on record", holder)
	}
	conn, err := s.node.MemberConn(m.Spec.GRPCAddress)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "reach member %s: %v", holder, err)
	}
	return fleetv1.NewFleetClient(conn).GetClusterInventory(ctx, req)
}
