package fleetapi

import (
	"context"
	"strconv"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/apimachinery/pkg/labels"
	clusterv1beta2 "open-cluster-management.io/api/cluster/v1beta2"

	"github.com/kubedevaiops/kubedevaiops/hub/registration"
	"github.com/kubedevaiops/kubedevaiops/hub/store"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// Clusters and bootstrap tokens. The registrar owns the rules; these calls check the caller's
// role and translate.

func (s *Server) registrar() (*registration.Registrar, error) {
	if s.reg == nil {
		return nil, status.Error(codes.Unimplemented, "this hub member serves no cluster registration")
	}
	return s.reg, nil
}

func (s *Server) ListClusters(ctx context.Context, req *fleetv1.ListClustersRequest) (*fleetv1.ListClustersResponse, error) {
	if _, err := canRead(ctx); err != nil {
		return nil, err
	}
	sel, err := labels.Parse(req.GetLabelSelector())
	if err != nil {
		return nil, invalid("label_selector %q: %v", req.GetLabelSelector(), err)
	}
	if set := req.GetClusterSet(); set != "" {
		extra, err := labels.Parse(clusterv1beta2.ClusterSetLabel + "=" + set)
		if err != nil {
			return nil, invalid("cluster_set %q: %v", set, err)
		}
		reqs, _ := extra.Requirements()
		sel = sel.Add(reqs...)
	}
	if err := s.readBarrier(ctx, req.GetConsistency()); err != nil {
		return nil, err
	}
	items, _, err := s.store.List(store.KindManagedCluster, "", sel.String())
	if err != nil {
		return nil, grpcError(err)
	}
	if req.GetPendingOnly() {
		kept := items[:0:0]
		for _, it := range items {
			var mc registration.ManagedCluster
			if it.Decode(&mc) == nil && !mc.Spec.HubAcceptsClient {
				kept = append(kept, it)
			}
		}
		items = kept
	}
	start := 0
	if t := req.GetPageToken(); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 || n > len(items) {
			return nil, invalid("page_token %q is not one this hub issued", t)
		}
		start = n
	}
	end := len(items)
	if n := PageSize(req.GetPageSize()); start+n < end {
		end = start + n
	}
	out := &fleetv1.ListClustersResponse{}
	for _, it := range items[start:end] {
		out.Clusters = append(out.Clusters, toProto(it))
	}
	if end < len(items) {
		out.NextPageToken = strconv.Itoa(end)
	}
	return out, nil
}

func (s *Server) GetCluster(ctx context.Context, req *fleetv1.GetClusterRequest) (*fleetv1.GetClusterResponse, error) {
	if _, err := canRead(ctx); err != nil {
		return nil, err
	}
	r, err := s.getResource(ctx, store.KindManagedCluster, "", req.GetName(), req.GetConsistency())
	if status.Code(err) == codes.NotFound {
		return nil, status.Errorf(codes.NotFound, "cluster %s is not registered with this hub", req.GetName())
	}
	if err != nil {
		return nil, err
	}
	return &fleetv1.GetClusterResponse{Cluster: r}, nil
}

// changeCluster runs one admin change of a named cluster through the registrar.
func (s *Server) changeCluster(ctx context.Context, name string, change func(*registration.Registrar, string) (*store.Resource, error)) (*fleetv1.Resource, error) {
	who, err := canWrite(ctx)
	if err != nil {
		return nil, err
	}
	reg, err := s.registrar()
	if err != nil {
		return nil, err
	}
	if name == "" {
		return nil, invalid("name is required")
	}
	res, err := change(reg, who.String())
	if err != nil {
		return nil, err
	}
	return toProto(res), nil
}

func (s *Server) AcceptCluster(ctx context.Context, req *fleetv1.AcceptClusterRequest) (*fleetv1.AcceptClusterResponse, error) {
	r, err := s.changeCluster(ctx, req.GetName(), func(reg *registration.Registrar, who string) (*store.Resource, error) {
		return reg.Accept(ctx, who, req)
	})
	if err != nil {
		return nil, err
	}
	return &fleetv1.AcceptClusterResponse{Cluster: r}, nil
}

func (s *Server) DenyCluster(ctx context.Context, req *fleetv1.DenyClusterRequest) (*fleetv1.DenyClusterResponse, error) {
	r, err := s.changeCluster(ctx, req.GetName(), func(reg *registration.Registrar, who string) (*store.Resource, error) {
		return reg.Deny(ctx, who, req)
	})
	if err != nil {
		return nil, err
	}
	return &fleetv1.DenyClusterResponse{Cluster: r}, nil
}

func (s *Server) LabelCluster(ctx context.Context, req *fleetv1.LabelClusterRequest) (*fleetv1.LabelClusterResponse, error) {
	r, err := s.changeCluster(ctx, req.GetName(), func(reg *registration.Registrar, who string) (*store.Resource, error) {
		return reg.Label(ctx, who, req)
	})
	if err != nil {
		return nil, err
	}
	return &fleetv1.LabelClusterResponse{Cluster: r}, nil
}

func (s *Server) CreateToken(ctx context.Context, req *fleetv1.CreateTokenRequest) (*fleetv1.CreateTokenResponse, error) {
	who, err := canWrite(ctx)
	if err != nil {
		return nil, err
	}
	reg, err := s.registrar()
	if err != nil {
		return nil, err
	}
	return reg.CreateToken(ctx, who.String(), req)
}

func (s *Server) ListTokens(ctx context.Context, req *fleetv1.ListTokensRequest) (*fleetv1.ListTokensResponse, error) {
	if _, err := canRead(ctx); err != nil {
		return nil, err
	}
	reg, err := s.registrar()
	if err != nil {
		return nil, err
	}
	return reg.ListTokens(ctx, req)
}

func (s *Server) RevokeToken(ctx context.Context, req *fleetv1.RevokeTokenRequest) (*fleetv1.RevokeTokenResponse, error) {
	who, err := canWrite(ctx)
	if err != nil {
		return nil, err
	}
	reg, err := s.registrar()
	if err != nil {
		return nil, err
	}
	return reg.RevokeToken(ctx, who.String(), req)
}
