package incident

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"golang.org/x/time/rate"

	"github.com/kubedevaiops/kubedevaiops/hub/ai"
	"github.com/kubedevaiops/kubedevaiops/hub/ai/builtin"
	"github.com/kubedevaiops/kubedevaiops/hub/diagnose"
	"github.com/kubedevaiops/kubedevaiops/hub/raftnode"
	"github.com/kubedevaiops/kubedevaiops/hub/store"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// DefaultDirectiveTTL is how long a directive stays valid after the hub signs it.
const DefaultDirectiveTTL = 10 * time.Minute

// Signer signs directive payloads (hub/signing: Vault transit or the replicated key).
type Signer interface {
	Sign(ctx context.Context, payload []byte) (*fleetv1.SignedDirective, error)
}

// Streams delivers messages on the spoke streams this member holds (hub/spokeapi).
type Streams interface {
	// Send sends m on cluster's stream and reports whether this member holds one.
	Send(cluster string, m *fleetv1.HubMessage) bool
}

// Config wires a Hub.
type Config struct {
	Node   *raftnode.Node
	Store  *store.Store
	Logger *slog.Logger
	// Signer signs directives; without one, approved plans wait with a SigningUnavailable condition.
	Signer Signer
	// Engines answers diagnoses, with its fallback to the built-in engine; the built-in engine
	// alone when nil.
	Engines *ai.Registry
	// Tracer records the hub's incident spans; nil records none.
	Tracer trace.TracerProvider
	// DirectiveTTL is how long a signed directive is valid; DefaultDirectiveTTL when zero.
	DirectiveTTL time.Duration
	// VerifyTimeout, when set, is how long the spoke verifies an action's effect before it
	// rolls the action back (the executor's default, 2m, otherwise).
	VerifyTimeout time.Duration
	// DryRun turns every directive the leader signs into a server-side dry-run (fleet-wide).
	DryRun bool
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Hub is one member's part of the incident loop: every member records findings and action
// results from the streams it holds and delivers directives on them; the leader plans,
// approves and signs (Run).
type Hub struct {
	node    *raftnode.Node
	store   *store.Store
	log     *slog.Logger
	signer  Signer
	tracer  trace.Tracer
	ttl     time.Duration
	dryRun  bool
	verify  time.Duration
	now     func() time.Time
	engines *ai.Registry
	// correlator groups the leader's diagnoses into fleet incidents.
	correlator *diagnose.Correlator

	mu       sync.Mutex
	limiters map[string]*rate.Limiter
	streams  Streams
	// sent remembers, per cluster, the directives already sent on its current stream.
	sent map[string]map[string]bool
}

// New returns a Hub.
func New(cfg Config) *Hub {
	h := &Hub{node: cfg.Node, store: cfg.Store, log: cfg.Logger, signer: cfg.Signer, ttl: cfg.DirectiveTTL,
		dryRun: cfg.DryRun, verify: cfg.VerifyTimeout, now: cfg.Now, limiters: map[string]*rate.Limiter{}, sent: map[string]map[string]bool{},
		correlator: diagnose.NewCorrelator(diagnose.CorrelatorConfig{})}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.log = h.log.With("component", "incident")
	if h.engines = cfg.Engines; h.engines == nil {
		reg, err := ai.NewRegistry(ai.Config{}, builtin.New())
		if err != nil {
			panic(fmt.Sprintf("the built-in engine alone does not make a registry: %v", err)) // a programming error
		}
		h.engines = reg
	}
	if h.ttl <= 0 {
		h.ttl = DefaultDirectiveTTL
	}
	if h.now == nil {
		h.now = time.Now
	}
	tp := cfg.Tracer
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	h.tracer = tp.Tracer("github.com/kubedevaiops/kubedevaiops/hub/incident")
	return h
}

// SetStreams connects the Hub to the member's spoke streams (they are built after it).
func (h *Hub) SetStreams(s Streams) {
	h.mu.Lock()
	h.streams = s
	h.mu.Unlock()
}
