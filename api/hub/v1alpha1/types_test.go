package hubv1alpha1

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestBootstrapTokenSecret(t *testing.T) {
	secret := "0123456789abcdef"
	tok := &BootstrapToken{Spec: BootstrapTokenSpec{TokenID: "abc123", SecretHash: HashTokenSecret(secret)}}
	assert.Equal(t, "9f9f5111f7b27a781f1f1ddde5ebc2dd2b796bfc7365c9c28b548e564176929f", tok.Spec.SecretHash)
	assert.True(t, tok.SecretMatches(secret))
	for _, wrong := range []string{"", "0123456789abcdeF", secret + "x"} {
		assert.False(t, tok.SecretMatches(wrong), wrong)
	}
	for _, bad := range []string{"", "zz", tok.Spec.SecretHash[:62]} {
		tok := &BootstrapToken{Spec: BootstrapTokenSpec{SecretHash: bad}}
		assert.False(t, tok.SecretMatches(secret), "hash %q", bad)
	}
	// The secret never appears in the stored object.
	b, err := json.Marshal(tok)
	require.NoError(t, err)
	assert.NotContains(t, string(b), secret)
}

func TestBootstrapTokenUsable(t *testing.T) {
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		spec BootstrapTokenSpec
		uses int32
		want bool
	}{
		{"unlimited", BootstrapTokenSpec{}, 100, true},
		{"under limit", BootstrapTokenSpec{UsageLimit: 2}, 1, true},
		{"at limit", BootstrapTokenSpec{UsageLimit: 2}, 2, false},
		{"not yet expired", BootstrapTokenSpec{Expiration: &metav1.Time{Time: now.Add(time.Second)}}, 0, true},
		{"expired at the instant", BootstrapTokenSpec{Expiration: &metav1.Time{Time: now}}, 0, false},
		{"revoked", BootstrapTokenSpec{Revoked: true}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := &BootstrapToken{Spec: tt.spec, Status: BootstrapTokenStatus{Uses: tt.uses}}
			assert.Equal(t, tt.want, tok.Usable(now))
		})
	}
}

func TestKnowledgeEntrySuccessRate(t *testing.T) {
	k := &KnowledgeEntry{}
	assert.InDelta(t, 0.5, k.SuccessRate(), 1e-12)
	k.Spec.Successes, k.Spec.Failures = 8, 0
	assert.InDelta(t, 0.9, k.SuccessRate(), 1e-12)
	k.Spec.Successes, k.Spec.Failures = 0, 3
	assert.InDelta(t, 0.2, k.SuccessRate(), 1e-12)
}

func TestScheme(t *testing.T) {
	s := runtime.NewScheme()
	require.NoError(t, AddToScheme(s))
	for _, kind := range []string{KindBootstrapToken, KindPlan, KindAction, KindKnowledgeEntry, KindHubMember, KindClusterRegistration, KindClusterLease, KindSigningKey, KindJulesSession} {
		obj, err := s.New(GroupVersion.WithKind(kind))
		require.NoError(t, err, kind)
		_, err = s.New(GroupVersion.WithKind(kind + "List"))
		require.NoError(t, err, kind+"List")
		// Deep copies are independent.
		cp := obj.DeepCopyObject()
		assert.Equal(t, obj, cp)
		assert.NotSame(t, obj, cp)
	}
	p := &Plan{Spec: PlanSpec{Targets: PlanTargets{Clusters: []string{"a"}}, Actions: []PlannedAction{{Parameters: map[string]string{"replicas": "3"}}}}}
	cp := p.DeepCopy()
	cp.Spec.Targets.Clusters[0] = "b"
	cp.Spec.Actions[0].Parameters["replicas"] = "4"
	assert.Equal(t, "a", p.Spec.Targets.Clusters[0])
	assert.Equal(t, "3", p.Spec.Actions[0].Parameters["replicas"])
}
