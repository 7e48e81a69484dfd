package raftnode

import (
	"context"
	"crypto/tls"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"

	hubv1 "github.com/kubedevaiops/kubedevaiops/proto/hub/v1"
)

// connCache keeps one gRPC connection per member API address.
type connCache struct {
	tls   *tls.Config
	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
}

func newConnCache(cfg *tls.Config) *connCache {
	return &connCache{tls: cfg, conns: map[string]*grpc.ClientConn{}}
}

func (c *connCache) get(addr string) (*grpc.ClientConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if conn, ok := c.conns[addr]; ok {
		return conn, nil
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(c.tls.Clone())))
	if err != nil {
		return nil, fmt.Errorf("member API %s: %w", addr, err)
	}
	c.conns[addr] = conn
	return conn, nil
}

func (c *connCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for addr, conn := range c.conns {
		_ = conn.Close()
		delete(c.conns, addr)
	}
}

// leaderClient returns a member API client for the current leader, waiting for one within the
// hold timeout. Errors are errRetry (leader unknown yet) or ErrNoLeader / ErrShutdown.
func (n *Node) leaderClient(ctx context.Context) (hubv1.MemberClient, error) {
	id, err := n.awaitLeader(ctx)
	if err != nil {
		return nil, err
	}
	if id == n.cfg.ID {
		return nil, errRetry // we became leader meanwhile
	}
	addr, ok := "", false
	if n.cfg.Members != nil {
		addr, ok = n.cfg.Members(id)
	}
	if !ok {
		n.log.Debug("leader's member API address not known yet", "leader", id)
		return nil, errRetry
	}
	conn, err := n.conns.get(addr)
	if err != nil {
		return nil, err
	}
	// Only a connection that is up is used: a request that fails to connect was certainly not
	// applied and may be retried (the leader may be gone), whereas one that fails after being
	// sent has an unknown outcome.
	if !awaitReady(ctx, conn, 500*time.Millisecond) {
		return nil, errRetry
	}
	return hubv1.NewMemberClient(conn), nil
}

// awaitReady waits up to timeout for conn to be connected.
func awaitReady(ctx context.Context, conn *grpc.ClientConn, timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		s := conn.GetState()
		if s == connectivity.Ready {
			return true
		}
		if s == connectivity.Idle {
			conn.Connect()
		}
		if !conn.WaitForStateChange(ctx, s) {
			return false
		}
	}
}

// MemberConn returns this member's shared connection to another member's gRPC API, which
// authenticates as this member; services that forward a call to a peer use it.
func (n *Node) MemberConn(addr string) (*grpc.ClientConn, error) { return n.conns.get(addr) }
