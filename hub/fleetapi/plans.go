package fleetapi

import (
	"context"
	"errors"
	"sort"
	"strconv"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/ai/jules"
	"github.com/kubedevaiops/kubedevaiops/hub/pki"
	"github.com/kubedevaiops/kubedevaiops/hub/store"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// PlanDecider records people's approvals and rejections of plans (hub/incident).
type PlanDecider interface {
	Decide(ctx context.Context, name, resourceVersion, by, comment string, approve bool) (*store.Resource, error)
}

// TraceSource answers from the spans this member recorded or received (hub/telemetry).
type TraceSource interface {
	// Spans returns the spans of a trace this member holds.
	Spans(traceID string) []*fleetv1.TraceSpan
}

// filtered lists a kind, keeps the items keep accepts (decoded into a fresh T), and pages the
// result as listResources does.
func filtered[T any](s *Server, ctx context.Context, kind, selector string, pageSize int32, pageToken string, c fleetv1.ReadConsistency, keep func(*T) bool) ([]*fleetv1.Resource, string, error) {
	if err := s.readBarrier(ctx, c); err != nil {
		return nil, "", err
	}
	items, _, err := s.store.List(kind, "", selector)
	if err != nil {
		return nil, "", grpcError(err)
	}
	var kept []*store.Resource
	for _, it := range items {
		obj := new(T)
		if err := it.Decode(obj); err != nil {
			return nil, "", status.Errorf(codes.Internal, "stored %s %s: %v", kind, it.Name, err)
		}
		if keep(obj) {
			kept = append(kept, it)
		}
	}
	start := 0
	if pageToken != "" {
		n, err := strconv.Atoi(pageToken)
		if err != nil || n < 0 || n > len(kept) {
			return nil, "", invalid("page_token %q is not one this hub issued", pageToken)
		}
		start = n
	}
	end := len(kept)
	if n := PageSize(pageSize); start+n < end {
		end = start + n
	}
	out := make([]*fleetv1.Resource, 0, end-start)
	for _, r := range kept[start:end] {
		out = append(out, toProto(r))
	}
	next := ""
	if end < len(kept) {
		next = strconv.Itoa(end)
	}
	return out, next, nil
}

// ListPlans lists plans, filtered by type, phase and cluster.
func (s *Server) ListPlans(ctx context.Context, req *fleetv1.ListPlansRequest) (*fleetv1.ListPlansResponse, error) {
	if _, err := canRead(ctx); err != nil {
		return nil, err
	}
	out, next, err := filtered(s, ctx, store.KindPlan, req.GetLabelSelector(), req.GetPageSize(), req.GetPageToken(), req.GetConsistency(), func(p *hubv1alpha1.Plan) bool {
		if req.GetPlanType() != "" && string(p.Spec.Type) != req.GetPlanType() {
			return false
		}
		if req.GetPhase() != "" && string(p.Status.Phase) != req.GetPhase() {
			return false
		}
		if c := req.GetCluster(); c != "" {
			for _, a := range p.Spec.Actions {
				if a.Cluster == c {
					return true
				}
			}
			for _, t := range p.Spec.Targets.Clusters {
				if t == c {
					return true
				}
			}
			return false
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	return &fleetv1.ListPlansResponse{Plans: out, NextPageToken: next}, nil
}

// GetPlan returns one plan.
func (s *Server) GetPlan(ctx context.Context, req *fleetv1.GetPlanRequest) (*fleetv1.GetPlanResponse, error) {
	if _, err := canRead(ctx); err != nil {
		return nil, err
	}
	if req.GetName() == "" {
		return nil, invalid("plan name is required")
	}
	r, err := s.getResource(ctx, store.KindPlan, "", req.GetName(), req.GetConsistency())
	if err != nil {
		return nil, err
	}
	return &fleetv1.GetPlanResponse{Plan: r}, nil
}

// canApprove lets through admins and approvers.
func canApprove(ctx context.Context) (pki.Identity, error) { return requireAdmin(ctx, RoleApprover) }

// ApprovePlan records the caller's approval.
func (s *Server) ApprovePlan(ctx context.Context, req *fleetv1.ApprovePlanRequest) (*fleetv1.ApprovePlanResponse, error) {
	id, err := canApprove(ctx)
	if err != nil {
		return nil, err
	}
	if s.plans == nil {
		return nil, status.Error(codes.Unimplemented, "this member does not run the incident loop")
	}
	r, err := s.plans.Decide(ctx, req.GetName(), req.GetResourceVersion(), id.String(), req.GetComment(), true)
	if err != nil {
		return nil, err
	}
	return &fleetv1.ApprovePlanResponse{Plan: toProto(r)}, nil
}

// RejectPlan records the caller's rejection; nothing in the plan runs.
func (s *Server) RejectPlan(ctx context.Context, req *fleetv1.RejectPlanRequest) (*fleetv1.RejectPlanResponse, error) {
	id, err := canApprove(ctx)
	if err != nil {
		return nil, err
	}
	if s.plans == nil {
		return nil, status.Error(codes.Unimplemented, "this member does not run the incident loop")
	}
	r, err := s.plans.Decide(ctx, req.GetName(), req.GetResourceVersion(), id.String(), req.GetComment(), false)
	if err != nil {
		return nil, err
	}
	return &fleetv1.RejectPlanResponse{Plan: toProto(r)}, nil
}

// ListIncidents lists incidents, filtered by cluster and phase.
func (s *Server) ListIncidents(ctx context.Context, req *fleetv1.ListIncidentsRequest) (*fleetv1.ListIncidentsResponse, error) {
	if _, err := canRead(ctx); err != nil {
		return nil, err
	}
	sel := ""
	if c := req.GetCluster(); c != "" {
		sel = hubv1alpha1.LabelCluster + "=" + c
	}
	out, next, err := filtered(s, ctx, store.KindIncident, sel, req.GetPageSize(), req.GetPageToken(), req.GetConsistency(), func(i *hubv1alpha1.Incident) bool {
		return req.GetPhase() == "" || string(i.Status.Phase) == req.GetPhase()
	})
	if err != nil {
		return nil, err
	}
	return &fleetv1.ListIncidentsResponse{Incidents: out, NextPageToken: next}, nil
}

// ListActions lists actions, filtered by plan and cluster.
func (s *Server) ListActions(ctx context.Context, req *fleetv1.ListActionsRequest) (*fleetv1.ListActionsResponse, error) {
	if _, err := canRead(ctx); err != nil {
		return nil, err
	}
	sel := ""
	if c := req.GetCluster(); c != "" {
		sel = hubv1alpha1.LabelCluster + "=" + c
	}
	out, next, err := filtered(s, ctx, store.KindAction, sel, req.GetPageSize(), req.GetPageToken(), req.GetConsistency(), func(a *hubv1alpha1.Action) bool {
		return req.GetPlan() == "" || a.Spec.PlanRef == req.GetPlan()
	})
	if err != nil {
		return nil, err
	}
	return &fleetv1.ListActionsResponse{Actions: out, NextPageToken: next}, nil
}

// ListKnowledge lists what the fleet learned, optionally for one signature.
func (s *Server) ListKnowledge(ctx context.Context, req *fleetv1.ListKnowledgeRequest) (*fleetv1.ListKnowledgeResponse, error) {
	if _, err := canRead(ctx); err != nil {
		return nil, err
	}
	out, next, err := filtered(s, ctx, store.KindKnowledgeEntry, "", req.GetPageSize(), req.GetPageToken(), req.GetConsistency(), func(k *hubv1alpha1.KnowledgeEntry) bool {
		return req.GetSignature() == "" || k.Spec.Signature == req.GetSignature()
	})
	if err != nil {
		return nil, err
	}
	return &fleetv1.ListKnowledgeResponse{Entries: out, NextPageToken: next}, nil
}

// ListJulesSessions lists the Jules sessions the hub follows.
func (s *Server) ListJulesSessions(ctx context.Context, req *fleetv1.ListJulesSessionsRequest) (*fleetv1.ListJulesSessionsResponse, error) {
	if _, err := canRead(ctx); err != nil {
		return nil, err
	}
	purpose := hubv1alpha1.JulesSessionPurpose(req.GetPurpose())
	switch purpose {
	case "", hubv1alpha1.JulesOnboarding, hubv1alpha1.JulesCodeFix:
	default:
		return nil, invalid("purpose %q: want %s or %s", purpose, hubv1alpha1.JulesOnboarding, hubv1alpha1.JulesCodeFix)
	}
	out, next, err := filtered(s, ctx, hubv1alpha1.KindJulesSession, "", req.GetPageSize(), req.GetPageToken(), req.GetConsistency(), func(js *hubv1alpha1.JulesSession) bool {
		return purpose == "" || js.Spec.Purpose == purpose
	})
	if err != nil {
		return nil, err
	}
	return &fleetv1.ListJulesSessionsResponse{Sessions: out, NextPageToken: next}, nil
}

// GetJulesSession returns one Jules session record.
func (s *Server) GetJulesSession(ctx context.Context, req *fleetv1.GetJulesSessionRequest) (*fleetv1.GetJulesSessionResponse, error) {
	if _, err := canRead(ctx); err != nil {
		return nil, err
	}
	if req.GetName() == "" {
		return nil, invalid("jules session name is required")
	}
	r, err := s.getResource(ctx, hubv1alpha1.KindJulesSession, "", req.GetName(), req.GetConsistency())
	if err != nil {
		return nil, err
	}
	return &fleetv1.GetJulesSessionResponse{Session: r}, nil
}

// JulesMessenger sends people's messages to Jules sessions (hub/ai/jules.Tracker).
type JulesMessenger interface {
	SendMessage(ctx context.Context, name, text, by string) error
}

// ReplyJulesSession sends the caller's message to a Jules session.
func (s *Server) ReplyJulesSession(ctx context.Context, req *fleetv1.ReplyJulesSessionRequest) (*fleetv1.ReplyJulesSessionResponse, error) {
	id, err := canApprove(ctx)
	if err != nil {
		return nil, err
	}
	switch {
	case s.jules == nil:
		return nil, status.Error(codes.FailedPrecondition, "jules is off on this hub: its API key lives in Vault (--vault-addr)")
	case req.GetName() == "":
		return nil, invalid("jules session name is required")
	}
	if err := s.jules.SendMessage(ctx, req.GetName(), req.GetMessage(), id.String()); err != nil {
		switch {
		case errors.Is(err, jules.ErrSessionNotActive):
			return nil, status.Error(codes.FailedPrecondition, err.Error())
		case errors.Is(err, jules.ErrInvalidMessage), errors.Is(err, jules.ErrBadRequest):
			return nil, status.Error(codes.InvalidArgument, err.Error())
		case errors.Is(err, jules.ErrNotFound), errors.Is(err, jules.ErrRateLimited), errors.Is(err, jules.ErrUnavailable),
			errors.Is(err, jules.ErrUnauthenticated), errors.Is(err, jules.ErrPermissionDenied), errors.Is(err, jules.ErrNoKey):
			return nil, status.Error(codes.Unavailable, err.Error())
		}
		return nil, grpcError(err)
	}
	r, err := s.getResource(ctx, hubv1alpha1.KindJulesSession, "", req.GetName(), fleetv1.ReadConsistency_READ_CONSISTENCY_UNSPECIFIED)
	if err != nil {
		return nil, err
	}
	return &fleetv1.ReplyJulesSessionResponse{Session: r}, nil
}

// GetTrace gathers a trace's spans from every member: each keeps the spans it recorded and
// those relayed by the spokes streaming to it. A member asking is answered locally only.
func (s *Server) GetTrace(ctx context.Context, req *fleetv1.GetTraceRequest) (*fleetv1.GetTraceResponse, error) {
	id, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	local := id.Kind == pki.KindMember && req.GetLocalOnly()
	if !local {
		if _, err := canRead(ctx); err != nil {
			return nil, err
		}
	}
	traceID := req.GetTraceId()
	if traceID == "" {
		if req.GetPlan() == "" {
			return nil, invalid("name a plan or a trace id")
		}
		res, err := s.store.Get(store.KindPlan, "", req.GetPlan())
		if err != nil {
			return nil, status.Errorf(codes.NotFound, "plan %s does not exist", req.GetPlan())
		}
		var p hubv1alpha1.Plan
		if err := res.Decode(&p); err != nil {
			return nil, status.Errorf(codes.Internal, "stored plan %s: %v", req.GetPlan(), err)
		}
		if traceID = traceIDOf(p.Spec.TraceParent); traceID == "" {
			return nil, status.Errorf(codes.NotFound, "plan %s has no trace", req.GetPlan())
		}
	}
	out := &fleetv1.GetTraceResponse{TraceId: traceID}
	if s.traces != nil {
		out.Spans = append(out.Spans, s.traces.Spans(traceID)...)
	}
	if local {
		return out, nil
	}
	ms, err := s.members()
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		if m.GetId() == s.node.ID() {
			continue
		}
		if m.GetGrpcAddress() == "" {
			out.UnreachableMembers = append(out.UnreachableMembers, m.GetId())
			continue
		}
		conn, err := s.node.MemberConn(m.GetGrpcAddress())
		if err != nil {
			out.UnreachableMembers = append(out.UnreachableMembers, m.GetId())
			continue
		}
		resp, err := fleetv1.NewFleetClient(conn).GetTrace(ctx, &fleetv1.GetTraceRequest{TraceId: traceID, LocalOnly: true})
		if err != nil {
			out.UnreachableMembers = append(out.UnreachableMembers, m.GetId())
			continue
		}
		out.Spans = append(out.Spans, resp.GetSpans()...)
	}
	sort.SliceStable(out.Spans, func(i, j int) bool {
		return out.Spans[i].GetStartTime().AsTime().Before(out.Spans[j].GetStartTime().AsTime())
	})
	return out, nil
}

// traceIDOf returns the trace id of a W3C traceparent ("00-<trace>-<span>-<flags>").
func traceIDOf(traceparent string) string {
	if len(traceparent) != 55 || traceparent[2] != '-' || traceparent[35] != '-' {
		return ""
	}
	return traceparent[3:35]
}
