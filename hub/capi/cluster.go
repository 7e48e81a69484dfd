package capi

import (
	"crypto/rand"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	capiv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
)

// Names Cluster API gives things, and the hub's marks on what it imports.
const (
	// KubeconfigSecretSuffix and KubeconfigSecretKey locate a workload cluster's admin
	// kubeconfig: Secret <cluster>-kubeconfig, key "value", in the Cluster's namespace.
	KubeconfigSecretSuffix = "-kubeconfig"
	KubeconfigSecretKey    = "value"
	// ClusterNameLabel is the label Cluster API puts on a cluster's Secrets.
	ClusterNameLabel = "cluster.x-k8s.io/cluster-name"

	// AnnotationCAPICluster records on a ManagedCluster the "<namespace>/<name>" of the Cluster
	// API Cluster it was imported from; it marks the import as done.
	AnnotationCAPICluster = hubv1alpha1.Group + "/capi-cluster"
	// AnnotationImportToken is the id of the bootstrap token the import issued.
	AnnotationImportToken = hubv1alpha1.Group + "/capi-import-token"
	// Actor is who the audit log names for imports.
	Actor = "capi-importer"
)

// Importable says whether a Cluster is ready to be imported and, if not, why.
func Importable(c *capiv1.Cluster) (bool, string) {
	if c.DeletionTimestamp != nil {
		return false, "the Cluster is being deleted"
	}
	phase := capiv1.ClusterPhase(c.Status.Phase)
	if phase != capiv1.ClusterPhaseProvisioned {
		if phase == "" {
			return false, "the Cluster has no phase yet; waiting for phase Provisioned"
		}
		return false, fmt.Sprintf("the Cluster is in phase %s; waiting for phase Provisioned", phase)
	}
	return true, ""
}

// Origin is how the hub names a Cluster API Cluster: "<namespace>/<name>".
func Origin(c *capiv1.Cluster) string { return c.Namespace + "/" + c.Name }

// ClusterLabels are the labels of a Cluster that its ManagedCluster carries: every label that
// is valid on a ManagedCluster, except Cluster API's own bookkeeping (*cluster.x-k8s.io/) and
// labels in the hub's domain, which only the hub sets.
func ClusterLabels(in map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range in {
		if len(validation.IsQualifiedName(k)) > 0 || len(validation.IsValidLabelValue(v)) > 0 {
			continue
		}
		if prefix, _, ok := strings.Cut(k, "/"); ok && (reserved(prefix, "cluster.x-k8s.io") || reserved(prefix, hubv1alpha1.Group)) {
			continue
		}
		out[k] = v
	}
	return out
}

func reserved(prefix, domain string) bool {
	return prefix == domain || strings.HasSuffix(prefix, "."+domain)
}

// newManagedCluster is the ManagedCluster an import records: accepted by the hub from the start,
// without a cluster id, which its agent's first registration supplies.
func newManagedCluster(c *capiv1.Cluster, tokenID string, lease time.Duration, now time.Time) *clusterv1.ManagedCluster {
	mc := &clusterv1.ManagedCluster{
		ObjectMeta: metav1.ObjectMeta{
			Name:        c.Name,
			Labels:      ClusterLabels(c.Labels),
			Annotations: map[string]string{AnnotationCAPICluster: Origin(c), AnnotationImportToken: tokenID},
		},
		Spec: clusterv1.ManagedClusterSpec{HubAcceptsClient: true, LeaseDurationSeconds: int32(lease / time.Second)},
	}
	mc.Status.Conditions = []metav1.Condition{}
	meta.SetStatusCondition(&mc.Status.Conditions, metav1.Condition{
		Type: clusterv1.ManagedClusterConditionHubAccepted, Status: metav1.ConditionTrue, Reason: "HubClusterAdminAccepted",
		Message: "Accepted by the Cluster API import of " + Origin(c), LastTransitionTime: metav1.NewTime(now.UTC().Truncate(time.Second)),
	})
	return mc
}

// Bootstrap tokens have the kubeadm form the registrar parses: <6>.<16> of [a-z0-9].
const tokenAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	for i := range b {
		b[i] = tokenAlphabet[int(b[i])%len(tokenAlphabet)]
	}
	return string(b)
}

// newToken is a one-use, auto-accepting bootstrap token for one import, and its secret
// ("<id>.<secret>"). The importer makes it itself rather than through the registrar so that the
// secret can reach the workload cluster before the hub knows the token, and the token, the
// ManagedCluster and the audit record are then committed in one transaction.
func newToken(c *capiv1.Cluster, ttl time.Duration, now time.Time) (*hubv1alpha1.BootstrapToken, string) {
	id, secret := randomString(6), randomString(16)
	exp := metav1.NewTime(now.Add(ttl).UTC().Truncate(time.Second))
	return &hubv1alpha1.BootstrapToken{
		ObjectMeta: metav1.ObjectMeta{Name: id},
		Spec: hubv1alpha1.BootstrapTokenSpec{
			TokenID: id, SecretHash: hubv1alpha1.HashTokenSecret(secret), Expiration: &exp,
			UsageLimit: 1, AutoAccept: true, CreatedBy: Actor,
			Description: "Cluster API import of " + Origin(c),
		},
	}, id + "." + secret
}
