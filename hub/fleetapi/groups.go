package fleetapi

import (
	"context"
	"encoding/json"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	clusterv1beta1 "open-cluster-management.io/api/cluster/v1beta1"

	"github.com/kubedevaiops/kubedevaiops/hub/store"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// ManagedClusterSets, Placements and their decisions, through the generic resource path. The
// leader's placement controller owns Placement status and PlacementDecisions.

func (s *Server) ApplyClusterSet(ctx context.Context, req *fleetv1.ApplyClusterSetRequest) (*fleetv1.ApplyClusterSetResponse, error) {
	who, err := canWrite(ctx)
	if err != nil {
		return nil, err
	}
	r, err := s.applyResource(ctx, store.KindManagedClusterSet, req.GetClusterSet(),
		store.AuditEntry{Actor: who.String(), Action: "clusterset.apply", Target: store.KindManagedClusterSet + "/" + req.GetClusterSet().GetName()})
	if err != nil {
		return nil, err
	}
	return &fleetv1.ApplyClusterSetResponse{ClusterSet: r}, nil
}

func (s *Server) GetClusterSet(ctx context.Context, req *fleetv1.GetClusterSetRequest) (*fleetv1.GetClusterSetResponse, error) {
	if _, err := canRead(ctx); err != nil {
		return nil, err
	}
	r, err := s.getResource(ctx, store.KindManagedClusterSet, "", req.GetName(), req.GetConsistency())
	if err != nil {
		return nil, err
	}
	return &fleetv1.GetClusterSetResponse{ClusterSet: r}, nil
}

func (s *Server) ListClusterSets(ctx context.Context, req *fleetv1.ListClusterSetsRequest) (*fleetv1.ListClusterSetsResponse, error) {
	if _, err := canRead(ctx); err != nil {
		return nil, err
	}
	items, next, err := s.listResources(ctx, store.KindManagedClusterSet, "", req.GetLabelSelector(), req.GetPageSize(), req.GetPageToken(), req.GetConsistency())
	if err != nil {
		return nil, err
	}
	return &fleetv1.ListClusterSetsResponse{ClusterSets: items, NextPageToken: next}, nil
}

func (s *Server) DeleteClusterSet(ctx context.Context, req *fleetv1.DeleteClusterSetRequest) (*fleetv1.DeleteClusterSetResponse, error) {
	who, err := canWrite(ctx)
	if err != nil {
		return nil, err
	}
	index, err := s.deleteResource(ctx, store.KindManagedClusterSet, "", req.GetName(), req.GetResourceVersion(),
		store.AuditEntry{Actor: who.String(), Action: "clusterset.delete", Target: store.KindManagedClusterSet + "/" + req.GetName()})
	if err != nil {
		return nil, err
	}
	return &fleetv1.DeleteClusterSetResponse{Index: index}, nil
}

// ApplyPlacement stores a Placement's spec; its status stays the controller's.
func (s *Server) ApplyPlacement(ctx context.Context, req *fleetv1.ApplyPlacementRequest) (*fleetv1.ApplyPlacementResponse, error) {
	who, err := canWrite(ctx)
	if err != nil {
		return nil, err
	}
	in := req.GetPlacement()
	if in == nil || len(in.GetObjectJson()) == 0 {
		return nil, invalid("Placement: object_json is empty")
	}
	var p clusterv1beta1.Placement
	if err := json.Unmarshal(in.GetObjectJson(), &p); err != nil {
		return nil, invalid("Placement: %v", err)
	}
	if p.Namespace == "" {
		return nil, invalid("Placement %s: metadata.namespace is required (placements are namespaced)", p.Name)
	}
	if cur, err := s.store.Get(store.KindPlacement, p.Namespace, p.Name); err == nil {
		var stored clusterv1beta1.Placement
		if err := cur.Decode(&stored); err != nil {
			return nil, status.Errorf(codes.Internal, "stored Placement: %v", err)
		}
		obj := map[string]json.RawMessage{}
		if err := json.Unmarshal(in.GetObjectJson(), &obj); err != nil {
			return nil, invalid("Placement: %v", err)
		}
		st, err := json.Marshal(stored.Status)
		if err != nil {
			return nil, status.Errorf(codes.Internal, "stored Placement status: %v", err)
		}
		obj["status"] = st
		b, err := json.Marshal(obj)
		if err != nil {
			return nil, status.Errorf(codes.Internal, "Placement: %v", err)
		}
		in = &fleetv1.Resource{Kind: in.GetKind(), Name: in.GetName(), Namespace: in.GetNamespace(), ResourceVersion: in.GetResourceVersion(), ObjectJson: b}
	}
	r, err := s.applyResource(ctx, store.KindPlacement, in,
		store.AuditEntry{Actor: who.String(), Action: "placement.apply", Target: store.KindPlacement + "/" + p.Namespace + "/" + p.Name})
	if err != nil {
		return nil, err
	}
	return &fleetv1.ApplyPlacementResponse{Placement: r}, nil
}

func (s *Server) GetPlacement(ctx context.Context, req *fleetv1.GetPlacementRequest) (*fleetv1.GetPlacementResponse, error) {
	if _, err := canRead(ctx); err != nil {
		return nil, err
	}
	if req.GetNamespace() == "" {
		return nil, invalid("namespace is required (placements are namespaced)")
	}
	r, err := s.getResource(ctx, store.KindPlacement, req.GetNamespace(), req.GetName(), req.GetConsistency())
	if err != nil {
		return nil, err
	}
	return &fleetv1.GetPlacementResponse{Placement: r}, nil
}

func (s *Server) ListPlacements(ctx context.Context, req *fleetv1.ListPlacementsRequest) (*fleetv1.ListPlacementsResponse, error) {
	if _, err := canRead(ctx); err != nil {
		return nil, err
	}
	items, next, err := s.listResources(ctx, store.KindPlacement, req.GetNamespace(), req.GetLabelSelector(), req.GetPageSize(), req.GetPageToken(), req.GetConsistency())
	if err != nil {
		return nil, err
	}
	return &fleetv1.ListPlacementsResponse{Placements: items, NextPageToken: next}, nil
}

func (s *Server) DeletePlacement(ctx context.Context, req *fleetv1.DeletePlacementRequest) (*fleetv1.DeletePlacementResponse, error) {
	who, err := canWrite(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetNamespace() == "" {
		return nil, invalid("namespace is required (placements are namespaced)")
	}
	index, err := s.deleteResource(ctx, store.KindPlacement, req.GetNamespace(), req.GetName(), req.GetResourceVersion(),
		store.AuditEntry{Actor: who.String(), Action: "placement.delete", Target: store.KindPlacement + "/" + req.GetNamespace() + "/" + req.GetName()})
	if err != nil {
		return nil, err
	}
	return &fleetv1.DeletePlacementResponse{Index: index}, nil
}

// ListPlacementDecisions lists the decisions of one placement, or of all placements in a
// namespace when no placement is named.
func (s *Server) ListPlacementDecisions(ctx context.Context, req *fleetv1.ListPlacementDecisionsRequest) (*fleetv1.ListPlacementDecisionsResponse, error) {
	if _, err := canRead(ctx); err != nil {
		return nil, err
	}
	sel := req.GetLabelSelector()
	if p := req.GetPlacement(); p != "" {
		if req.GetNamespace() == "" {
			return nil, invalid("namespace is required with placement")
		}
		if sel != "" {
			sel += ","
		}
		sel += clusterv1beta1.PlacementLabel + "=" + p
	}
	items, next, err := s.listResources(ctx, store.KindPlacementDecision, req.GetNamespace(), sel, req.GetPageSize(), req.GetPageToken(), req.GetConsistency())
	if err != nil {
		return nil, err
	}
	return &fleetv1.ListPlacementDecisionsResponse{Decisions: items, NextPageToken: next}, nil
}
