package agent

import (
	"testing"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// A stream resumes only from a snapshot the hub acknowledged, and never after dropped deltas.
func TestResumable(t *testing.T) {
	s := &sequencing{}
	assert.False(t, s.resumable(), "nothing sent yet")
	s.seq, s.snapshotSeq = 3, 3
	assert.False(t, s.resumable(), "snapshot not acknowledged")
	s.acked = 3
	assert.True(t, s.resumable())
	s.seq = 5
	assert.True(t, s.resumable(), "deltas in flight are resent on resume")
	s.overflowed = true
	assert.False(t, s.resumable())
}

func TestDisconnectReasons(t *testing.T) {
	assert.ErrorIs(t, disconnectErr(&fleetv1.Disconnect{Reason: fleetv1.DisconnectReason_DISCONNECT_REASON_DENIED}), ErrRefused)
	assert.ErrorIs(t, disconnectErr(&fleetv1.Disconnect{Reason: fleetv1.DisconnectReason_DISCONNECT_REASON_REVOKED}), ErrRefused)
	assert.NotErrorIs(t, disconnectErr(&fleetv1.Disconnect{Reason: fleetv1.DisconnectReason_DISCONNECT_REASON_SHUTTING_DOWN}), ErrRefused)
}

func TestNodeClaims(t *testing.T) {
	node := func(region, zone string) corev1.Node {
		return corev1.Node{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{corev1.LabelTopologyRegion: region, corev1.LabelTopologyZone: zone}},
			Spec: corev1.NodeSpec{ProviderID: "aws:///eu-west-1a/i-1"}}
	}
	c := withNodeClaims(&fleetv1.ClusterClaims{ClusterName: "a"}, []corev1.Node{node("eu-west-1", "eu-west-1a"), node("eu-west-1", "eu-west-1b")})
	assert.Equal(t, uint32(2), c.GetNodeCount())
	assert.Equal(t, "eu-west-1", c.GetRegion())
	assert.Equal(t, "eu-west-1a,eu-west-1b", c.GetZone())
	assert.Equal(t, "EKS", c.GetPlatform())
}
