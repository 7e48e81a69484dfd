package raftnode

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/raft"

	"github.com/kubedevaiops/kubedevaiops/hub/pki"
)

// alpnRaft is negotiated on Raft connections so that a TLS endpoint of another kind refuses them.
const alpnRaft = "kubedevaiops-raft"

// verifyMember is a tls.Config.VerifyPeerCertificate hook that runs after chain verification
// and insists on a hub member identity, so that an admin's or a cluster's certificate from the
// same CA can never take part in the Raft.
func verifyMember(_ [][]byte, chains [][]*x509.Certificate) error {
	if len(chains) == 0 || len(chains[0]) == 0 {
		return errors.New("no verified peer certificate")
	}
	id, err := pki.IdentityOf(chains[0][0])
	if err != nil {
		return err
	}
	if id.Kind != pki.KindMember {
		return fmt.Errorf("%s is not a hub member", id)
	}
	return nil
}

// MemberTLS builds the server and client TLS configurations a member uses towards other members:
// its own certificate, the hub CA as the only root, client certificates required.
func MemberTLS(cert tls.Certificate, ca *x509.CertPool) (server, client *tls.Config) {
	server = &tls.Config{
		MinVersion:            tls.VersionTLS13,
		Certificates:          []tls.Certificate{cert},
		ClientCAs:             ca,
		ClientAuth:            tls.RequireAndVerifyClientCert,
		VerifyPeerCertificate: verifyMember,
	}
	client = &tls.Config{
		MinVersion:            tls.VersionTLS13,
		Certificates:          []tls.Certificate{cert},
		RootCAs:               ca,
		VerifyPeerCertificate: verifyMember,
	}
	return server, client
}

// tlsStreamLayer is a raft.StreamLayer over mutually authenticated TLS.
type tlsStreamLayer struct {
	net.Listener
	advertise net.Addr
	client    *tls.Config
	source    *net.TCPAddr // local address outgoing connections use; nil lets the kernel choose
}

// newTLSStreamLayer listens on bind; advertise is the address other members dial (bind when nil).
func newTLSStreamLayer(bind string, advertise net.Addr, server, client *tls.Config) (*tlsStreamLayer, error) {
	server = server.Clone()
	server.NextProtos = []string{alpnRaft}
	l, err := tls.Listen("tcp", bind, server)
	if err != nil {
		return nil, fmt.Errorf("raft transport: listen on %s: %w", bind, err)
	}
	if advertise == nil {
		advertise = l.Addr()
	}
	if tcp, ok := advertise.(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		_ = l.Close()
		return nil, fmt.Errorf("raft transport: %s is not an address other members can dial; set the advertise address", advertise)
	}
	client = client.Clone()
	client.NextProtos = []string{alpnRaft}
	layer := &tlsStreamLayer{Listener: l, advertise: advertise, client: client}
	// A member bound to one address also dials from it, so that peers and firewalls see
	// member traffic come from the member's own address.
	if tcp, ok := l.Addr().(*net.TCPAddr); ok && !tcp.IP.IsUnspecified() {
		layer.source = &net.TCPAddr{IP: tcp.IP}
	}
	return layer, nil
}

func (s *tlsStreamLayer) Addr() net.Addr { return s.advertise }

// Dial opens a TLS connection to another member and completes the handshake within timeout, so
// that a peer with a wrong certificate fails here rather than on the first Raft RPC.
func (s *tlsStreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	nd := &net.Dialer{Timeout: timeout}
	if s.source != nil {
		nd.LocalAddr = s.source
	}
	d := &tls.Dialer{NetDialer: nd, Config: s.client}
	conn, err := d.Dial("tcp", string(address))
	if err != nil {
		return nil, fmt.Errorf("dial member %s: %w", address, err)
	}
	return conn, nil
}
