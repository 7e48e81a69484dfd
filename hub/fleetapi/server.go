package fleetapi

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kubedevaiops/kubedevaiops/hub/ai"
	"github.com/kubedevaiops/kubedevaiops/hub/grpcerr"
	"github.com/kubedevaiops/kubedevaiops/hub/raftnode"
	"github.com/kubedevaiops/kubedevaiops/hub/registration"
	"github.com/kubedevaiops/kubedevaiops/hub/store"
	"github.com/kubedevaiops/kubedevaiops/hub/writes"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// Config wires the API to the member it runs on.
type Config struct {
	Node   *raftnode.Node
	Store  *store.Store
	Logger *slog.Logger
	// GRPCAddr is the address other members and clients reach this member's API at.
	GRPCAddr string
	// Registrar serves clusters and bootstrap tokens.
	Registrar *registration.Registrar
	// Inventory answers GetClusterInventory from the streams this member holds.
	Inventory InventorySource
	// Plans records approvals and rejections of plans.
	Plans PlanDecider
	// Traces answers GetTrace from this member's recent spans.
	Traces TraceSource
	// Engines answers questions and explains plans.
	Engines *ai.Registry
	// ExternalAIForbidden names what forbids external AI providers for clusters, or "".
	ExternalAIForbidden func(clusters []string) string
	// Jules sends people's messages to Jules sessions; nil when Jules is off.
	Jules JulesMessenger
}

// Server implements the Fleet service. RPCs that later capabilities own (cluster acceptance,
// tokens, placements, plans) answer UNIMPLEMENTED until they land.
type Server struct {
	fleetv1.UnimplementedFleetServer
	node    *raftnode.Node
	store   *store.Store
	log     *slog.Logger
	addr    string
	reg     *registration.Registrar
	inv     InventorySource
	plans   PlanDecider
	traces  TraceSource
	engines *ai.Registry
	forbid  func(clusters []string) string
	jules   JulesMessenger
}

// New returns the Fleet API of one member.
func New(cfg Config) *Server {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{node: cfg.Node, store: cfg.Store, log: log, addr: cfg.GRPCAddr, reg: cfg.Registrar, inv: cfg.Inventory, plans: cfg.Plans, traces: cfg.Traces, engines: cfg.Engines, forbid: cfg.ExternalAIForbidden,
		jules: cfg.Jules}
}

// commit proposes one encoded command and returns the store's result for it.
func (s *Server) commit(ctx context.Context, cmd []byte) (*store.Result, error) {
	res, err := writes.One(ctx, s.node, cmd)
	return res, grpcError(err)
}

// audit appends a record of an admin's change. It runs after the change committed, so the log
// records what happened; details must never carry secrets.
func (s *Server) audit(ctx context.Context, actor, action, target string, details any) {
	var raw json.RawMessage
	if details != nil {
		var err error
		if raw, err = json.Marshal(details); err != nil {
			s.log.Error("audit details", "action", action, "err", err)
			return
		}
	}
	cmd, err := store.EncodeAuditAppend(store.AuditEntry{Actor: actor, Action: action, Target: target, Details: raw})
	if err == nil {
		_, err = s.commit(ctx, cmd)
	}
	if err != nil {
		s.log.Error("audit record not written", "action", action, "target", target, "err", err)
	}
}

// readBarrier makes the following local read linearizable unless a stale read was asked for.
func (s *Server) readBarrier(ctx context.Context, c fleetv1.ReadConsistency) error {
	if c == fleetv1.ReadConsistency_READ_CONSISTENCY_STALE {
		return nil
	}
	if err := s.node.ReadBarrier(ctx); err != nil {
		return grpcError(err)
	}
	return nil
}

// grpcError maps store and Raft errors onto gRPC codes.
func grpcError(err error) error { return grpcerr.From(err) }

func invalid(format string, args ...any) error {
	return status.Error(codes.InvalidArgument, fmt.Sprintf(format, args...))
}
