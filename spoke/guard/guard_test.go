package guard

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubedevaiops/kubedevaiops/api/directive"
	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

const cluster = "spoke-a"

// hubKey is a directive-signing key as the hub holds it.
type hubKey struct {
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
}

func newHubKey(t *testing.T) hubKey {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	return hubKey{pub, priv}
}

func (k hubKey) directiveKey() *fleetv1.DirectiveKey { return directive.NewKey(k.pub) }

func (k hubKey) sign(t *testing.T, p *fleetv1.DirectivePayload) *fleetv1.SignedDirective {
	t.Helper()
	b, err := directive.EncodePayload(p)
	require.NoError(t, err)
	return k.signBytes(b)
}

func (k hubKey) signBytes(b []byte) *fleetv1.SignedDirective {
	return &fleetv1.SignedDirective{Payload: b, Signature: ed25519.Sign(k.priv, b), KeyId: directive.KeyID(k.pub), Algorithm: directive.Algorithm}
}

// clock is a settable clock for guards.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

var actionSeq struct {
	sync.Mutex
	n int
}

// payload is a valid directive for cluster under policy, issued at now.
func payload(t *testing.T, policy string, action aiopsv1alpha1.ActionType, now time.Time) *fleetv1.DirectivePayload {
	nonce := make([]byte, 16)
	_, err := rand.Read(nonce)
	require.NoError(t, err)
	actionSeq.Lock()
	actionSeq.n++
	id := fmt.Sprintf("act-%d-%d", now.UnixNano(), actionSeq.n)
	actionSeq.Unlock()
	return &fleetv1.DirectivePayload{
		ActionId: id, Audience: cluster, ActionType: string(action),
		Target:         &fleetv1.ObjectRef{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "shop", Name: "web"},
		ParametersJson: []byte(`{}`),
		IssuedAt:       timestamppb.New(now), ExpiresAt: timestamppb.New(now.Add(5 * time.Minute)),
		Nonce: nonce, PolicyName: policy, PlanId: "plan-1", Issuer: "hub-1",
	}
}

// testNamespace creates a namespace for one test's ledger.
func testNamespace(t *testing.T, name string) string {
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	require.NoError(t, kube.Create(ctx, ns))
	t.Cleanup(func() { _ = kube.Delete(context.Background(), ns) })
	return name
}

func createPolicy(t *testing.T, name string, spec aiopsv1alpha1.AIOpsPolicySpec) {
	ctx := context.Background()
	p := &aiopsv1alpha1.AIOpsPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}
	require.NoError(t, kube.Create(ctx, p))
	t.Cleanup(func() { _ = kube.Delete(context.Background(), p) })
}

func allow(types ...aiopsv1alpha1.ActionType) []aiopsv1alpha1.AllowedAction {
	out := make([]aiopsv1alpha1.AllowedAction, len(types))
	for i, a := range types {
		out[i] = aiopsv1alpha1.AllowedAction{Type: a, Risk: aiopsv1alpha1.RiskLow}
	}
	return out
}

func newGuard(t *testing.T, ns string, now func() time.Time, keys ...hubKey) *Guard {
	g, err := New(Options{Client: kube, ClusterName: cluster, Namespace: ns, Now: now})
	require.NoError(t, err)
	dks := make([]*fleetv1.DirectiveKey, len(keys))
	for i, k := range keys {
		dks[i] = k.directiveKey()
	}
	g.SetTrustedKeys(dks)
	return g
}

func ledgerEntries(t *testing.T, ns string) ([]ledgerEntry, bool) {
	cm := &corev1.ConfigMap{}
	err := kube.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: DefaultLedgerName}, cm)
	if apierrors.IsNotFound(err) {
		return nil, false
	}
	require.NoError(t, err)
	var doc ledgerDoc
	require.NoError(t, json.Unmarshal([]byte(cm.Data[LedgerDataKey]), &doc))
	return doc.Entries, true
}

func requireRefused(t *testing.T, err error, want Reason) *Refusal {
	t.Helper()
	require.Error(t, err)
	r, ok := AsRefusal(err)
	require.True(t, ok, "not a refusal: %v", err)
	require.Equal(t, want, r.Reason, r.Message)
	assert.NotEmpty(t, r.Message)
	return r
}

func TestEveryRefusalReason(t *testing.T) {
	ns := testNamespace(t, "refusals")
	ctx := context.Background()
	key, stranger := newHubKey(t), newHubKey(t)
	createPolicy(t, "refusals-recommend", aiopsv1alpha1.AIOpsPolicySpec{
		Autonomy: aiopsv1alpha1.AutonomyRecommend, AllowedActions: allow(aiopsv1alpha1.ActionRestartWorkload, aiopsv1alpha1.ActionScaleWorkload),
		MaintenanceWindows: []aiopsv1alpha1.MaintenanceWindow{{Schedule: "0 3 * * *", Duration: metav1.Duration{Duration: time.Minute}, TimeZone: "UTC"}},
		BlastRadius:        &aiopsv1alpha1.BlastRadius{MaxActionsPerClusterPerHour: ptr.To[int32](0)},
	})
	createPolicy(t, "refusals-observe", aiopsv1alpha1.AIOpsPolicySpec{Autonomy: aiopsv1alpha1.AutonomyObserve, AllowedActions: allow(aiopsv1alpha1.ActionRestartWorkload)})
	// Outside 03:00-03:01 UTC, so RestartWorkload (disruptive) is outside the window.
	now := time.Now().UTC()
	if now.Hour() == 3 && now.Minute() < 2 {
		now = now.Add(5 * time.Minute)
	}
	clk := &clock{t: now}
	g := newGuard(t, ns, clk.Now, key)

	restart := func(mod func(p *fleetv1.DirectivePayload)) *fleetv1.SignedDirective {
		p := payload(t, "refusals-recommend", aiopsv1alpha1.ActionRestartWorkload, now)
		if mod != nil {
			mod(p)
		}
		return key.sign(t, p)
	}
	valid := restart(nil)
	tampered := proto.CloneOf(valid)
	tampered.Payload = append([]byte(nil), valid.Payload...)
	tampered.Payload[len(tampered.Payload)-1] ^= 1
	unknownField := append(append([]byte(nil), valid.Payload...), 0xa8, 0x06, 0x01) // field 101, varint 1

	tests := []struct {
		name string
		sd   *fleetv1.SignedDirective
		want Reason
		// authenticated says whether the refusal came after the signature check.
		authenticated bool
	}{
		{"nothing", nil, ReasonMalformed, false},
		{"no payload", &fleetv1.SignedDirective{Signature: valid.Signature, KeyId: valid.KeyId, Algorithm: directive.Algorithm}, ReasonMalformed, false},
		{"unsigned", &fleetv1.SignedDirective{Payload: valid.Payload, KeyId: valid.KeyId, Algorithm: directive.Algorithm}, ReasonMalformed, false},
		{"signed garbage", key.signBytes([]byte("garbage")), ReasonMalformed, true},
		{"signed, with a field this version does not know", key.signBytes(unknownField), ReasonMalformed, true},
		{"valid for too long", restart(func(p *fleetv1.DirectivePayload) { p.ExpiresAt = timestamppb.New(now.Add(2 * time.Hour)) }), ReasonMalformed, true},
		{"other algorithm", &fleetv1.SignedDirective{Payload: valid.Payload, Signature: valid.Signature, KeyId: valid.KeyId, Algorithm: "rsa-pss"}, ReasonUnsupportedAlgorithm, false},
		{"untrusted key", stranger.sign(t, payload(t, "refusals-recommend", aiopsv1alpha1.ActionRestartWorkload, now)), ReasonUnknownKey, false},
		{"forged: trusted key id, another key's signature", func() *fleetv1.SignedDirective {
			sd := stranger.sign(t, payload(t, "refusals-recommend", aiopsv1alpha1.ActionRestartWorkload, now))
			sd.KeyId = valid.KeyId
			return sd
		}(), ReasonSignatureInvalid, false},
		{"tampered payload", tampered, ReasonSignatureInvalid, false},
		{"short signature", &fleetv1.SignedDirective{Payload: valid.Payload, Signature: valid.Signature[:10], KeyId: valid.KeyId, Algorithm: directive.Algorithm}, ReasonSignatureInvalid, false},
		{"another cluster", restart(func(p *fleetv1.DirectivePayload) { p.Audience = "spoke-b" }), ReasonWrongAudience, true},
		{"expired", restart(func(p *fleetv1.DirectivePayload) {
			p.IssuedAt, p.ExpiresAt = timestamppb.New(now.Add(-10*time.Minute)), timestamppb.New(now.Add(-time.Second))
		}), ReasonExpired, true},
		{"issued in the future beyond the skew", restart(func(p *fleetv1.DirectivePayload) {
			p.IssuedAt, p.ExpiresAt = timestamppb.New(now.Add(2*time.Minute)), timestamppb.New(now.Add(7*time.Minute))
		}), ReasonNotYetValid, true},
		{"no such policy", restart(func(p *fleetv1.DirectivePayload) { p.PolicyName = "refusals-absent" }), ReasonNoLocalPolicy, true},
		{"a policy name that cannot exist", restart(func(p *fleetv1.DirectivePayload) { p.PolicyName = "../secrets" }), ReasonNoLocalPolicy, true},
		{"observe-only policy", restart(func(p *fleetv1.DirectivePayload) { p.PolicyName = "refusals-observe" }), ReasonObserveOnly, true},
		{"action not allowed", restart(func(p *fleetv1.DirectivePayload) { p.ActionType = string(aiopsv1alpha1.ActionDeletePod) }), ReasonNotAllowedByPolicy, true},
		{"unknown action type", restart(func(p *fleetv1.DirectivePayload) { p.ActionType = "FormatDisk" }), ReasonNotAllowedByPolicy, true},
		{"disruptive outside the window", valid, ReasonOutsideMaintenanceWindow, true},
		{"over the blast radius (0 per hour)", restart(func(p *fleetv1.DirectivePayload) { p.ActionType = string(aiopsv1alpha1.ActionScaleWorkload) }), ReasonBlastRadiusExceeded, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := g.Check(ctx, tt.sd)
			r := requireRefused(t, err, tt.want)
			assert.Equal(t, tt.authenticated, r.Authenticated)
			assert.Contains(t, err.Error(), string(tt.want))
		})
	}
	t.Run("a refusal carries the action id for the report", func(t *testing.T) {
		_, err := g.Check(ctx, valid)
		r := requireRefused(t, err, ReasonOutsideMaintenanceWindow)
		require.NotNil(t, r.Payload)
		want, err := directive.DecodePayload(valid.Payload)
		require.NoError(t, err)
		assert.Equal(t, want.GetActionId(), r.Payload.GetActionId())
	})
	_, recorded := ledgerEntries(t, ns)
	assert.False(t, recorded, "refusals change nothing in the cluster, not even the ledger")

	// Replayed needs an accepted directive first: a scale (not disruptive) under a policy that allows it.
	createPolicy(t, "refusals-scale", aiopsv1alpha1.AIOpsPolicySpec{Autonomy: aiopsv1alpha1.AutonomyRecommend, AllowedActions: allow(aiopsv1alpha1.ActionScaleWorkload)})
	scale := key.sign(t, payload(t, "refusals-scale", aiopsv1alpha1.ActionScaleWorkload, now))
	_, err := g.Check(ctx, scale)
	require.NoError(t, err)
	_, err = g.Check(ctx, scale)
	requireRefused(t, err, ReasonReplayed)
	entries, _ := ledgerEntries(t, ns)
	assert.Len(t, entries, 1, "the replay recorded nothing")
}

func TestValidDirectivePasses(t *testing.T) {
	ns := testNamespace(t, "valid")
	ctx := context.Background()
	key := newHubKey(t)
	createPolicy(t, "valid", aiopsv1alpha1.AIOpsPolicySpec{
		Autonomy: aiopsv1alpha1.AutonomyAutonomous, AllowedActions: allow(aiopsv1alpha1.ActionRollbackWorkload),
		BlastRadius: &aiopsv1alpha1.BlastRadius{MaxActionsPerClusterPerHour: ptr.To[int32](5)},
	})
	g := newGuard(t, ns, nil, key)
	now := time.Now()
	want := payload(t, "valid", aiopsv1alpha1.ActionRollbackWorkload, now)
	got, err := g.Check(ctx, key.sign(t, want))
	require.NoError(t, err)
	assert.True(t, proto.Equal(want, got), "the payload as signed")
	entries, ok := ledgerEntries(t, ns)
	require.True(t, ok)
	require.Len(t, entries, 1)
	assert.Equal(t, want.GetActionId(), entries[0].ActionID)
	assert.True(t, entries[0].Counted)

	// A hub clock a little ahead of the spoke's is within the skew allowance.
	ahead := payload(t, "valid", aiopsv1alpha1.ActionRollbackWorkload, now.Add(DefaultClockSkew/2))
	_, err = g.Check(ctx, key.sign(t, ahead))
	require.NoError(t, err)
}

func TestReplayIsRefusedAfterRestart(t *testing.T) {
	ns := testNamespace(t, "replay")
	ctx := context.Background()
	key := newHubKey(t)
	createPolicy(t, "replay", aiopsv1alpha1.AIOpsPolicySpec{Autonomy: aiopsv1alpha1.AutonomyRecommend, AllowedActions: allow(aiopsv1alpha1.ActionScaleWorkload)})
	now := time.Now()
	p := payload(t, "replay", aiopsv1alpha1.ActionScaleWorkload, now)
	sd := key.sign(t, p)
	_, err := newGuard(t, ns, nil, key).Check(ctx, sd)
	require.NoError(t, err)

	restarted := newGuard(t, ns, nil, key) // a new agent process: only the ledger remembers
	_, err = restarted.Check(ctx, sd)
	requireRefused(t, err, ReasonReplayed)

	sameNonce := payload(t, "replay", aiopsv1alpha1.ActionScaleWorkload, now)
	sameNonce.Nonce = p.Nonce
	_, err = restarted.Check(ctx, key.sign(t, sameNonce))
	r := requireRefused(t, err, ReasonReplayed)
	assert.Contains(t, r.Message, "nonce")

	sameAction := payload(t, "replay", aiopsv1alpha1.ActionScaleWorkload, now)
	sameAction.ActionId = p.ActionId // the hub re-signed the action, e.g. after a failover
	_, err = restarted.Check(ctx, key.sign(t, sameAction))
	requireRefused(t, err, ReasonReplayed)
}

func TestConcurrentDeliveriesRunOnce(t *testing.T) {
	ns := testNamespace(t, "concurrent")
	key := newHubKey(t)
	createPolicy(t, "concurrent", aiopsv1alpha1.AIOpsPolicySpec{Autonomy: aiopsv1alpha1.AutonomyRecommend, AllowedActions: allow(aiopsv1alpha1.ActionScaleWorkload)})
	sd := key.sign(t, payload(t, "concurrent", aiopsv1alpha1.ActionScaleWorkload, time.Now()))
	const n = 6
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		g := newGuard(t, ns, nil, key) // as if several agents got the directive at once
		wg.Go(func() { _, errs[i] = g.Check(context.Background(), sd) })
	}
	wg.Wait()
	accepted := 0
	for _, err := range errs {
		if err == nil {
			accepted++
			continue
		}
		requireRefused(t, err, ReasonReplayed)
	}
	assert.Equal(t, 1, accepted)
}

func TestDryRunPolicyForcesDryRun(t *testing.T) {
	ns := testNamespace(t, "dryrun")
	ctx := context.Background()
	key := newHubKey(t)
	createPolicy(t, "dryrun", aiopsv1alpha1.AIOpsPolicySpec{
		Autonomy: aiopsv1alpha1.AutonomyAutonomous, AllowedActions: allow(aiopsv1alpha1.ActionScaleWorkload), DryRun: true,
		BlastRadius: &aiopsv1alpha1.BlastRadius{MaxActionsPerClusterPerHour: ptr.To[int32](1)},
	})
	g := newGuard(t, ns, nil, key)
	for range 3 { // dry-runs change nothing, so they do not count against the blast radius of 1
		p := payload(t, "dryrun", aiopsv1alpha1.ActionScaleWorkload, time.Now())
		require.False(t, p.GetDryRun())
		got, err := g.Check(ctx, key.sign(t, p))
		require.NoError(t, err)
		assert.True(t, got.GetDryRun(), "forced by the policy")
		assert.Equal(t, p.GetActionId(), got.GetActionId())
	}
	entries, _ := ledgerEntries(t, ns)
	require.Len(t, entries, 3, "dry-runs are still recorded against replay")
	for _, e := range entries {
		assert.False(t, e.Counted)
	}
}

func TestBlastRadius(t *testing.T) {
	ns := testNamespace(t, "blast")
	ctx := context.Background()
	key := newHubKey(t)
	createPolicy(t, "blast", aiopsv1alpha1.AIOpsPolicySpec{
		Autonomy: aiopsv1alpha1.AutonomyAutonomous, AllowedActions: allow(aiopsv1alpha1.ActionScaleWorkload),
		BlastRadius: &aiopsv1alpha1.BlastRadius{MaxActionsPerClusterPerHour: ptr.To[int32](2)},
	})
	createPolicy(t, "blast-default", aiopsv1alpha1.AIOpsPolicySpec{Autonomy: aiopsv1alpha1.AutonomyRecommend, AllowedActions: allow(aiopsv1alpha1.ActionScaleWorkload)})
	clk := &clock{t: time.Now()}
	g := newGuard(t, ns, clk.Now, key)
	check := func(policy string, dryRun bool) error {
		p := payload(t, policy, aiopsv1alpha1.ActionScaleWorkload, clk.Now())
		p.DryRun = dryRun
		_, err := g.Check(ctx, key.sign(t, p))
		return err
	}
	require.NoError(t, check("blast", false))
	clk.Add(20 * time.Minute)
	require.NoError(t, check("blast", false))
	clk.Add(20 * time.Minute)
	err := check("blast", false)
	r := requireRefused(t, err, ReasonBlastRadiusExceeded)
	assert.Contains(t, r.Message, "2 actions ran on this cluster in the last hour")
	require.NoError(t, check("blast", true), "a dry-run is not limited")

	// The window rolls: an hour after the first action, one slot is free again.
	clk.Add(20*time.Minute + time.Second)
	require.NoError(t, check("blast", false))
	requireRefused(t, check("blast", false), ReasonBlastRadiusExceeded)

	// The count is the cluster's, across policies; a policy without blastRadius allows the
	// CRD's default of 10 per hour.
	clk.Add(2 * time.Hour)
	for i := range DefaultMaxActionsPerHour {
		require.NoError(t, check("blast-default", false), "action %d", i)
	}
	requireRefused(t, check("blast-default", false), ReasonBlastRadiusExceeded)

	// Entries whose directive expired and that left the hour are dropped from the ledger.
	entries, _ := ledgerEntries(t, ns)
	assert.Len(t, entries, DefaultMaxActionsPerHour, "only the last hour's entries are kept")
}

func TestMaintenanceWindows(t *testing.T) {
	ns := testNamespace(t, "windows")
	ctx := context.Background()
	key := newHubKey(t)
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	window := func(schedule, tz string, d time.Duration) aiopsv1alpha1.MaintenanceWindow {
		return aiopsv1alpha1.MaintenanceWindow{Schedule: schedule, Duration: metav1.Duration{Duration: d}, TimeZone: tz}
	}
	createPolicy(t, "windows", aiopsv1alpha1.AIOpsPolicySpec{
		Autonomy: aiopsv1alpha1.AutonomyRecommend, AllowedActions: allow(aiopsv1alpha1.ActionRestartWorkload, aiopsv1alpha1.ActionScaleWorkload),
		// Saturdays 02:00-06:00 Berlin time, and the first of each month 12:00-12:30 in Tokyo.
		MaintenanceWindows: []aiopsv1alpha1.MaintenanceWindow{window("0 2 * * 6", "Europe/Berlin", 4*time.Hour), window("0 12 1 * *", "Asia/Tokyo", 30*time.Minute)},
	})
	createPolicy(t, "windows-broken", aiopsv1alpha1.AIOpsPolicySpec{
		Autonomy: aiopsv1alpha1.AutonomyRecommend, AllowedActions: allow(aiopsv1alpha1.ActionRestartWorkload),
		MaintenanceWindows: []aiopsv1alpha1.MaintenanceWindow{window("0 2 * * 6", "Mars/Olympus_Mons", 4*time.Hour), window("0 2 * * 6", "UTC", 4*time.Hour)},
	})
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	require.NoError(t, err)

	// 2026-05-02 is a Saturday.
	tests := []struct {
		name   string
		now    time.Time
		policy string
		action aiopsv1alpha1.ActionType
		open   bool
	}{
		{"at the start", time.Date(2026, 5, 2, 2, 0, 0, 0, berlin), "windows", aiopsv1alpha1.ActionRestartWorkload, true},
		{"inside", time.Date(2026, 5, 2, 5, 59, 0, 0, berlin), "windows", aiopsv1alpha1.ActionRestartWorkload, true},
		{"at the end", time.Date(2026, 5, 2, 6, 0, 0, 0, berlin), "windows", aiopsv1alpha1.ActionRestartWorkload, false},
		{"before", time.Date(2026, 5, 2, 1, 59, 0, 0, berlin), "windows", aiopsv1alpha1.ActionRestartWorkload, false},
		{"same hours in UTC are not Berlin's", time.Date(2026, 5, 2, 5, 30, 0, 0, time.UTC), "windows", aiopsv1alpha1.ActionRestartWorkload, false},
		{"another weekday", time.Date(2026, 5, 4, 3, 0, 0, 0, berlin), "windows", aiopsv1alpha1.ActionRestartWorkload, false},
		{"the second window", time.Date(2026, 6, 1, 12, 10, 0, 0, tokyo), "windows", aiopsv1alpha1.ActionRestartWorkload, true},
		{"not disruptive: any time", time.Date(2026, 5, 4, 3, 0, 0, 0, berlin), "windows", aiopsv1alpha1.ActionScaleWorkload, true},
		{"a window that cannot be read counts closed, the others still open", time.Date(2026, 5, 2, 3, 0, 0, 0, time.UTC), "windows-broken", aiopsv1alpha1.ActionRestartWorkload, true},
		{"a window that cannot be read counts closed", time.Date(2026, 5, 4, 3, 0, 0, 0, time.UTC), "windows-broken", aiopsv1alpha1.ActionRestartWorkload, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGuard(t, ns, func() time.Time { return tt.now }, key)
			_, err := g.Check(ctx, key.sign(t, payload(t, tt.policy, tt.action, tt.now)))
			if tt.open {
				require.NoError(t, err)
				return
			}
			r := requireRefused(t, err, ReasonOutsideMaintenanceWindow)
			if tt.policy == "windows-broken" {
				assert.Contains(t, r.Message, "Mars/Olympus_Mons")
			}
		})
	}
}

func TestTrustedKeys(t *testing.T) {
	ns := testNamespace(t, "keys")
	ctx := context.Background()
	a, b := newHubKey(t), newHubKey(t)
	createPolicy(t, "keys", aiopsv1alpha1.AIOpsPolicySpec{Autonomy: aiopsv1alpha1.AutonomyRecommend, AllowedActions: allow(aiopsv1alpha1.ActionScaleWorkload)})
	signed := func(k hubKey) *fleetv1.SignedDirective {
		return k.sign(t, payload(t, "keys", aiopsv1alpha1.ActionScaleWorkload, time.Now()))
	}

	t.Run("no key until the hub announces one", func(t *testing.T) {
		g := newGuard(t, ns, nil)
		_, err := g.Check(ctx, signed(a))
		requireRefused(t, err, ReasonUnknownKey)
		g.SetTrustedKeys([]*fleetv1.DirectiveKey{a.directiveKey(), b.directiveKey()})
		assert.ElementsMatch(t, []string{directive.KeyID(a.pub), directive.KeyID(b.pub)}, g.TrustedKeyIDs())
		_, err = g.Check(ctx, signed(a))
		require.NoError(t, err)
		_, err = g.Check(ctx, signed(b))
		require.NoError(t, err)
		g.SetTrustedKeys([]*fleetv1.DirectiveKey{b.directiveKey()}) // the set is replaced, not merged
		_, err = g.Check(ctx, signed(a))
		requireRefused(t, err, ReasonUnknownKey)
	})

	t.Run("a key whose id is not its own is ignored", func(t *testing.T) {
		g := newGuard(t, ns, nil)
		lying := a.directiveKey()
		lying.PublicKey = b.pub // a's id, b's key
		g.SetTrustedKeys([]*fleetv1.DirectiveKey{lying, {KeyId: "x", Algorithm: "ed25519", PublicKey: []byte{1}}})
		assert.Empty(t, g.TrustedKeyIDs())
		sd := signed(b)
		sd.KeyId = directive.KeyID(a.pub)
		_, err := g.Check(ctx, sd)
		requireRefused(t, err, ReasonUnknownKey)
	})

	t.Run("pinned keys only", func(t *testing.T) {
		g, err := New(Options{Client: kube, ClusterName: cluster, Namespace: ns, PinnedKeyIDs: []string{directive.KeyID(a.pub)}})
		require.NoError(t, err)
		g.SetTrustedKeys([]*fleetv1.DirectiveKey{a.directiveKey(), b.directiveKey()})
		assert.Equal(t, []string{directive.KeyID(a.pub)}, g.TrustedKeyIDs())
		_, err = g.Check(ctx, signed(a))
		require.NoError(t, err)
		_, err = g.Check(ctx, signed(b))
		requireRefused(t, err, ReasonUnknownKey)
	})

	t.Run("a pin that is not a key id is an error", func(t *testing.T) {
		for _, bad := range []string{"abc", strings.ToUpper(directive.KeyID(a.pub)), directive.KeyID(a.pub) + "00"} {
			_, err := New(Options{Client: kube, ClusterName: cluster, Namespace: ns, PinnedKeyIDs: []string{bad}})
			assert.ErrorContains(t, err, "is not a key id", bad)
		}
	})
}

func TestDamagedLedgerRefusesEverything(t *testing.T) {
	ns := testNamespace(t, "damaged")
	ctx := context.Background()
	key := newHubKey(t)
	createPolicy(t, "damaged", aiopsv1alpha1.AIOpsPolicySpec{Autonomy: aiopsv1alpha1.AutonomyRecommend, AllowedActions: allow(aiopsv1alpha1.ActionScaleWorkload)})
	require.NoError(t, kube.Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: DefaultLedgerName}, Data: map[string]string{LedgerDataKey: "{not json"},
	}))
	_, err := newGuard(t, ns, nil, key).Check(ctx, key.sign(t, payload(t, "damaged", aiopsv1alpha1.ActionScaleWorkload, time.Now())))
	require.Error(t, err)
	_, isRefusal := AsRefusal(err)
	assert.False(t, isRefusal, "the guard could not decide: not a policy refusal")
	assert.Contains(t, err.Error(), "is damaged")
}

func TestNewValidatesOptions(t *testing.T) {
	for _, o := range []Options{
		{ClusterName: cluster, Namespace: "x"},
		{Client: kube, ClusterName: "Not_A_Name", Namespace: "x"},
		{Client: kube, ClusterName: cluster},
		{Client: kube, ClusterName: cluster, Namespace: "x", LedgerName: "Bad Name"},
	} {
		_, err := New(o)
		assert.Error(t, err, "%+v", o)
	}
}

func TestReasonsAreDistinct(t *testing.T) {
	seen := map[Reason]bool{}
	for _, r := range Reasons {
		assert.False(t, seen[r], r)
		seen[r] = true
	}
	assert.Len(t, Reasons, 13)
}
