package agent

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/protobuf/types/known/timestamppb"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubedevaiops/kubedevaiops/api/directive"
	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
	"github.com/kubedevaiops/kubedevaiops/spoke/analyze"
	"github.com/kubedevaiops/kubedevaiops/spoke/execute"
	"github.com/kubedevaiops/kubedevaiops/spoke/guard"
	"github.com/kubedevaiops/kubedevaiops/test/testbed"
)

// The agent's directive path on a real cluster: a good directive runs once, and a duplicate, a
// forged or tampered one, an expired one, one for another cluster and one outside the local
// policy are each refused with their reason reported for the hub's audit, and change nothing.
func TestDirectivesRunOnceAndRefusalsChangeNothing(t *testing.T) {
	c := testbed.StartCluster(t, testbed.ClusterOptions{Name: "directives"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	scheme, err := Scheme()
	require.NoError(t, err)
	kube, err := client.New(c.Config, client.Options{Scheme: scheme})
	require.NoError(t, err)
	require.NoError(t, installCRDs(ctx, kube))
	require.NoError(t, kube.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kubedevaiops-system"}}))
	require.NoError(t, kube.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}))
	labels := map[string]string{"app": "web"}
	require.NoError(t, kube.Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web:v1"}}}}}}))
	testbed.Eventually(t, time.Minute, "the AIOpsPolicy CRD serves", func() error {
		return kube.Create(ctx, &aiopsv1alpha1.AIOpsPolicy{ObjectMeta: metav1.ObjectMeta{Name: "heal"}, Spec: aiopsv1alpha1.AIOpsPolicySpec{
			Autonomy: aiopsv1alpha1.AutonomyAutonomous, AllowedActions: []aiopsv1alpha1.AllowedAction{{Type: aiopsv1alpha1.ActionScaleWorkload, Risk: aiopsv1alpha1.RiskLow}},
			BlastRadius: &aiopsv1alpha1.BlastRadius{MaxConcurrentClusters: 1, MaxActionsPerClusterPerHour: ptr.To[int32](10)}}})
	})

	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	_, otherPriv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	in := newIncidents()
	in.up = func() bool { return true }
	in.log = discardInfo{}
	in.tracer = noop.NewTracerProvider().Tracer("test")
	in.ctx = ctx
	in.guard, err = guard.New(guard.Options{Client: kube, ClusterName: "c1", Namespace: "kubedevaiops-system"})
	require.NoError(t, err)
	in.guard.SetTrustedKeys([]*fleetv1.DirectiveKey{directive.NewKey(pub)})
	in.engine, err = execute.New(kube, execute.Options{Namespace: "kubedevaiops-system", Verifier: workloadVerifier{in: analyze.Input{Reader: kube}}})
	require.NoError(t, err)

	n := 0
	payload := func(edit func(*fleetv1.DirectivePayload)) *fleetv1.DirectivePayload {
		n++
		nonce := make([]byte, 16)
		_, _ = rand.Read(nonce)
		p := &fleetv1.DirectivePayload{ActionId: fmt.Sprintf("act-%d", n), Audience: "c1", ActionType: string(aiopsv1alpha1.ActionScaleWorkload),
			Target:         &fleetv1.ObjectRef{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "shop", Name: "web"},
			ParametersJson: []byte(`{"replicas":"2","verifyTimeout":"1m"}`), IssuedAt: timestamppb.Now(), ExpiresAt: timestamppb.New(time.Now().Add(5 * time.Minute)),
			Nonce: nonce, PolicyName: "heal", PlanId: "plan-1", Issuer: "h1"}
		if edit != nil {
			edit(p)
		}
		return p
	}
	sign := func(p *fleetv1.DirectivePayload, key ed25519.PrivateKey) *fleetv1.SignedDirective {
		b, err := directive.EncodePayload(p)
		require.NoError(t, err)
		return &fleetv1.SignedDirective{Payload: b, Signature: ed25519.Sign(key, b), KeyId: directive.KeyID(key.Public().(ed25519.PublicKey)), Algorithm: directive.Algorithm}
	}
	statuses := func() []*fleetv1.ActionStatus {
		var out []*fleetv1.ActionStatus
		for {
			select {
			case m := <-in.out:
				if s := m.GetActionStatus(); s != nil {
					out = append(out, s)
				}
			default:
				return out
			}
		}
	}
	generation := func() int64 {
		var d appsv1.Deployment
		require.NoError(t, kube.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "web"}, &d))
		return d.Generation
	}

	good := sign(payload(nil), priv)
	in.handleDirective(ctx, good)
	got := statuses()
	require.NotEmpty(t, got)
	assert.Equal(t, fleetv1.ActionPhase_ACTION_PHASE_RECEIVED, got[0].GetPhase())
	assert.Equal(t, fleetv1.ActionPhase_ACTION_PHASE_SUCCEEDED, got[len(got)-1].GetPhase(), "%v", got)
	after := generation()

	tampered := sign(payload(nil), priv)
	tampered.Payload = append([]byte(nil), tampered.Payload...)
	tampered.Payload[len(tampered.Payload)-1] ^= 1
	for _, c := range []struct {
		name   string
		sd     *fleetv1.SignedDirective
		reason guard.Reason
	}{
		{"a duplicate", good, guard.ReasonReplayed},
		{"signed by another key", sign(payload(nil), otherPriv), guard.ReasonUnknownKey},
		{"tampered after signing", tampered, ""},
		{"expired", sign(payload(func(p *fleetv1.DirectivePayload) {
			p.IssuedAt, p.ExpiresAt = timestamppb.New(time.Now().Add(-time.Hour)), timestamppb.New(time.Now().Add(-time.Minute))
		}), priv), guard.ReasonExpired},
		{"for another cluster", sign(payload(func(p *fleetv1.DirectivePayload) { p.Audience = "c2" }), priv), guard.ReasonWrongAudience},
		{"outside the local allowlist", sign(payload(func(p *fleetv1.DirectivePayload) {
			p.ActionType, p.ParametersJson = string(aiopsv1alpha1.ActionRestartWorkload), []byte(`{}`)
		}), priv), guard.ReasonNotAllowedByPolicy},
	} {
		t.Run(c.name, func(t *testing.T) {
			in.handleDirective(ctx, c.sd)
			got := statuses()
			require.NotEmpty(t, got)
			last := got[len(got)-1]
			assert.Equal(t, fleetv1.ActionPhase_ACTION_PHASE_REFUSED, last.GetPhase())
			if c.reason != "" {
				assert.Equal(t, string(c.reason), last.GetReason(), last.GetMessage())
			} else {
				assert.Contains(t, []string{string(guard.ReasonSignatureInvalid), string(guard.ReasonMalformed)}, last.GetReason(), last.GetMessage())
			}
			for _, s := range got {
				assert.NotEqual(t, fleetv1.ActionPhase_ACTION_PHASE_APPLYING, s.GetPhase(), "nothing ran")
			}
			assert.Equal(t, after, generation(), "nothing changed in the cluster")
		})
	}
	finals := in.unacked()
	assert.NotEmpty(t, finals, "final statuses wait for the hub's acknowledgement")
	in.acked([]string{"act-1"})
	for _, s := range in.unacked() {
		assert.NotEqual(t, "act-1", s.GetActionId())
	}
}

type discardInfo struct{}

func (discardInfo) Info(string, ...any) {}
