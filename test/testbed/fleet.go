package testbed

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "open-cluster-management.io/api/cluster/v1"

	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// ClusterAvailable returns nil once the hub reports the ManagedCluster Available, and says why
// not otherwise (for Eventually).
func ClusterAvailable(ctx context.Context, c fleetv1.FleetClient, name string) error {
	out, err := c.GetCluster(ctx, &fleetv1.GetClusterRequest{Name: name})
	if err != nil {
		return err
	}
	var mc clusterv1.ManagedCluster
	if err := json.Unmarshal(out.GetCluster().GetObjectJson(), &mc); err != nil {
		return err
	}
	if meta.IsStatusConditionTrue(mc.Status.Conditions, clusterv1.ManagedClusterConditionAvailable) {
		return nil
	}
	return fmt.Errorf("%s not available: %v", name, mc.Status.Conditions)
}

// ApplyHubPolicy applies an AIOpsPolicy at the hub through the Fleet API.
func ApplyHubPolicy(ctx context.Context, t *testing.T, c fleetv1.FleetClient, name string, spec aiopsv1alpha1.AIOpsPolicySpec) {
	t.Helper()
	p := aiopsv1alpha1.AIOpsPolicy{TypeMeta: metav1.TypeMeta{APIVersion: aiopsv1alpha1.GroupVersion.String(), Kind: "AIOpsPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}
	b, err := json.Marshal(p)
	require.NoError(t, err)
	_, err = c.ApplyPolicy(ctx, &fleetv1.ApplyPolicyRequest{Policy: &fleetv1.Resource{Kind: "AIOpsPolicy", Name: name, ObjectJson: b}})
	require.NoError(t, err)
}
