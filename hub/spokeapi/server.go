package spokeapi

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kubedevaiops/kubedevaiops/api/fleetauth"
	"github.com/kubedevaiops/kubedevaiops/hub/raftnode"
	"github.com/kubedevaiops/kubedevaiops/hub/registration"
	"github.com/kubedevaiops/kubedevaiops/hub/store"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// helloTimeout is how long a new stream may take to send its Hello.
const helloTimeout = 10 * time.Second

// Config wires the stream server to its member.
type Config struct {
	Node      *raftnode.Node
	Store     *store.Store
	Registrar *registration.Registrar
	Logger    *slog.Logger
	// LeaseDuration is the cluster lease; the registrar's when zero.
	LeaseDuration time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Metrics registers the stream metrics; none when nil.
	Metrics prometheus.Registerer
	// Incidents takes findings and action results and delivers directives; nil drops them.
	Incidents IncidentSink
	// Spans relays the spokes' spans; nil drops them.
	Spans SpanRelay
	// Keys are sent in Welcome so spokes can verify directives; nil sends none.
	Keys DirectiveKeys
}

// Server serves Spoke.Connect on one member.
type Server struct {
	fleetv1.UnimplementedSpokeServer
	node  *raftnode.Node
	store *store.Store
	reg   *registration.Registrar
	log   *slog.Logger
	lease time.Duration
	now   func() time.Time
	// epoch tells this member's resume tokens from those of its earlier runs.
	epoch string

	mu      sync.Mutex
	streams map[string]*stream    // by cluster: the stream this member serves it on
	inv     map[string]*inventory // by cluster: soft state, kept a while after the stream ends
	kick    chan struct{}         // a stream opened: reconcile soon
	metrics *metrics

	incidents IncidentSink
	spans     SpanRelay
	keys      DirectiveKeys
}

// New returns the stream server of one member.
func New(cfg Config) *Server {
	s := &Server{node: cfg.Node, store: cfg.Store, reg: cfg.Registrar, log: cfg.Logger, lease: cfg.LeaseDuration, now: cfg.Now,
		streams: map[string]*stream{}, inv: map[string]*inventory{}, kick: make(chan struct{}, 1),
		incidents: cfg.Incidents, spans: cfg.Spans, keys: cfg.Keys}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.lease <= 0 {
		s.lease = cfg.Registrar.LeaseDuration()
	}
	if s.now == nil {
		s.now = time.Now
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	s.epoch = hex.EncodeToString(b)
	s.metrics = newMetrics(s, cfg.Metrics)
	return s
}

// HeartbeatInterval is how often spokes are asked to send heartbeats.
func (s *Server) HeartbeatInterval() time.Duration { return max(s.lease/4, 100*time.Millisecond) }

// stream is one connected spoke.
type stream struct {
	cluster string
	cert    *x509.Certificate
	send    func(*fleetv1.HubMessage) error
	closeFn context.CancelCauseFunc
	inv     *inventory
	started time.Time

	lastHeartbeat atomic.Int64 // unix nanos
	claims        atomic.Pointer[fleetv1.ClusterClaims]
	// registrationCollected is set once the requests this certificate came from were removed.
	registrationCollected atomic.Bool
}

// errClosedByHub ends a stream the hub closed after sending Disconnect.
var errClosedByHub = errors.New("closed by the hub")

// disconnect sends a Disconnect and ends the stream.
func (st *stream) disconnect(reason fleetv1.DisconnectReason, msg string, retry time.Duration) {
	d := &fleetv1.Disconnect{Reason: reason, Message: msg}
	if retry > 0 {
		d.RetryAfter = durationpb.New(retry)
	}
	_ = st.send(&fleetv1.HubMessage{Body: &fleetv1.HubMessage_Disconnect{Disconnect: d}})
	st.closeFn(fmt.Errorf("%w: %s", errClosedByHub, msg))
}

// peerCluster returns the cluster and certificate a stream's client certificate speaks for.
func peerCluster(ctx context.Context) (string, *x509.Certificate, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return "", nil, status.Error(codes.Unauthenticated, "no peer information")
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return "", nil, status.Error(codes.Unauthenticated, "the Spoke service needs the cluster's client certificate issued by the hub; register the cluster first")
	}
	leaf := info.State.VerifiedChains[0][0]
	name, ok := fleetauth.ClusterOf(leaf)
	if !ok {
		return "", nil, status.Errorf(codes.PermissionDenied, "certificate %q is not a cluster certificate", leaf.Subject.CommonName)
	}
	return name, leaf, nil
}

func (s *Server) resumeToken(cluster string) string {
	return s.node.ID() + "/" + s.epoch + "/" + cluster
}

// streamCloserKey is where StreamTap leaves the cancel function of a Connect stream's context.
type streamCloserKey struct{}

// errNoHello ends a stream whose spoke sent nothing within helloTimeout.
var errNoHello = errors.New("no Hello in time")

// ServerOption is the option a gRPC server serving Spoke.Connect must be created with: it gives
// each Connect stream a context the hub can cancel. The handler receives on its own goroutine,
// so cancelling that context is how the hub ends a stream that is waiting for the spoke's next
// message (a denial, a replacing stream, an expired certificate, shutdown), with no second
// goroutine per stream to wait on both.
func ServerOption() grpc.ServerOption { return grpc.InTapHandle(streamTap) }

// streamTap runs in the transport before a stream's handler; the context it returns is the one
// the stream's reads and writes wait on. Other methods keep their context.
func streamTap(ctx context.Context, info *tap.Info) (context.Context, error) {
	if info.FullMethodName != fleetv1.Spoke_Connect_FullMethodName {
		return ctx, nil
	}
	ctx, cancel := context.WithCancelCause(ctx)
	return context.WithValue(ctx, streamCloserKey{}, cancel), nil
}

// Connect serves one spoke's stream until it ends.
func (s *Server) Connect(srv fleetv1.Spoke_ConnectServer) error {
	ctx := srv.Context()
	cancel, ok := ctx.Value(streamCloserKey{}).(context.CancelCauseFunc)
	if !ok {
		return status.Error(codes.Internal, "this hub member's gRPC server lacks spokeapi.ServerOption, so it cannot close streams; it serves none")
	}
	defer cancel(nil)
	cluster, cert, err := peerCluster(ctx)
	if err != nil {
		return err
	}
	if err := s.admit(ctx, cluster, cert); err != nil {
		return err
	}

	var sendMu sync.Mutex
	send := func(m *fleetv1.HubMessage) error {
		sendMu.Lock()
		defer sendMu.Unlock()
		return srv.Send(m)
	}
	helloTimer := time.AfterFunc(helloTimeout, func() { cancel(errNoHello) })
	first, err := srv.Recv()
	if !helloTimer.Stop() {
		first, err = nil, nil // too late, even if it arrived just now
	}
	if err != nil {
		return err
	}
	hello := first.GetHello()
	if hello == nil {
		_ = send(&fleetv1.HubMessage{Body: &fleetv1.HubMessage_Disconnect{Disconnect: &fleetv1.Disconnect{
			Reason: fleetv1.DisconnectReason_DISCONNECT_REASON_PROTOCOL_ERROR, Message: "the first message on a stream must be Hello",
			RetryAfter: durationpb.New(5 * time.Second)}}})
		return status.Error(codes.InvalidArgument, "the first message on a stream must be Hello")
	}

	st := &stream{cluster: cluster, cert: cert, send: send, closeFn: cancel, started: s.now()}
	st.lastHeartbeat.Store(s.now().UnixNano())
	welcome := s.attach(st, hello)
	defer s.detach(st)
	if s.keys != nil {
		keys, err := s.keys.PublicKeys(ctx)
		if err != nil {
			s.log.Warn("directive keys unavailable; the spoke cannot verify directives until it reconnects", "cluster", cluster, "err", err)
		}
		welcome.DirectiveKeys = keys
	}
	if err := send(&fleetv1.HubMessage{Body: &fleetv1.HubMessage_Welcome{Welcome: welcome}}); err != nil {
		return err
	}
	if s.incidents != nil {
		s.incidents.StreamAttached(cluster)
		defer s.incidents.StreamDetached(cluster)
	}
	// Not a logger With the cluster: that would be a handler clone held by every stream.
	s.log.Info("spoke connected", "cluster", cluster, "agent", hello.GetAgentVersion(), "snapshotRequired", welcome.GetSnapshotRequired(), "resumeFrom", welcome.GetResumeFromSequence())

	// The certificate ends the stream when it expires; by then the spoke has renewed it and
	// reconnects with the new one.
	expiry := time.AfterFunc(time.Until(cert.NotAfter), func() {
		st.disconnect(fleetv1.DisconnectReason_DISCONNECT_REASON_SHUTTING_DOWN, "the client certificate expired; reconnect with the renewed one", time.Second)
	})
	defer expiry.Stop()
	for {
		m, err := srv.Recv()
		if err != nil {
			// A hub-side close cancelled the context the receive waited on.
			if cause := context.Cause(ctx); errors.Is(cause, errClosedByHub) {
				s.log.Info("stream closed by the hub", "cluster", cluster, "reason", cause)
				return status.Error(codes.Aborted, cause.Error())
			}
			s.log.Info("spoke disconnected", "cluster", cluster, "err", err)
			return nil
		}
		if err := s.handle(ctx, st, m); err != nil {
			s.log.Warn("closing stream", "cluster", cluster, "err", err)
			return err
		}
	}
}

// admit checks that the cluster may use this certificate. The member's own state answers when it
// admits the stream: a denial committed but not yet applied here closes the stream moments later,
// when it applies (watchRevocations). Only a refusal is confirmed with a linearizable read, so
// that a cluster registered a moment ago on another member is not turned away.
func (s *Server) admit(ctx context.Context, cluster string, cert *x509.Certificate) error {
	check := func() error {
		mc, _, err := s.reg.GetCluster(cluster)
		if err != nil {
			return status.Errorf(codes.PermissionDenied, "cluster %s is not registered with this hub", cluster)
		}
		if err := registration.CertificateAccepted(mc, cert); err != nil {
			return status.Error(codes.PermissionDenied, err.Error())
		}
		return nil
	}
	if check() == nil {
		return nil
	}
	if err := s.node.ReadBarrier(ctx); err != nil {
		return status.Errorf(codes.Unavailable, "hub member %s cannot serve streams now: %v", s.node.ID(), err)
	}
	return check()
}

// attach makes st the cluster's stream on this member and answers its Hello.
func (s *Server) attach(st *stream, hello *fleetv1.Hello) *fleetv1.Welcome {
	s.mu.Lock()
	old := s.streams[st.cluster]
	s.streams[st.cluster] = st
	inv := s.inv[st.cluster]
	resume := inv != nil && hello.GetResumeToken() == s.resumeToken(st.cluster)
	if resume {
		seq, complete := inv.state()
		resume = complete && seq == hello.GetLastAckedInventorySequence()
	}
	if !resume {
		inv = newInventory()
		s.inv[st.cluster] = inv
	}
	inv.orphanedAt = time.Time{}
	st.inv = inv
	s.mu.Unlock()
	if old != nil {
		old.disconnect(fleetv1.DisconnectReason_DISCONNECT_REASON_REPLACED, "a newer stream of this cluster replaced this one", 0)
	}
	select {
	case s.kick <- struct{}{}:
	default:
	}
	w := &fleetv1.Welcome{
		ClusterName: st.cluster, MemberId: s.node.ID(), LeaseDuration: durationpb.New(s.lease),
		HeartbeatInterval: durationpb.New(s.HeartbeatInterval()), SnapshotRequired: !resume,
		ResumeToken: s.resumeToken(st.cluster), Time: timestamppb.New(s.now()), HubEndpoints: s.reg.HubEndpoints(),
	}
	if resume {
		w.ResumeFromSequence, _ = inv.state()
	}
	for _, c := range hello.GetCapabilities() {
		if c == "inventory-delta" {
			w.Capabilities = append(w.Capabilities, c)
		}
	}
	return w
}

func (s *Server) detach(st *stream) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.streams[st.cluster] == st {
		delete(s.streams, st.cluster)
		st.inv.orphanedAt = s.now()
	}
}

// handle processes one message; an error ends the stream.
func (s *Server) handle(ctx context.Context, st *stream, m *fleetv1.SpokeMessage) error {
	switch b := m.GetBody().(type) {
	case *fleetv1.SpokeMessage_Heartbeat:
		s.metrics.heartbeats.Inc()
		st.lastHeartbeat.Store(s.now().UnixNano())
		// Claims speak for the stream's own cluster only; a name that is not its own is ignored.
		if c := b.Heartbeat.GetClaims(); c != nil && c.GetClusterName() == st.cluster {
			if old := st.claims.Load(); old == nil || !proto.Equal(old, c) {
				st.claims.Store(c)
			}
		}
	case *fleetv1.SpokeMessage_InventorySnapshot:
		done, ok := st.inv.applyChunk(b.InventorySnapshot)
		if !ok {
			return st.send(resync("snapshot chunk out of order, or over the object limit"))
		}
		if done {
			s.metrics.snapshots.Inc()
			return st.send(ack(b.InventorySnapshot.GetSequence()))
		}
	case *fleetv1.SpokeMessage_InventoryDelta:
		if !st.inv.applyDelta(b.InventoryDelta) {
			seq, _ := st.inv.state()
			return st.send(resync(fmt.Sprintf("delta %d does not follow sequence %d", b.InventoryDelta.GetSequence(), seq)))
		}
		s.metrics.deltas.Inc()
		s.metrics.changes.Add(float64(len(b.InventoryDelta.GetChanges())))
		return st.send(ack(b.InventoryDelta.GetSequence()))
	case *fleetv1.SpokeMessage_CertificateRenewal:
		creds, err := s.reg.Renew(ctx, st.cluster, st.cert, b.CertificateRenewal.GetCsrPem())
		if err != nil {
			if status.Code(err) == codes.PermissionDenied || status.Code(err) == codes.InvalidArgument {
				st.disconnect(fleetv1.DisconnectReason_DISCONNECT_REASON_PROTOCOL_ERROR, "certificate renewal refused: "+status.Convert(err).Message(), 30*time.Second)
				return nil
			}
			s.log.Warn("certificate renewal failed; the spoke will ask again", "cluster", st.cluster, "err", err)
			return nil
		}
		return st.send(&fleetv1.HubMessage{Body: &fleetv1.HubMessage_CertificateIssued{CertificateIssued: &fleetv1.CertificateIssued{Credentials: creds}}})
	case *fleetv1.SpokeMessage_Hello:
		st.disconnect(fleetv1.DisconnectReason_DISCONNECT_REASON_PROTOCOL_ERROR, "Hello sent twice on one stream", 5*time.Second)
	case *fleetv1.SpokeMessage_Findings:
		s.handleFindings(ctx, st, b.Findings)
	case *fleetv1.SpokeMessage_ActionStatus:
		return s.handleActionStatus(ctx, st, b.ActionStatus)
	case *fleetv1.SpokeMessage_RelayedSpans:
		s.handleSpans(ctx, st, b.RelayedSpans)
	default:
		// Metric summaries and policy status are for later capabilities.
		s.metrics.unhandled.Inc()
	}
	return nil
}

func ack(seq uint64) *fleetv1.HubMessage {
	return &fleetv1.HubMessage{Body: &fleetv1.HubMessage_Ack{Ack: &fleetv1.Ack{UpToSequence: seq}}}
}

func resync(reason string) *fleetv1.HubMessage {
	return &fleetv1.HubMessage{Body: &fleetv1.HubMessage_ResyncRequest{ResyncRequest: &fleetv1.ResyncRequest{Reason: reason}}}
}

// Inventory answers GetClusterInventory for the clusters streaming to this member.
func (s *Server) Inventory(cluster string, kinds []string, namespace string) (*fleetv1.GetClusterInventoryResponse, bool) {
	s.mu.Lock()
	st := s.streams[cluster]
	s.mu.Unlock()
	if st == nil {
		return nil, false
	}
	objs, seq, observed, ok := st.inv.query(kinds, namespace)
	if !ok {
		return nil, true // held, but the snapshot is still arriving
	}
	out := &fleetv1.GetClusterInventoryResponse{ClusterName: cluster, MemberId: s.node.ID(), Sequence: seq, Objects: objs}
	if !observed.IsZero() {
		out.ObservedAt = timestamppb.New(observed)
	}
	return out, true
}

// heldObjects counts the inventory objects this member holds.
func (s *Server) heldObjects() int {
	s.mu.Lock()
	invs := make([]*inventory, 0, len(s.inv))
	for _, inv := range s.inv {
		invs = append(invs, inv)
	}
	s.mu.Unlock()
	n := 0
	for _, inv := range invs {
		inv.mu.Lock()
		n += len(inv.objects)
		inv.mu.Unlock()
	}
	return n
}

// Connected is the number of streams this member serves.
func (s *Server) Connected() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.streams)
}
