package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kubedevaiops/kubedevaiops/api/fleetauth"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// Stream tuning.
const (
	snapshotChunk  = 500  // objects per snapshot chunk
	deltaMax       = 1000 // changes per delta
	flushInterval  = 200 * time.Millisecond
	maxUnacked     = 256              // deltas kept for a resume; more and the next stream sends a snapshot
	stableDuration = 30 * time.Second // a stream this old resets the reconnect backoff
)

// sequencing is what survives from one stream to the next: where the inventory sequence is,
// what the hub acknowledged, and the deltas it has not yet.
type sequencing struct {
	seq         uint64 // last sequence sent
	acked       uint64 // highest sequence the hub acknowledged
	resumeToken string
	unacked     []*fleetv1.InventoryDelta
	// snapshotSeq is the sequence of the last snapshot sent, 0 before the first; overflowed
	// is set when unacked deltas were dropped. Until the hub acknowledged that snapshot, or
	// after an overflow, a resume could miss changes: the next stream starts from a snapshot.
	snapshotSeq uint64
	overflowed  bool
}

func (s *sequencing) resumable() bool {
	return s.snapshotSeq > 0 && s.acked >= s.snapshotSeq && !s.overflowed
}

// runStreams keeps one stream to the hub open, moving between members on failure with
// jittered backoff, until ctx ends or the hub refuses the cluster.
func (a *Agent) runStreams(ctx context.Context) error {
	b := newBackoff(500*time.Millisecond, 30*time.Second)
	seqs := &sequencing{}
	next := rand.N(max(len(a.creds.Endpoints), 1))
	for ctx.Err() == nil {
		endpoints := a.creds.Endpoints
		if len(endpoints) == 0 {
			endpoints = a.opts.Hub
		}
		addr := endpoints[next%len(endpoints)]
		started := time.Now()
		err := a.stream(ctx, addr, seqs)
		if errors.Is(err, ErrRefused) {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(started) > stableDuration {
			b.reset()
		}
		wait := b.next()
		a.log.Warn("stream to the hub ended; reconnecting", "hub", addr, "err", err, "in", wait)
		next++
		if err := sleep(ctx, wait); err != nil {
			return nil
		}
	}
	return nil
}

func (a *Agent) streamTLS() (*tls.Config, *x509.Certificate, error) {
	cert, err := a.creds.tlsCertificate()
	if err != nil {
		return nil, nil, fmt.Errorf("stored certificate: %w", err)
	}
	leaf, err := a.creds.leaf()
	if err != nil {
		return nil, nil, err
	}
	roots, err := a.creds.caPool()
	if err != nil {
		return nil, nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		// Members are found by address, which their certificates need not name; the chain
		// must come from the hub CA and end in a member identity.
		InsecureSkipVerify: true, //nolint:gosec // verified by VerifyPeerCertificate
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			return fleetauth.VerifyHubChain(raw, roots)
		},
	}, leaf, nil
}

// stream runs one stream to addr until it breaks.
func (a *Agent) stream(ctx context.Context, addr string, seqs *sequencing) error {
	tlsCfg, leaf, err := a.streamTLS()
	if err != nil {
		return err
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := fleetv1.NewSpokeClient(conn).Connect(ctx)
	if err != nil {
		return err
	}
	hello := &fleetv1.Hello{AgentVersion: a.opts.Version, Capabilities: []string{"inventory-delta"}, Time: timestamppb.Now()}
	if seqs.resumable() {
		hello.LastAckedInventorySequence, hello.ResumeToken = seqs.acked, seqs.resumeToken
	}
	if err := st.Send(&fleetv1.SpokeMessage{Body: &fleetv1.SpokeMessage_Hello{Hello: hello}}); err != nil {
		return err
	}
	first, err := st.Recv()
	if err != nil {
		return classifyStreamErr(err)
	}
	if d := first.GetDisconnect(); d != nil {
		return disconnectErr(d)
	}
	w := first.GetWelcome()
	if w == nil {
		return errors.New("the hub's first message was not Welcome")
	}
	seqs.resumeToken = w.GetResumeToken()
	if len(w.GetHubEndpoints()) > 0 {
		a.creds.Endpoints = w.GetHubEndpoints()
	}
	a.log.Info("stream open", "hub", addr, "member", w.GetMemberId(), "snapshotRequired", w.GetSnapshotRequired(), "resumeFrom", w.GetResumeFromSequence())
	in := a.incidents
	in.guard.SetTrustedKeys(w.GetDirectiveKeys())
	a.connected.Store(true)
	defer a.connected.Store(false)
	for _, s := range in.unacked() {
		if err := st.Send(&fleetv1.SpokeMessage{Body: &fleetv1.SpokeMessage_ActionStatus{ActionStatus: s}}); err != nil {
			return err
		}
	}
	in.runner.ResendAll()

	if w.GetSnapshotRequired() {
		if err := a.sendSnapshot(ctx, st, seqs); err != nil {
			return err
		}
	} else {
		for _, d := range seqs.unacked {
			if d.GetSequence() > w.GetResumeFromSequence() {
				if err := st.Send(&fleetv1.SpokeMessage{Body: &fleetv1.SpokeMessage_InventoryDelta{InventoryDelta: d}}); err != nil {
					return err
				}
			}
		}
	}

	msgs := make(chan *fleetv1.HubMessage, 16)
	recvErr := make(chan error, 1)
	go func() {
		for {
			m, err := st.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			select {
			case msgs <- m:
			case <-ctx.Done():
				return
			}
		}
	}()

	hbEvery := max(w.GetHeartbeatInterval().AsDuration(), 100*time.Millisecond)
	heartbeat := time.NewTicker(hbEvery)
	defer heartbeat.Stop()
	flush := time.NewTicker(flushInterval)
	defer flush.Stop()
	renewAt := leaf.NotBefore.Add(leaf.NotAfter.Sub(leaf.NotBefore) * 2 / 3)
	renew := time.NewTimer(max(time.Until(renewAt), 0))
	defer renew.Stop()
	var renewKey *ecdsa.PrivateKey
	var renewal uint64
	var lastClaims *fleetv1.ClusterClaims

	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-recvErr:
			return classifyStreamErr(err)
		case m := <-in.out:
			if err := st.Send(m); err != nil {
				return err
			}
		case <-heartbeat.C:
			renewal++
			hb := &fleetv1.Heartbeat{Time: timestamppb.Now(), Renewal: renewal}
			if c := a.currentClaims(ctx); c != nil && (lastClaims == nil || !proto.Equal(c, lastClaims)) {
				hb.Claims, lastClaims = c, c
			}
			if err := st.Send(&fleetv1.SpokeMessage{Body: &fleetv1.SpokeMessage_Heartbeat{Heartbeat: hb}}); err != nil {
				return err
			}
		case <-a.tracker.Changed():
			if a.tracker.Pending() >= deltaMax {
				if err := a.sendDelta(st, seqs); err != nil {
					return err
				}
			}
		case <-flush.C:
			if a.tracker.Pending() > 0 {
				if err := a.sendDelta(st, seqs); err != nil {
					return err
				}
			}
		case <-renew.C:
			key, _, err := newKey()
			if err != nil {
				return err
			}
			csr, err := csrFor(key, a.creds.Cluster)
			if err != nil {
				return err
			}
			renewKey = key
			a.log.Info("renewing the client certificate", "notAfter", leaf.NotAfter)
			if err := st.Send(&fleetv1.SpokeMessage{Body: &fleetv1.SpokeMessage_CertificateRenewal{CertificateRenewal: &fleetv1.CertificateRenewal{CsrPem: csr}}}); err != nil {
				return err
			}
			renew.Reset(max(time.Until(leaf.NotAfter)/4, time.Second)) // ask again if no answer comes
		case m := <-msgs:
			switch b := m.GetBody().(type) {
			case *fleetv1.HubMessage_ActionDirective:
				in.directive(b.ActionDirective)
			case *fleetv1.HubMessage_Ack:
				in.acked(b.Ack.GetActionIds())
				seqs.acked = max(seqs.acked, b.Ack.GetUpToSequence())
				kept := seqs.unacked[:0]
				for _, d := range seqs.unacked {
					if d.GetSequence() > seqs.acked {
						kept = append(kept, d)
					}
				}
				seqs.unacked = kept
			case *fleetv1.HubMessage_ResyncRequest:
				a.log.Info("hub asked for a fresh snapshot", "reason", b.ResyncRequest.GetReason())
				if err := a.sendSnapshot(ctx, st, seqs); err != nil {
					return err
				}
			case *fleetv1.HubMessage_CertificateIssued:
				if renewKey == nil {
					continue
				}
				if err := a.adoptCertificate(ctx, renewKey, b.CertificateIssued.GetCredentials()); err != nil {
					a.log.Error("renewed certificate not kept", "err", err)
					continue
				}
				renewKey = nil
				if leaf, err = a.creds.leaf(); err != nil {
					return err
				}
				renewAt = leaf.NotBefore.Add(leaf.NotAfter.Sub(leaf.NotBefore) * 2 / 3)
				renew.Reset(max(time.Until(renewAt), 0))
				a.log.Info("client certificate renewed", "notAfter", leaf.NotAfter)
			case *fleetv1.HubMessage_Disconnect:
				return disconnectErr(b.Disconnect)
			default:
				// Policy assignments and cancels belong to later capabilities.
				a.log.Debug("hub message not handled by this agent", "type", fmt.Sprintf("%T", b))
			}
		}
	}
}

// adoptCertificate keeps a renewed certificate and its key.
func (a *Agent) adoptCertificate(ctx context.Context, key *ecdsa.PrivateKey, c *fleetv1.ClusterCredentials) error {
	keyPEM, err := marshalKey(key)
	if err != nil {
		return err
	}
	next := *a.creds
	next.KeyPEM, next.CertPEM = keyPEM, c.GetCertificateChainPem()
	if len(c.GetCaBundlePem()) > 0 {
		next.CAPEM = c.GetCaBundlePem()
	}
	if len(c.GetHubEndpoints()) > 0 {
		next.Endpoints = c.GetHubEndpoints()
	}
	if _, err := next.tlsCertificate(); err != nil {
		return fmt.Errorf("the renewed certificate does not match its key: %w", err)
	}
	if err := a.secrets.save(ctx, &next); err != nil {
		return err
	}
	a.creds = &next
	return nil
}

func (a *Agent) sendSnapshot(ctx context.Context, st fleetv1.Spoke_ConnectClient, seqs *sequencing) error {
	objs, err := a.tracker.Snapshot(ctx)
	if err != nil {
		return err
	}
	seqs.seq++
	seqs.unacked, seqs.snapshotSeq, seqs.overflowed = nil, seqs.seq, false
	total := max((len(objs)+snapshotChunk-1)/snapshotChunk, 1)
	now := timestamppb.Now()
	for i := range total {
		chunk := objs[min(i*snapshotChunk, len(objs)):min((i+1)*snapshotChunk, len(objs))]
		m := &fleetv1.InventorySnapshot{Sequence: seqs.seq, ChunkIndex: uint32(i), ChunkTotal: uint32(total), Objects: chunk, ObservedAt: now}
		if err := st.Send(&fleetv1.SpokeMessage{Body: &fleetv1.SpokeMessage_InventorySnapshot{InventorySnapshot: m}}); err != nil {
			return err
		}
	}
	a.log.Info("inventory snapshot sent", "sequence", seqs.seq, "objects", len(objs), "chunks", total)
	return nil
}

func (a *Agent) sendDelta(st fleetv1.Spoke_ConnectClient, seqs *sequencing) error {
	changes := a.tracker.Drain(deltaMax)
	if len(changes) == 0 {
		return nil
	}
	seqs.seq++
	d := &fleetv1.InventoryDelta{Sequence: seqs.seq, Changes: changes, ObservedAt: timestamppb.Now()}
	seqs.unacked = append(seqs.unacked, d)
	if len(seqs.unacked) > maxUnacked {
		seqs.unacked, seqs.overflowed = nil, true
	}
	return st.Send(&fleetv1.SpokeMessage{Body: &fleetv1.SpokeMessage_InventoryDelta{InventoryDelta: d}})
}

// disconnectErr turns the hub's Disconnect into what the agent does next.
func disconnectErr(d *fleetv1.Disconnect) error {
	switch d.GetReason() {
	case fleetv1.DisconnectReason_DISCONNECT_REASON_DENIED:
		return fmt.Errorf("%w: the cluster was denied: %s", ErrRefused, d.GetMessage())
	case fleetv1.DisconnectReason_DISCONNECT_REASON_REVOKED:
		return fmt.Errorf("%w: the cluster's certificate was revoked (%s); register it again with a new bootstrap token", ErrRefused, d.GetMessage())
	}
	return fmt.Errorf("hub closed the stream (%s): %s", d.GetReason(), d.GetMessage())
}

// classifyStreamErr marks the stream errors that mean the hub will not take this cluster.
func classifyStreamErr(err error) error {
	if refused(err) {
		return fmt.Errorf("%w: %s", ErrRefused, status.Convert(err).Message())
	}
	return err
}
