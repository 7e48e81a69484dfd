package fleetapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kubedevaiops/kubedevaiops/hub/raftnode"
	"github.com/kubedevaiops/kubedevaiops/hub/store"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// Config wires the API to the member it runs on.
type Config struct {
	Node   *raftnode.Node
	Store  *store.Store
	Logger *slog.Logger
	// GRPCAddr is the address other members and clients reach this member's API at.
	GRPCAddr string
}

// Server implements the Fleet service. RPCs that later capabilities own (cluster acceptance,
// tokens, placements, plans) answer UNIMPLEMENTED until they land.
type Server struct {
	fleetv1.UnimplementedFleetServer
	node  *raftnode.Node
	store *store.Store
	log   *slog.Logger
	addr  string
}

// New returns the Fleet API of one member.
func New(cfg Config) *Server {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{node: cfg.Node, store: cfg.Store, log: log, addr: cfg.GRPCAddr}
}

// commit proposes one encoded command and returns the store's result for it.
func (s *Server) commit(ctx context.Context, cmd []byte) (*store.Result, error) {
	resp, _, err := s.node.Apply(ctx, cmd)
	if err != nil {
		return nil, grpcError(err)
	}
	res, ok := resp.(*store.Result)
	if !ok || res == nil {
		return nil, status.Errorf(codes.Internal, "unexpected result %T from the store", resp)
	}
	if res.Err != nil {
		return nil, grpcError(res.Err)
	}
	return res, nil
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

// grpcError maps store and Raft errors onto gRPC codes, keeping their messages, which say what
// was wrong.
func grpcError(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err // already a gRPC status
	}
	code := codes.Internal
	switch {
	case errors.Is(err, store.ErrNotFound):
		code = codes.NotFound
	case errors.Is(err, store.ErrAlreadyExists):
		code = codes.AlreadyExists
	case errors.Is(err, store.ErrConflict):
		code = codes.Aborted
	case errors.Is(err, store.ErrInvalid), errors.Is(err, store.ErrTooLarge):
		code = codes.InvalidArgument
	case errors.Is(err, store.ErrCompacted):
		code = codes.OutOfRange
	case errors.Is(err, store.ErrUnknownCommand):
		code = codes.FailedPrecondition
	case errors.Is(err, raftnode.ErrNoLeader), errors.Is(err, raftnode.ErrShutdown):
		code = codes.Unavailable
	case errors.Is(err, raftnode.ErrOutcomeUnknown):
		code = codes.Unknown
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	}
	return status.Error(code, err.Error())
}

func invalid(format string, args ...any) error {
	return status.Error(codes.InvalidArgument, fmt.Sprintf(format, args...))
}
