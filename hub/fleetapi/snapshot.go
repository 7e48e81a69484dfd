package fleetapi

import (
	"bytes"
	"errors"
	"io"
	"os"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kubedevaiops/kubedevaiops/hub/store"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// chunkSize is the size of one snapshot piece on the wire.
const chunkSize = 256 * 1024

// SaveSnapshot streams a snapshot of this member's state taken after a linearizable read
// barrier, so it holds every write acknowledged before the call.
func (s *Server) SaveSnapshot(_ *fleetv1.SaveSnapshotRequest, stream fleetv1.Fleet_SaveSnapshotServer) error {
	ctx := stream.Context()
	who, err := canRead(ctx)
	if err != nil {
		return err
	}
	if err := s.readBarrier(ctx, fleetv1.ReadConsistency_READ_CONSISTENCY_UNSPECIFIED); err != nil {
		return err
	}
	sink := &streamSink{send: func(p []byte) error { return stream.Send(&fleetv1.SaveSnapshotResponse{Data: p}) }}
	// WriteSnapshot, not the Raft snapshot: a backup must not carry this hub's Raft indexes
	// into the fresh hub it is restored into.
	index, err := s.store.WriteSnapshot(sink)
	if err != nil {
		return status.Errorf(codes.Internal, "write snapshot: %v", err)
	}
	if err := sink.flush(); err != nil {
		return err
	}
	// The index is known once the snapshot is written; it closes the stream.
	if err := stream.Send(&fleetv1.SaveSnapshotResponse{Index: index}); err != nil {
		return err
	}
	s.log.Info("snapshot saved", "by", who.String())
	return nil
}

// RestoreSnapshot receives a saved snapshot, checks that it decodes into a complete state, and
// has Raft install it on every member. It must be called on the leader.
func (s *Server) RestoreSnapshot(stream fleetv1.Fleet_RestoreSnapshotServer) error {
	ctx := stream.Context()
	who, err := canWrite(ctx)
	if err != nil {
		return err
	}
	if !s.node.IsLeader() {
		id, _ := s.node.Leader()
		return status.Errorf(codes.FailedPrecondition, "restore must be sent to the leader; this is %s and %q leads", s.node.ID(), id)
	}
	tmp, err := os.CreateTemp("", "kubedevaiops-restore-")
	if err != nil {
		return status.Error(codes.Internal, err.Error())
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	var size int64
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		n, err := tmp.Write(chunk.GetData())
		if err != nil {
			return status.Error(codes.Internal, err.Error())
		}
		size += int64(n)
	}
	// A snapshot that does not load into a scratch store is refused before Raft sees it.
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return status.Error(codes.Internal, err.Error())
	}
	scratch := store.New(store.Options{Logger: s.log})
	if err := scratch.Restore(io.NopCloser(tmp)); err != nil {
		return status.Errorf(codes.InvalidArgument, "not a hub snapshot: %v", err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return status.Error(codes.Internal, err.Error())
	}
	if err := s.node.Restore(tmp, size); err != nil {
		return grpcError(err)
	}
	s.log.Info("snapshot restored", "bytes", size, "index", s.store.Index(), "by", who.String())
	s.audit(ctx, who.String(), "hub.snapshot.restore", "", map[string]int64{"bytes": size})
	return stream.SendAndClose(&fleetv1.RestoreSnapshotResponse{Index: s.store.Index()})
}

// streamSink turns writes into gRPC messages of chunkSize bytes.
type streamSink struct {
	send func([]byte) error
	buf  bytes.Buffer
}

func (s *streamSink) Write(p []byte) (int, error) {
	s.buf.Write(p)
	for s.buf.Len() >= chunkSize {
		if err := s.send(s.buf.Next(chunkSize)); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func (s *streamSink) flush() error {
	if s.buf.Len() == 0 {
		return nil
	}
	return s.send(s.buf.Next(s.buf.Len()))
}
