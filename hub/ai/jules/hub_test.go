package jules_test

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

// testHub is an in-process hub of real members: Raft over mutual TLS on loopback, BoltDB logs
// in temporary directories, and member APIs over gRPC so followers forward writes to the leader.
type testHub struct {
	t     *testing.T
	ca    *pki.CA
	mu    sync.Mutex
	addrs map[string]string // member id -> member API address
}

type testMember struct {
	id    string
	node  *raftnode.Node
	store *store.Store
	stop  func()
}

func newTestHub(t *testing.T) *testHub {
	ca, err := pki.NewCA("jules-test", time.Hour)
	require.NoError(t, err)
	return &testHub{t: t, ca: ca, addrs: map[string]string{}}
}

func (h *testHub) addressBook(id string) (string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	a, ok := h.addrs[id]
	return a, ok
}

// start runs member id; the first one bootstraps the hub, later ones join it through first.
// setup runs right after the node exists, before it can lead: the place to register leader loops.
func (h *testHub) start(id string, first *testMember, setup func(*testMember)) *testMember {
	t := h.t
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
	m := &testMember{id: id, node: node, store: fsm}
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
	m.stop = func() {
		once.Do(func() {
			srv.Stop()
			_ = node.Shutdown()
		})
	}
	t.Cleanup(m.stop)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if first != nil {
		_, err := first.node.AddMember(ctx, id, node.RaftAddr())
		require.NoError(t, err)
	}
	// The member serves linearizable reads once it has a leader and has caught up.
	require.Eventually(t, func() bool { return node.ReadBarrier(ctx) == nil }, 30*time.Second, 50*time.Millisecond)
	return m
}
