package spokeapi

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "open-cluster-management.io/api/cluster/v1"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
)

func lease(renew time.Time) *hubv1alpha1.ClusterLease {
	return &hubv1alpha1.ClusterLease{Spec: hubv1alpha1.ClusterLeaseSpec{RenewTime: metav1.NewMicroTime(renew), LeaseDurationSeconds: 60}}
}

func available(status metav1.ConditionStatus) *clusterv1.ManagedCluster {
	mc := &clusterv1.ManagedCluster{Spec: clusterv1.ManagedClusterSpec{HubAcceptsClient: true, LeaseDurationSeconds: 60}}
	if status != "" {
		mc.Status.Conditions = []metav1.Condition{{Type: clusterv1.ManagedClusterConditionAvailable, Status: status, Reason: "x"}}
	}
	return mc
}

func taintKeys(mc *clusterv1.ManagedCluster) []string {
	var out []string
	for _, t := range mc.Spec.Taints {
		out = append(out, t.Key)
	}
	return out
}

func TestHealthFollowsTheLease(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	unreachable, unavailable := clusterv1.ManagedClusterTaintUnreachable, clusterv1.ManagedClusterTaintUnavailable

	// Fresh lease: nothing to do.
	mc := available(metav1.ConditionTrue)
	assert.False(t, healthUpdate(mc, lease(now.Add(-4*time.Minute)), now))

	// Five leases without renewal: Unknown, with the OCM reason, and tainted unreachable.
	mc = available(metav1.ConditionTrue)
	assert.True(t, healthUpdate(mc, lease(now.Add(-5*time.Minute-time.Second)), now))
	c := meta.FindStatusCondition(mc.Status.Conditions, clusterv1.ManagedClusterConditionAvailable)
	assert.Equal(t, metav1.ConditionUnknown, c.Status)
	assert.Equal(t, ReasonLeaseStopped, c.Reason)
	assert.Equal(t, []string{unreachable}, taintKeys(mc))
	assert.False(t, healthUpdate(mc, lease(now.Add(-10*time.Minute)), now), "applied once")

	// No lease at all counts as stopped.
	mc = available(metav1.ConditionTrue)
	assert.True(t, healthUpdate(mc, nil, now))
	assert.Equal(t, []string{unreachable}, taintKeys(mc))

	// Never joined: no condition yet, so unreachable, as in OCM.
	mc = available("")
	assert.True(t, healthUpdate(mc, nil, now))
	assert.Equal(t, []string{unreachable}, taintKeys(mc))

	// False means unavailable; True clears both and keeps other taints.
	mc = available(metav1.ConditionFalse)
	mc.Spec.Taints = []clusterv1.Taint{{Key: unreachable}, {Key: "team/maintenance"}}
	assert.True(t, healthUpdate(mc, lease(now), now))
	assert.ElementsMatch(t, []string{"team/maintenance", unavailable}, taintKeys(mc))
	mc = available(metav1.ConditionTrue)
	mc.Spec.Taints = []clusterv1.Taint{{Key: unavailable}, {Key: "team/maintenance"}}
	assert.True(t, healthUpdate(mc, lease(now), now))
	assert.Equal(t, []string{"team/maintenance"}, taintKeys(mc))
}
