package fleetapi

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/kubedevaiops/kubedevaiops/hub/store"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// The generic resource path every kind goes through: apply (create or update, optimistic on
// resource_version), get, list and delete.

func toProto(r *store.Resource) *fleetv1.Resource {
	return &fleetv1.Resource{
		Kind: r.Kind, Name: r.Name, Namespace: r.Namespace,
		ResourceVersion: r.ResourceVersionString(), Index: r.ModifyIndex, ObjectJson: r.Object,
	}
}

func parseVersion(rv string) (uint64, error) {
	if rv == "" {
		return 0, nil
	}
	v, err := strconv.ParseUint(rv, 10, 64)
	if err != nil || v == 0 {
		return 0, invalid("resource_version %q is not a version this hub issued", rv)
	}
	return v, nil
}

// applyResource creates the object, or updates it when it exists, in one command. With a
// resource_version the write is conditional on it; without one it is unconditional. The audit
// record goes in the same command, so it is appended exactly when the write happens.
func (s *Server) applyResource(ctx context.Context, kind string, in *fleetv1.Resource, audit store.AuditEntry) (*fleetv1.Resource, error) {
	if in == nil || len(in.GetObjectJson()) == 0 {
		return nil, invalid("%s: object_json is empty", kind)
	}
	if in.GetKind() != "" && in.GetKind() != kind {
		return nil, invalid("this call stores %s objects, not %s", kind, in.GetKind())
	}
	rv, err := parseVersion(in.GetResourceVersion())
	if err != nil {
		return nil, err
	}
	cmd, err := store.EncodeApply(kind, json.RawMessage(in.GetObjectJson()), rv)
	if err != nil {
		return nil, grpcError(err)
	}
	if cmd, err = store.WithAudit(cmd, audit); err != nil {
		return nil, grpcError(err)
	}
	res, err := s.commit(ctx, cmd)
	if err != nil {
		return nil, err
	}
	return toProto(res.Resource), nil
}

func (s *Server) getResource(ctx context.Context, kind, ns, name string, c fleetv1.ReadConsistency) (*fleetv1.Resource, error) {
	if name == "" {
		return nil, invalid("%s: name is required", kind)
	}
	if err := s.readBarrier(ctx, c); err != nil {
		return nil, err
	}
	r, err := s.store.Get(kind, ns, name)
	if err != nil {
		return nil, grpcError(err)
	}
	return toProto(r), nil
}

// listResources returns a page of a kind; the page token is the position after the last item.
func (s *Server) listResources(ctx context.Context, kind, ns, selector string, pageSize int32, pageToken string, c fleetv1.ReadConsistency) ([]*fleetv1.Resource, string, error) {
	if err := s.readBarrier(ctx, c); err != nil {
		return nil, "", err
	}
	items, _, err := s.store.List(kind, ns, selector)
	if err != nil {
		return nil, "", grpcError(err)
	}
	start := 0
	if pageToken != "" {
		n, err := strconv.Atoi(pageToken)
		if err != nil || n < 0 || n > len(items) {
			return nil, "", invalid("page_token %q is not one this hub issued", pageToken)
		}
		start = n
	}
	end := len(items)
	if n := PageSize(pageSize); start+n < end {
		end = start + n
	}
	out := make([]*fleetv1.Resource, 0, end-start)
	for _, r := range items[start:end] {
		out = append(out, toProto(r))
	}
	next := ""
	if end < len(items) {
		next = strconv.Itoa(end)
	}
	return out, next, nil
}

// Page sizes: lists answer at most MaxPageSize items per call, DefaultPageSize when the caller
// names none, so that no answer outgrows a gRPC message on a fleet of thousands of clusters.
const (
	DefaultPageSize = 500
	MaxPageSize     = 1000
)

// PageSize is the page size a list call uses for the requested one.
func PageSize(requested int32) int {
	switch {
	case requested <= 0:
		return DefaultPageSize
	case requested > MaxPageSize:
		return MaxPageSize
	}
	return int(requested)
}

func (s *Server) deleteResource(ctx context.Context, kind, ns, name, rv string, audit store.AuditEntry) (uint64, error) {
	v, err := parseVersion(rv)
	if err != nil {
		return 0, err
	}
	cmd, err := store.EncodeDelete(kind, ns, name, v)
	if err == nil {
		cmd, err = store.WithAudit(cmd, audit)
	}
	if err != nil {
		return 0, grpcError(err)
	}
	res, err := s.commit(ctx, cmd)
	if err != nil {
		return 0, err
	}
	return res.Index, nil
}

// AIOpsPolicies.

func (s *Server) ApplyPolicy(ctx context.Context, req *fleetv1.ApplyPolicyRequest) (*fleetv1.ApplyPolicyResponse, error) {
	who, err := canWrite(ctx)
	if err != nil {
		return nil, err
	}
	r, err := s.applyResource(ctx, store.KindAIOpsPolicy, req.GetPolicy(),
		store.AuditEntry{Actor: who.String(), Action: "policy.apply", Target: store.KindAIOpsPolicy + "/" + req.GetPolicy().GetName()})
	if err != nil {
		return nil, err
	}
	return &fleetv1.ApplyPolicyResponse{Policy: r}, nil
}

func (s *Server) GetPolicy(ctx context.Context, req *fleetv1.GetPolicyRequest) (*fleetv1.GetPolicyResponse, error) {
	if _, err := canRead(ctx); err != nil {
		return nil, err
	}
	r, err := s.getResource(ctx, store.KindAIOpsPolicy, req.GetNamespace(), req.GetName(), req.GetConsistency())
	if err != nil {
		return nil, err
	}
	return &fleetv1.GetPolicyResponse{Policy: r}, nil
}

func (s *Server) ListPolicies(ctx context.Context, req *fleetv1.ListPoliciesRequest) (*fleetv1.ListPoliciesResponse, error) {
	if _, err := canRead(ctx); err != nil {
		return nil, err
	}
	items, next, err := s.listResources(ctx, store.KindAIOpsPolicy, req.GetNamespace(), req.GetLabelSelector(), req.GetPageSize(), req.GetPageToken(), req.GetConsistency())
	if err != nil {
		return nil, err
	}
	return &fleetv1.ListPoliciesResponse{Policies: items, NextPageToken: next}, nil
}

func (s *Server) DeletePolicy(ctx context.Context, req *fleetv1.DeletePolicyRequest) (*fleetv1.DeletePolicyResponse, error) {
	who, err := canWrite(ctx)
	if err != nil {
		return nil, err
	}
	index, err := s.deleteResource(ctx, store.KindAIOpsPolicy, req.GetNamespace(), req.GetName(), req.GetResourceVersion(),
		store.AuditEntry{Actor: who.String(), Action: "policy.delete", Target: store.KindAIOpsPolicy + "/" + req.GetName()})
	if err != nil {
		return nil, err
	}
	return &fleetv1.DeletePolicyResponse{Index: index}, nil
}
