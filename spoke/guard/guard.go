package guard

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubedevaiops/kubedevaiops/api/directive"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// Defaults of a Guard.
const (
	// DefaultLedgerName is the ConfigMap, in the agent's namespace, that records accepted directives.
	DefaultLedgerName = "kubedevaiops-directive-ledger"
	// DefaultClockSkew is how far a directive's issued_at may be ahead of the spoke's clock.
	DefaultClockSkew = 30 * time.Second
	// DefaultMaxValidity is the longest validity window (expires_at - issued_at) accepted; it also
	// bounds how long the ledger must remember a directive.
	DefaultMaxValidity = time.Hour
	// DefaultMaxLedgerEntries bounds the ledger, which keeps a ConfigMap well under its 1 MiB.
	DefaultMaxLedgerEntries = 2000
	// DefaultMaxActionsPerHour applies when a policy has no blastRadius.maxActionsPerClusterPerHour
	// (the CRD's own default).
	DefaultMaxActionsPerHour = 10
)

// Client is what the guard needs of the cluster: reading AIOpsPolicies and keeping its ledger
// ConfigMap. Give it a client that reads from the API server, not from a cache, so that the
// ledger's optimistic concurrency and policy changes take effect at once.
type Client interface {
	Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error
	Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error
	Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error
}

// Options configure a Guard.
type Options struct {
	// Client reads policies and keeps the ledger. Required.
	Client Client
	// ClusterName is this cluster's ManagedCluster name, the only audience accepted. Required.
	ClusterName string
	// Namespace holds the ledger ConfigMap: the agent's namespace. Required.
	Namespace string
	// LedgerName is the ledger ConfigMap's name; DefaultLedgerName when empty.
	LedgerName string
	// PinnedKeyIDs, when not empty, are the only hub key ids trusted: a key the hub announces
	// is used only if its id is listed here. Ids are api/directive.KeyID values.
	PinnedKeyIDs []string
	// ClockSkew, MaxValidity and MaxLedgerEntries: defaults above when zero.
	ClockSkew        time.Duration
	MaxValidity      time.Duration
	MaxLedgerEntries int
	// Now is the clock; time.Now when nil.
	Now    func() time.Time
	Logger *slog.Logger
}

// Guard checks directives. Safe for concurrent use; several guards (or agent restarts) on one
// cluster share the ledger.
type Guard struct {
	opts    Options
	pinned  map[string]bool
	trusted atomic.Pointer[map[string]ed25519.PublicKey]
	ledger  *ledger
	log     *slog.Logger
}

// New returns a guard that trusts no key until SetTrustedKeys.
func New(opts Options) (*Guard, error) {
	if opts.Client == nil {
		return nil, errors.New("guard: Client is required")
	}
	if errs := validation.IsDNS1123Label(opts.ClusterName); len(errs) > 0 {
		return nil, fmt.Errorf("guard: cluster name %q: %s", opts.ClusterName, strings.Join(errs, "; "))
	}
	if errs := validation.IsDNS1123Label(opts.Namespace); len(errs) > 0 {
		return nil, fmt.Errorf("guard: namespace %q: %s", opts.Namespace, strings.Join(errs, "; "))
	}
	if opts.LedgerName == "" {
		opts.LedgerName = DefaultLedgerName
	}
	if errs := validation.IsDNS1123Subdomain(opts.LedgerName); len(errs) > 0 {
		return nil, fmt.Errorf("guard: ledger name %q: %s", opts.LedgerName, strings.Join(errs, "; "))
	}
	if opts.ClockSkew <= 0 {
		opts.ClockSkew = DefaultClockSkew
	}
	if opts.MaxValidity <= 0 {
		opts.MaxValidity = DefaultMaxValidity
	}
	if opts.MaxLedgerEntries <= 0 {
		opts.MaxLedgerEntries = DefaultMaxLedgerEntries
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	g := &Guard{opts: opts, log: opts.Logger}
	if len(opts.PinnedKeyIDs) > 0 {
		g.pinned = map[string]bool{}
		for _, id := range opts.PinnedKeyIDs {
			if b, err := hex.DecodeString(id); err != nil || len(b) != 16 || strings.ToLower(id) != id {
				return nil, fmt.Errorf("guard: pinned key id %q is not a key id (32 lowercase hex characters)", id)
			}
			g.pinned[id] = true
		}
	}
	g.ledger = &ledger{client: opts.Client, key: client.ObjectKey{Namespace: opts.Namespace, Name: opts.LedgerName},
		maxEntries: opts.MaxLedgerEntries, skew: opts.ClockSkew}
	empty := map[string]ed25519.PublicKey{}
	g.trusted.Store(&empty)
	return g, nil
}

// SetTrustedKeys replaces the trusted hub keys with keys, typically Welcome.directive_keys. A
// key that is malformed, whose id does not match its public key, or that is not pinned (when
// keys are pinned) is left out and logged.
func (g *Guard) SetTrustedKeys(keys []*fleetv1.DirectiveKey) {
	next := make(map[string]ed25519.PublicKey, len(keys))
	for _, k := range keys {
		pub, err := directive.PublicKey(k)
		if err != nil {
			g.log.Warn("ignoring a directive key the hub announced", "key_id", k.GetKeyId(), "err", err)
			continue
		}
		if g.pinned != nil && !g.pinned[k.GetKeyId()] {
			g.log.Warn("ignoring a directive key that is not pinned", "key_id", k.GetKeyId())
			continue
		}
		next[k.GetKeyId()] = pub
	}
	if len(next) == 0 {
		g.log.Warn("no trusted directive key: every directive will be refused")
	}
	g.trusted.Store(&next)
}

// TrustedKeyIDs lists the ids of the keys directives are checked against, sorted.
func (g *Guard) TrustedKeyIDs() []string {
	m := *g.trusted.Load()
	out := make([]string, 0, len(m))
	for id := range m {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// Check decides whether sd may run. It returns the payload to act on — with dry_run forced true
// when the local policy says dryRun — and records the directive in the ledger; or a *Refusal,
// after which nothing was recorded or changed; or another error when it could not decide (the
// API server unreachable, the ledger unreadable), after which the directive must not run either.
//
// The checks, in order: envelope and algorithm, trusted key, signature, strict payload decoding,
// audience, validity window, local policy (exists, autonomy, allowedActions, maintenance windows),
// then, atomically in the ledger, replay and blast radius.
func (g *Guard) Check(ctx context.Context, sd *fleetv1.SignedDirective) (*fleetv1.DirectivePayload, error) {
	p, err := g.authenticate(sd)
	if err != nil {
		return nil, err
	}
	refuse := func(reason Reason, format string, args ...any) error {
		return &Refusal{Reason: reason, Message: fmt.Sprintf(format, args...), Payload: p, Authenticated: true}
	}
	if p.GetAudience() != g.opts.ClusterName {
		return nil, refuse(ReasonWrongAudience, "action %s is addressed to cluster %q, this is %q", p.GetActionId(), p.GetAudience(), g.opts.ClusterName)
	}
	now := g.opts.Now()
	issued, expires := p.GetIssuedAt().AsTime(), p.GetExpiresAt().AsTime()
	if validity := expires.Sub(issued); validity > g.opts.MaxValidity {
		return nil, refuse(ReasonMalformed, "action %s is valid for %s, longer than the %s this spoke accepts", p.GetActionId(), validity, g.opts.MaxValidity)
	}
	if now.After(expires) {
		return nil, refuse(ReasonExpired, "action %s expired at %s; the spoke's clock reads %s", p.GetActionId(), stamp(expires), stamp(now))
	}
	if issued.After(now.Add(g.opts.ClockSkew)) {
		return nil, refuse(ReasonNotYetValid, "action %s is issued at %s, later than the spoke's clock %s plus the allowed skew of %s",
			p.GetActionId(), stamp(issued), stamp(now), g.opts.ClockSkew)
	}
	pol, err := g.checkPolicy(ctx, p, now)
	if err != nil {
		if r, ok := AsRefusal(err); ok {
			r.Payload, r.Authenticated = p, true
		}
		return nil, err
	}
	out := proto.CloneOf(p)
	if pol.Spec.DryRun && !out.GetDryRun() {
		out.DryRun = true
		g.log.Info("policy is dry-run: the action runs as a server-side dry-run only", "action_id", p.GetActionId(), "policy", pol.Name)
	}
	if err := g.ledger.record(ctx, out, now, maxActionsPerHour(pol)); err != nil {
		if r, ok := AsRefusal(err); ok {
			r.Payload, r.Authenticated = p, true
		}
		return nil, err
	}
	return out, nil
}

// authenticate checks the envelope and the signature, then decodes the payload strictly.
func (g *Guard) authenticate(sd *fleetv1.SignedDirective) (*fleetv1.DirectivePayload, error) {
	claimed := lenientDecode(sd)
	refuse := func(reason Reason, format string, args ...any) error {
		return &Refusal{Reason: reason, Message: fmt.Sprintf(format, args...), Payload: claimed}
	}
	switch {
	case sd == nil || len(sd.GetPayload()) == 0:
		return nil, refuse(ReasonMalformed, "the directive has no payload")
	case len(sd.GetSignature()) == 0:
		return nil, refuse(ReasonMalformed, "the directive is not signed")
	case sd.GetAlgorithm() != directive.Algorithm:
		return nil, refuse(ReasonUnsupportedAlgorithm, "the directive is signed with %q; only %q is accepted", sd.GetAlgorithm(), directive.Algorithm)
	}
	pub, ok := (*g.trusted.Load())[sd.GetKeyId()]
	if !ok {
		return nil, refuse(ReasonUnknownKey, "key %q is not a trusted hub key (trusted: %s)", sd.GetKeyId(), strings.Join(g.TrustedKeyIDs(), ", "))
	}
	if err := directive.Verify(sd, pub); err != nil {
		return nil, refuse(ReasonSignatureInvalid, "%v", err)
	}
	p, err := directive.DecodePayload(sd.GetPayload())
	if err != nil {
		return nil, &Refusal{Reason: ReasonMalformed, Message: err.Error(), Payload: claimed, Authenticated: true}
	}
	return p, nil
}

// lenientDecode reads what it can of the payload, for reporting a refusal; nil if nothing.
func lenientDecode(sd *fleetv1.SignedDirective) *fleetv1.DirectivePayload {
	if len(sd.GetPayload()) == 0 {
		return nil
	}
	p := &fleetv1.DirectivePayload{}
	if err := proto.Unmarshal(sd.GetPayload(), p); err != nil {
		return nil
	}
	return p
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
