package capi

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	capiv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/registration"
)

func capiCluster(phase capiv1.ClusterPhase) *capiv1.Cluster {
	c := &capiv1.Cluster{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet-a", Name: "work-1", UID: "uid-1",
		Labels: map[string]string{"env": "prod", "cluster.x-k8s.io/cluster-name": "work-1"}}}
	c.Status.Phase = string(phase)
	return c
}

func TestImportableOnlyWhenProvisioned(t *testing.T) {
	deleting := capiCluster(capiv1.ClusterPhaseProvisioned)
	deleting.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	cases := []struct {
		name    string
		cluster *capiv1.Cluster
		ok      bool
		why     string
	}{
		{"no phase yet", capiCluster(""), false, "no phase yet"},
		{"pending", capiCluster(capiv1.ClusterPhasePending), false, "phase Pending"},
		{"provisioning", capiCluster(capiv1.ClusterPhaseProvisioning), false, "phase Provisioning"},
		{"provisioned", capiCluster(capiv1.ClusterPhaseProvisioned), true, ""},
		{"failed", capiCluster(capiv1.ClusterPhaseFailed), false, "phase Failed"},
		{"deleting phase", capiCluster(capiv1.ClusterPhaseDeleting), false, "phase Deleting"},
		{"unknown", capiCluster(capiv1.ClusterPhaseUnknown), false, "phase Unknown"},
		{"provisioned but being deleted", deleting, false, "being deleted"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ok, why := Importable(c.cluster)
			assert.Equal(t, c.ok, ok)
			if c.why == "" {
				assert.Empty(t, why)
			} else {
				assert.Contains(t, why, c.why)
			}
		})
	}
}

func TestClusterLabels(t *testing.T) {
	got := ClusterLabels(map[string]string{
		"env":                    "prod",
		"team.example.com/owner": "payments",
		"cluster.open-cluster-management.io/clusterset": "prod",
		"cluster.x-k8s.io/cluster-name":                 "work-1",
		"topology.cluster.x-k8s.io/owned":               "",
		"hub.kubedevaiops.io/cluster":                   "spoofed",
		"Bad Key":                                       "x",
		"ok-key":                                        "bad value with spaces",
	})
	assert.Equal(t, map[string]string{
		"env": "prod", "team.example.com/owner": "payments", "cluster.open-cluster-management.io/clusterset": "prod",
	}, got)
	assert.Empty(t, ClusterLabels(nil))
}

func TestNewManagedCluster(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 500, time.UTC)
	mc := newManagedCluster(capiCluster(capiv1.ClusterPhaseProvisioned), "abc123", 60*time.Second, now)
	assert.Equal(t, "work-1", mc.Name)
	assert.True(t, mc.Spec.HubAcceptsClient)
	assert.Equal(t, int32(60), mc.Spec.LeaseDurationSeconds)
	assert.Equal(t, map[string]string{"env": "prod"}, mc.Labels)
	assert.Equal(t, "fleet-a/work-1", mc.Annotations[AnnotationCAPICluster])
	assert.Equal(t, "abc123", mc.Annotations[AnnotationImportToken])
	assert.NotContains(t, mc.Annotations, hubv1alpha1.AnnotationClusterID, "the first registration supplies the cluster id")
	c := meta.FindStatusCondition(mc.Status.Conditions, clusterv1.ManagedClusterConditionHubAccepted)
	require.NotNil(t, c)
	assert.Equal(t, metav1.ConditionTrue, c.Status)
}

func TestNewToken(t *testing.T) {
	now := time.Now()
	tok, secret := newToken(capiCluster(capiv1.ClusterPhaseProvisioned), time.Hour, now)
	id, sec, err := registration.ParseToken(secret)
	require.NoError(t, err, "the registrar accepts the token's form")
	assert.Equal(t, tok.Name, id)
	assert.Equal(t, tok.Spec.TokenID, id)
	assert.True(t, tok.SecretMatches(sec))
	assert.NotContains(t, tok.Spec.SecretHash, sec, "only the hash is kept")
	assert.Equal(t, int32(1), tok.Spec.UsageLimit, "one use")
	assert.True(t, tok.Spec.AutoAccept)
	assert.Equal(t, Actor, tok.Spec.CreatedBy)
	assert.WithinDuration(t, now.Add(time.Hour), tok.Spec.Expiration.Time, time.Second)
	_, other := newToken(capiCluster(capiv1.ClusterPhaseProvisioned), time.Hour, now)
	assert.NotEqual(t, secret, other)
}

func TestKubeconfigOwner(t *testing.T) {
	secret := func(name, label string) *corev1.Secret {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet-a", Name: name}}
		if label != "" {
			s.Labels = map[string]string{ClusterNameLabel: label}
		}
		return s
	}
	got := kubeconfigOwner(t.Context(), secret("work-1-kubeconfig", "work-1"))
	require.Len(t, got, 1)
	assert.Equal(t, "fleet-a/work-1", got[0].String())
	assert.Empty(t, kubeconfigOwner(t.Context(), secret("work-1-ca", "work-1")), "not a kubeconfig")
	assert.Empty(t, kubeconfigOwner(t.Context(), secret("work-1-kubeconfig", "other")), "labelled for another cluster")
}
