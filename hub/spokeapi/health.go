package spokeapi

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "open-cluster-management.io/api/cluster/v1"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/registration"
	"github.com/kubedevaiops/kubedevaiops/hub/store"
)

// Health runs on the leader: a cluster whose lease has not been renewed for LeaseGraceFactor
// leases turns Available=Unknown (ManagedClusterLeaseUpdateStopped), and taints follow the
// Available condition as in OCM — unreachable while it is missing or Unknown, unavailable while
// it is False, none while it is True.
func (s *Server) Health(ctx context.Context) {
	t := time.NewTicker(s.tick())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.checkHealth(ctx)
		}
	}
}

func (s *Server) checkHealth(ctx context.Context) {
	clusters, _, err := s.store.List(store.KindManagedCluster, "", "")
	if err != nil {
		return
	}
	leases := map[string]*hubv1alpha1.ClusterLease{}
	if items, _, err := s.store.List(store.KindClusterLease, "", ""); err == nil {
		for _, it := range items {
			var l hubv1alpha1.ClusterLease
			if it.Decode(&l) == nil {
				leases[l.Name] = &l
			}
		}
	}
	now := s.now()
	var cmds [][]byte
	for _, res := range clusters {
		// Decoded for this pass alone, so changed in place.
		want := &registration.ManagedCluster{}
		if res.Decode(want) != nil || !want.Spec.HubAcceptsClient {
			continue
		}
		if healthUpdate(want, leases[want.Name], now) {
			cmd, err := store.EncodeUpdate(store.KindManagedCluster, want, res.ResourceVersion)
			if err != nil {
				s.log.Error("encode cluster health", "cluster", want.Name, "err", err)
				continue
			}
			cmds = append(cmds, cmd)
			s.log.Info("cluster availability changed", "cluster", want.Name,
				"available", meta.FindStatusCondition(want.Status.Conditions, clusterv1.ManagedClusterConditionAvailable))
		}
	}
	s.propose(ctx, cmds)
}

// leaseDuration is the lease a cluster was given.
func leaseDuration(mc *registration.ManagedCluster, l *hubv1alpha1.ClusterLease) time.Duration {
	if l != nil && l.Spec.LeaseDurationSeconds > 0 {
		return time.Duration(l.Spec.LeaseDurationSeconds) * time.Second
	}
	if mc.Spec.LeaseDurationSeconds > 0 {
		return time.Duration(mc.Spec.LeaseDurationSeconds) * time.Second
	}
	return registration.DefaultLeaseDuration
}

// healthUpdate brings mc's Available condition and taints in line with its lease; it reports
// whether anything changed.
func healthUpdate(mc *registration.ManagedCluster, l *hubv1alpha1.ClusterLease, now time.Time) bool {
	changed := false
	avail := meta.FindStatusCondition(mc.Status.Conditions, clusterv1.ManagedClusterConditionAvailable)
	if avail != nil && avail.Status == metav1.ConditionTrue {
		stale := l == nil || now.Sub(l.Spec.RenewTime.Time) > registration.LeaseGraceFactor*leaseDuration(mc, l)
		if stale {
			meta.SetStatusCondition(&mc.Status.Conditions, metav1.Condition{
				Type: clusterv1.ManagedClusterConditionAvailable, Status: metav1.ConditionUnknown, Reason: ReasonLeaseStopped,
				Message: "Registration agent stopped updating its lease.", LastTransitionTime: metav1.NewTime(now.UTC().Truncate(time.Second)),
				ObservedGeneration: mc.Generation,
			})
			changed = true
			avail = meta.FindStatusCondition(mc.Status.Conditions, clusterv1.ManagedClusterConditionAvailable)
		}
	}
	var want string
	switch {
	case avail == nil || avail.Status == metav1.ConditionUnknown:
		want = clusterv1.ManagedClusterTaintUnreachable
	case avail.Status == metav1.ConditionFalse:
		want = clusterv1.ManagedClusterTaintUnavailable
	}
	// Exactly the wanted availability taint, if any, beside the cluster's other taints; a taint
	// that stays keeps the time it was added.
	taints := withoutTaints(mc.Spec.Taints, clusterv1.ManagedClusterTaintUnreachable, clusterv1.ManagedClusterTaintUnavailable)
	if want != "" {
		t := clusterv1.Taint{Key: want, Effect: clusterv1.TaintEffectNoSelect, TimeAdded: metav1.NewTime(now.UTC().Truncate(time.Second))}
		for _, old := range mc.Spec.Taints {
			if old.Key == want {
				t = old
				break
			}
		}
		taints = append(taints, t)
	}
	if !sameTaints(taints, mc.Spec.Taints) {
		mc.Spec.Taints = taints
		changed = true
	}
	return changed
}

func sameTaints(a, b []clusterv1.Taint) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || a[i].Value != b[i].Value || a[i].Effect != b[i].Effect {
			return false
		}
	}
	return true
}
