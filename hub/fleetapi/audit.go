package fleetapi

import (
	"context"

	"strconv"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kubedevaiops/kubedevaiops/hub/store"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

const maxAuditPage = 1000

func auditToProto(r *store.AuditRecord) *fleetv1.AuditRecord {
	return &fleetv1.AuditRecord{
		Index: r.Sequence, Time: timestamppb.New(r.Time), Actor: r.Actor, Action: r.Action,
		Subject: r.Target, Cluster: r.Cluster, TraceId: r.TraceID, EntryJson: r.Details,
		PrevHash: r.PrevHash, Hash: r.Hash,
	}
}

// ListAudit pages the audit log in order. The page token is the next sequence to return.
func (s *Server) ListAudit(ctx context.Context, req *fleetv1.ListAuditRequest) (*fleetv1.ListAuditResponse, error) {
	if _, err := canRead(ctx); err != nil {
		return nil, err
	}
	if err := s.readBarrier(ctx, req.GetConsistency()); err != nil {
		return nil, err
	}
	from := req.GetFromIndex()
	if req.GetPageToken() != "" {
		n, err := strconv.ParseUint(req.GetPageToken(), 10, 64)
		if err != nil {
			return nil, invalid("page_token %q is not one this hub issued", req.GetPageToken())
		}
		from = n
	}
	if from == 0 {
		from = 1
	}
	limit := int(req.GetPageSize())
	if limit <= 0 || limit > maxAuditPage {
		limit = maxAuditPage
	}
	records, head := s.store.ListAudit(from, limit)
	out := &fleetv1.ListAuditResponse{HeadIndex: head}
	for _, r := range records {
		if (req.GetActor() == "" || r.Actor == req.GetActor()) &&
			(req.GetCluster() == "" || r.Cluster == req.GetCluster()) &&
			(req.GetTraceId() == "" || r.TraceID == req.GetTraceId()) {
			out.Records = append(out.Records, auditToProto(r))
		}
	}
	if n := len(records); n > 0 && records[n-1].Sequence < head {
		out.NextPageToken = strconv.FormatUint(records[n-1].Sequence+1, 10)
	}
	return out, nil
}

// VerifyAudit checks the chain as this member holds it.
func (s *Server) VerifyAudit(ctx context.Context, req *fleetv1.VerifyAuditRequest) (*fleetv1.VerifyAuditResponse, error) {
	if _, err := canRead(ctx); err != nil {
		return nil, err
	}
	if err := s.readBarrier(ctx, fleetv1.ReadConsistency_READ_CONSISTENCY_UNSPECIFIED); err != nil {
		return nil, err
	}
	from := max(req.GetFromIndex(), 1)
	var all []*store.AuditRecord
	for {
		page, head := s.store.ListAudit(from, maxAuditPage)
		for _, r := range page {
			if req.GetToIndex() != 0 && r.Sequence > req.GetToIndex() {
				break
			}
			all = append(all, r)
		}
		if len(page) == 0 || page[len(page)-1].Sequence >= head || (req.GetToIndex() != 0 && page[len(page)-1].Sequence >= req.GetToIndex()) {
			break
		}
		from = page[len(page)-1].Sequence + 1
	}
	out := &fleetv1.VerifyAuditResponse{Ok: true}
	if broken, err := store.VerifyAudit(all); err != nil {
		out.Ok = false
		out.FirstBrokenIndex = all[broken].Sequence
		out.Reason = err.Error()
		if broken > 0 {
			out.VerifiedThroughIndex = all[broken-1].Sequence
		}
		return out, nil
	}
	if n := len(all); n > 0 {
		out.VerifiedThroughIndex = all[n-1].Sequence
		out.HeadHash = all[n-1].Hash
	}
	return out, nil
}
