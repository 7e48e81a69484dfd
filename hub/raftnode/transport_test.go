package raftnode

import (
	"crypto/tls"
	"io"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"

	"github.com/kubedevaiops/kubedevaiops/hub/pki"
)

func mustCA(t *testing.T) *pki.CA {
	ca, err := pki.NewCA("test-ca", time.Hour)
	require.NoError(t, err)
	return ca
}

func tlsPair(t *testing.T) func(pki.Issued, error) tls.Certificate {
	return func(issued pki.Issued, err error) tls.Certificate {
		require.NoError(t, err)
		c, err := issued.TLSCertificate()
		require.NoError(t, err)
		return c
	}
}

// Only hub members with certificates from the hub CA get through the Raft transport: an admin
// certificate from the same CA and a member certificate from another CA are refused.
func TestRaftTransportAdmitsOnlyHubMembers(t *testing.T) {
	ca, other := mustCA(t), mustCA(t)
	server, _ := MemberTLS(tlsPair(t)(ca.IssueMember("m1", []string{"127.0.0.1"}, time.Hour)), ca.Pool())
	_, memberClient := MemberTLS(tlsPair(t)(ca.IssueMember("m2", []string{"127.0.0.1"}, time.Hour)), ca.Pool())
	layer, err := newTLSStreamLayer("127.0.0.1:0", nil, server, memberClient)
	require.NoError(t, err)
	t.Cleanup(func() { _ = layer.Close() })

	// The server side completes handshakes and echoes one byte.
	go func() {
		for {
			conn, err := layer.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				b := make([]byte, 1)
				if _, err := io.ReadFull(conn, b); err == nil {
					_, _ = conn.Write(b)
				}
			}()
		}
	}()

	dialWith := func(cfg *tls.Config) error {
		l := &tlsStreamLayer{client: cfg.Clone()}
		l.client.NextProtos = []string{alpnRaft}
		conn, err := l.Dial(raft.ServerAddress(layer.Addr().String()), 5*time.Second)
		if err != nil {
			return err
		}
		defer conn.Close()
		if err := conn.(*tls.Conn).Handshake(); err != nil {
			return err
		}
		if _, err := conn.Write([]byte{7}); err != nil {
			return err
		}
		b := make([]byte, 1)
		_, err = io.ReadFull(conn, b)
		return err
	}

	require.NoError(t, dialWith(memberClient), "a member of the same hub gets through")

	_, adminClient := MemberTLS(tlsPair(t)(ca.IssueAdmin("alice", []string{"admin"}, time.Hour)), ca.Pool())
	adminClient.VerifyPeerCertificate = nil // the admin would accept the server; the server must refuse the admin
	require.Error(t, dialWith(adminClient), "an admin certificate is refused")

	_, foreign := MemberTLS(tlsPair(t)(other.IssueMember("m9", []string{"127.0.0.1"}, time.Hour)), ca.Pool())
	require.Error(t, dialWith(foreign), "a member certificate from another CA is refused")
}
