package testbed

import (
	"context"
	"crypto/tls"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/kubedevaiops/kubedevaiops/hub/pki"
	"github.com/kubedevaiops/kubedevaiops/hub/raftnode"
	"github.com/kubedevaiops/kubedevaiops/hub/store"
)

// InProcessHub is a hub of real members inside the test process, for package tests that need
// replicated state without member processes: Raft over mutual TLS on loopback, BoltDB logs in
// temporary directories, and member APIs over gRPC so that followers forward writes.
type InProcessHub struct {
	t     testing.TB
	ca    *pki.CA
	mu    sync.Mutex
	addrs map[string]string // member id -> member API address
}

// InProcessMember is one member of an InProcessHub.
type InProcessMember struct {
	ID    string
	Node  *raftnode.Node
	Store *store.Store
	// Stop stops the member (also done at the test's end); calling it again does nothing.
	Stop func()
}

// NewInProcessHub returns a hub with no members yet.
func NewInProcessHub(t testing.TB) *InProcessHub {
	ca, err := pki.NewCA("in-process-hub", time.Hour)
	require.NoError(t, err)
	return &InProcessHub{t: t, ca: ca, addrs: map[string]string{}}
}

func (h *InProcessHub) addressBook(id string) (string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	a, ok := h.addrs[id]
	return a, ok
}

// Start runs member id; the first one (first nil) bootstraps the hub, later ones join through
// first. setup, when given, runs once the node exists and before it can lead: the place to
// register leader loops. Start returns once the member serves linearizable reads.
func (h *InProcessHub) Start(id string, first *InProcessMember, setup func(*InProcessMember)) *InProcessMember {
	t := h.t
	t.Helper()
	issued, err := h.ca.IssueMember(id, []string{"127.0.0.1"}, time.Hour)
	require.NoError(t, err)
	cert, err := issued.TLSCertificate()
	require.NoError(t, err)
	serverTLS, clientTLS := raftnode.MemberTLS(cert, h.ca.Pool())

	fsm := store.New(store.Options{})
	node, err := raftnode.New(raftnode.Config{
		ID: id, DataDir: t.TempDir(), RaftBind: "127.0.0.1:0",
		ServerTLS: serverTLS, ClientTLS: clientTLS, FSM: fsm, Codec: store.Codec{},
		Bootstrap: first == nil, Members: h.addressBook, Fast: true,
	})
	require.NoError(t, err)
	m := &InProcessMember{ID: id, Node: node, Store: fsm}
	if setup != nil {
		setup(m)
	}

	grpcTLS := serverTLS.Clone()
	grpcTLS.NextProtos = []string{"h2"}
	grpcTLS.MinVersion = tls.VersionTLS13
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(grpcTLS)))
	node.RegisterMemberServer(srv)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(lis) }()
	h.mu.Lock()
	h.addrs[id] = lis.Addr().String()
	h.mu.Unlock()
	var once sync.Once
	m.Stop = func() {
		once.Do(func() {
			srv.Stop()
			_ = node.Shutdown()
		})
	}
	t.Cleanup(m.Stop)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if first != nil {
		_, err := first.Node.AddMember(ctx, id, node.RaftAddr())
		require.NoError(t, err)
	}
	// The member serves linearizable reads once it has a leader and has caught up.
	require.Eventually(t, func() bool { return node.ReadBarrier(ctx) == nil }, 30*time.Second, 50*time.Millisecond)
	return m
}
