package spokeapi

import (
	"context"
	"time"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// IncidentSink takes the incident loop's messages from the streams this member holds
// (hub/incident).
type IncidentSink interface {
	// Findings records a cluster's findings and returns how many it dropped over its rate bound.
	Findings(ctx context.Context, cluster string, findings []*fleetv1.Finding) (dropped int, err error)
	// ActionStatus records a spoke's report on an action; final means it can be acknowledged.
	ActionStatus(ctx context.Context, cluster string, st *fleetv1.ActionStatus) (final bool, err error)
	// StreamAttached and StreamDetached follow this member's streams, for directive delivery.
	StreamAttached(cluster string)
	StreamDetached(cluster string)
}

// SpanRelay exports and keeps the spans a spoke relays (hub/telemetry).
type SpanRelay interface {
	Relay(ctx context.Context, cluster string, rs *fleetv1.RelayedSpans) error
}

// DirectiveKeys lists the keys spokes verify directives with (hub/signing).
type DirectiveKeys interface {
	PublicKeys(ctx context.Context) ([]*fleetv1.DirectiveKey, error)
}

// writeTimeout bounds the Raft writes one incident-loop message may cause, so a stuck write
// does not hold the stream's receive loop for long.
const writeTimeout = 10 * time.Second

// Send sends m on cluster's stream, if this member holds it.
func (s *Server) Send(cluster string, m *fleetv1.HubMessage) bool {
	s.mu.Lock()
	st := s.streams[cluster]
	s.mu.Unlock()
	if st == nil {
		return false
	}
	return st.send(m) == nil
}

func (s *Server) handleFindings(ctx context.Context, st *stream, f *fleetv1.Findings) {
	if s.incidents == nil {
		s.metrics.unhandled.Inc()
		return
	}
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	dropped, err := s.incidents.Findings(ctx, st.cluster, f.GetFindings())
	s.metrics.findings.Add(float64(len(f.GetFindings()) - dropped))
	if dropped > 0 {
		s.log.Warn("findings over the cluster's rate bound dropped; the spoke resends active ones", "cluster", st.cluster, "dropped", dropped)
	}
	if err != nil {
		s.log.Warn("findings not all recorded", "cluster", st.cluster, "err", err)
	}
}

func (s *Server) handleActionStatus(ctx context.Context, st *stream, a *fleetv1.ActionStatus) error {
	if s.incidents == nil {
		s.metrics.unhandled.Inc()
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	final, err := s.incidents.ActionStatus(ctx, st.cluster, a)
	if err != nil {
		s.log.Warn("action status", "cluster", st.cluster, "action", a.GetActionId(), "phase", a.GetPhase(), "err", err)
	}
	if !final {
		return nil
	}
	return st.send(&fleetv1.HubMessage{Body: &fleetv1.HubMessage_Ack{Ack: &fleetv1.Ack{ActionIds: []string{a.GetActionId()}}}})
}

func (s *Server) handleSpans(ctx context.Context, st *stream, rs *fleetv1.RelayedSpans) {
	if s.spans == nil {
		s.metrics.unhandled.Inc()
		return
	}
	if err := s.spans.Relay(ctx, st.cluster, rs); err != nil {
		s.log.Warn("relayed spans refused", "cluster", st.cluster, "err", err)
	}
}
