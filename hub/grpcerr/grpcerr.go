// Package grpcerr maps the hub's store and Raft errors onto gRPC status codes, keeping their
// messages, which say what was wrong. Every hub service answers with it.
package grpcerr

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kubedevaiops/kubedevaiops/hub/raftnode"
	"github.com/kubedevaiops/kubedevaiops/hub/store"
)

// From returns err as a gRPC status error; one that already is one is returned unchanged.
func From(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	code := codes.Internal
	switch {
	case errors.Is(err, store.ErrNotFound):
		code = codes.NotFound
	case errors.Is(err, store.ErrAlreadyExists):
		code = codes.AlreadyExists
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrAborted):
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
